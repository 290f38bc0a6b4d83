//! What this version does not know is kept, never an error: unknown types, unknown
//! fields, addresses in any form.

use mailwire_proto::{Address, Envelope, Event, EventType, JsonObject, Payload, ServerFrame};
use serde_json::json;

#[test]
fn an_unknown_type_is_other_with_its_payload() {
    let raw = br#"{"type":"event","event_type":"inbox.created","event_id":"evt_9","inbox":{"inbox_id":"new@agentmail.to","display_name":"New"},"pod_id":"pod_1"}"#;
    let event = Event::parse(&raw[..]).unwrap();
    assert_eq!(
        event.event_type(),
        &EventType::Other("inbox.created".into())
    );
    assert_eq!(event.event_type().as_str(), "inbox.created");
    let Payload::Other(obj) = event.payload() else {
        panic!("{:?}", event.payload())
    };
    assert_eq!(obj.len(), 2);
    assert_eq!(obj["inbox"]["display_name"], "New");
    assert_eq!(obj["pod_id"], "pod_1");
    assert_eq!(event.inbox_id(), Some("new@agentmail.to"));
    assert_eq!(event.raw().as_ref(), &raw[..]);
}

#[test]
fn an_unknown_type_in_a_known_family_is_still_other() {
    let raw = br#"{"id":"evt_9","type":"message.received.quarantined","data":{"inbox_id":"a@agentmail.to","reason":"malware"}}"#;
    let event = Event::parse(&raw[..]).unwrap();
    assert_eq!(
        event.event_type(),
        &EventType::Other("message.received.quarantined".into())
    );
    assert!(!event.event_type().is_received());
    let Payload::Other(obj) = event.payload() else {
        panic!()
    };
    assert_eq!(obj["reason"], "malware");
}

#[test]
fn unknown_type_fields_may_share_a_frame_fields_name() {
    // `name`, `id`, `replayed`, `after` mean something in frames; in an unknown
    // event's payload they are just fields, of any shape.
    let raw = br#"{"type":"event","event_type":"contact.updated","event_id":"evt_9","name":{"first":"Ada"},"id":42,"replayed":"twice","after":[1,2],"data":null,"message":7}"#;
    let event = Event::parse(&raw[..]).unwrap();
    let Payload::Other(obj) = event.payload() else {
        panic!()
    };
    assert_eq!(obj["name"]["first"], "Ada");
    assert_eq!(obj["id"], 42);
    assert_eq!(obj["after"], json!([1, 2]));
    assert_eq!(obj["message"], 7);
    assert!(matches!(
        ServerFrame::parse(&raw[..]),
        Ok(ServerFrame::Event(e)) if e == event
    ));
}

