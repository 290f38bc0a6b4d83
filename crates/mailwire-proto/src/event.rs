//! Events and their two envelopes.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;
use serde::de::Error as _;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::event_type::PayloadKind;
use crate::payload::{JsonObject, Payload};
use crate::wire::{Early, Wire};
use crate::{EventType, ParseError};

/// The largest event or frame [`Event::parse`] accepts: 4 MiB. Transports set their
/// own, usually smaller, limits before bytes reach the parser.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// The longest event id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// How an event was wrapped on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Envelope {
    /// AgentMail's: `{"type":"event","event_type":..,"event_id":..,"message":{..},..}`.
    #[default]
    AgentMail,
    /// The simple one: `{"id":..,"type":"message.received","data":{..}}`.
    Simple,
}

/// One event: its id, type and typed payload, and the exact bytes it was parsed from.
///
/// The raw bytes are the source of truth: fields this version does not model survive
/// in them, and forwarding re-emits them unchanged.
///
/// ```
/// use mailwire_proto::{Event, EventType};
///
/// let raw = br#"{"type":"event","event_type":"message.received","event_id":"evt_1",
///   "message":{"inbox_id":"ada@agentmail.to","thread_id":"thr_1","message_id":"msg_1",
///   "from":"Bob <bob@example.com>","to":["ada@agentmail.to"],"subject":"Your code",
///   "text":"Your code is 481516","timestamp":"2026-11-29T10:00:00Z","x-new":1}}"#;
/// let event = Event::parse(&raw[..])?;
/// assert_eq!(event.id(), "evt_1");
/// assert_eq!(event.event_type(), &EventType::MessageReceived);
/// let message = event.payload().message().unwrap();
/// assert_eq!(message.subject.as_deref(), Some("Your code"));
/// assert_eq!(event.raw().as_ref(), &raw[..]); // the unknown field is still there
/// # Ok::<(), mailwire_proto::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    id: String,
    event_type: EventType,
    envelope: Envelope,
    payload: Payload,
    raw: Bytes,
}

impl Event {
    /// Parses an event in either envelope. The bytes are kept as they are.
    pub fn parse(raw: impl Into<Bytes>) -> Result<Event, ParseError> {
        let raw = raw.into();
        check_len(&raw)?;
        // One pass over the bytes when that succeeds; otherwise the reference parse
        // says exactly why the input is not an event.
        match Event::parse_eager(&raw) {
            Some(event) => Ok(event),
            None => Event::parse_reference(&raw),
        }
    }

    /// The single-pass parse: `Some` only for an event [`Event::parse_reference`]
    /// accepts, and then the same event.
    pub(crate) fn parse_eager(raw: &Bytes) -> Option<Event> {
        let wire = crate::wire::eager(raw).ok()?;
        Event::from_wire(wire, raw).ok().flatten()
    }

    /// The parse whose result and errors are the reference: envelope first (payloads
    /// captured raw), then payloads.
    pub(crate) fn parse_reference(raw: &Bytes) -> Result<Event, ParseError> {
        check_len(raw)?;
        let wire: Wire<'_> = crate::wire::object(raw)?;
        Event::from_wire(wire, raw)?.ok_or(ParseError::NotAnEvent(
            "neither {\"type\":\"event\",\"event_type\",\"event_id\"} nor {\"id\",\"type\"}",
        ))
    }

