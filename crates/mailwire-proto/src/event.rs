//! Events and their two envelopes.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::event_type::PayloadKind;
use crate::payload::{JsonObject, Payload};
use crate::wire::{Key, Wire};
use crate::{EncodeError, EventType, ParseError, PayloadError};

/// The largest event or frame [`Event::parse`] accepts: 4 MiB. Transports set their
/// own, usually smaller, limits before bytes reach the parser.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// The longest event id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// The keys of AgentMail's envelope itself, which are not payload.
const ENVELOPE_KEYS: [&str; 3] = ["type", "event_type", "event_id"];

/// How an event was wrapped on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Envelope {
    /// AgentMail's: `{"type":"event","event_type":..,"event_id":..,"message":{..},..}`.
    #[default]
    AgentMail,
    /// The simple one: `{"id":..,"type":"message.received","data":{..}}`.
    Simple,
}

/// One event: its id, its type, the exact bytes it came in, and a typed view of its
/// payload.
///
/// What makes an event is an envelope with an id and a type, nothing else. The
/// payload is read only when [`Event::payload`] is first called, and best effort: a
/// field that does not fit the definition's type is absent from the typed view
/// ([`Event::payload_error`] says which and why), never a reason to refuse the event.
/// The raw bytes are the source of truth: fields this version does not model survive
/// in them, and forwarding re-emits them unchanged.
///
/// ```
/// use mailwire_proto::{Event, EventType};
///
/// let raw = br#"{"type":"event","event_type":"message.received","event_id":"evt_1",
///   "message":{"inbox_id":"ada@agentmail.to","thread_id":"thr_1","message_id":"msg_1",
///   "from":"Bob <bob@example.com","to":["ada@agentmail.to"],"subject":"Your code",
///   "text":"Your code is 481516","timestamp":"2026-11-29T10:00:00Z","size":"big"}}"#;
/// let event = Event::parse(&raw[..])?;
/// assert_eq!(event.id(), "evt_1");
/// assert_eq!(event.event_type(), &EventType::MessageReceived);
/// let message = event.payload().message().unwrap();
/// assert_eq!(message.subject.as_deref(), Some("Your code"));
/// assert_eq!(message.from.as_ref().unwrap().as_str(), "Bob <bob@example.com"); // as sent
/// assert_eq!(message.size, None); // not a number: absent, and said why
/// assert!(event.payload_error().unwrap().to_string().contains("message.size"));
/// assert_eq!(event.raw().as_ref(), &raw[..]);
/// # Ok::<(), mailwire_proto::ParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Event {
    id: String,
    event_type: EventType,
    envelope: Envelope,
    raw: Bytes,
    /// Where the payload object lies in `raw`: the type's key (`message`, `send`...)
    /// in AgentMail's envelope, `data` in the simple one.
    body: Option<Span>,
    /// Where the thread lies (AgentMail's `message.received*`).
    thread: Option<Span>,
    /// Boxed: an event is moved often and read for its payload less often.
    payload: OnceLock<Box<Payload>>,
    /// [`Event::dedup_id`], once computed; `None` when it is the event id.
    dedup: OnceLock<Option<Box<str>>>,
}

impl PartialEq for Event {
    /// Events are equal when they are the same bytes (the rest is read from them).
    fn eq(&self, other: &Event) -> bool {
        self.raw == other.raw && self.envelope == other.envelope
    }
}

impl Event {
    /// Parses an event in either envelope. The bytes are kept as they are; the
    /// payload is not read until [`Event::payload`] asks for it.
    pub fn parse(raw: impl Into<Bytes>) -> Result<Event, ParseError> {
        let raw = raw.into();
        check_len(&raw)?;
        let wire = crate::wire::read(&raw)?;
        Event::from_wire(&wire, &raw)?.ok_or(ParseError::NotAnEvent(
            "neither {\"type\":\"event\",\"event_type\",\"event_id\"} nor {\"id\",\"type\"}",
        ))
    }

