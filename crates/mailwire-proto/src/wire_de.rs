//! How [`Wire`] is read: one pass over the bytes, typed payloads included.
//!
//! AgentMail sends `type`, `event_type` and `event_id` before the payload objects, so
//! by the time `message` (or `send`, `bounce`...) arrives the payload's type is known
//! and it is read straight from the stream ("eagerly"), instead of being captured as
//! raw JSON and parsed again. When the type comes later, or in the simple envelope
//! (whose `data` may wrap `{message, thread}`), payloads are captured raw and parsed
//! afterwards, as before.
//!
//! Eager reading only ever succeeds on input the raw path accepts, with the same
//! result. Its errors, though, may differ (a payload error found before a later syntax
//! error), so callers redo a failed eager parse on the raw path, whose errors are the
//! reference: see [`crate::wire::eager`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::EventType;
use crate::event_type::PayloadKind;
use crate::payload::{Bounce, Complaint, Delivered, Message, Open, Payload, Reject, Sent, Thread};
use crate::wire::Wire;

/// Reads a [`Wire`], and AgentMail payloads whose type is known, in one pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireSeed;

impl<'de> DeserializeSeed<'de> for WireSeed {
    type Value = Wire<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Wire<'de>, D::Error> {
        // `deserialize_map`, not `deserialize_struct`: an event is an object, never
        // the list of its fields in order.
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WireSeed {
    type Value = Wire<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire<'de>, A::Error> {
        let mut wire = Wire::default();
        let mut seen = 0u32;
        while let Some(field) = map.next_key::<Field>()? {
            if field != Field::Other {
                let bit = 1u32 << (field as u32);
                if seen & bit != 0 {
                    return Err(de::Error::custom(format_args!(
                        "duplicate field `{}`",
                        field.name()
                    )));
                }
                seen |= bit;
            }
            let eager = eager_kind(&wire);
            match field {
                Field::Type => wire.kind = map.next_value_seed(OptStr)?,
                Field::EventType => wire.event_type = map.next_value_seed(OptStr)?,
                Field::EventId => wire.event_id = map.next_value_seed(OptStr)?,
                Field::Id => wire.id = map.next_value()?,
                Field::Data => wire.data = map.next_value()?,
                Field::Message => match eager {
                    Some(PayloadKind::Message) => {
                        let m = map.next_value_seed(Eager::<Message>::new())?;
                        wire.early.message = m.map(Box::new);
                    }
                    _ => wire.message = map.next_value()?,
                },
                Field::Thread => match eager {
                    Some(PayloadKind::Message) => {
                        let t = map.next_value_seed(Eager::<Thread>::new())?;
                        wire.early.thread = t.map(Box::new);
                    }
                    _ => wire.thread = map.next_value()?,
                },
                Field::Send => match eager {
                    Some(PayloadKind::Sent) => {
                        let p = map.next_value_seed(Eager::<Sent>::new())?;
                        wire.early.payload = p.map(Payload::Sent);
                    }
                    _ => wire.send = map.next_value()?,
                },
                Field::Delivery => match eager {
                    Some(PayloadKind::Delivered) => {
                        let p = map.next_value_seed(Eager::<Delivered>::new())?;
                        wire.early.payload = p.map(Payload::Delivered);
                    }
                    _ => wire.delivery = map.next_value()?,
                },
                Field::Bounce => match eager {
                    Some(PayloadKind::Bounced) => {
                        let p = map.next_value_seed(Eager::<Bounce>::new())?;
                        wire.early.payload = p.map(Payload::Bounced);
                    }
                    _ => wire.bounce = map.next_value()?,
                },
                Field::Complaint => match eager {
                    Some(PayloadKind::Complained) => {
                        let p = map.next_value_seed(Eager::<Complaint>::new())?;
                        wire.early.payload = p.map(Payload::Complained);
                    }
                    _ => wire.complaint = map.next_value()?,
                },
                Field::Reject => match eager {
                    Some(PayloadKind::Rejected) => {
                        let p = map.next_value_seed(Eager::<Reject>::new())?;
                        wire.early.payload = p.map(Payload::Rejected);
                    }
                    _ => wire.reject = map.next_value()?,
                },
                Field::Open => match eager {
                    Some(PayloadKind::Opened) => {
                        let p = map.next_value_seed(Eager::<Open>::new())?;
                        wire.early.payload = p.map(Payload::Opened);
                    }
                    _ => wire.open = map.next_value()?,
                },
                Field::EventTypes => wire.event_types = map.next_value()?,
                Field::InboxIds => wire.inbox_ids = map.next_value()?,
                Field::PodIds => wire.pod_ids = map.next_value()?,
                Field::Name => wire.name = map.next_value()?,
                Field::Replayed => wire.replayed = map.next_value()?,
                Field::After => wire.after = map.next_value()?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(wire)
    }
}

/// The payload kind to read eagerly: known once `"type":"event"` and `event_type`
/// have been read.
fn eager_kind(wire: &Wire<'_>) -> Option<PayloadKind> {
    match (&wire.kind, &wire.event_type) {
        (Some(kind), Some(t)) if kind == "event" => Some(EventType::from_name(t).payload_kind()),
        _ => None,
    }
}

/// The keys [`Wire`] reads; the discriminant is the bit marking it seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Type,
    EventType,
    EventId,
    Id,
    Data,
    Message,
    Thread,
    Send,
    Delivery,
    Bounce,
    Complaint,
    Reject,
    Open,
    EventTypes,
    InboxIds,
    PodIds,
    Name,
    Replayed,
    After,
    Other,
}

impl Field {
    const ALL: [(&'static str, Field); 19] = [
        ("type", Field::Type),
        ("event_type", Field::EventType),
        ("event_id", Field::EventId),
        ("id", Field::Id),
        ("data", Field::Data),
        ("message", Field::Message),
        ("thread", Field::Thread),
        ("send", Field::Send),
        ("delivery", Field::Delivery),
        ("bounce", Field::Bounce),
        ("complaint", Field::Complaint),
        ("reject", Field::Reject),
        ("open", Field::Open),
        ("event_types", Field::EventTypes),
        ("inbox_ids", Field::InboxIds),
        ("pod_ids", Field::PodIds),
        ("name", Field::Name),
        ("replayed", Field::Replayed),
        ("after", Field::After),
    ];

    fn from_name(name: &[u8]) -> Field {
        Field::ALL
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map_or(Field::Other, |&(_, f)| f)
    }

    fn name(self) -> &'static str {
        Field::ALL
            .iter()
            .find(|&&(_, f)| f == self)
            .map_or("?", |&(n, _)| n)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::from_name(v.as_bytes()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Field, E> {
                Ok(Field::from_name(v))
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

/// An optional string, borrowed from the input unless it has escapes.
struct OptStr;

impl<'de> DeserializeSeed<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
}

/// A payload read in the stream: `null` is absent, anything but an object an error.
struct Eager<T>(PhantomData<T>);

impl<T> Eager<T> {
    fn new() -> Eager<T> {
        Eager(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Eager<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Eager<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        T::deserialize(ObjectOnly(d)).map(Some)
    }
}

/// Reads whatever it is asked for as a map, so a payload struct cannot be read from
/// a JSON list of its fields (the raw path checks for `{` before parsing).
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::{Event, EventType, ServerFrame};

    fn fixture(envelope: &str, t: &EventType) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(envelope)
            .join(format!("{t}.json"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The single pass and the reference parse agree on `json`: the single pass
    /// accepts only what the reference accepts, with the same event and frame.
    /// Returns whether the single pass accepted it.
    fn agree(json: &[u8]) -> bool {
        let raw = Bytes::copy_from_slice(json);
        let frame = ServerFrame::parse_eager(&raw);
        if let Some(frame) = &frame {
            let reference = ServerFrame::parse_reference(&raw).expect("reference accepts");
            assert_eq!(frame, &reference);
        }
        match Event::parse_eager(&raw) {
            Some(event) => {
                let reference = Event::parse_reference(&raw).expect("reference accepts");
                assert_eq!(event, reference);
                true
            }
            None => false,
        }
    }

    #[test]
    fn agentmail_payloads_are_read_in_the_same_pass() {
        for t in EventType::KNOWN {
            let json = fixture("agentmail", t);
            let wire = crate::wire::eager(&json).expect("the fixture reads");
            let early = &wire.early;
            let typed = t.payload_kind().key().is_some();
            assert_eq!(
                early.message.is_some() || early.payload.is_some(),
                typed,
                "{t}"
            );
            assert!(agree(&json), "{t}");
            assert!(agree(&fixture("simple", t)), "{t}");
        }
    }

    #[test]
    fn the_single_pass_never_accepts_what_the_reference_rejects() {
        let head = r#""type":"event","event_type":"message.bounced","event_id":"evt_1""#;
        let bounce = r#"{"inbox_id":"a@x.to","thread_id":"t","message_id":"m","recipients":[]}"#;
        let received = r#""type":"event","event_type":"message.received","event_id":"e""#;
        let cases = [
            // A payload as a list of its fields is not a payload.
            format!(r#"{{{head},"bounce":["a@x.to","m"]}}"#),
            format!(r#"{{{head},"bounce":null}}"#),
            format!(r#"{{{head},"bounce":{bounce},"bounce":{bounce}}}"#),
            format!(r#"{{{head},"bounce":{bounce},"type":"event"}}"#),
            format!(r#"{{{head},"bounce":{bounce},"event_type":"message.sent"}}"#),
            format!(r#"{{{head},"bounce":{bounce}}} x"#),
            format!(r#"{{{head},"bounce":{bounce},"x":}}"#),
            format!(r#"{{{head},"bounce":{{"inbox_id":1}}, ]"#),
            format!(r#"{{{head},"bounce":{bounce},"event_id":5}}"#),
            format!(r#"{{{head},"bounce":{bounce},"id":{{}},"data":[1,"#),
            format!(
                r#"{{"type":"event","event_type":"message.bounced","event_id":"","bounce":{bounce}}}"#
            ),
            format!(r#"{{{received},"message":null,"thread":null}}"#),
            format!(r#"{{{received},"thread":{{}}}}"#),
            format!(
                r#"{{{received},"message":{{"inbox_id":"a","thread_id":"t","message_id":"m"}},"thread":[]}}"#
            ),
            format!(
                r#"{{"t\u0079pe":"event","event_type":"message.bounced","event_id":"e","bounce":{bounce},"type":"event"}}"#
            ),
            format!(r#"[{head},{bounce}]"#),
        ];
        for case in &cases {
            assert!(!agree(case.as_bytes()), "{case}");
            assert!(Event::parse(case.clone().into_bytes()).is_err(), "{case}");
        }
        // The plain case is read in one pass; with the payload first, it is captured
        // raw and parsed after, to the same event.
        let plain = format!(r#"{{{head},"bounce":{bounce}}}"#);
        assert!(agree(plain.as_bytes()));
        assert!(
            crate::wire::eager(plain.as_bytes())
                .unwrap()
                .early
                .payload
                .is_some()
        );
        let payload_first = format!(r#"{{"bounce":{bounce},{head}}}"#);
        assert!(agree(payload_first.as_bytes()));
        assert!(
            crate::wire::eager(payload_first.as_bytes())
                .unwrap()
                .early
                .payload
                .is_none()
        );
    }

    #[test]
    fn errors_are_the_reference_errors() {
        // The payload is malformed and so is the JSON after it: the reference reports
        // the JSON, which the single pass, reading the payload first, would not.
        let json = br#"{"type":"event","event_type":"message.bounced","event_id":"e","bounce":{"inbox_id":1}, ]"#;
        let err = Event::parse(&json[..]).expect_err("malformed");
        assert!(matches!(err, crate::ParseError::Json(_)), "{err:?}");
    }
}
