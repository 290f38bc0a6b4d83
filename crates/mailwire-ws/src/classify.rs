//! A cheap look at a server frame, so that the connection task does not parse
//! events: they are parsed by the consumer, on its own thread, where their memory
//! is also freed.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// What the connection task needs to know about a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// An event in either envelope, by its `type` and id field: the consumer parses
    /// it. The id is `None` when it is not a plausible event id (the full parse will
    /// then reject the frame, so it must not become the resume point).
    Event(Option<Cow<'a, str>>),
    /// Anything else (control frames, unknown or odd frames): parse it fully here.
    Other,
}

/// The top-level keys the kind depends on; every other value is skipped without
/// being built. Duplicate keys or a non-string `type` fail here and take the full
/// parse, which says what is wrong.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

/// The frame types that are not events, as [`mailwire_proto::ServerFrame`] names
/// them.
const CONTROL: [&str; 7] = [
    "connected",
    "subscribed",
    "error",
    "ping",
    "pong",
    "resumed",
    "gap",
];

/// Same bound as the proto's id check, so a resume point is always one the parse
/// accepts.
const MAX_ID_BYTES: usize = 512;

/// Classifies a frame the way [`mailwire_proto::ServerFrame::parse`] would: `type`
/// `"event"` is an AgentMail event; a `type` that names no control frame, with an
/// `id`, is a simple-envelope event; everything else is [`Kind::Other`].
pub(crate) fn classify(raw: &[u8]) -> Kind<'_> {
    let Ok(head) = serde_json::from_slice::<Head<'_>>(raw) else {
        return Kind::Other;
    };
    let Some(kind) = head.kind else {
        return Kind::Other;
    };
    let id = if kind == "event" {
        head.event_id
    } else if CONTROL.contains(&kind.as_ref()) {
        return Kind::Other;
    } else {
        match head.id {
            Some(id) => Some(id),
            None => return Kind::Other,
        }
    };
    Kind::Event(id.and_then(plausible_id))
}

fn plausible_id(raw: &RawValue) -> Option<Cow<'_, str>> {
    let id: Cow<'_, str> = serde_json::from_str(raw.get()).ok()?;
    let ok = !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control);
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mailwire_proto::ServerFrame;

    use super::*;

    /// Every frame kind, both envelopes, and odd frames: an `Event` classification
    /// with an id must agree with the full parse, and every frame the full parse
    /// calls an event must be classified as one.
    #[test]
    fn agrees_with_the_full_parse() {
        let frames = [
            r#"{"type":"event","event_type":"message.received","event_id":"evt_1","message":{"inbox_id":"i","message_id":"m"}}"#,
            r#"{"id":"evt_2","type":"message.bounced","data":{}}"#,
            r#"{"id":"evt_\u0033","type":"message.delivered","data":{}}"#,
            r#"{"type":"connected"}"#,
            r#"{"type":"subscribed","event_types":["message.received"]}"#,
            r#"{"type":"error","name":"AuthenticationError","message":"bad key"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"pong"}"#,
            r#"{"type":"resumed","replayed":3}"#,
            r#"{"type":"gap","after":"evt_0"}"#,
            r#"{"type":"gap","id":"x"}"#,
            r#"{"type":"something.new"}"#,
            r#"{"type":"event"}"#,
            r#"{"type":"event","event_type":"message.received","event_id":""}"#,
            r#"{"type":"event","event_type":"message.received","event_id":5}"#,
            r#"{"id":7,"type":"message.bounced","data":{}}"#,
            r#"{"type":"event","type":"event","event_id":"e"}"#,
            r#"{"type":5}"#,
            "{",
            "[1]",
            "not json",
            "",
        ];
        for frame in frames {
            let parsed = ServerFrame::parse(Bytes::from_static(frame.as_bytes()));
            match (classify(frame.as_bytes()), &parsed) {
                (Kind::Event(Some(id)), Ok(ServerFrame::Event(e))) => {
                    assert_eq!(id, e.id(), "{frame}");
                }
                (Kind::Event(_), Ok(ServerFrame::Event(_))) => {
                    panic!("an event without its id: {frame}")
                }
                (Kind::Event(_), Ok(other)) => panic!("{frame} is {other:?}, not an event"),
                (Kind::Event(_) | Kind::Other, Err(_)) => {}
                (Kind::Other, Ok(ServerFrame::Event(_))) => {
                    panic!("an event classified as another frame: {frame}")
                }
                (Kind::Other, Ok(_)) => {}
            }
        }
        assert_eq!(
            classify(br#"{"id":"evt_\u0033","type":"x"}"#),
            Kind::Event(Some("evt_3".into()))
        );
    }
}