    /// The id of the event in `raw`, read by the same parser as [`Event::parse`] but
    /// without its size limit, and nothing else built. For a transport that will not
    /// deliver an event (it is over the transport's limit) but must move its resume
    /// point past it. `None` when `raw` is not an event with a valid id.
    pub fn id_of(raw: &Bytes) -> Option<String> {
        let wire = crate::wire::read(raw).ok()?;
        Event::from_wire(&wire, raw).ok().flatten().map(|e| e.id)
    }

    /// Builds an event from a read object, or `None` when it is not one.
    pub(crate) fn from_wire(wire: &Wire<'_>, raw: &Bytes) -> Result<Option<Event>, ParseError> {
        let kind = crate::wire::string(wire.kind);
        let (envelope, id, type_name) = match kind.as_deref() {
            Some("event") => {
                let event_type = wire
                    .event_type
                    .ok_or(ParseError::NotAnEvent("event without event_type"))?;
                let event_id = wire
                    .event_id
                    .ok_or(ParseError::NotAnEvent("event without event_id"))?;
                let event_type = crate::wire::string(Some(event_type))
                    .ok_or(ParseError::NotAnEvent("event_type is not a string"))?;
                let id = crate::wire::string(Some(event_id))
                    .ok_or(ParseError::InvalidId("not a string"))?;
                (Envelope::AgentMail, id, event_type)
            }
            Some(t) => match wire.id {
                Some(id) => {
                    let id = crate::wire::string(Some(id))
                        .ok_or(ParseError::InvalidId("not a string"))?;
                    (Envelope::Simple, id, Cow::Borrowed(t))
                }
                None => return Ok(None),
            },
            None => return Ok(None),
        };
        check_id(&id)?;
        let event_type = EventType::from_name(&type_name);
        let (body, thread) = match envelope {
            Envelope::AgentMail => (
                event_type.payload_kind().key().and_then(|k| wire.get(k)),
                (event_type.payload_kind() == PayloadKind::Message)
                    .then(|| wire.get(Key::Thread))
                    .flatten(),
            ),
            Envelope::Simple => (wire.get(Key::Data), None),
        };
        Ok(Some(Event {
            id: id.into_owned(),
            event_type,
            envelope,
            raw: raw.clone(),
            body: body.and_then(|b| Span::new(wire.span(b))),
            thread: thread.and_then(|t| Span::new(wire.span(t))),
            payload: OnceLock::new(),
            dedup: OnceLock::new(),
        }))
    }

    /// Builds an event and encodes it in `envelope`, compact JSON.
    ///
    /// Under the simple envelope a message event's `data` is the message itself (its
    /// thread is not sent), as the simple envelope's clients expect. Fails when the
    /// id is not one [`Event::parse`] accepts, or a timestamp has a year outside
    /// 0000-9999, which RFC 3339 cannot write.
    pub fn new(
        id: impl Into<String>,
        event_type: EventType,
        payload: Payload,
        envelope: Envelope,
    ) -> Result<Event, EncodeError> {
        let id = id.into();
        check_id(&id).map_err(EncodeError::Id)?;
        let raw = Bytes::from(encode(&id, &event_type, &payload, envelope)?);
        let wire = crate::wire::read(&raw).map_err(EncodeError::Id)?;
        let event = Event::from_wire(&wire, &raw)
            .map_err(EncodeError::Id)?
            .ok_or(EncodeError::Id(ParseError::NotAnEvent("the type is empty")))?;
        // The payload given is the one the bytes were written from.
        let _ = event.payload.set(Box::new(payload));
        Ok(event)
    }

