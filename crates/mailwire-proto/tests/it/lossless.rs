//! An envelope with an id and a type is an event, whatever its payload holds: odd but
//! real addresses, fields of the wrong type, a payload that is not an object, a type
//! and fields nobody has seen. Each parses, keeps its bytes, and shows in its typed
//! view what it could read, with the reason for what it could not.

use std::path::PathBuf;

use mailwire_proto::{Event, EventType, Payload, ServerFrame};

fn odd(name: &str) -> (Vec<u8>, Event) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/odd")
        .join(format!("{name}.json"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let event = Event::parse(bytes.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(event.raw().as_ref(), &bytes[..], "{name}: bytes changed");
    // The same bytes as a WebSocket frame: the same event, by the same parser.
    match ServerFrame::parse(bytes.clone()) {
        Ok(ServerFrame::Event(frame)) => assert_eq!(frame, event),
        other => panic!("{name} as a frame: {other:?}"),
    }
    (bytes, event)
}

#[test]
fn odd_addresses_are_kept_as_sent_without_a_parsed_view() {
    for (name, from) in [
        ("from-empty", ""),
        ("from-unclosed", "Grace <grace@example.com"),
        ("from-angle-empty", "<>"),
        ("from-display-only", "Mailer Daemon"),
    ] {
        let (_, event) = odd(name);
        let m = event
            .payload()
            .message()
            .unwrap_or_else(|| panic!("{name}"));
        let sender = m.from.as_ref().unwrap();
        assert_eq!(sender.as_str(), from, "{name}");
        assert_eq!(sender.mailbox(), None, "{name}");
        assert_eq!(m.subject.as_deref(), Some("odd"));
        // An address that is a string is read whole: nothing to report.
        assert!(event.payload_error().is_none(), "{name}");
    }
    let (_, event) = odd("from-angle-empty");
    let m = event.payload().message().unwrap();
    let to: Vec<&str> = m.to.iter().map(|a| a.as_str()).collect();
    assert_eq!(to, ["<>", ""]);
}

#[test]
fn fields_of_the_wrong_type_are_absent_and_the_rest_is_read() {
    let (_, event) = odd("fields-wrong-types");
    let Payload::Message { message: m, thread } = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(m.size, None);
    assert_eq!(m.timestamp, None);
    assert_eq!(m.subject, None);
    assert_eq!(m.labels, ["received"]); // the strings of the list
    assert_eq!(m.attachments, None);
    assert_eq!(m.headers, None);
    assert_eq!(m.cc.as_deref(), Some(&[][..])); // an object is not an address
    assert_eq!(m.text.as_deref(), Some("hello"));
    assert_eq!(
        m.from.as_ref().and_then(|a| a.email()),
        Some("grace@example.com")
    );
    assert!(m.created_at.is_some());
    assert!(thread.is_some());
    let why = event.payload_error().expect("a reason");
    assert_eq!(why.event_type(), "message.received");
    assert!(why.path().starts_with("message."), "{why}");
    assert!(why.to_string().contains("message."), "{why}");
}

#[test]
fn a_payload_that_is_not_an_object_or_is_missing_gives_the_untyped_view() {
    let (_, event) = odd("message-not-object");
    assert_eq!(event.event_type(), &EventType::MessageReceived);
    let Payload::Other(obj) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(obj["message"], "(withheld)");
    assert_eq!(event.payload_error().unwrap().path(), "message");

    let (_, event) = odd("message-missing");
    assert_eq!(event.event_type(), &EventType::MessageBounced);
    assert!(matches!(event.payload(), Payload::Other(obj) if obj.is_empty()));
    assert_eq!(event.payload_error().unwrap().path(), "bounce");
}

#[test]
fn an_unknown_type_with_unknown_fields_is_an_event_too() {
    let (bytes, event) = odd("new-field-and-type");
    assert_eq!(
        event.event_type(),
        &EventType::Other("message.summarized".into())
    );
    let Payload::Other(obj) = event.payload() else {
        panic!()
    };
    assert_eq!(obj["summary"]["tokens"], 3);
    assert_eq!(event.inbox_id(), Some("ada@agentmail.to"));
    assert!(event.payload_error().is_none());
    assert_eq!(event.raw().as_ref(), &bytes[..]);
}

#[test]
fn only_what_is_not_an_envelope_is_an_error() {
    for bad in [
        &br#"{"type":"event","event_type":"message.received"}"#[..],
        br#"{"type":"event","event_id":"evt_1"}"#,
        br#"{"event_type":"message.received","event_id":"evt_1"}"#,
        br#"{"type":"event","event_type":"message.received","event_id":""}"#,
        br#"{"type":"event","event_type":"message.received","event_id":7}"#,
        br#"{"type":"event","event_type":"a","event_id":"x","event_id":"y"}"#,
        br#"{"id":"evt_1","id":"evt_2","type":"message.sent"}"#,
        br#"["event","message.received","evt_1"]"#,
        br#"{"type":"event","event_type":"message.received","event_id":"evt_1""#,
        b"\xff",
    ] {
        assert!(
            Event::parse(bad.to_vec()).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // A repeated payload key: the last one counts, as in `JSON.parse`.
    let event = Event::parse(
        &br#"{"type":"event","event_type":"message.rejected","event_id":"evt_1",
        "reject":{"reason":"first"},"reject":{"reason":"last"}}"#[..],
    )
    .unwrap();
    let Payload::Rejected(r) = event.payload() else {
        panic!()
    };
    assert_eq!(r.reason.as_deref(), Some("last"));
}

#[test]
fn message_events_have_a_key_shared_by_every_copy_of_the_same_email() {
    let ws = Event::parse(
        &br#"{"type":"event","event_type":"message.received","event_id":"evt_ws",
        "message":{"inbox_id":"ada@agentmail.to","message_id":"<m1@x>","text":"hi"}}"#[..],
    )
    .unwrap();
    let backfilled = Event::parse(
        &br#"{"type":"event","event_type":"message.received","event_id":"bf_1",
        "message":{"message_id":"<m1@x>","inbox_id":"ada@agentmail.to","size":"odd"}}"#[..],
    )
    .unwrap();
    let simple = Event::parse(
        &br#"{"id":"evt_s","type":"message.received","data":{"message":{
        "inbox_id":"ada@agentmail.to","message_id":"<m1@x>"},"thread":{}}}"#[..],
    )
    .unwrap();
    let key = ws.message_key().unwrap();
    assert_eq!(key.inbox_id, "ada@agentmail.to");
    assert_eq!(key.message_id, "<m1@x>");
    assert_eq!(backfilled.message_key(), Some(key.clone()));
    assert_eq!(simple.message_key(), Some(key.clone()));
    // Read through the typed payload, the same key.
    let _ = backfilled.payload();
    assert_eq!(backfilled.message_key(), Some(key));
    // Another type of the same message is another event.
    let sent = Event::parse(
        &br#"{"type":"event","event_type":"message.sent","event_id":"evt_2",
        "send":{"inbox_id":"ada@agentmail.to","message_id":"<m1@x>"}}"#[..],
    )
    .unwrap();
    assert_ne!(sent.message_key(), ws.message_key());
    for none in [
        &br#"{"type":"event","event_type":"domain.verified","event_id":"e","domain":{}}"#[..],
        br#"{"type":"event","event_type":"message.received","event_id":"e","message":{"inbox_id":"a"}}"#,
        br#"{"type":"event","event_type":"message.received","event_id":"e","message":7}"#,
        br#"{"type":"event","event_type":"x.y","event_id":"e","message_id":"m","inbox_id":"a"}"#,
    ] {
        assert_eq!(Event::parse(none.to_vec()).unwrap().message_key(), None);
    }
}

