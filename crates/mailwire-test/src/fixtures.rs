//! Realistic events of every type, in either envelope, for tests.
//!
//! Values look like what the services send: display names and addresses, subjects,
//! RFC 3339 timestamps, SMTP enhanced status codes. Everything is derived from the
//! event id, so two fixtures with different ids are different events (distinct
//! message and thread ids) and the same id always gives the same bytes.
//!
//! ```
//! use mailwire_proto::{Envelope, EventType, Payload};
//! use mailwire_test::fixtures;
//!
//! let event = fixtures::message_received("evt_1", "ada@agentmail.to");
//! assert_eq!(event.inbox_id(), Some("ada@agentmail.to"));
//!
//! let bounce = fixtures::event("evt_2", EventType::MessageBounced, Envelope::Simple);
//! let Payload::Bounced(b) = bounce.payload() else { unreachable!() };
//! assert!(b.is_permanent());
//!
//! // One event of each known type, e.g. to check a consumer handles them all.
//! assert_eq!(fixtures::all(Envelope::AgentMail).len(), EventType::KNOWN.len());
//! ```

use std::time::Duration;

use mailwire_proto::{
    Address, Attachment, Bounce, BounceRecipient, Complaint, Delivered, Envelope, Event, EventType,
    JsonObject, Message, OffsetDateTime, Open, Payload, Reject, Sent, Thread,
};
use serde_json::json;

/// The inbox fixtures use when none is given.
pub const INBOX: &str = "ada@agentmail.to";

