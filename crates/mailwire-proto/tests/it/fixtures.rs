//! Every event type, in both envelopes, from files written the way the services
//! send them: each parses to its type and payload, keeping its bytes exactly.

use std::path::PathBuf;

use mailwire_proto::{Address, Envelope, Event, EventType, Payload, ServerFrame};

fn dir(envelope: Envelope) -> PathBuf {
    let name = match envelope {
        Envelope::AgentMail => "agentmail",
        Envelope::Simple => "simple",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn read(envelope: Envelope, t: &EventType) -> Vec<u8> {
    let path = dir(envelope).join(format!("{t}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(envelope: Envelope, t: &EventType) -> Event {
    let bytes = read(envelope, t);
    Event::parse(bytes.clone()).unwrap_or_else(|e| panic!("{t} ({envelope:?}): {e}"))
}

const ENVELOPES: [Envelope; 2] = [Envelope::AgentMail, Envelope::Simple];

#[test]
fn there_is_one_fixture_per_known_type_in_each_envelope() {
    for envelope in ENVELOPES {
        let mut names: Vec<String> = std::fs::read_dir(dir(envelope))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut want: Vec<String> = EventType::KNOWN
            .iter()
            .map(|t| format!("{t}.json"))
            .collect();
        want.sort();
        assert_eq!(names, want, "{envelope:?}");
    }
}

#[test]
fn every_fixture_parses_to_its_type_and_payload_keeping_its_bytes() {
    for envelope in ENVELOPES {
        for t in EventType::KNOWN {
            let bytes = read(envelope, t);
            let event = parse(envelope, t);
            assert_eq!(event.event_type(), t);
            assert_eq!(event.envelope(), envelope, "{t}");
            assert!(event.id().starts_with("evt_"), "{t}: {}", event.id());
            assert_eq!(event.raw().as_ref(), &bytes[..], "{t}: raw bytes changed");
            assert!(
                event.timestamp().is_some(),
                "{t} ({envelope:?}) has no timestamp"
            );
            if *t != EventType::DomainVerified {
                assert_eq!(
                    event.inbox_id(),
                    Some("ada@agentmail.to"),
                    "{t} ({envelope:?})"
                );
            }
            let variant_ok = match event.payload() {
                Payload::Message { message, .. } => {
                    message.from.is_some() && !message.to.is_empty() && message.subject.is_some()
                }
                Payload::Sent(_) => *t == EventType::MessageSent,
                Payload::Delivered(_) => *t == EventType::MessageDelivered,
                Payload::Bounced(_) => *t == EventType::MessageBounced,
                Payload::Complained(_) => *t == EventType::MessageComplained,
                Payload::Rejected(_) => *t == EventType::MessageRejected,
                Payload::Opened(_) => *t == EventType::MessageOpened,
                Payload::Security(s) => {
                    t.as_str().starts_with("message.security.")
                        && s.organization_id.as_deref() == Some("org_2fK9")
                        && s.message_id.is_some()
                        && (s.agent_armor.is_some() != s.manual_override.is_some())
                }
                Payload::Domain(d) => *t == EventType::DomainVerified && d.records.len() == 3,
                Payload::Calendar(c) => {
                    t.as_str().starts_with("calendar.event.") && c.calendar_event.is_some()
                }
                _ => false,
            };
            assert!(
                variant_ok,
                "{t} ({envelope:?}) parsed as {:?}",
                event.payload()
            );
            if t.as_str().starts_with("message.received") {
                assert!(matches!(event.payload(), Payload::Message { .. }), "{t}");
            }
            // Every fixture is in the definition's shape: read whole.
            assert!(
                event.payload_error().is_none(),
                "{t} ({envelope:?}): {:?}",
                event.payload_error()
            );
        }
    }
}

#[test]
fn every_fixture_is_also_a_server_frame() {
    for envelope in ENVELOPES {
        for t in EventType::KNOWN {
            let bytes = read(envelope, t);
            match ServerFrame::parse(bytes.clone()) {
                Ok(ServerFrame::Event(event)) => {
                    assert_eq!(event, parse(envelope, t));
                    assert_eq!(ServerFrame::Event(event).to_bytes().as_ref(), &bytes[..]);
                }
                other => panic!("{t} ({envelope:?}): {other:?}"),
            }
        }
    }
}

#[test]
fn every_fixture_re_encodes_to_the_same_typed_event() {
    for envelope in ENVELOPES {
        for t in EventType::KNOWN {
            let event = parse(envelope, t);
            for target in ENVELOPES {
                let again =
                    Event::new(event.id(), t.clone(), event.payload().clone(), target).unwrap();
                let back = Event::parse(again.raw().clone()).unwrap();
                assert_eq!(back.id(), event.id());
                assert_eq!(back.event_type(), t);
                match (back.payload(), event.payload()) {
                    // The simple envelope carries the message without its thread.
                    (Payload::Message { message: a, .. }, Payload::Message { message: b, .. })
                        if target == Envelope::Simple =>
                    {
                        assert_eq!(a, b)
                    }
                    (a, b) => assert_eq!(a, b, "{t}: {envelope:?} -> {target:?}"),
                }
            }
        }
    }
}

#[test]
fn message_received_carries_every_documented_field() {
    let event = parse(Envelope::AgentMail, &EventType::MessageReceived);
    let Payload::Message { message: m, thread } = event.payload() else {
        panic!("a message")
    };
    assert_eq!(
        m.from,
        Some(Address::named("Grace Hopper", "grace@example.com"))
    );
    assert_eq!(m.to, [Address::named("Ada Lovelace", "ada@agentmail.to")]);
    let cc = m.cc.as_ref().unwrap();
    assert_eq!(
        cc[1],
        Address::named("Hamilton, Margaret", "margaret@example.net")
    );
    let attachments = m.attachments.as_ref().unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0].filename.as_deref(), Some("q3-review.pdf"));
    assert_eq!(attachments[0].size, Some(48213));
    assert!(!attachments[0].is_inline() && attachments[1].is_inline());
    assert_eq!(
        attachments[1].content_id.as_deref(),
        Some("<logo@example.com>")
    );
    assert_eq!(m.references.as_ref().unwrap().len(), 2);
    assert_eq!(
        m.in_reply_to.as_deref(),
        Some("<q3.1732700000@agentmail.to>")
    );
    assert_eq!(
        m.headers.as_ref().unwrap()["X-Mailer"],
        "Apple Mail (2.3826)"
    );
    assert_eq!(m.size, Some(52904));
    assert_eq!(m.labels, ["received", "unread"]);
    // Fractional seconds and an explicit offset are both RFC 3339.
    assert_eq!(m.created_at.unwrap().millisecond(), 123);
    assert_eq!(
        m.updated_at.unwrap().unix_timestamp(),
        m.timestamp.unwrap().unix_timestamp() + 1
    );
    let thread = thread.as_ref().unwrap();
    assert_eq!(thread.thread_id, m.thread_id);
    assert_eq!(
        thread.recipients[1],
        Address::named("Alan Turing", "alan@example.org")
    );
    assert_eq!(thread.message_count, Some(3));
    // A field this version does not model is still in the bytes.
    assert!(
        std::str::from_utf8(event.raw())
            .unwrap()
            .contains("\"organization_id\": \"org_2fK9\"")
    );
}

#[test]
fn addresses_come_as_objects_and_bare_strings_too() {
    let spam = parse(Envelope::AgentMail, &EventType::MessageReceivedSpam);
    let m = spam.payload().message().unwrap();
    assert_eq!(
        m.from,
        Some(Address::named("Prize Department", "winner@lottery.example"))
    );
    assert_eq!(m.to, [Address::named("Ada Lovelace", "ada@agentmail.to")]);
    assert!(m.cc.is_none() && m.html.is_none());

    let blocked = parse(Envelope::Simple, &EventType::MessageReceivedBlocked);
    let m = blocked.payload().message().unwrap();
    assert_eq!(m.from, Some(Address::new("mallory@blocked.example")));
    assert_eq!(
        m.bcc.as_deref(),
        Some(&[Address::new("audit@example.com")][..])
    );

    let unauth = parse(
        Envelope::AgentMail,
        &EventType::MessageReceivedUnauthenticated,
    );
    let m = unauth.payload().message().unwrap();
    // `"name": null` is no name.
    assert_eq!(
        m.reply_to.as_deref(),
        Some(&[Address::new("collect@paypa1.example")][..])
    );
}

#[test]
fn the_simple_envelope_accepts_data_wrapping_message_and_thread() {
    let event = parse(Envelope::Simple, &EventType::MessageReceivedSpam);
    let Payload::Message { message, thread } = event.payload() else {
        panic!("a message")
    };
    assert_eq!(
        message.subject.as_deref(),
        Some("You have WON a $1,000,000 prize")
    );
    assert_eq!(
        thread.as_ref().unwrap().thread_id.as_deref(),
        Some("thr_7Hq2mX9pL2")
    );

    // The flat form: `data` is the message, with no thread.
    let flat = parse(Envelope::Simple, &EventType::MessageReceived);
    let Payload::Message { thread, .. } = flat.payload() else {
        panic!("a message")
    };
    assert!(thread.is_none());
}

#[test]
fn bounces_are_permanent_5_1_1_in_both_envelopes() {
    for envelope in ENVELOPES {
        let event = parse(envelope, &EventType::MessageBounced);
        let Payload::Bounced(b) = event.payload() else {
            panic!("a bounce")
        };
        assert!(b.is_permanent());
        assert_eq!(b.sub_type.as_deref(), Some("General"));
        assert_eq!(b.recipients.len(), 1);
        assert_eq!(
            b.recipients[0].address.as_deref(),
            Some("no-such-user@example.com")
        );
        assert_eq!(b.recipients[0].status.as_deref(), Some("5.1.1"));
    }
}

#[test]
fn outbound_payloads_carry_their_fields() {
    let sent = parse(Envelope::AgentMail, &EventType::MessageSent);
    let Payload::Sent(s) = sent.payload() else {
        panic!()
    };
    assert_eq!(s.recipients, ["grace@example.com", "alan@example.org"]);
    let delivered = parse(Envelope::Simple, &EventType::MessageDelivered);
    let Payload::Delivered(d) = delivered.payload() else {
        panic!()
    };
    assert_eq!(d.recipients, ["grace@example.com"]);
    let complained = parse(Envelope::AgentMail, &EventType::MessageComplained);
    let Payload::Complained(c) = complained.payload() else {
        panic!()
    };
    assert_eq!(c.complaint_type.as_deref(), Some("abuse"));
    let rejected = parse(Envelope::Simple, &EventType::MessageRejected);
    let Payload::Rejected(r) = rejected.payload() else {
        panic!()
    };
    assert!(r.reason.as_deref().unwrap().contains("virus"));
    let opened = parse(Envelope::AgentMail, &EventType::MessageOpened);
    let Payload::Opened(o) = opened.payload() else {
        panic!()
    };
    assert_eq!(
        o.message_id.as_deref(),
        Some("<0100019a.6f3e@email.agentmail.to>")
    );
}

#[test]
fn security_domain_and_calendar_payloads_have_the_definitions_shape() {
    for envelope in ENVELOPES {
        let review = parse(envelope, &EventType::MessageSecurityReview);
        let Payload::Security(s) = review.payload() else {
            panic!("{envelope:?}: {:?}", review.payload())
        };
        let armor = s.agent_armor.as_ref().unwrap();
        assert_eq!(armor.verdict.as_deref(), Some("review"));
        assert_eq!(armor.status.as_deref(), Some("complete"));
        assert!(armor.completed_at.is_some());

        let released = parse(envelope, &EventType::MessageSecurityOverride);
        let Payload::Security(s) = released.payload() else {
            panic!()
        };
        let o = s.manual_override.as_ref().unwrap();
        assert_eq!(o.original_verdict.as_deref(), Some("review"));
        assert_eq!(o.actor.as_ref().unwrap()["kind"], "api_key");

        let domain = parse(envelope, &EventType::DomainVerified);
        let Payload::Domain(d) = domain.payload() else {
            panic!()
        };
        assert_eq!(d.status.as_deref(), Some("VERIFIED"));
        assert_eq!(d.records[2].priority, Some(10));

        let responded = parse(envelope, &EventType::CalendarEventResponded);
        let Payload::Calendar(c) = responded.payload() else {
            panic!()
        };
        assert_eq!(
            c.calendar_event.as_ref().unwrap()["attendees"][1]["status"],
            "tentative"
        );
        let starting = parse(envelope, &EventType::CalendarEventStarting);
        assert_eq!(
            starting.timestamp().unwrap().unix_timestamp(),
            1_796_068_800
        );
    }
}