    /// Builds an event from a parsed wire object, or `None` when it is not one.
    pub(crate) fn from_wire(mut wire: Wire<'_>, raw: &Bytes) -> Result<Option<Event>, ParseError> {
        let early = std::mem::take(&mut wire.early);
        // The simple envelope's id, read only when it may be one.
        let simple_id: Option<Cow<'_, str>> = match (&wire.kind, wire.id) {
            (Some(k), Some(_)) if k != "event" => {
                crate::wire::field(wire.id).map_err(|_| ParseError::InvalidId("not a string"))?
            }
            _ => None,
        };
        let (envelope, id, type_name) = match (&wire.kind, &wire.event_type, &wire.event_id) {
            (Some(k), Some(t), Some(id)) if k == "event" => (Envelope::AgentMail, id, t),
            (Some(k), Some(_), None) if k == "event" => {
                return Err(ParseError::NotAnEvent("event without event_id"));
            }
            (Some(k), None, _) if k == "event" => {
                return Err(ParseError::NotAnEvent("event without event_type"));
            }
            (Some(t), _, _) => match &simple_id {
                Some(id) => (Envelope::Simple, id, t),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        check_id(id)?;
        let event_type = EventType::from_name(type_name);
        let payload = match envelope {
            Envelope::AgentMail => agentmail_payload(&event_type, &wire, early, raw)?,
            Envelope::Simple => simple_payload(&event_type, wire.data)?,
        };
        Ok(Some(Event {
            id: id.to_string(),
            event_type,
            envelope,
            payload,
            raw: raw.clone(),
        }))
    }

    /// Builds an event and encodes it in `envelope`, compact JSON.
    ///
    /// Under the simple envelope a message event's `data` is the message itself (its
    /// thread is not sent), as the simple envelope's clients expect.
    ///
    /// # Panics
    ///
    /// When a timestamp of the payload has a year outside 0000-9999, which RFC 3339
    /// cannot write. Parsed events never do: their timestamps were RFC 3339.
    pub fn new(
        id: impl Into<String>,
        event_type: EventType,
        payload: Payload,
        envelope: Envelope,
    ) -> Event {
        let id = id.into();
        let raw = encode(&id, &event_type, &payload, envelope);
        Event {
            id,
            event_type,
            envelope,
            payload,
            raw: Bytes::from(raw),
        }
    }

    /// The same event in another envelope. Unknown fields of the original do not
    /// survive a change of envelope; when `envelope` is the current one, `self` is
    /// returned as it is.
    pub fn into_envelope(self, envelope: Envelope) -> Event {
        if envelope == self.envelope {
            return self;
        }
        Event::new(self.id, self.event_type, self.payload, envelope)
    }

    /// The event id, unique per event; the key for deduplication.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What happened.
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// Which envelope it came in.
    pub fn envelope(&self) -> Envelope {
        self.envelope
    }

    /// The typed payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The exact bytes the event was parsed from (or encoded to).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The inbox the event concerns, when its payload names one.
    pub fn inbox_id(&self) -> Option<&str> {
        self.payload.inbox_id()
    }

    /// When the event happened, when its payload says.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        self.payload.timestamp()
    }

    /// True when the event passes a subscription's filters: its type is one of
    /// `event_types` and its inbox one of `inbox_ids` (`None` lets everything through).
    pub fn matches(&self, event_types: Option<&[EventType]>, inbox_ids: Option<&[String]>) -> bool {
        let type_ok = event_types.is_none_or(|types| types.contains(&self.event_type));
        let inbox_ok = inbox_ids.is_none_or(|inboxes| {
            self.inbox_id()
                .is_some_and(|inbox| inboxes.iter().any(|i| i == inbox))
        });
        type_ok && inbox_ok
    }
}

