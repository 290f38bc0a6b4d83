//! WebSocket frames, both directions, including the `after` / `resumed` / `gap`
//! resume extension.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::check_len;
use crate::wire::Wire;
use crate::{Event, EventType, ParseError};

/// A frame the server sends.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ServerFrame {
    /// The optional greeting after the handshake.
    Connected,
    /// The server accepted a `subscribe`; the filters it applies.
    Subscribed(Subscribed),
    /// An event, in either envelope.
    Event(Event),
    /// The server reports a problem (bad credentials, a bad request).
    Error(ErrorFrame),
    /// An application-level ping.
    Ping,
    /// An application-level pong.
    Pong,
    /// Extension: the replay asked for with `after` is complete.
    Resumed {
        /// How many events were replayed.
        replayed: u64,
    },
    /// Extension: the `after` id is older than what the server retains; events
    /// between it and the first one sent next may be missing.
    Gap {
        /// The id the client asked to resume after.
        after: String,
    },
    /// A frame type this version does not know; ignore it.
    Unknown {
        /// Its `type`.
        kind: String,
    },
}

/// The filters a server confirms in its `subscribed` frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// Event types delivered (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventType>>,
    /// Inboxes delivered (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_ids: Option<Vec<String>>,
    /// Pods delivered (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ids: Option<Vec<String>>,
}

/// An `error` frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// A machine-readable name, e.g. `AuthenticationError`.
    #[serde(default)]
    pub name: String,
    /// A human-readable explanation.
    #[serde(default)]
    pub message: String,
}

impl ErrorFrame {
    /// True when the error says the credentials were refused: a client must not retry.
    pub fn is_auth(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        [
            "auth",
            "unauthorized",
            "forbidden",
            "apikey",
            "api_key",
            "credential",
        ]
        .iter()
        .any(|needle| name.contains(needle))
    }
}

fn list<T: for<'de> Deserialize<'de>>(raw: Option<&RawValue>) -> Result<Option<T>, ParseError> {
    match raw {
        None => Ok(None),
        Some(raw) => Ok(serde_json::from_str(raw.get())?),
    }
}

impl ServerFrame {
    /// Parses a text frame. Never panics; anything that is not a JSON object with a
    /// `type` is a [`ParseError`].
    pub fn parse(raw: impl Into<Bytes>) -> Result<ServerFrame, ParseError> {
        let raw = raw.into();
        check_len(&raw)?;
        // One pass over the bytes when that succeeds; otherwise the reference parse
        // says exactly what is wrong.
        match ServerFrame::parse_eager(&raw) {
            Some(frame) => Ok(frame),
            None => ServerFrame::parse_reference(&raw),
        }
    }

    /// The single-pass parse: `Some` only for a frame
    /// [`ServerFrame::parse_reference`] accepts, and then the same frame.
    pub(crate) fn parse_eager(raw: &Bytes) -> Option<ServerFrame> {
        let wire = crate::wire::eager(raw).ok()?;
        ServerFrame::from_wire(wire, raw).ok()
    }

    /// The parse whose result and errors are the reference (payloads parsed from
    /// their captured raw JSON).
    pub(crate) fn parse_reference(raw: &Bytes) -> Result<ServerFrame, ParseError> {
        check_len(raw)?;
        let wire: Wire<'_> = crate::wire::object(raw)?;
        ServerFrame::from_wire(wire, raw)
    }

