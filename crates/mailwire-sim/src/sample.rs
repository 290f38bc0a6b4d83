//! Ready-made events for tests, demos and benchmarks.

use mailwire_proto::Event;

/// A `message.received` event with the given id, inbox and subject, in the AgentMail
/// envelope.
///
/// ```
/// let event = mailwire_sim::sample::message_received("evt_1", "ada@agentmail.to");
/// assert_eq!(event.inbox_id(), Some("ada@agentmail.to"));
/// ```
pub fn message_received(id: &str, inbox_id: &str) -> Event {
    message_with_text(id, inbox_id, "Your code is 481516")
}

/// A `message.received` event whose encoded size is about `bytes` (at least the size
/// of an event with an empty text), padded through its text.
pub fn message_of_size(id: &str, inbox_id: &str, bytes: usize) -> Event {
    let base = message_with_text(id, inbox_id, "").raw().len();
    message_with_text(id, inbox_id, &"x".repeat(bytes.saturating_sub(base)))
}

/// A `message.bounced` event, for filter tests.
pub fn bounce(id: &str, inbox_id: &str) -> Event {
    let json = serde_json::json!({
        "type": "event", "event_type": "message.bounced", "event_id": id,
        "bounce": {
            "inbox_id": inbox_id, "thread_id": "thr_1", "message_id": format!("msg_{id}"),
            "timestamp": "2026-11-29T10:00:00Z", "type": "Permanent", "sub_type": "General",
            "recipients": [{"address": "nobody@example.com", "status": "5.1.1"}]
        }
    });
    parse(json)
}

fn message_with_text(id: &str, inbox_id: &str, text: &str) -> Event {
    let json = serde_json::json!({
        "type": "event", "event_type": "message.received", "event_id": id,
        "message": {
            "inbox_id": inbox_id, "thread_id": "thr_1", "message_id": format!("msg_{id}"),
            "labels": ["received", "unread"], "timestamp": "2026-11-29T10:00:00Z",
            "from": "Bob <bob@example.com>", "to": [inbox_id], "subject": "Your code",
            "preview": "Your code is", "text": text, "size": 1024,
            "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"
        }
    });
    parse(json)
}

fn parse(json: serde_json::Value) -> Event {
    // These are fixed, well-formed events: failing to parse one is a bug here.
    Event::parse(json.to_string()).expect("sample events are well formed")
}
