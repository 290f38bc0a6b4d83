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
//! // Every known type has its typed payload, e.g. a calendar change.
//! let starting = fixtures::event("evt_3", EventType::CalendarEventStarting, Envelope::AgentMail);
//! let Payload::Calendar(c) = starting.payload() else { unreachable!() };
//! assert_eq!(c.scheduled_at, Some(fixtures::base_time()));
//!
//! // One event of each known type, e.g. to check a consumer handles them all.
//! assert_eq!(fixtures::all(Envelope::AgentMail).len(), EventType::KNOWN.len());
//! ```

use std::time::Duration;

use mailwire_proto::{
    Address, AgentArmor, Attachment, Bounce, CalendarChange, Complaint, Delivered, Domain,
    Envelope, Event, EventType, JsonObject, ManualOverride, Message, MessageSecurity,
    OffsetDateTime, Open, Payload, Recipient, Reject, Sent, Thread, VerificationRecord,
};
use serde_json::json;

/// The inbox fixtures use when none is given.
pub const INBOX: &str = "ada@agentmail.to";

/// The organization every fixture belongs to.
const ORGANIZATION: &str = "org_2fK9";

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

/// The id of the received message of the fixtures derived from `id`.
fn received_message_id(t: &str) -> String {
    format!("<{t}.1732874400@mail.example.com>")
}

/// A received message in `inbox`, as the services send it: a named sender, a cc, a
/// reply chain, headers, an attachment, text and HTML bodies.
pub fn message(id: &str, inbox: &str) -> Message {
    let t = token(id);
    let at = base_time();
    let text = "Thanks, the numbers look right. Can we move the review to Thursday at 3pm?";
    let mut m = Message::new(inbox, &format!("thr_{t}"), &received_message_id(&t));
    m.labels = vec!["received".to_owned(), "unread".to_owned()];
    m.timestamp = Some(at);
    m.from = Some(Address::named("Grace Hopper", "grace@example.com"));
    m.to = vec![Address::new(inbox)];
    m.cc = Some(vec![Address::named("Alan Turing", "alan@example.org")]);
    m.reply_to = Some(vec![Address::new("grace+replies@example.com")]);
    m.subject = Some("Re: Quarterly review".to_owned());
    m.preview = Some("Thanks, the numbers look right. Can we move the review to".to_owned());
    m.text = Some(format!(
        "{text}\n\nGrace\n\nOn Wed, Ada wrote:\n> Numbers for Q3 attached."
    ));
    m.html = Some(format!(
        "<p>{text}</p><p>Grace</p><blockquote>Numbers for Q3 attached.</blockquote>"
    ));
    m.extracted_text = Some(format!("{text}\n\nGrace"));
    m.extracted_html = Some(format!("<p>{text}</p><p>Grace</p>"));
    let mut attachment = Attachment::new(&format!("att_{t}"));
    attachment.filename = Some("q3-review.pdf".to_owned());
    attachment.content_type = Some("application/pdf".to_owned());
    attachment.size = Some(48_213);
    attachment.content_disposition = Some("attachment".to_owned());
    m.attachments = Some(vec![attachment]);
    m.in_reply_to = Some("<q3.1732700000@agentmail.to>".to_owned());
    m.references = Some(vec!["<q3.1732700000@agentmail.to>".to_owned()]);
    m.headers = Some(JsonObject::from_iter([
        ("X-Mailer".to_owned(), json!("Apple Mail (2.3826)")),
        (
            "Authentication-Results".to_owned(),
            json!("mx.agentmail.to; spf=pass smtp.mailfrom=example.com; dkim=pass"),
        ),
    ]));
    m.size = Some(52_904);
    m.created_at = Some(at);
    m.updated_at = Some(at);
    m
}

/// The thread of [`message`]`(id, inbox)`.
pub fn thread(id: &str, inbox: &str) -> Thread {
    let t = token(id);
    let at = base_time();
    let mut th = Thread::new(inbox, &format!("thr_{t}"));
    th.labels = vec!["received".to_owned(), "sent".to_owned()];
    th.timestamp = Some(at);
    th.received_timestamp = Some(at);
    th.sent_timestamp = Some(at - Duration::from_secs(2 * 3600));
    th.senders = vec![
        Address::named("Grace Hopper", "grace@example.com"),
        Address::new(inbox),
    ];
    th.recipients = vec![
        Address::new(inbox),
        Address::named("Alan Turing", "alan@example.org"),
    ];
    th.subject = Some("Re: Quarterly review".to_owned());
    th.preview = Some("Thanks, the numbers look right. Can we move the review to".to_owned());
    th.last_message_id = Some(received_message_id(&t));
    th.message_count = Some(2);
    th.size = Some(97_311);
    th.created_at = Some(at - Duration::from_secs(2 * 3600));
    th.updated_at = Some(at);
    th
}