pub(crate) fn check_len(raw: &[u8]) -> Result<(), ParseError> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(ParseError::TooLarge {
            len: raw.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), ParseError> {
    if id.is_empty() {
        return Err(ParseError::InvalidId("empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(ParseError::InvalidId("longer than 512 bytes"));
    }
    if id.chars().any(char::is_control) {
        return Err(ParseError::InvalidId("contains control characters"));
    }
    Ok(())
}

fn payload_error(event_type: &EventType, source: serde_json::Error) -> ParseError {
    ParseError::Payload {
        event_type: event_type.to_string(),
        source,
    }
}

fn typed<'a, T: serde::Deserialize<'a>>(
    event_type: &EventType,
    key: &'static str,
    value: Option<&'a RawValue>,
) -> Result<T, ParseError> {
    let value =
        value.ok_or_else(|| payload_error(event_type, serde_json::Error::missing_field(key)))?;
    crate::wire::object(value.get().as_bytes()).map_err(|e| payload_error(event_type, e))
}

/// Parses the payload object(s) of an AgentMail envelope.
fn agentmail_payload(
    event_type: &EventType,
    wire: &Wire<'_>,
    early: Early,
    raw: &[u8],
) -> Result<Payload, ParseError> {
    let kind = event_type.payload_kind();
    let Some(key) = kind.key() else {
        let mut rest: JsonObject = serde_json::from_slice(raw)?;
        for k in ["type", "event_type", "event_id"] {
            rest.remove(k);
        }
        return Ok(Payload::Other(rest));
    };
    typed_payload(event_type, kind, key, wire, early)
}

fn typed_payload(
    event_type: &EventType,
    kind: PayloadKind,
    key: &'static str,
    wire: &Wire<'_>,
    early: Early,
) -> Result<Payload, ParseError> {
    let t = event_type;
    if let Some(payload) = early.payload {
        return Ok(payload);
    }
    Ok(match kind {
        PayloadKind::Message => Payload::Message {
            message: match early.message {
                Some(message) => message,
                None => Box::new(typed(t, key, wire.message)?),
            },
            thread: match (early.thread, wire.thread) {
                (Some(thread), _) => Some(thread),
                (None, Some(thread)) => Some(Box::new(typed(t, "thread", Some(thread))?)),
                (None, None) => None,
            },
        },
        PayloadKind::Sent => Payload::Sent(typed(t, key, wire.send)?),
        PayloadKind::Delivered => Payload::Delivered(typed(t, key, wire.delivery)?),
        PayloadKind::Bounced => Payload::Bounced(typed(t, key, wire.bounce)?),
        PayloadKind::Complained => Payload::Complained(typed(t, key, wire.complaint)?),
        PayloadKind::Rejected => Payload::Rejected(typed(t, key, wire.reject)?),
        PayloadKind::Opened => Payload::Opened(typed(t, key, wire.open)?),
        PayloadKind::Untyped => unreachable!("untyped payloads have no key"),
    })
}

/// Parses the `data` of a simple envelope: either the payload object itself, or an
/// object that wraps it under the AgentMail key (`{"message":{..},"thread":{..}}`).
fn simple_payload(event_type: &EventType, data: Option<&RawValue>) -> Result<Payload, ParseError> {
    let kind = event_type.payload_kind();
    let Some(key) = kind.key() else {
        return Ok(Payload::Other(match data {
            None => JsonObject::new(),
            Some(data) => match serde_json::from_str::<serde_json::Value>(data.get())? {
                serde_json::Value::Object(obj) => obj,
                serde_json::Value::Null => JsonObject::new(),
                other => JsonObject::from_iter([("data".to_owned(), other)]),
            },
        }));
    };
    let data =
        data.ok_or_else(|| payload_error(event_type, serde_json::Error::missing_field("data")))?;
    let inner: Wire<'_> =
        crate::wire::object(data.get().as_bytes()).map_err(|e| payload_error(event_type, e))?;
    if inner.payload_by_key(key).is_some() {
        return typed_payload(event_type, kind, key, &inner, Early::default());
    }
    let mut flat = Wire::default();
    flat.set_payload(key, data);
    typed_payload(event_type, kind, key, &flat, Early::default())
}

fn encode(id: &str, event_type: &EventType, payload: &Payload, envelope: Envelope) -> Vec<u8> {
    #[derive(Serialize)]
    struct AgentMail<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        event_type: &'a EventType,
        event_id: &'a str,
        #[serde(flatten)]
        body: Body<'a>,
    }
    #[derive(Serialize)]
    struct Simple<'a, T: Serialize> {
        id: &'a str,
        #[serde(rename = "type")]
        event_type: &'a EventType,
        data: T,
    }
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Body<'a> {
        Message {
            message: &'a crate::Message,
            #[serde(skip_serializing_if = "Option::is_none")]
            thread: Option<&'a crate::Thread>,
        },
        Sent {
            send: &'a crate::Sent,
        },
        Delivered {
            delivery: &'a crate::Delivered,
        },
        Bounced {
            bounce: &'a crate::Bounce,
        },
        Complained {
            complaint: &'a crate::Complaint,
        },
        Rejected {
            reject: &'a crate::Reject,
        },
        Opened {
            open: &'a crate::Open,
        },
        Other(Cow<'a, JsonObject>),
    }
    let body = match payload {
        Payload::Message { message, thread } => Body::Message {
            message,
            thread: thread.as_deref(),
        },
        Payload::Sent(p) => Body::Sent { send: p },
        Payload::Delivered(p) => Body::Delivered { delivery: p },
        Payload::Bounced(p) => Body::Bounced { bounce: p },
        Payload::Complained(p) => Body::Complained { complaint: p },
        Payload::Rejected(p) => Body::Rejected { reject: p },
        Payload::Opened(p) => Body::Opened { open: p },
        Payload::Other(obj) => {
            let mut obj = Cow::Borrowed(obj);
            // At the top of AgentMail's envelope these keys are the envelope's own;
            // inside the simple envelope's `data` they are the payload's.
            if envelope == Envelope::AgentMail
                && ["type", "event_type", "event_id"]
                    .iter()
                    .any(|k| obj.contains_key(*k))
            {
                for k in ["type", "event_type", "event_id"] {
                    obj.to_mut().remove(k);
                }
            }
            Body::Other(obj)
        }
    };
    // These types hold only strings, numbers, booleans, maps with string keys and
    // timestamps, which encode unless their year is outside 0000-9999 (see `new`).
    let encoded = match envelope {
        Envelope::AgentMail => serde_json::to_vec(&AgentMail {
            kind: "event",
            event_type,
            event_id: id,
            body,
        }),
        Envelope::Simple => match body {
            Body::Message { message, .. } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: message,
            }),
            Body::Sent { send } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: send,
            }),
            Body::Delivered { delivery } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: delivery,
            }),
            Body::Bounced { bounce } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: bounce,
            }),
            Body::Complained { complaint } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: complaint,
            }),
            Body::Rejected { reject } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: reject,
            }),
            Body::Opened { open } => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: open,
            }),
            Body::Other(obj) => serde_json::to_vec(&Simple {
                id,
                event_type,
                data: obj,
            }),
        },
    };
    encoded.expect("event payloads always encode as JSON")
}
