//! Property tests: whatever is built, encoded and parsed comes back the same.

use mailwire_proto::{
    Address, Attachment, Bounce, BounceRecipient, ClientFrame, Complaint, Delivered, Envelope,
    ErrorFrame, Event, EventType, JsonObject, Message, OffsetDateTime, Open, Payload, Reject, Sent,
    ServerFrame, Subscribe, Subscribed, Thread,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use serde_json::Value;
use time::UtcOffset;

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "evt_[A-Za-z0-9]{1,30}",
        // Anything without control characters, escapes and non-ASCII included.
        "[^\\p{Cc}]{1,40}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Any text, control characters and quotes included.
    any::<String>()
}

fn email() -> impl Strategy<Value = String> {
    "[a-z0-9._+-]{1,16}@[a-z0-9-]{1,12}\\.[a-z]{2,6}"
}

fn address() -> impl Strategy<Value = Address> {
    let name = "[A-Za-z0-9][A-Za-z0-9 .,;:@<>()'\"À-ÿ-]{0,24}[A-Za-z0-9)]";
    (of(name), email()).prop_map(|(name, email)| Address { name, email })
}

fn addresses() -> impl Strategy<Value = Vec<Address>> {
    vec(address(), 0..4)
}

fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    // Years 1970 to 2200, nanoseconds, offsets in whole minutes as RFC 3339 has them,
    // and offsets with seconds, which it does not (encoded as the same instant in UTC).
    let offset = prop_oneof![(-1439i32..=1439).prop_map(|m| m * 60), -86_399i32..=86_399];
    (0i64..7_258_118_400, 0u32..1_000_000_000, offset).prop_map(|(s, ns, seconds)| {
        let offset = UtcOffset::from_whole_seconds(seconds).unwrap();
        OffsetDateTime::from_unix_timestamp(s)
            .unwrap()
            .replace_nanosecond(ns)
            .unwrap()
            .to_offset(offset)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    // No floats: their decimal form need not parse back to the same bits.
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = JsonObject> {
    proptest::collection::btree_map(text(), json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

fn attachment() -> impl Strategy<Value = Attachment> {
    (
        text(),
        of(text()),
        of("[a-z]{1,10}/[a-z0-9.+-]{1,20}"),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(attachment_id, filename, content_type, size, inline)| Attachment {
                attachment_id,
                filename,
                content_type,
                size,
                inline,
            },
        )
}

prop_compose! {
    fn message()(
        ids in (text(), text(), text()),
        labels in vec(text(), 0..4),
        times in (of(timestamp()), of(timestamp()), of(timestamp())),
        from in of(address()),
        to in addresses(),
        copies in (of(addresses()), of(addresses()), of(addresses())),
        texts in (of(text()), of(text()), of(text()), of(text())),
        attachments in of(vec(attachment(), 0..3)),
        in_reply_to in of(text()),
        references in of(vec(text(), 0..3)),
        headers in of(json_object()),
        size in of(any::<u64>()),
    ) -> Message {
        Message {
            inbox_id: ids.0,
            thread_id: ids.1,
            message_id: ids.2,
            labels,
            timestamp: times.0,
            from,
            to,
            cc: copies.0,
            bcc: copies.1,
            reply_to: copies.2,
            subject: texts.0,
            preview: texts.1,
            text: texts.2,
            html: texts.3,
            attachments,
            in_reply_to,
            references,
            headers,
            size,
            created_at: times.1,
            updated_at: times.2,
        }
    }
}

prop_compose! {
    fn thread()(
        ids in (text(), text()),
        labels in vec(text(), 0..4),
        times in (of(timestamp()), of(timestamp()), of(timestamp())),
        senders in addresses(),
        recipients in addresses(),
        texts in (of(text()), of(text()), of(text())),
        counts in (of(any::<u64>()), of(any::<u64>())),
    ) -> Thread {
        Thread {
            inbox_id: ids.0,
            thread_id: ids.1,
            labels,
            timestamp: times.0,
            senders,
            recipients,
            subject: texts.0,
            preview: texts.1,
            last_message_id: texts.2,
            message_count: counts.0,
            size: counts.1,
            created_at: times.1,
            updated_at: times.2,
        }
    }
}

/// The fields every outbound payload shares.
fn head() -> impl Strategy<Value = (String, String, String, Option<OffsetDateTime>)> {
    (text(), text(), text(), of(timestamp()))
}

/// An event type with a payload of its shape.
fn typed_payload() -> impl Strategy<Value = (EventType, Payload)> {
    let received = prop_oneof![
        Just(EventType::MessageReceived),
        Just(EventType::MessageReceivedSpam),
        Just(EventType::MessageReceivedBlocked),
        Just(EventType::MessageReceivedUnauthenticated),
        Just(EventType::MessageSecurityCompleted),
        Just(EventType::MessageSecurityReview),
        Just(EventType::MessageSecurityOverride),
    ];
    let recipients = || vec(email(), 0..4);
    prop_oneof![
        (received, message(), of(thread())).prop_map(|(t, m, th)| (
            t,
            Payload::Message {
                message: Box::new(m),
                thread: th.map(Box::new)
            }
        )),
        (head(), recipients()).prop_map(
            |((inbox_id, thread_id, message_id, timestamp), recipients)| (
                EventType::MessageSent,
                Payload::Sent(Sent {
                    inbox_id,
                    thread_id,
                    message_id,
                    timestamp,
                    recipients
                })
            )
        ),
        (head(), recipients()).prop_map(
            |((inbox_id, thread_id, message_id, timestamp), recipients)| (
                EventType::MessageDelivered,
                Payload::Delivered(Delivered {
                    inbox_id,
                    thread_id,
                    message_id,
                    timestamp,
                    recipients
                })
            )
        ),
        (
            head(),
            of(text()),
            of(text()),
            vec((email(), of("[245]\\.[0-9]\\.[0-9]{1,3}")), 0..4)
        )
            .prop_map(
                |((inbox_id, thread_id, message_id, timestamp), bounce_type, sub_type, rs)| (
                    EventType::MessageBounced,
                    Payload::Bounced(Bounce {
                        inbox_id,
                        thread_id,
                        message_id,
                        timestamp,
                        bounce_type,
                        sub_type,
                        recipients: rs
                            .into_iter()
                            .map(|(address, status)| BounceRecipient { address, status })
                            .collect(),
                    })
                )
            ),
        (head(), of(text()), of(text()), recipients()).prop_map(
            |(
                (inbox_id, thread_id, message_id, timestamp),
                complaint_type,
                sub_type,
                recipients,
            )| (
                EventType::MessageComplained,
                Payload::Complained(Complaint {
                    inbox_id,
                    thread_id,
                    message_id,
                    timestamp,
                    complaint_type,
                    sub_type,
                    recipients,
                })
            )
        ),
        (head(), of(text())).prop_map(|((inbox_id, thread_id, message_id, timestamp), reason)| (
            EventType::MessageRejected,
            Payload::Rejected(Reject {
                inbox_id,
                thread_id,
                message_id,
                timestamp,
                reason
            })
        )),
        (head(), recipients()).prop_map(
            |((inbox_id, thread_id, message_id, timestamp), recipients)| (
                EventType::MessageOpened,
                Payload::Opened(Open {
                    inbox_id,
                    thread_id,
                    message_id,
                    timestamp,
                    recipients
                })
            )
        ),
    ]
}

/// A type without a typed payload (domain, calendar, or unknown) and its object.
fn untyped_payload() -> impl Strategy<Value = (EventType, Payload)> {
    let known = EventType::KNOWN
        .iter()
        .filter(|t| t.as_str().starts_with("domain.") || t.as_str().starts_with("calendar."))
        .cloned()
        .collect::<Vec<_>>();
    let event_type = prop_oneof![
        proptest::sample::select(known),
        "[a-z]{1,10}(\\.[a-z_]{1,10}){1,3}".prop_map(|s| EventType::from_name(&s)),
        // Unknown types that look like known families, or like frame types.
        "message\\.[a-z]{1,8}".prop_map(|s| EventType::from_name(&s)),
        Just(EventType::from_name("ping")),
        Just(EventType::from_name("subscribed")),
    ];
    // Any keys but the envelope's own, with any values: the fields frames use
    // (`name`, `replayed`, `after`, `id`, `data`, `message`...) included.
    let keys = prop_oneof![
        text(),
        proptest::sample::select(vec![
            "id",
            "data",
            "name",
            "replayed",
            "after",
            "message",
            "thread",
            "bounce",
            "event_types",
            "inbox_ids",
            "pod_ids",
            "timestamp",
            "inbox_id",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_filter("not an envelope key", |k| {
        !["type", "event_type", "event_id"].contains(&k.as_str())
    });
    let object = proptest::collection::btree_map(keys, json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect::<JsonObject>());
    (event_type, object).prop_map(|(t, obj)| (t, Payload::Other(obj)))
}

fn envelope() -> impl Strategy<Value = Envelope> {
    prop_oneof![Just(Envelope::AgentMail), Just(Envelope::Simple)]
}

/// What the simple envelope carries of a payload: a message without its thread.
fn as_sent(payload: &Payload, envelope: Envelope) -> Payload {
    match (payload, envelope) {
        (Payload::Message { message, .. }, Envelope::Simple) => Payload::Message {
            message: message.clone(),
            thread: None,
        },
        (p, _) => p.clone(),
    }
}

fn check_round_trip(
    id: &str,
    t: EventType,
    payload: Payload,
    envelope: Envelope,
) -> Result<(), TestCaseError> {
    let event = Event::new(id, t.clone(), payload.clone(), envelope);
    let parsed = Event::parse(event.raw().clone()).map_err(|e| {
        TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(event.raw())))
    })?;
    prop_assert_eq!(parsed.id(), id);
    prop_assert_eq!(parsed.event_type(), &t);
    prop_assert_eq!(parsed.envelope(), envelope);
    prop_assert_eq!(parsed.payload(), &as_sent(&payload, envelope));
    prop_assert_eq!(parsed.raw(), event.raw());
    // The same event through the frame parser; except that a simple-envelope event
    // whose type is a frame's (`{"id":..,"type":"ping"}`) is that frame, as a frame
    // with an id must stay a frame.
    let frame_types = [
        "connected",
        "subscribed",
        "error",
        "ping",
        "pong",
        "resumed",
        "gap",
    ];
    match ServerFrame::parse(event.raw().clone()) {
        Ok(ServerFrame::Event(e)) => prop_assert_eq!(&e, &parsed),
        Ok(_) if envelope == Envelope::Simple && frame_types.contains(&t.as_str()) => {}
        other => return Err(TestCaseError::fail(format!("as a frame: {other:?}"))),
    }
    // And into the other envelope and back.
    let other = match envelope {
        Envelope::AgentMail => Envelope::Simple,
        Envelope::Simple => Envelope::AgentMail,
    };
    let moved = Event::parse(parsed.clone().into_envelope(other).raw().clone())
        .map_err(|e| TestCaseError::fail(format!("in {other:?}: {e}")))?;
    prop_assert_eq!(moved.id(), id);
    prop_assert_eq!(
        moved.payload(),
        &as_sent(&as_sent(&payload, envelope), other)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn typed_events_round_trip(id in id(), (t, payload) in typed_payload(), envelope in envelope()) {
        check_round_trip(&id, t, payload, envelope)?;
    }

    #[test]
    fn untyped_events_round_trip(id in id(), (t, payload) in untyped_payload(), envelope in envelope()) {
        check_round_trip(&id, t, payload, envelope)?;
    }

    #[test]
    fn addresses_round_trip_through_their_string_form(a in address()) {
        prop_assert_eq!(Address::parse(&a.to_string()), Some(a.clone()));
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), a.clone());
        let object = serde_json::json!({"name": a.name, "email": a.email});
        prop_assert_eq!(serde_json::from_value::<Address>(object).unwrap(), a);
    }

    #[test]
    fn client_frames_round_trip(
        event_types in of(vec("[a-z]{1,8}(\\.[a-z]{1,8}){0,3}".prop_map(|s| EventType::from_name(&s)), 0..5)),
        inbox_ids in of(vec(text(), 0..4)),
        pod_ids in of(vec(text(), 0..4)),
        after in of(id()),
        kind in 0..4u8,
    ) {
        let frame = match kind {
            0 => ClientFrame::Ping,
            1 => ClientFrame::Pong,
            _ => ClientFrame::Subscribe(Subscribe { event_types, inbox_ids, pod_ids, after }),
        };
        prop_assert_eq!(ClientFrame::parse(&frame.to_bytes()).unwrap(), frame);
    }

    #[test]
    fn server_frames_round_trip(
        event_types in of(vec("[a-z]{1,8}(\\.[a-z]{1,8}){0,3}".prop_map(|s| EventType::from_name(&s)), 0..5)),
        inbox_ids in of(vec(text(), 0..4)),
        pod_ids in of(vec(text(), 0..4)),
        name in text(),
        message in text(),
        replayed in any::<u64>(),
        after in id(),
        kind in 0..8u8,
    ) {
        let frame = match kind {
            0 => ServerFrame::Connected,
            1 => ServerFrame::Subscribed(Subscribed { event_types, inbox_ids, pod_ids }),
            2 => ServerFrame::Error(ErrorFrame { name, message }),
            3 => ServerFrame::Ping,
            4 => ServerFrame::Pong,
            5 => ServerFrame::Resumed { replayed },
            6 => ServerFrame::Gap { after },
            _ => ServerFrame::Unknown { kind: format!("x-{name}") },
        };
        let bytes = frame.to_bytes();
        prop_assert_eq!(ServerFrame::parse(bytes.clone()).unwrap(), frame);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = Event::parse(bytes.clone());
        let _ = ServerFrame::parse(bytes.clone());
        let _ = ClientFrame::parse(&bytes);
        mailwire_proto::fuzzing::event_json(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        mailwire_proto::fuzzing::event_json(&bytes);
    }
}

#[test]
fn a_utc_offset_with_seconds_encodes_as_the_same_instant() {
    let offset = UtcOffset::from_hms(0, 17, 30).unwrap(); // a local mean time
    let at = OffsetDateTime::from_unix_timestamp(1_795_946_400)
        .unwrap()
        .to_offset(offset);
    let payload = Payload::Rejected(Reject {
        inbox_id: "a@agentmail.to".into(),
        thread_id: "thr_1".into(),
        message_id: "<m@example.com>".into(),
        timestamp: Some(at),
        reason: None,
    });
    for envelope in [Envelope::AgentMail, Envelope::Simple] {
        let event = Event::new(
            "evt_1",
            EventType::MessageRejected,
            payload.clone(),
            envelope,
        );
        assert!(
            std::str::from_utf8(event.raw())
                .unwrap()
                .contains("2026-11-29T10:00:00Z")
        );
        let back = Event::parse(event.raw().clone()).unwrap();
        assert_eq!(back.timestamp(), Some(at));
    }
}