/// The typed payload of an event of `event_type` about `inbox`. A type this version
/// does not know gets a realistic object of its own.
pub fn payload(id: &str, event_type: &EventType, inbox: &str) -> Payload {
    let t = token(id);
    let at = Some(base_time());
    let thread_id = format!("thr_{t}");
    let message_id = format!("<{t}.1732874400@agentmail.to>");
    /// An outbound payload about the sent message, at the base time.
    macro_rules! outbound {
        ($ty:ident) => {{
            let mut p = $ty::new(inbox, &thread_id, &message_id);
            p.timestamp = at;
            p
        }};
    }
    use EventType as T;
    match event_type {
        t if t.is_received() => Payload::Message {
            message: Box::new(message(id, inbox)),
            thread: Some(Box::new(thread(id, inbox))),
        },
        T::MessageSecurityCompleted | T::MessageSecurityReview | T::MessageSecurityOverride => {
            Payload::Security(Box::new(security(id, event_type, inbox)))
        }
        T::MessageSent => {
            let mut p = outbound!(Sent);
            p.recipients = vec![
                "grace@example.com".to_owned(),
                "alan@example.org".to_owned(),
            ];
            Payload::Sent(p)
        }
        T::MessageDelivered => {
            let mut p = outbound!(Delivered);
            p.recipients = vec!["grace@example.com".to_owned()];
            Payload::Delivered(p)
        }
        T::MessageBounced => {
            let mut p = outbound!(Bounce);
            p.bounce_type = Some("Permanent".to_owned());
            p.sub_type = Some("General".to_owned());
            p.recipients = vec![Recipient::new("no-such-user@example.com", Some("5.1.1"))];
            Payload::Bounced(p)
        }
        T::MessageComplained => {
            let mut p = outbound!(Complaint);
            p.complaint_type = Some("abuse".to_owned());
            p.recipients = vec!["alan@example.org".to_owned()];
            Payload::Complained(p)
        }
        T::MessageRejected => {
            let mut p = outbound!(Reject);
            p.reason = Some("recipient is on the suppression list".to_owned());
            Payload::Rejected(p)
        }
        T::MessageOpened => Payload::Opened(outbound!(Open)),
        T::DomainVerified => Payload::Domain(Box::new(domain(&t))),
        T::CalendarEventCreated
        | T::CalendarEventUpdated
        | T::CalendarEventDeleted
        | T::CalendarEventResponded
        | T::CalendarEventStarting
        | T::CalendarEventEnding => Payload::Calendar(Box::new(calendar(&t, event_type, inbox))),
        name => Payload::Other(object(json!({
            "object": {
                "id": format!("obj_{t}"),
                "inbox_id": inbox,
                "kind": name.as_str(),
                "timestamp": rfc3339(base_time()),
            }
        }))),
    }
}

/// An Agent Armor result for [`message`]`(id, inbox)`: clear, held for review, or
/// released after review.
fn security(id: &str, event_type: &EventType, inbox: &str) -> MessageSecurity {
    let mut s = MessageSecurity::default();
    s.organization_id = Some(ORGANIZATION.to_owned());
    s.inbox_id = Some(inbox.to_owned());
    s.message_id = Some(received_message_id(&token(id)));
    if *event_type == EventType::MessageSecurityOverride {
        let mut o = ManualOverride::default();
        o.override_id = Some(id.to_owned());
        o.actor = Some(object(json!({"kind": "api_key", "api_key_id": "key_7Pq"})));
        o.reason = Some("Known vendor; verified by phone.".to_owned());
        o.original_verdict = Some("review".to_owned());
        o.released_at = Some(base_time());
        s.manual_override = Some(o);
    } else {
        let review = *event_type == EventType::MessageSecurityReview;
        let mut a = AgentArmor::default();
        a.status = Some("complete".to_owned());
        a.verdict = Some(if review { "review" } else { "clear" }.to_owned());
        a.reason = Some(
            if review {
                "The body asks the reader to forward credentials to an outside address."
            } else {
                "No instructions aimed at an agent; links and attachment are benign."
            }
            .to_owned(),
        );
        a.model = Some("aa-2026-11".to_owned());
        a.completed_at = Some(base_time());
        s.agent_armor = Some(a);
    }
    s
}