/// 2026-11-29T10:00:00Z: the time every fixture happens at unless retimed.
pub fn base_time() -> OffsetDateTime {
    // A constant that is in range, so the conversion cannot fail.
    OffsetDateTime::from_unix_timestamp(1_795_946_400).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A short, stable token from an event id, for the ids fixtures derive from it.
fn token(id: &str) -> String {
    let t: String = id
        .trim_start_matches("evt_")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    if t.is_empty() { "0".to_owned() } else { t }
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Every fixture time is well within RFC 3339's range.
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A received message in `inbox`, as the services send it: a named sender, a cc, a
/// reply chain, headers, an attachment, text and HTML bodies.
pub fn message(id: &str, inbox: &str) -> Message {
    let t = token(id);
    let at = base_time();
    Message {
        inbox_id: inbox.to_owned(),
        thread_id: format!("thr_{t}"),
        message_id: format!("<{t}.1732874400@mail.example.com>"),
        labels: vec!["received".to_owned(), "unread".to_owned()],
        timestamp: Some(at),
        from: Some(Address::named("Grace Hopper", "grace@example.com")),
        to: vec![Address::new(inbox)],
        cc: Some(vec![Address::named("Alan Turing", "alan@example.org")]),
        bcc: None,
        reply_to: Some(vec![Address::new("grace+replies@example.com")]),
        subject: Some("Re: Quarterly review".to_owned()),
        preview: Some("Thanks, the numbers look right. Can we move the review to".to_owned()),
        text: Some(
            "Thanks, the numbers look right. Can we move the review to Thursday at 3pm?\n\n\
             Grace"
                .to_owned(),
        ),
        html: Some(
            "<p>Thanks, the numbers look right. Can we move the review to Thursday at \
             3pm?</p><p>Grace</p>"
                .to_owned(),
        ),
        attachments: Some(vec![Attachment {
            attachment_id: format!("att_{t}"),
            filename: Some("q3-review.pdf".to_owned()),
            content_type: Some("application/pdf".to_owned()),
            size: 48_213,
            inline: false,
        }]),
        in_reply_to: Some("<q3.1732700000@agentmail.to>".to_owned()),
        references: Some(vec!["<q3.1732700000@agentmail.to>".to_owned()]),
        headers: Some(JsonObject::from_iter([
            ("X-Mailer".to_owned(), json!("Apple Mail (2.3826)")),
            (
                "Authentication-Results".to_owned(),
                json!("mx.agentmail.to; spf=pass smtp.mailfrom=example.com; dkim=pass"),
            ),
        ])),
        size: Some(52_904),
        created_at: Some(at),
        updated_at: Some(at),
    }
}

/// The thread of [`message`]`(id, inbox)`.
pub fn thread(id: &str, inbox: &str) -> Thread {
    let t = token(id);
    let at = base_time();
    Thread {
        inbox_id: inbox.to_owned(),
        thread_id: format!("thr_{t}"),
        labels: vec!["received".to_owned(), "sent".to_owned()],
        timestamp: Some(at),
        senders: vec![
            Address::named("Grace Hopper", "grace@example.com"),
            Address::new(inbox),
        ],
        recipients: vec![
            Address::new(inbox),
            Address::named("Alan Turing", "alan@example.org"),
        ],
        subject: Some("Re: Quarterly review".to_owned()),
        preview: Some("Thanks, the numbers look right. Can we move the review to".to_owned()),
        last_message_id: Some(format!("<{t}.1732874400@mail.example.com>")),
        message_count: Some(2),
        size: Some(97_311),
        created_at: Some(at - Duration::from_secs(2 * 3600)),
        updated_at: Some(at),
    }
}

/// The typed payload of an event of `event_type` about `inbox`. Types without a typed
/// payload (domain, calendar, unknown) get a realistic object of their own.
pub fn payload(id: &str, event_type: &EventType, inbox: &str) -> Payload {
    let t = token(id);
    let at = Some(base_time());
    let thread_id = format!("thr_{t}");
    let message_id = format!("<{t}.1732874400@agentmail.to>");
    let outbound = || (inbox.to_owned(), thread_id.clone(), message_id.clone());
    use EventType as T;
    match event_type {
        t if t.is_received() || is_security(t) => Payload::Message {
            message: Box::new(message(id, inbox)),
            thread: Some(Box::new(thread(id, inbox))),
        },
        T::MessageSent => {
            let (inbox_id, thread_id, message_id) = outbound();
            Payload::Sent(Sent {
                inbox_id,
                thread_id,
                message_id,
                timestamp: at,
                recipients: vec![
                    "grace@example.com".to_owned(),
                    "alan@example.org".to_owned(),
                ],
            })
        }
        T::MessageDelivered => {
            let (inbox_id, thread_id, message_id) = outbound();
            Payload::Delivered(Delivered {
                inbox_id,
                thread_id,
                message_id,
                timestamp: at,
                recipients: vec!["grace@example.com".to_owned()],
            })
        }
        T::MessageBounced => {
            let (inbox_id, thread_id, message_id) = outbound();
            Payload::Bounced(Bounce {
                inbox_id,
                thread_id,
                message_id,
                timestamp: at,
                bounce_type: Some("Permanent".to_owned()),
                sub_type: Some("General".to_owned()),
                recipients: vec![BounceRecipient {
                    address: "no-such-user@example.com".to_owned(),
                    status: Some("5.1.1".to_owned()),
                }],
            })
        }
        T::MessageComplained => {
            let (inbox_id, thread_id, message_id) = outbound();
            Payload::Complained(Complaint {
                inbox_id,
                thread_id,
                message_id,
                timestamp: at,
                complaint_type: Some("abuse".to_owned()),
                sub_type: None,
                recipients: vec!["alan@example.org".to_owned()],
            })
        }
        T::MessageRejected => {
            let (inbox_id, thread_id, message_id) = outbound();
            Payload::Rejected(Reject {
                inbox_id,
                thread_id,
                message_id,
                timestamp: at,
                reason: Some("recipient is on the suppression list".to_owned()),
            })
        }
        T::MessageOpened => {
            let (inbox_id, thread_id, message_id) = outbound();
            Payload::Opened(Open {
                inbox_id,
                thread_id,
                message_id,
                timestamp: at,
                recipients: vec!["grace@example.com".to_owned()],
            })
        }
        T::DomainVerified => Payload::Other(object(json!({
            "domain": {
                "domain_id": format!("dom_{t}"),
                "domain": "mail.example.com",
                "status": "verified",
                "records": [
                    {"type": "TXT", "name": "mail.example.com", "value": "v=spf1 include:agentmail.to ~all", "status": "verified"},
                    {"type": "CNAME", "name": "am._domainkey.mail.example.com", "value": "am._domainkey.agentmail.to", "status": "verified"}
                ],
                "timestamp": rfc3339(base_time()),
            }
        }))),
        T::Other(name) => Payload::Other(object(json!({
            "object": {
                "id": format!("obj_{t}"),
                "inbox_id": inbox,
                "kind": name,
                "timestamp": rfc3339(base_time()),
            }
        }))),
        // The calendar family.
        other => Payload::Other(object(json!({
            "calendar_event": calendar_event(&t, other, inbox),
        }))),
    }
}

fn is_security(t: &EventType) -> bool {
    matches!(
        t,
        EventType::MessageSecurityCompleted
            | EventType::MessageSecurityReview
            | EventType::MessageSecurityOverride
    )
}

fn calendar_event(t: &str, event_type: &EventType, inbox: &str) -> serde_json::Value {
    let start = base_time() + Duration::from_secs(26 * 3600);
    let mut v = json!({
        "calendar_event_id": format!("cal_{t}"),
        "inbox_id": inbox,
        "title": "Quarterly review",
        "location": "Room 4.2 / https://meet.example.com/q3-review",
        "start": rfc3339(start),
        "end": rfc3339(start + Duration::from_secs(3600)),
        "organizer": "Grace Hopper <grace@example.com>",
        "attendees": [
            {"name": "Ada Lovelace", "email": inbox, "status": "accepted"},
            {"name": "Alan Turing", "email": "alan@example.org", "status": "tentative"}
        ],
        "timestamp": rfc3339(base_time()),
    });
    if *event_type == EventType::CalendarEventResponded {
        v["response"] = json!({"email": "alan@example.org", "status": "tentative"});
    }
    v
}

fn object(v: serde_json::Value) -> JsonObject {
    match v {
        serde_json::Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

/// An event of `event_type` about [`INBOX`], encoded in `envelope`.
pub fn event(id: &str, event_type: EventType, envelope: Envelope) -> Event {
    event_in(id, event_type, envelope, INBOX)
}

/// An event of `event_type` about `inbox`, encoded in `envelope`.
pub fn event_in(id: &str, event_type: EventType, envelope: Envelope, inbox: &str) -> Event {
    let payload = payload(id, &event_type, inbox);
    Event::new(id, event_type, payload, envelope)
}

/// A `message.received` event in AgentMail's envelope, with its thread.
pub fn message_received(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageReceived, Envelope::AgentMail, inbox)
}

/// A `message.sent` event in AgentMail's envelope.
pub fn message_sent(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageSent, Envelope::AgentMail, inbox)
}

/// A `message.delivered` event in AgentMail's envelope.
pub fn message_delivered(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageDelivered, Envelope::AgentMail, inbox)
}

/// A `message.bounced` event in AgentMail's envelope: a permanent bounce, `5.1.1`.
pub fn message_bounced(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageBounced, Envelope::AgentMail, inbox)
}