#[test]
fn the_simple_envelope_keeps_data_of_any_shape() {
    let cases: [(&[u8], serde_json::Value); 4] = [
        (
            br#"{"id":"e","type":"x.y","data":{"type":"meeting","k":1}}"#,
            json!({"type":"meeting","k":1}),
        ),
        (
            br#"{"id":"e","type":"x.y","data":"text"}"#,
            json!({"data":"text"}),
        ),
        (br#"{"id":"e","type":"x.y","data":null}"#, json!({})),
        (br#"{"id":"e","type":"x.y"}"#, json!({})),
    ];
    for (raw, want) in cases {
        let event = Event::parse(raw).unwrap();
        assert_eq!(event.envelope(), Envelope::Simple);
        let Payload::Other(obj) = event.payload() else {
            panic!()
        };
        assert_eq!(serde_json::Value::Object(obj.clone()), want);
    }
}

#[test]
fn a_simple_payload_keeps_its_own_type_field_when_re_encoded() {
    let raw =
        br#"{"id":"e","type":"meeting.scheduled","data":{"type":"meeting","title":"Review"}}"#;
    let event = Event::parse(&raw[..]).unwrap();
    let again = Event::new(
        "e",
        event.event_type().clone(),
        event.payload().clone(),
        Envelope::Simple,
    )
    .unwrap();
    let back = Event::parse(again.raw().clone()).unwrap();
    assert_eq!(back.payload(), event.payload());
    let Payload::Other(obj) = back.payload() else {
        panic!()
    };
    assert_eq!(obj["type"], "meeting");
    assert_eq!(obj["title"], "Review");
}

#[test]
fn unknown_fields_are_kept_byte_exact() {
    // Odd spacing, key order, escapes, numbers and unknown fields at every level.
    let raw = "{ \"x-trace\" : [1, 2.50, 1e3],\n  \"event_id\":\"evt_\\u0031\", \"type\":\"event\",\
        \"event_type\":\"message.received\",\"message\":{\"labels\":[],\"to\":[\"a@agentmail.to\"],\
        \"inbox_id\":\"a@agentmail.to\",\"thread_id\":\"t\",\"message_id\":\"m\",\
        \"spam_score\":0.10,\"from\":\"Bob <bob@example.com>\",\"x\":{\"deep\":[null,true]}},\
        \"thread\":{\"inbox_id\":\"a@agentmail.to\",\"thread_id\":\"t\",\"extra\":\"\\u00e9\"} }\n";
    let event = Event::parse(raw.as_bytes().to_vec()).unwrap();
    assert_eq!(event.id(), "evt_1");
    assert_eq!(event.raw().as_ref(), raw.as_bytes());
    assert_eq!(
        ServerFrame::Event(event.clone()).to_bytes().as_ref(),
        raw.as_bytes()
    );
    // Kept in the same envelope, the bytes are the same.
    assert_eq!(
        event
            .clone()
            .into_envelope(Envelope::AgentMail)
            .unwrap()
            .raw()
            .as_ref(),
        raw.as_bytes()
    );
    // Moved to the other envelope, the typed fields survive and unknown ones go.
    let simple = event.into_envelope(Envelope::Simple).unwrap();
    assert!(
        !std::str::from_utf8(simple.raw())
            .unwrap()
            .contains("spam_score")
    );
    let back = Event::parse(simple.raw().clone()).unwrap();
    let m = back.payload().message().unwrap();
    assert_eq!(m.message_id.as_deref(), Some("m"));
    assert_eq!(m.from.as_ref().unwrap().as_str(), "Bob <bob@example.com>");
    assert_eq!(back.payload_error().map(|e| e.to_string()), None);
}

#[test]
fn addresses_come_as_strings_or_objects() {
    let to = json!([
        "Ada Lovelace <ada@example.com>",
        "\"Lovelace, Ada\" <ada@example.com>",
        "<bare@example.com>",
        "plain@example.com",
        {"name": "Grace Hopper", "email": "grace@example.com"},
        {"email": "noname@example.com"},
        {"name": null, "email": "null-name@example.com"},
        {"name": "", "email": "empty-name@example.com"},
        {"name": "Alias", "address": "alias@example.com"},
        {"name": "Extra", "email": "extra@example.com", "verified": true},
    ]);
    let raw = json!({
        "id": "evt_1",
        "type": "message.received",
        "data": {"inbox_id": "a", "thread_id": "t", "message_id": "m",
                 "from": {"name": "Bob", "email": "bob@example.com"}, "to": to},
    });
    let event = Event::parse(serde_json::to_vec(&raw).unwrap()).unwrap();
    let m = event.payload().message().unwrap();
    assert_eq!(m.from, Some(Address::named("Bob", "bob@example.com")));
    // Strings exactly as sent; objects in the string form of the same mailbox.
    let texts: Vec<&str> = m.to.iter().map(Address::as_str).collect();
    assert_eq!(
        texts,
        [
            "Ada Lovelace <ada@example.com>",
            "\"Lovelace, Ada\" <ada@example.com>",
            "<bare@example.com>",
            "plain@example.com",
            "Grace Hopper <grace@example.com>",
            "noname@example.com",
            "null-name@example.com",
            "empty-name@example.com",
            "Alias <alias@example.com>",
            "Extra <extra@example.com>",
        ]
    );
    let views: Vec<(Option<String>, Option<&str>)> =
        m.to.iter()
            .map(|a| (a.name().map(|n| n.into_owned()), a.email()))
            .collect();
    let named = |n: &str, e| (Some(n.to_owned()), Some(e));
    let bare = |e| (None, Some(e));
    assert_eq!(
        views,
        [
            named("Ada Lovelace", "ada@example.com"),
            named("Lovelace, Ada", "ada@example.com"),
            bare("bare@example.com"),
            bare("plain@example.com"),
            named("Grace Hopper", "grace@example.com"),
            bare("noname@example.com"),
            bare("null-name@example.com"),
            bare("empty-name@example.com"),
            named("Alias", "alias@example.com"),
            named("Extra", "extra@example.com"),
        ]
    );
    assert!(event.payload_error().is_none());
}

/// A message `from` `bad`, in the simple envelope.
fn from(bad: &serde_json::Value) -> Event {
    let raw = json!({"id": "e", "type": "message.received",
        "data": {"inbox_id": "a", "thread_id": "t", "message_id": "m", "from": bad}});
    let bytes = serde_json::to_vec(&raw).unwrap();
    let event = Event::parse(bytes.clone()).unwrap_or_else(|e| panic!("{bad}: {e}"));
    assert_eq!(event.raw().as_ref(), &bytes[..]);
    assert_eq!(
        event.payload().message().unwrap().message_id.as_deref(),
        Some("m")
    );
    event
}

#[test]
fn odd_address_strings_are_kept_as_sent_without_a_parsed_view() {
    for (bad, text) in [
        (json!(""), ""),
        (json!("Ada <ada@example.com"), "Ada <ada@example.com"),
        (json!("<>"), "<>"),
        (json!({"email": ""}), ""),
    ] {
        let event = from(&bad);
        let sender = event.payload().message().unwrap().from.clone();
        let sender = sender.unwrap_or_else(|| panic!("{bad}"));
        assert_eq!(sender.as_str(), text, "{bad}");
        assert_eq!(sender.mailbox(), None, "{bad}");
        assert!(event.payload_error().is_none(), "{bad}");
    }
}

#[test]
fn values_that_are_not_addresses_are_absent_and_reported() {
    for bad in [
        json!({"name": "Ada"}),
        json!({"email": 5}),
        json!(42),
        json!(true),
        json!(["ada@example.com"]),
    ] {
        let event = from(&bad);
        assert_eq!(event.payload().message().unwrap().from, None, "{bad}");
        let why = event.payload_error().unwrap_or_else(|| panic!("{bad}"));
        assert!(why.path().starts_with("data.from"), "{bad}: {why}");
    }
}

#[test]
fn an_address_with_two_emails_is_the_last_one() {
    // As `JSON.parse` reads it, so that what a JavaScript consumer of the same bytes
    // sees is what this one sees.
    let raw = br#"{"id":"e","type":"message.received","data":{"inbox_id":"a","thread_id":"t","message_id":"m","from":{"email":"a@b.c","email":"c@d.e"}}}"#;
    let event = Event::parse(&raw[..]).unwrap();
    let from = event.payload().message().unwrap().from.clone().unwrap();
    assert_eq!(from.email(), Some("c@d.e"));
    assert_eq!(from.as_str(), "c@d.e");
}

#[test]
fn an_unknown_frame_type_is_unknown() {
    let frame = ServerFrame::parse(&br#"{"type":"rate_limited","retry_after":5}"#[..]).unwrap();
    assert_eq!(
        frame,
        ServerFrame::Unknown {
            kind: "rate_limited".into()
        }
    );
    let frame = ServerFrame::parse(&br#"{"type":"error","name":"AuthenticationError","message":"Invalid API key","id":"req_1"}"#[..]).unwrap();
    let ServerFrame::Error(e) = frame else {
        panic!()
    };
    assert!(e.is_auth());
    assert_eq!(e.message, "Invalid API key");
}

#[test]
fn other_payloads_built_by_hand_encode_in_both_envelopes() {
    let obj: JsonObject =
        serde_json::from_value(json!({"domain": {"domain": "example.com"}})).unwrap();
    for envelope in [Envelope::AgentMail, Envelope::Simple] {
        // An unknown type: the object comes back as it is.
        let event = Event::new(
            "evt_1",
            EventType::from_name("domain.renamed"),
            Payload::Other(obj.clone()),
            envelope,
        )
        .unwrap();
        let back = Event::parse(event.raw().clone()).unwrap();
        assert_eq!(back.payload(), &Payload::Other(obj.clone()));

        // A known type: an object of its shape is read back typed.
        let event = Event::new(
            "evt_1",
            EventType::DomainVerified,
            Payload::Other(obj.clone()),
            envelope,
        )
        .unwrap();
        let back = Event::parse(event.raw().clone()).unwrap();
        let Payload::Domain(d) = back.payload() else {
            panic!("{envelope:?}: {:?}", back.payload())
        };
        assert_eq!(d.domain.as_deref(), Some("example.com"), "{envelope:?}");
        assert!(back.payload_error().is_none());
    }
}
