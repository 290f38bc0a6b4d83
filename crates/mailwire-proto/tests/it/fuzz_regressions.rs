//! Inputs the `event_json` fuzz target once failed on, replayed through the same
//! hook, each with what it exposed; and the committed corpus, replayed whole.

use std::path::PathBuf;

use mailwire_proto::fuzzing::event_json;

/// Every input of the committed `event_json` corpus (the seeds, and what the fuzzer
/// kept) passes the hook. The corpus is read from the crate's own copy
/// (`tests/corpus/event_json`, kept equal to `fuzz/corpus/event_json` by `xtask
/// tidy`), so the packaged crate's tests read nothing outside it.
#[test]
fn the_event_json_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/event_json");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| event_json(&bytes));
        assert!(outcome.is_ok(), "{} fails the hook", path.display());
        replayed += 1;
    }
    // The seeds: each fixture in both envelopes, and the frames.
    assert!(
        replayed >= 40,
        "only {replayed} inputs in {}",
        dir.display()
    );
}

/// A display name with surrounding whitespace, from the object form, was trimmed
/// when the event was re-encoded in the string form: the address changed. Addresses
/// are now kept as the string they are read as.
#[test]
fn a_name_with_surrounding_whitespace_survives_re_encoding() {
    event_json(br#"{"type":"event","event_type":"message.received","event_id":"e","message":{"inbox_id":"","thread_id":"","message_id":"","from":{"name":"\t","email":"e"}}}"#);
    event_json(br#"{"type":"event","event_type":"message.received.unauthenticated","event_id":"ev_2qYz4RcVbN","message":{"inbox_id":"adto","thread_id":"tq2m4","message_id":"","from":{"name":"Pa\\\\\\|\\\t","email":"e.ee"}}}"#);
}

/// A simple-envelope payload with its own `event_type` key cannot keep it at the top
/// of AgentMail's envelope, where that key is the envelope's: the hook must expect
/// it to go, and everything else to stay.
#[test]
fn a_simple_payload_with_an_envelope_key_moves_to_agentmail_without_it() {
    event_json(br#"{"id":"evt_01JDX8Q07M4T7W9","type":"+message.sent","data":{"inbox_id":"ada@agentmail.to","thread_id":"event","event_type":"message.received","message":{"thrmid":"x"},"recipients":["grace@example.com"]}}"#);
}

/// Invalid UTF-8 in a payload field the typed payload skips (an unknown key) once
/// passed one parse and not another. JSON is UTF-8: the one parser refuses it
/// wherever it is, skipped or not.
#[test]
fn invalid_utf8_in_a_skipped_payload_field_is_not_an_event() {
    let mut json = br#"{"type":"event","event_type":"message.received","event_id":"e","message":{"inbox_id":"a","thread_id":"t","message_id":"m","x-new":"n"#.to_vec();
    json.push(0xa3);
    json.extend_from_slice(br#"o"}}"#);
    event_json(&json);
    assert!(mailwire_proto::Event::parse(json.clone()).is_err());
    assert!(mailwire_proto::ServerFrame::parse(json).is_err());
}