/// A `message.complained` event in AgentMail's envelope.
pub fn message_complained(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageComplained, Envelope::AgentMail, inbox)
}

/// A `message.rejected` event in AgentMail's envelope.
pub fn message_rejected(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageRejected, Envelope::AgentMail, inbox)
}

/// A `message.opened` event in AgentMail's envelope.
pub fn message_opened(id: &str, inbox: &str) -> Event {
    event_in(id, EventType::MessageOpened, Envelope::AgentMail, inbox)
}

/// One event of every known type about [`INBOX`], in `envelope`, in the order
/// [`EventType::KNOWN`] lists them, with ids `evt_00` to `evt_19`.
pub fn all(envelope: Envelope) -> Vec<Event> {
    EventType::KNOWN
        .iter()
        .enumerate()
        .map(|(i, t)| event(&format!("evt_{i:02}"), t.clone(), envelope))
        .collect()
}

/// `n` `message.received` events about `inbox` with ids `{prefix}_000`,
/// `{prefix}_001`..., a second apart from [`base_time`].
pub fn burst(prefix: &str, n: usize, inbox: &str) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let e = message_received(&format!("{prefix}_{i:03}"), inbox);
            retimed(&e, base_time() + Duration::from_secs(i as u64))
        })
        .collect()
}

/// The same event with every timestamp of its payload set to `at`, re-encoded in its
/// envelope: e.g. to test a reorder window.
pub fn retimed(event: &Event, at: OffsetDateTime) -> Event {
    let mut payload = event.payload().clone();
    match &mut payload {
        Payload::Message { message, thread } => {
            message.timestamp = Some(at);
            message.created_at = Some(at);
            message.updated_at = Some(at);
            if let Some(thread) = thread {
                thread.timestamp = Some(at);
                thread.updated_at = Some(at);
            }
        }
        Payload::Sent(p) => p.timestamp = Some(at),
        Payload::Delivered(p) => p.timestamp = Some(at),
        Payload::Bounced(p) => p.timestamp = Some(at),
        Payload::Complained(p) => p.timestamp = Some(at),
        Payload::Rejected(p) => p.timestamp = Some(at),
        Payload::Opened(p) => p.timestamp = Some(at),
        Payload::Other(obj) => retime_object(obj, &rfc3339(at)),
        // A payload kind added later keeps its own timestamps.
        _ => {}
    }
    Event::new(
        event.id(),
        event.event_type().clone(),
        payload,
        event.envelope(),
    )
}

fn retime_object(obj: &mut JsonObject, at: &str) {
    for (key, value) in obj.iter_mut() {
        match value {
            serde_json::Value::Object(inner) => retime_object(inner, at),
            v if key == "timestamp" => *v = json!(at),
            _ => {}
        }
    }
}
