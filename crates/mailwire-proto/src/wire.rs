//! One borrowed view of any JSON object the protocol sends, parsed in a single pass.
//! Events and frames are told apart from it without parsing twice.
//!
//! It is read two ways: [`eager`] (the fast path, see [`crate::wire_de`]) and, when
//! that fails, the derived `Deserialize` through [`object`], the reference whose
//! errors callers report.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeSeed as _;
use serde::de::Error as _;
use serde_json::value::RawValue;

use crate::payload::{Message, Payload, Thread};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Wire<'a> {
    /// Payloads read in the same pass as the envelope (eager path only); each key
    /// read here is absent from the raw fields below.
    #[serde(skip)]
    pub(crate) early: Early,
    #[serde(rename = "type", borrow, default)]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) event_id: Option<Cow<'a, str>>,
    // `id`, `name`, `replayed` and `after` are raw: they are also payload fields of
    // AgentMail's envelope for types this version does not know (`"name": {..}`),
    // which must not fail the parse. They are read where they mean something.
    #[serde(borrow, default)]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) data: Option<&'a RawValue>,
    // Payload objects of the AgentMail envelope. `message` is also the text of an
    // `error` frame, hence raw.
    #[serde(borrow, default)]
    pub(crate) message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) thread: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) send: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) delivery: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) bounce: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) complaint: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) reject: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) open: Option<&'a RawValue>,
    // Frame fields.
    #[serde(borrow, default)]
    pub(crate) event_types: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) inbox_ids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) pod_ids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) replayed: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) after: Option<&'a RawValue>,
}

/// Typed payloads of the AgentMail envelope read in the same pass as the envelope.
#[derive(Debug, Default)]
pub(crate) struct Early {
    pub(crate) message: Option<Box<Message>>,
    pub(crate) thread: Option<Box<Thread>>,
    /// Any other typed payload (`send`, `bounce`...), already wrapped.
    pub(crate) payload: Option<Payload>,
}

/// Reads a [`Wire`] from a JSON object in one pass, AgentMail payloads included when
/// their type precedes them. It accepts only what [`object`] accepts, with the same
/// result; on error, redo the parse with [`object`] for the reference error.
pub(crate) fn eager(json: &[u8]) -> Result<Wire<'_>, serde_json::Error> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(serde_json::Error::custom("expected a JSON object"));
    }
    // The reference rejects invalid UTF-8 inside payloads (it keeps them as `&str`),
    // even in fields a typed payload would skip unread: check it all up front.
    let text = std::str::from_utf8(json).map_err(|_| serde_json::Error::custom("invalid UTF-8"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let wire = crate::wire_de::WireSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(wire)
}

impl<'a> Wire<'a> {
    pub(crate) fn payload_by_key(&self, key: &str) -> Option<&'a RawValue> {
        match key {
            "message" => self.message,
            "send" => self.send,
            "delivery" => self.delivery,
            "bounce" => self.bounce,
            "complaint" => self.complaint,
            "reject" => self.reject,
            "open" => self.open,
            _ => None,
        }
    }

    pub(crate) fn set_payload(&mut self, key: &str, value: &'a RawValue) {
        let slot = match key {
            "message" => &mut self.message,
            "send" => &mut self.send,
            "delivery" => &mut self.delivery,
            "bounce" => &mut self.bounce,
            "complaint" => &mut self.complaint,
            "reject" => &mut self.reject,
            "open" => &mut self.open,
            _ => return,
        };
        *slot = Some(value);
    }
}

/// Reads a raw field as `T`, e.g. a string as `Cow<str>` (borrowed unless escaped).
pub(crate) fn field<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
) -> Result<Option<T>, serde_json::Error> {
    raw.map(|raw| serde_json::from_str(raw.get())).transpose()
}

/// Reads `T` from a JSON object, and only from an object: serde would also read a
/// struct from a list of its fields in order (`["event","message.received","evt_1"]`),
/// which no service sends and which must not pass for an event.
pub(crate) fn object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, serde_json::Error> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => serde_json::from_slice(json),
        Some(_) => Err(serde_json::Error::custom("expected a JSON object")),
    }
}
