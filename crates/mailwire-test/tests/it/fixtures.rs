//! The fixtures are what they say, and survive a parse.

use std::collections::HashSet;
use std::time::Duration;

use mailwire_proto::{Envelope, Event, EventType, Payload};
use mailwire_test::fixtures;

#[test]
fn every_type_in_both_envelopes_parses_back_to_the_same_event() {
    for envelope in [Envelope::AgentMail, Envelope::Simple] {
        let all = fixtures::all(envelope);
        assert_eq!(all.len(), EventType::KNOWN.len());
        for (event, t) in all.iter().zip(EventType::KNOWN) {
            assert_eq!(event.event_type(), t);
            assert_eq!(event.envelope(), envelope);
            let parsed = Event::parse(event.raw().clone()).unwrap_or_else(|e| {
                panic!("{t} in {envelope:?} does not parse: {e}\n{:?}", event.raw())
            });
            assert_eq!(parsed.id(), event.id());
            assert_eq!(parsed.event_type(), t);
            assert_eq!(parsed.raw(), event.raw());
            // A domain belongs to the organisation, not to an inbox.
            let inbox = (*t != EventType::DomainVerified).then_some(fixtures::INBOX);
            assert_eq!(parsed.inbox_id(), inbox, "{t}");
            assert_eq!(parsed.timestamp(), Some(fixtures::base_time()), "{t}");
            // Every known type has its typed payload, read whole.
            assert!(
                !matches!(parsed.payload(), Payload::Other(_)),
                "{t} in {envelope:?} is untyped: {:?}",
                parsed.payload()
            );
            assert!(
                parsed.payload_error().is_none(),
                "{t} in {envelope:?}: {:?}",
                parsed.payload_error()
            );
            match (envelope, parsed.payload(), event.payload()) {
                // The simple envelope carries the message alone, not its thread.
                (
                    Envelope::Simple,
                    Payload::Message { message: a, thread },
                    Payload::Message { message: b, .. },
                ) => {
                    assert_eq!(a, b);
                    assert!(thread.is_none());
                }
                (_, a, b) => assert_eq!(a, b, "{t} in {envelope:?}"),
            }
        }
    }
}

#[test]
fn typed_helpers_carry_realistic_values() {
    let event = fixtures::message_received("evt_42", "support@agentmail.to");
    let Payload::Message { message, thread } = event.payload() else {
        panic!("a message")
    };
    assert_eq!(message.inbox_id.as_deref(), Some("support@agentmail.to"));
    assert_eq!(message.to[0].email(), Some("support@agentmail.to"));
    let from = message.from.as_ref().unwrap();
    assert_eq!(from.as_str(), "Grace Hopper <grace@example.com>");
    assert_eq!(from.name().as_deref(), Some("Grace Hopper"));
    assert!(
        message
            .subject
            .as_deref()
            .unwrap()
            .contains("Quarterly review")
    );
    assert_eq!(
        message.attachments.as_ref().unwrap()[0]
            .content_type
            .as_deref(),
        Some("application/pdf")
    );
    assert!(message.thread_id.is_some());
    assert_eq!(thread.as_ref().unwrap().thread_id, message.thread_id);

    // Agent Armor's results are about the message received with the same id.
    for (t, verdict) in [
        (EventType::MessageSecurityCompleted, Some("clear")),
        (EventType::MessageSecurityReview, Some("review")),
        (EventType::MessageSecurityOverride, None),
    ] {
        let event = fixtures::event_in(
            "evt_42",
            t.clone(),
            Envelope::AgentMail,
            "support@agentmail.to",
        );
        let Payload::Security(security) = event.payload() else {
            panic!("{t}: {:?}", event.payload())
        };
        assert_eq!(security.message_id, message.message_id, "{t}");
        assert_eq!(event.inbox_id(), Some("support@agentmail.to"));
        let armor = security.agent_armor.as_ref();
        assert_eq!(armor.and_then(|a| a.verdict.as_deref()), verdict, "{t}");
        let released = security.manual_override.as_ref();
        assert_eq!(released.is_some(), verdict.is_none(), "{t}");
    }

    let Payload::Bounced(bounce) = fixtures::message_bounced("evt_43", "a@agentmail.to")
        .payload()
        .clone()
    else {
        panic!("a bounce")
    };
    assert!(bounce.is_permanent());
    assert_eq!(bounce.recipients[0].status.as_deref(), Some("5.1.1"));

    for (event, t) in [
        (
            fixtures::message_sent("e1", "a@x.to"),
            EventType::MessageSent,
        ),
        (
            fixtures::message_delivered("e2", "a@x.to"),
            EventType::MessageDelivered,
        ),
        (
            fixtures::message_complained("e3", "a@x.to"),
            EventType::MessageComplained,
        ),
        (
            fixtures::message_rejected("e4", "a@x.to"),
            EventType::MessageRejected,
        ),
        (
            fixtures::message_opened("e5", "a@x.to"),
            EventType::MessageOpened,
        ),
    ] {
        assert_eq!(event.event_type(), &t);
        assert_eq!(event.inbox_id(), Some("a@x.to"));
    }
}

#[test]
fn different_ids_make_different_messages() {
    let a = fixtures::message_received("evt_1", fixtures::INBOX);
    let b = fixtures::message_received("evt_2", fixtures::INBOX);
    assert_ne!(
        a.payload().message().unwrap().message_id,
        b.payload().message().unwrap().message_id
    );
    assert_eq!(a, fixtures::message_received("evt_1", fixtures::INBOX));
}

#[test]
fn unknown_types_are_kept_as_other() {
    let event = fixtures::event(
        "evt_9",
        EventType::from_name("inbox.created"),
        Envelope::AgentMail,
    );
    let parsed = Event::parse(event.raw().clone()).unwrap();
    assert_eq!(
        parsed.event_type(),
        &EventType::Other("inbox.created".into())
    );
    assert!(matches!(parsed.payload(), Payload::Other(_)));
    assert_eq!(parsed.inbox_id(), Some(fixtures::INBOX));
}

#[test]
fn burst_and_retimed_move_timestamps() {
    let burst = fixtures::burst("evt_b", 5, fixtures::INBOX);
    let ids: HashSet<_> = burst.iter().map(|e| e.id().to_owned()).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(burst[0].id(), "evt_b_000");
    for (i, e) in burst.iter().enumerate() {
        assert_eq!(
            e.timestamp(),
            Some(fixtures::base_time() + Duration::from_secs(i as u64))
        );
    }
    let later = fixtures::base_time() + Duration::from_secs(3600);
    for e in fixtures::all(Envelope::Simple)
        .iter()
        .chain(&fixtures::all(Envelope::AgentMail))
    {
        let moved = fixtures::retimed(e, later);
        assert_eq!(moved.timestamp(), Some(later), "{}", e.event_type());
        assert_eq!(moved.id(), e.id());
        assert_eq!(moved.envelope(), e.envelope());
        assert_eq!(
            Event::parse(moved.raw().clone()).unwrap().timestamp(),
            Some(later)
        );
    }
}
