//! The one parser of the protocol's JSON objects: events in both envelopes and
//! WebSocket frames are all read by [`read`], which captures the fields that tell
//! them apart and where each payload lies, and skips everything else unread.
//! Payloads are parsed later, from their captured span, when someone asks.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::ParseError;

/// Top-level keys whose values are captured (as raw JSON, unread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Key {
    Data,
    Message,
    Thread,
    Send,
    Delivery,
    Bounce,
    Complaint,
    Reject,
    Open,
    Domain,
    EventTypes,
    InboxIds,
    PodIds,
    Name,
    Replayed,
    After,
}

const KEYS: usize = Key::After as usize + 1;

impl Key {
    fn of(name: &str) -> Option<Key> {
        Some(match name {
            "data" => Key::Data,
            "message" => Key::Message,
            "thread" => Key::Thread,
            "send" => Key::Send,
            "delivery" => Key::Delivery,
            "bounce" => Key::Bounce,
            "complaint" => Key::Complaint,
            "reject" => Key::Reject,
            "open" => Key::Open,
            "domain" => Key::Domain,
            "event_types" => Key::EventTypes,
            "inbox_ids" => Key::InboxIds,
            "pod_ids" => Key::PodIds,
            "name" => Key::Name,
            "replayed" => Key::Replayed,
            "after" => Key::After,
            _ => return None,
        })
    }
}

/// What [`read`] captured of one JSON object.
#[derive(Debug)]
pub(crate) struct Wire<'a> {
    /// The whole object's text.
    pub(crate) text: &'a str,
    /// `type`, `event_type`, `event_id` and `id`, which identify an event or frame:
    /// each may appear once.
    pub(crate) kind: Option<&'a RawValue>,
    pub(crate) event_type: Option<&'a RawValue>,
    pub(crate) event_id: Option<&'a RawValue>,
    pub(crate) id: Option<&'a RawValue>,
    /// The other captured keys; when one repeats, the last one counts, as in
    /// JavaScript's `JSON.parse`.
    fields: [Option<&'a RawValue>; KEYS],
}

impl<'a> Wire<'a> {
    pub(crate) fn get(&self, key: Key) -> Option<&'a RawValue> {
        self.fields[key as usize]
    }

    /// Where `value` lies in [`Wire::text`].
    pub(crate) fn span(&self, value: &RawValue) -> Range<usize> {
        let start = value.get().as_ptr() as usize - self.text.as_ptr() as usize;
        start..start + value.get().len()
    }
}

/// Reads one JSON object (and only an object: serde would also read a struct from a
/// list, which no service sends). Invalid UTF-8 anywhere is an error: JSON is UTF-8.
pub(crate) fn read(json: &[u8]) -> Result<Wire<'_>, ParseError> {
    let text = std::str::from_utf8(json)
        .map_err(|_| ParseError::Json(de::Error::custom("invalid UTF-8")))?;
    read_str(text)
}

/// [`read`] on text.
pub(crate) fn read_str(text: &str) -> Result<Wire<'_>, ParseError> {
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(ParseError::Json(de::Error::custom(
            "expected a JSON object",
        )));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let wire = WireSeed(text).deserialize(&mut de)?;
    de.end()?;
    Ok(wire)
}

struct WireSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for WireSeed<'de> {
    type Value = Wire<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Wire<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for WireSeed<'de> {
    type Value = Wire<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wire<'de>, A::Error> {
        let mut wire = Wire {
            text: self.0,
            kind: None,
            event_type: None,
            event_id: None,
            id: None,
            fields: [None; KEYS],
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match &*key {
                "type" => &mut wire.kind,
                "event_type" => &mut wire.event_type,
                "event_id" => &mut wire.event_id,
                "id" => &mut wire.id,
                other => {
                    match Key::of(other) {
                        Some(k) => wire.fields[k as usize] = Some(map.next_value()?),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    continue;
                }
            };
            if slot.is_some() {
                // Two ids or two types: which one is the event? Neither.
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(wire)
    }
}

/// Reads a captured value as `T`, e.g. a string as `Cow<str>` (borrowed unless it has
/// escapes).
pub(crate) fn field<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
) -> Result<Option<T>, serde_json::Error> {
    raw.map(|raw| serde_json::from_str(raw.get())).transpose()
}

/// A captured value as a string, or `None` when absent or not a string.
pub(crate) fn string(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    field::<Cow<'_, str>>(raw).ok().flatten()
}

/// Reads `T` from a JSON object, and only from an object (see [`read`]).
pub(crate) fn object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, serde_json::Error> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => serde_json::from_slice(json),
        Some(_) => Err(de::Error::custom("expected a JSON object")),
    }
}