    /// The same event in another envelope. Unknown fields of the original do not
    /// survive a change of envelope; when `envelope` is the current one, `self` is
    /// returned as it is.
    pub fn into_envelope(self, envelope: Envelope) -> Result<Event, EncodeError> {
        if envelope == self.envelope {
            return Ok(self);
        }
        let payload = self.payload().clone();
        Event::new(self.id, self.event_type, payload, envelope)
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

    /// The exact bytes the event was parsed from (or encoded to).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The typed payload, read from the raw bytes on first use. Never fails: what does
    /// not fit is absent (see [`Event::payload_error`]); a known type whose payload
    /// object is missing or is not an object gives [`Payload::Other`].
    pub fn payload(&self) -> &Payload {
        self.payload.get_or_init(|| {
            Box::new(
                self.decode()
                    .unwrap_or_else(|_| Payload::Other(self.rest())),
            )
        })
    }

    /// Why the typed view is missing something: the first payload field (with its
    /// path, e.g. `message.from`) that is missing where required or does not have
    /// the definition's type. `None` when the payload was read whole. Costs a second
    /// read of the payload; meant for logs and diagnostics.
    pub fn payload_error(&self) -> Option<PayloadError> {
        crate::lenient::strict(|| self.decode()).err()
    }

    /// What identifies the message a message event is about, whatever transport
    /// brought it: its type, inbox and message id. Two events with the same key are
    /// the same email's same event (a WebSocket's and a backfill's copies, say), even
    /// with different event ids. `None` for events about no message, or whose
    /// payload does not name both ids.
    ///
    /// Reads only the two ids from the payload (or the typed payload, when it was
    /// already read).
    pub fn message_key(&self) -> Option<MessageKey> {
        let kind = self.event_type.payload_kind();
        if matches!(
            kind,
            PayloadKind::Domain | PayloadKind::Calendar | PayloadKind::Untyped
        ) {
            return None;
        }
        let (inbox, message) = match self.payload.get() {
            Some(p) => (p.inbox_id()?.to_owned(), p.message_id()?.to_owned()),
            None => {
                #[derive(serde::Deserialize)]
                struct Ids<'a> {
                    #[serde(borrow, default)]
                    inbox_id: Option<Cow<'a, str>>,
                    #[serde(borrow, default)]
                    message_id: Option<Cow<'a, str>>,
                }
                let body = self.text(self.body.as_ref()?);
                // The simple envelope may wrap the payload under its key.
                let inner = match self.envelope {
                    Envelope::Simple => crate::wire::read_str(body)
                        .ok()
                        .and_then(|w| kind.key().and_then(|k| w.get(k)))
                        .filter(|v| v.get().starts_with('{'))
                        .map_or(body, |v| v.get()),
                    Envelope::AgentMail => body,
                };
                let ids: Ids<'_> = crate::wire::object(inner.as_bytes()).ok()?;
                (ids.inbox_id?.into_owned(), ids.message_id?.into_owned())
            }
        };
        Some(MessageKey {
            event_type: self.event_type.clone(),
            inbox_id: inbox,
            message_id: message,
        })
    }

    /// The identity by which copies of this event are recognised as one: for a
    /// `message.received*` event, derived from its [`message_key`](Event::message_key)
    /// (`msg_` and 32 hex digits, the same for the WebSocket's, the webhook's and a
    /// backfill's copy of one received email, whatever their event ids); for any
    /// other event, its id. Stores and merges key by it.
    ///
    /// Only received messages are keyed by message: other events of one message
    /// (deliveries to several recipients, say) may be several distinct events.
    pub fn dedup_id(&self) -> &str {
        let derived = self.dedup.get_or_init(|| {
            if !self.event_type.is_received() {
                return None;
            }
            let key = self.message_key()?;
            let mut h = siphasher::sip128::SipHasher13::new_with_keys(0x6d61_696c, 0x7769_7265);
            for part in [key.event_type.as_str(), &key.inbox_id, &key.message_id] {
                std::hash::Hasher::write(&mut h, part.as_bytes());
                std::hash::Hasher::write(&mut h, &[0xff]);
            }
            let hash = siphasher::sip128::Hasher128::finish128(&h).as_u128();
            Some(format!("msg_{hash:032x}").into_boxed_str())
        });
        derived.as_deref().unwrap_or(&self.id)
    }

    /// The inbox the event concerns, when its payload names one.
    pub fn inbox_id(&self) -> Option<&str> {
        self.payload().inbox_id()
    }