    fn from_wire(wire: Wire<'_>, raw: &Bytes) -> Result<ServerFrame, ParseError> {
        let Some(kind) = wire.kind.as_deref() else {
            return Err(ParseError::NotAnEvent("frame without a type"));
        };
        Ok(match kind {
            "event" => ServerFrame::Event(
                Event::from_wire(wire, raw)?.ok_or(ParseError::NotAnEvent("empty event"))?,
            ),
            "connected" => ServerFrame::Connected,
            "subscribed" => ServerFrame::Subscribed(Subscribed {
                event_types: list(wire.event_types)?,
                inbox_ids: list(wire.inbox_ids)?,
                pod_ids: list(wire.pod_ids)?,
            }),
            "error" => ServerFrame::Error(ErrorFrame {
                name: crate::wire::field::<String>(wire.name)?.unwrap_or_default(),
                message: match wire.message {
                    Some(m) => serde_json::from_str::<Option<String>>(m.get())
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| m.get().to_owned()),
                    None => String::new(),
                },
            }),
            "ping" => ServerFrame::Ping,
            "pong" => ServerFrame::Pong,
            "resumed" => ServerFrame::Resumed {
                replayed: crate::wire::field(wire.replayed)?.unwrap_or(0),
            },
            "gap" => ServerFrame::Gap {
                after: crate::wire::field::<String>(wire.after)?
                    .ok_or(ParseError::NotAnEvent("gap frame without after"))?,
            },
            other => match wire.id {
                // The simple envelope: `type` is the event type.
                Some(_) => ServerFrame::Event(
                    Event::from_wire(wire, raw)?.ok_or(ParseError::NotAnEvent("empty event"))?,
                ),
                None => ServerFrame::Unknown {
                    kind: other.to_owned(),
                },
            },
        })
    }

    /// Encodes the frame as compact JSON. An event is its raw bytes, unchanged.
    pub fn to_bytes(&self) -> Bytes {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        enum Out<'a> {
            Connected,
            Subscribed(&'a Subscribed),
            Error(&'a ErrorFrame),
            Ping,
            Pong,
            Resumed { replayed: u64 },
            Gap { after: &'a str },
        }
        let out = match self {
            ServerFrame::Event(event) => return event.raw().clone(),
            ServerFrame::Connected => Out::Connected,
            ServerFrame::Subscribed(s) => Out::Subscribed(s),
            ServerFrame::Error(e) => Out::Error(e),
            ServerFrame::Ping => Out::Ping,
            ServerFrame::Pong => Out::Pong,
            ServerFrame::Resumed { replayed } => Out::Resumed {
                replayed: *replayed,
            },
            ServerFrame::Gap { after } => Out::Gap { after },
            ServerFrame::Unknown { kind } => {
                return Bytes::from(serde_json::json!({ "type": kind }).to_string());
            }
        };
        Bytes::from(serde_json::to_vec(&out).expect("frames always encode"))
    }
}

/// A `subscribe` request. Absent lists mean everything the key may see.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Only these event types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventType>>,
    /// Only these inboxes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_ids: Option<Vec<String>>,
    /// Only these pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ids: Option<Vec<String>>,
    /// Extension: replay retained events after this id before live ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Subscribe {
    /// True when an event passes these filters (type and inbox; pods are the
    /// server's business).
    pub fn matches(&self, event: &Event) -> bool {
        event.matches(self.event_types.as_deref(), self.inbox_ids.as_deref())
    }
}

/// A frame the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFrame {
    /// Start (or change) a subscription.
    Subscribe(Subscribe),
    /// An application-level ping.
    Ping,
    /// An application-level pong.
    Pong,
    /// A frame type this version does not know.
    Unknown {
        /// Its `type`.
        kind: String,
    },
}

impl ClientFrame {
    /// Parses a text frame from a client.
    pub fn parse(raw: &[u8]) -> Result<ClientFrame, ParseError> {
        check_len(raw)?;
        #[derive(Deserialize)]
        struct Head<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        let head: Head<'_> = crate::wire::object(raw)?;
        Ok(match &*head.kind {
            "subscribe" => ClientFrame::Subscribe(crate::wire::object(raw)?),
            "ping" => ClientFrame::Ping,
            "pong" => ClientFrame::Pong,
            other => ClientFrame::Unknown {
                kind: other.to_owned(),
            },
        })
    }

    /// Encodes the frame as compact JSON.
    pub fn to_bytes(&self) -> Bytes {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        enum Out<'a> {
            Subscribe(&'a Subscribe),
            Ping,
            Pong,
        }
        let out = match self {
            ClientFrame::Subscribe(s) => Out::Subscribe(s),
            ClientFrame::Ping => Out::Ping,
            ClientFrame::Pong => Out::Pong,
            ClientFrame::Unknown { kind } => {
                return Bytes::from(serde_json::json!({ "type": kind }).to_string());
            }
        };
        Bytes::from(serde_json::to_vec(&out).expect("frames always encode"))
    }
}
