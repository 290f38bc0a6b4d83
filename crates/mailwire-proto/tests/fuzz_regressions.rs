//! Inputs the `event_json` fuzz target once failed on, replayed through the same
//! hook, each with what it exposed.

use mailwire_proto::fuzzing::event_json;

/// A display name with surrounding whitespace, from the object form, was trimmed
/// when the event was re-encoded in the string form: the address changed.
#[test]
fn a_name_with_surrounding_whitespace_survives_re_encoding() {
    event_json(br#"{"type":"event","event_type":"message.received","event_id":"e","message":{"inbox_id":"","thread_id":"","message_id":"","from":{"name":"\t","email":"e"}}}"#);
    event_json(br#"{"type":"event","event_type":"message.received.unauthenticated","event_id":"ev_2qYz4RcVbN","message":{"inbox_id":"adto","thread_id":"tq2m4","message_id":"","from":{"name":"Pa\\\\\\|\\\t","email":"e.ee"}}}"#);
}