    /// The thread (conversation) the event concerns, when its payload names one.
    pub fn thread_id(&self) -> Option<&str> {
        self.payload().thread_id()
    }

    /// When the event happened, when its payload says.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        self.payload().timestamp()
    }

    /// The raw text of a span (always valid: spans come from parsing these bytes).
    fn text(&self, span: &Span) -> &str {
        self.raw
            .get(span.start as usize..span.end as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("null")
    }

    /// The typed payload, or why it cannot be read (in strict mode: why any field
    /// cannot be).
    fn decode(&self) -> Result<Payload, PayloadError> {
        let kind = self.event_type.payload_kind();
        let whole = || std::str::from_utf8(&self.raw).unwrap_or("{}");
        match (self.envelope, kind) {
            (_, PayloadKind::Untyped) => Ok(Payload::Other(self.rest_checked()?)),
            (Envelope::AgentMail, PayloadKind::Calendar) => {
                Ok(Payload::Calendar(Box::new(self.read("", whole())?)))
            }
            (Envelope::AgentMail, kind) => {
                let key = kind.name();
                let body = self.body.as_ref().ok_or_else(|| self.missing(key))?;
                let thread = self.thread.as_ref().map(|t| ("thread", self.text(t)));
                self.typed(kind, key, self.text(body), thread)
            }
            (Envelope::Simple, kind) => {
                let body = self.body.as_ref().ok_or_else(|| self.missing("data"))?;
                let data = self.text(body);
                if kind == PayloadKind::Calendar {
                    return Ok(Payload::Calendar(Box::new(self.read("data", data)?)));
                }
                // `data` is the payload itself, or wraps it under AgentMail's key.
                let key = kind.name();
                if let Ok(inner) = crate::wire::read_str(data) {
                    // Wrapped only when that key holds an object: a domain's own
                    // `domain` field is its name.
                    let wrapped = kind
                        .key()
                        .and_then(|k| inner.get(k))
                        .filter(|v| v.get().starts_with('{'));
                    if let Some(wrapped) = wrapped {
                        let thread = (kind == PayloadKind::Message)
                            .then(|| inner.get(Key::Thread))
                            .flatten()
                            .map(|t| ("data.thread", t.get()));
                        return self.typed(kind, &format!("data.{key}"), wrapped.get(), thread);
                    }
                }
                self.typed(kind, "data", data, None)
            }
        }
    }

    fn typed(
        &self,
        kind: PayloadKind,
        at: &str,
        body: &str,
        thread: Option<(&str, &str)>,
    ) -> Result<Payload, PayloadError> {
        Ok(match kind {
            PayloadKind::Message => Payload::Message {
                message: Box::new(self.read(at, body)?),
                // A thread that cannot be read does not take the message with it.
                thread: match thread.map(|(at, t)| self.read(at, t)) {
                    Some(Ok(t)) => Some(Box::new(t)),
                    Some(Err(e)) if crate::lenient::is_strict() => return Err(e),
                    Some(Err(_)) | None => None,
                },
            },
            PayloadKind::Security => Payload::Security(Box::new(self.read(at, body)?)),
            PayloadKind::Sent => Payload::Sent(self.read(at, body)?),
            PayloadKind::Delivered => Payload::Delivered(self.read(at, body)?),
            PayloadKind::Bounced => Payload::Bounced(self.read(at, body)?),
            PayloadKind::Complained => Payload::Complained(self.read(at, body)?),
            PayloadKind::Rejected => Payload::Rejected(self.read(at, body)?),
            PayloadKind::Opened => Payload::Opened(self.read(at, body)?),
            PayloadKind::Domain => Payload::Domain(Box::new(self.read(at, body)?)),
            PayloadKind::Calendar => Payload::Calendar(Box::new(self.read(at, body)?)),
            PayloadKind::Untyped => Payload::Other(self.rest_checked()?),
        })
    }

    /// Reads one payload object, found at `at`, as `T`.
    ///
    /// Every field is read best effort already; what can still fail the whole object
    /// is a field nested past serde_json's depth limit or a field given twice. Then,
    /// unless strict, the object is read again field by field: a field that cannot be
    /// read alone is left out, and of a repeated one the last counts.
    fn read<T: DeserializeOwned>(&self, at: &str, json: &str) -> Result<T, PayloadError> {
        if json.trim_start().as_bytes().first() != Some(&b'{') {
            return Err(PayloadError::new(
                &self.event_type,
                at.to_owned(),
                serde::de::Error::custom("not a JSON object"),
            ));
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let first = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let path = match (at.is_empty(), path.as_str()) {
                (_, ".") => at.to_owned(),
                (true, _) => path,
                (false, _) => format!("{at}.{path}"),
            };
            PayloadError::new(&self.event_type, path, e.into_inner())
        });
        match first {
            Err(e) if !crate::lenient::is_strict() => {
                let (fields, _) = fields(json).map_err(|_| e)?;
                T::deserialize(serde_json::Value::Object(fields))
                    .map_err(|e| PayloadError::new(&self.event_type, at.to_owned(), e))
            }
            other => other,
        }
    }

    fn missing(&self, key: &'static str) -> PayloadError {
        PayloadError::new(
            &self.event_type,
            key.to_owned(),
            serde::de::Error::missing_field(key),
        )
    }

    /// The payload as an untyped object: the envelope's fields left out of
    /// AgentMail's, `data` of the simple one (a value that is not an object is kept
    /// under `"data"`). A field that cannot be read alone (nested past the depth
    /// limit) is left out.
    fn rest(&self) -> JsonObject {
        self.rest_read().0
    }

    /// [`Event::rest`], failing in strict mode when a field was left out.
    fn rest_checked(&self) -> Result<JsonObject, PayloadError> {
        let (obj, dropped) = self.rest_read();
        match dropped {
            Some((path, e)) if crate::lenient::is_strict() => {
                Err(PayloadError::new(&self.event_type, path, e))
            }
            _ => Ok(obj),
        }
    }

    fn rest_read(&self) -> (JsonObject, Option<(String, serde_json::Error)>) {
        match self.envelope {
            Envelope::AgentMail => {
                let text = std::str::from_utf8(&self.raw).unwrap_or("{}");
                let Ok((mut obj, dropped)) = fields(text) else {
                    return (JsonObject::new(), None);
                };
                for k in ENVELOPE_KEYS {
                    obj.remove(k);
                }
                (obj, dropped)
            }
            Envelope::Simple => {
                let Some(body) = &self.body else {
                    return (JsonObject::new(), None);
                };
                let data = self.text(body);
                if data.trim_start().starts_with('{') {
                    let Ok((obj, dropped)) = fields(data) else {
                        return (JsonObject::new(), None);
                    };
                    return (obj, dropped.map(|(k, e)| (format!("data.{k}"), e)));
                }
                match serde_json::from_str(data) {
                    Ok(serde_json::Value::Null) => (JsonObject::new(), None),
                    Ok(other) => (JsonObject::from_iter([("data".to_owned(), other)]), None),
                    Err(e) => (JsonObject::new(), Some(("data".to_owned(), e))),
                }
            }
        }
    }
}

