//! The event a WebSocket would have carried for a message read from the REST API.

use mailwire_proto::{Event, EventType};

/// The `message.received*` type of a listed message, from its labels; `None` for a
/// message the inbox sent.
pub(crate) fn received_type(labels: &[String]) -> Option<EventType> {
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    if has("spam") {
        return Some(EventType::MessageReceivedSpam);
    }
    if has("blocked") {
        return Some(EventType::MessageReceivedBlocked);
    }
    if has("unauthenticated") {
        return Some(EventType::MessageReceivedUnauthenticated);
    }
    has("received").then_some(EventType::MessageReceived)
}

/// The id of a backfilled event: the same for the same message every time, on every
/// instance, so a second backfill of it is a duplicate by id as well.
pub(crate) fn event_id(event_type: &EventType, inbox: &str, message_id: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [event_type.as_str(), inbox, message_id] {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    let digest = ctx.finish();
    format!("bf_{}", hex::encode(&digest.as_ref()[..16]))
}

/// Builds the event a WebSocket would have carried for this message: AgentMail's
/// envelope around the message exactly as the REST API returned it.
pub(crate) fn build_event(
    event_type: &EventType,
    inbox: &str,
    message_id: &str,
    message: &[u8],
) -> Result<Event, String> {
    let id = event_id(event_type, inbox, message_id);
    let message = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_owned())?;
    let head = serde_json::to_string(&serde_json::json!({
        "type": "event",
        "event_type": event_type.as_str(),
        "event_id": id,
    }))
    .map_err(|e| e.to_string())?;
    // `{"type":..,"event_type":..,"event_id":..}` + `,"message":<bytes as sent>}`.
    let mut raw = String::with_capacity(head.len() + message.len() + 16);
    raw.push_str(&head[..head.len() - 1]);
    raw.push_str(",\"message\":");
    raw.push_str(message.trim());
    raw.push('}');
    Event::parse(raw.into_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_types_come_from_labels() {
        let l = |ls: &[&str]| ls.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            received_type(&l(&["received", "unread"])),
            Some(EventType::MessageReceived)
        );
        assert_eq!(
            received_type(&l(&["received", "spam"])),
            Some(EventType::MessageReceivedSpam)
        );
        assert_eq!(
            received_type(&l(&["blocked"])),
            Some(EventType::MessageReceivedBlocked)
        );
        assert_eq!(received_type(&l(&["sent"])), None);
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let a = event_id(&EventType::MessageReceived, "ada@x", "<1@y>");
        assert_eq!(a, event_id(&EventType::MessageReceived, "ada@x", "<1@y>"));
        assert_ne!(a, event_id(&EventType::MessageReceived, "ada@x", "<2@y>"));
        assert_ne!(
            a,
            event_id(&EventType::MessageReceivedSpam, "ada@x", "<1@y>")
        );
        assert!(a.starts_with("bf_") && a.len() == 35);
    }

    #[test]
    fn a_built_event_carries_the_message_as_sent() {
        let message =
            br#" {"inbox_id":"ada@x","thread_id":"t","message_id":"<1@y>","x-new":true} "#;
        let e = build_event(&EventType::MessageReceived, "ada@x", "<1@y>", message).unwrap();
        assert_eq!(e.inbox_id(), Some("ada@x"));
        assert!(
            std::str::from_utf8(e.raw())
                .unwrap()
                .contains(r#""x-new":true"#)
        );
        assert!(build_event(&EventType::MessageReceived, "a", "b", b"\xff").is_err());
    }
}