#[test]
fn a_field_given_twice_inside_a_payload_takes_the_last_and_keeps_the_rest() {
    let event = Event::parse(
        &br#"{"type":"event","event_type":"message.received","event_id":"evt_1",
        "message":{"inbox_id":"ada@agentmail.to","thread_id":"thr_1","thread_id":"thr_2",
        "subject":"still here"}}"#[..],
    )
    .unwrap();
    let m = event.payload().message().expect("a typed message");
    assert_eq!(m.thread_id.as_deref(), Some("thr_2"));
    assert_eq!(m.subject.as_deref(), Some("still here"));
    let why = event.payload_error().expect("reported");
    assert!(why.to_string().contains("duplicate"), "{why}");
}

#[test]
fn received_messages_are_deduplicated_by_message_and_other_events_by_id() {
    let parse = |raw: &str| Event::parse(raw.as_bytes().to_vec()).unwrap();
    let ws = parse(
        r#"{"type":"event","event_type":"message.received","event_id":"evt_ws",
        "message":{"inbox_id":"ada@agentmail.to","message_id":"<m1@x>"}}"#,
    );
    let backfilled = parse(
        r#"{"type":"event","event_type":"message.received","event_id":"bf_1",
        "message":{"message_id":"<m1@x>","inbox_id":"ada@agentmail.to","text":"hi"}}"#,
    );
    assert_eq!(ws.dedup_id(), backfilled.dedup_id());
    assert!(ws.dedup_id().starts_with("msg_") && ws.dedup_id().len() == 36);
    // Fixed for good: stores keep it across restarts and versions.
    assert_eq!(ws.dedup_id(), "msg_47cac288df0942c694d1b36085d83e45");
    let other = parse(
        r#"{"type":"event","event_type":"message.received","event_id":"evt_2",
        "message":{"inbox_id":"ada@agentmail.to","message_id":"<m2@x>"}}"#,
    );
    assert_ne!(other.dedup_id(), ws.dedup_id());
    let spam = parse(
        r#"{"type":"event","event_type":"message.received.spam","event_id":"evt_3",
        "message":{"inbox_id":"ada@agentmail.to","message_id":"<m1@x>"}}"#,
    );
    assert_ne!(spam.dedup_id(), ws.dedup_id());
    // Not a received message, or no message key: the event id.
    let delivered = parse(
        r#"{"type":"event","event_type":"message.delivered","event_id":"evt_d",
        "delivery":{"inbox_id":"ada@agentmail.to","message_id":"<m1@x>"}}"#,
    );
    assert_eq!(delivered.dedup_id(), "evt_d");
    let keyless =
        parse(r#"{"type":"event","event_type":"message.received","event_id":"evt_k","message":7}"#);
    assert_eq!(keyless.dedup_id(), "evt_k");
}