/// A JSON object read field by field: each value read alone, the ones that cannot
/// be (nested past the depth limit) left out, the first of those reported; of a key
/// given twice, the last counts.
fn fields(
    json: &str,
) -> Result<(JsonObject, Option<(String, serde_json::Error)>), serde_json::Error> {
    struct Fields<'a>(Vec<(Cow<'a, str>, &'a serde_json::value::RawValue)>);
    impl<'de> serde::Deserialize<'de> for Fields<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Fields<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Fields<'de>, A::Error> {
                    let mut out = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        out.push(entry);
                    }
                    Ok(Fields(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    let Fields(raw) = serde_json::from_str(json)?;
    let mut obj = JsonObject::new();
    let mut dropped = None;
    for (key, value) in raw {
        match serde_json::from_str(value.get()) {
            Ok(v) => {
                obj.insert(key.into_owned(), v);
            }
            Err(e) => {
                obj.remove(&*key);
                dropped.get_or_insert((key.into_owned(), e));
            }
        }
    }
    Ok((obj, dropped))
}

/// The type, inbox and message id of a message event: see [`Event::message_key`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct MessageKey {
    /// The event's type.
    pub event_type: EventType,
    /// The inbox.
    pub inbox_id: String,
    /// The message.
    pub message_id: String,
}