/// A verified sending domain, with its SPF, DKIM and MX records.
fn domain(t: &str) -> Domain {
    let record = |kind: &str, name: &str, value: &str, priority: Option<u64>| {
        let mut r = VerificationRecord::default();
        r.record_type = Some(kind.to_owned());
        r.name = Some(name.to_owned());
        r.value = Some(value.to_owned());
        r.status = Some("VALID".to_owned());
        r.priority = priority;
        r
    };
    let mut d = Domain::default();
    d.pod_id = Some("pod_1".to_owned());
    d.domain_id = Some(format!("dom_{t}"));
    d.domain = Some("mail.example.com".to_owned());
    d.status = Some("VERIFIED".to_owned());
    d.feedback_enabled = Some(true);
    d.inbound_enabled = Some(true);
    d.tracking_enabled = Some(false);
    d.subdomains_enabled = Some(false);
    d.records = vec![
        record(
            "TXT",
            "mail.example.com",
            "v=spf1 include:agentmail.to ~all",
            None,
        ),
        record(
            "CNAME",
            "am._domainkey.mail.example.com",
            "am._domainkey.agentmail.to",
            None,
        ),
        record(
            "MX",
            "mail.example.com",
            "inbound-smtp.agentmail.to",
            Some(10),
        ),
    ];
    d.updated_at = Some(base_time());
    d.created_at = Some(base_time() - Duration::from_secs(25 * 3600));
    d
}

/// A change to the quarterly review in `inbox`'s calendar. It happens at the base
/// time: the change is made then, or the meeting starts or ends then.
fn calendar(t: &str, event_type: &EventType, inbox: &str) -> CalendarChange {
    let hour = Duration::from_secs(3600);
    let start = match event_type {
        EventType::CalendarEventStarting => base_time(),
        EventType::CalendarEventEnding => base_time() - hour,
        _ => base_time() + 26 * hour,
    };
    let response = if *event_type == EventType::CalendarEventResponded {
        "tentative"
    } else {
        "needs_action"
    };
    let mut event = object(json!({
        "event_id": format!("cal_{t}"),
        "kind": "single",
        "title": "Quarterly review",
        "status": if *event_type == EventType::CalendarEventDeleted { "cancelled" } else { "confirmed" },
        "all_day": false,
        "start_at": rfc3339(start),
        "end_at": rfc3339(start + hour),
        "timezone": "UTC",
        "uid": format!("{t}@agentmail.to"),
        "sequence": 1,
        "source": "email",
        "location": "Room 4.2 / https://meet.example.com/q3-review",
        "organizer_email": "grace@example.com",
        "attendees": [
            {"name": "Ada Lovelace", "email": inbox, "status": "accepted"},
            {"name": "Alan Turing", "email": "alan@example.org", "status": response}
        ],
        "created_at": rfc3339(base_time() - hour),
        "updated_at": rfc3339(base_time()),
    }));
    let mut c = CalendarChange::default();
    c.inbox_id = Some(inbox.to_owned());
    match event_type {
        EventType::CalendarEventUpdated => {
            c.previous = Some(object(json!({"location": "Room 3.1"})));
        }
        EventType::CalendarEventStarting => c.scheduled_at = Some(start),
        EventType::CalendarEventEnding => c.scheduled_at = Some(start + hour),
        _ => {}
    }
    if c.scheduled_at.is_some() {
        // The meeting starts or ends now; it was last changed earlier.
        event.insert("updated_at".to_owned(), json!(rfc3339(base_time() - hour)));
    }
    c.calendar_event = Some(event);
    c
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
///
/// # Panics
///
/// When `id` is not an event id (empty, over 512 bytes, or with control characters).
pub fn event_in(id: &str, event_type: EventType, envelope: Envelope, inbox: &str) -> Event {
    let payload = payload(id, &event_type, inbox);
    encode(id, event_type, payload, envelope)
}

/// Encodes a fixture; only an id no event may have fails (fixture times are all
/// within RFC 3339's range), and that is the test's mistake.
fn encode(id: &str, event_type: EventType, payload: Payload, envelope: Envelope) -> Event {
    Event::new(id, event_type.clone(), payload, envelope)
        .unwrap_or_else(|e| panic!("fixture {id:?} ({event_type}) does not encode: {e}"))
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
        Payload::Security(p) => {
            if let Some(armor) = &mut p.agent_armor {
                armor.completed_at = Some(at);
            }
            if let Some(release) = &mut p.manual_override {
                release.released_at = Some(at);
            }
        }
        Payload::Sent(p) => p.timestamp = Some(at),
        Payload::Delivered(p) => p.timestamp = Some(at),
        Payload::Bounced(p) => p.timestamp = Some(at),
        Payload::Complained(p) => p.timestamp = Some(at),
        Payload::Rejected(p) => p.timestamp = Some(at),
        Payload::Opened(p) => p.timestamp = Some(at),
        Payload::Domain(p) => p.updated_at = Some(at),
        Payload::Calendar(p) => {
            if p.scheduled_at.is_some() {
                p.scheduled_at = Some(at);
            }
            if let Some(event) = &mut p.calendar_event {
                event.insert("updated_at".to_owned(), json!(rfc3339(at)));
            }
        }
        Payload::Other(obj) => retime_object(obj, &rfc3339(at)),
        // A payload kind added later keeps its own timestamps.
        _ => {}
    }
    encode(
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