/// Where a value lies in an event's bytes (events are far below 4 GiB).
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(range: Range<usize>) -> Option<Span> {
        Some(Span {
            start: u32::try_from(range.start).ok()?,
            end: u32::try_from(range.end).ok()?,
        })
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

fn encode(
    id: &str,
    event_type: &EventType,
    payload: &Payload,
    envelope: Envelope,
) -> Result<Vec<u8>, EncodeError> {
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
    struct Simple<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        event_type: &'a EventType,
        data: Body<'a>,
    }
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Body<'a> {
        Message {
            message: &'a crate::Message,
            #[serde(skip_serializing_if = "Option::is_none")]
            thread: Option<&'a crate::Thread>,
        },
        Security {
            message: &'a crate::MessageSecurity,
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
        Domain {
            domain: &'a crate::Domain,
        },
        /// Fields of the payload itself: the simple envelope's `data`, and calendar
        /// events at the top of AgentMail's.
        Flat(&'a dyn erased::Payload),
        Other(Cow<'a, JsonObject>),
    }
    let agentmail = envelope == Envelope::AgentMail;
    let body = match payload {
        Payload::Message { message, thread } if agentmail => Body::Message {
            message,
            thread: thread.as_deref(),
        },
        Payload::Message { message, .. } => Body::Flat(&**message),
        Payload::Security(p) if agentmail => Body::Security { message: p },
        Payload::Sent(p) if agentmail => Body::Sent { send: p },
        Payload::Delivered(p) if agentmail => Body::Delivered { delivery: p },
        Payload::Bounced(p) if agentmail => Body::Bounced { bounce: p },
        Payload::Complained(p) if agentmail => Body::Complained { complaint: p },
        Payload::Rejected(p) if agentmail => Body::Rejected { reject: p },
        Payload::Opened(p) if agentmail => Body::Opened { open: p },
        Payload::Domain(p) if agentmail => Body::Domain { domain: p },
        Payload::Security(p) => Body::Flat(&**p),
        Payload::Sent(p) => Body::Flat(p),
        Payload::Delivered(p) => Body::Flat(p),
        Payload::Bounced(p) => Body::Flat(p),
        Payload::Complained(p) => Body::Flat(p),
        Payload::Rejected(p) => Body::Flat(p),
        Payload::Opened(p) => Body::Flat(p),
        Payload::Domain(p) => Body::Flat(&**p),
        Payload::Calendar(p) => Body::Flat(&**p),
        Payload::Other(obj) => {
            let mut obj = Cow::Borrowed(obj);
            // At the top of AgentMail's envelope these keys are the envelope's own;
            // inside the simple envelope's `data` they are the payload's.
            if agentmail && ENVELOPE_KEYS.iter().any(|k| obj.contains_key(*k)) {
                for k in ENVELOPE_KEYS {
                    obj.to_mut().remove(k);
                }
            }
            Body::Other(obj)
        }
    };
    let encoded = if agentmail {
        serde_json::to_vec(&AgentMail {
            kind: "event",
            event_type,
            event_id: id,
            body,
        })
    } else {
        serde_json::to_vec(&Simple {
            id,
            event_type,
            data: body,
        })
    };
    encoded.map_err(EncodeError::Json)
}

/// Payload structs behind one object-safe serializer, for the flat encodings.
mod erased {
    pub(super) trait Payload {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
    }

    impl<T: serde::Serialize> Payload for T {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
            serde_json::to_value(self)
        }
    }

    impl serde::Serialize for dyn Payload + '_ {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.to_value()
                .map_err(serde::ser::Error::custom)?
                .serialize(s)
        }
    }
}
