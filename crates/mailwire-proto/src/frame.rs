//! WebSocket frames, both directions, including the `after` / `resumed` / `gap`
//! resume extension.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::check_len;
use crate::wire::Key;
use crate::{Event, EventType, ParseError};

/// A frame the server sends.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ServerFrame {
    /// The server accepted a `subscribe`; the filters it applies.
    Subscribed(Subscribed),
    /// An event, in either envelope.
    Event(Event),
    /// The server reports a problem (bad credentials, a bad request).
    Error(ErrorFrame),
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
    /// A frame type this version does not know (AgentMail's definition lists only
    /// `subscribed`, events and `error`); ignore it.
    Unknown {
        /// Its `type`.
        kind: String,
    },
}

/// The filters a server confirms in its `subscribed` frame. `#[non_exhaustive]`:
/// the service may confirm more; a server builds one with [`Subscribed::of`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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

/// An `error` frame. `#[non_exhaustive]`: the service may add members; build one
/// with [`ErrorFrame::new`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorFrame {
    /// A machine-readable name, e.g. `AuthenticationError`.
    #[serde(default)]
    pub name: String,
    /// A human-readable explanation.
    #[serde(default)]
    pub message: String,
}

impl Subscribed {
    /// The confirmation of `subscribe`: the filters it asked for, as a server that
    /// applies them all answers.
    pub fn of(subscribe: &Subscribe) -> Subscribed {
        Subscribed {
            event_types: subscribe.event_types.clone(),
            inbox_ids: subscribe.inbox_ids.clone(),
            pod_ids: subscribe.pod_ids.clone(),
        }
    }
}

impl ErrorFrame {
    /// An error frame with its machine-readable `name` (`ValidationError`) and
    /// human-readable `message`.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> ErrorFrame {
        ErrorFrame {
            name: name.into(),
            message: message.into(),
        }
    }

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
    /// `type` is a [`ParseError`]. An event frame is read as [`Event::parse`] reads
    /// it (the same parser, payload left for later).
    pub fn parse(raw: impl Into<Bytes>) -> Result<ServerFrame, ParseError> {
        let raw = raw.into();
        check_len(&raw)?;
        let wire = crate::wire::read(&raw)?;
        let Some(kind) = crate::wire::string(wire.kind) else {
            return Err(ParseError::NotAnEvent("frame without a string type"));
        };
        let event = || {
            Event::from_wire(&wire, &raw)?
                .map(ServerFrame::Event)
                .ok_or(ParseError::NotAnEvent("empty event"))
        };
        Ok(match &*kind {
            "event" => event()?,
            "subscribed" => ServerFrame::Subscribed(Subscribed {
                event_types: list(wire.get(Key::EventTypes))?,
                inbox_ids: list(wire.get(Key::InboxIds))?,
                pod_ids: list(wire.get(Key::PodIds))?,
            }),
            "error" => ServerFrame::Error(ErrorFrame {
                name: crate::wire::field::<String>(wire.get(Key::Name))?.unwrap_or_default(),
                message: match wire.get(Key::Message) {
                    Some(m) => serde_json::from_str::<Option<String>>(m.get())
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| m.get().to_owned()),
                    None => String::new(),
                },
            }),
            "resumed" => ServerFrame::Resumed {
                replayed: crate::wire::field(wire.get(Key::Replayed))?.unwrap_or(0),
            },
            "gap" => ServerFrame::Gap {
                after: crate::wire::field::<String>(wire.get(Key::After))?
                    .ok_or(ParseError::NotAnEvent("gap frame without after"))?,
            },
            // The simple envelope: `type` is the event type.
            _ if wire.id.is_some() => event()?,
            other => ServerFrame::Unknown {
                kind: other.to_owned(),
            },
        })
    }

    /// Encodes the frame as compact JSON. An event is its raw bytes, unchanged.
    pub fn to_bytes(&self) -> Bytes {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        enum Out<'a> {
            Subscribed(&'a Subscribed),
            Error(&'a ErrorFrame),
            Resumed { replayed: u64 },
            Gap { after: &'a str },
        }
        let out = match self {
            ServerFrame::Event(event) => return event.raw().clone(),
            ServerFrame::Subscribed(s) => Out::Subscribed(s),
            ServerFrame::Error(e) => Out::Error(e),
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
/// `#[non_exhaustive]`: the service may add filters; start from
/// `Subscribe::default()` (everything) and narrow it:
///
/// ```
/// use mailwire_proto::{EventType, Subscribe};
///
/// let sub = Subscribe::default()
///     .event_types([EventType::MessageReceived])
///     .inbox_ids(["ada@agentmail.to"]);
/// assert_eq!(sub.inbox_ids.as_deref(), Some(&["ada@agentmail.to".to_owned()][..]));
/// assert!(sub.pod_ids.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// Only these event types.
    pub fn event_types(mut self, types: impl IntoIterator<Item = EventType>) -> Subscribe {
        self.event_types = Some(types.into_iter().collect());
        self
    }

    /// Only these inboxes.
    pub fn inbox_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Subscribe {
        self.inbox_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Only these pods.
    pub fn pod_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Subscribe {
        self.pod_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Extension: replay retained events after this id before live ones.
    pub fn after(mut self, id: impl Into<String>) -> Subscribe {
        self.after = Some(id.into());
        self
    }

    /// These filters as the one [`Selection`](crate::Selection) rule reads them.
    pub fn selection(&self) -> crate::Selection<'_> {
        crate::Selection::new()
            .event_types(self.event_types.as_deref())
            .inbox_ids(self.inbox_ids.as_deref())
            .pod_ids(self.pod_ids.as_deref())
    }

    /// True when an event passes these filters by the [`Selection`](crate::Selection)
    /// rule: its type (spam, blocked and unauthenticated mail only when named) and
    /// its inbox. Pods are the server's business (it knows which pod an inbox is
    /// in): not judged here.
    pub fn matches(&self, event: &Event) -> bool {
        self.selection().pod_ids(None).selects(event, |_| None)
    }
}

/// A frame the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFrame {
    /// Start (or change) a subscription.
    Subscribe(Subscribe),
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
        }
        let out = match self {
            ClientFrame::Subscribe(s) => Out::Subscribe(s),
            ClientFrame::Unknown { kind } => {
                return Bytes::from(serde_json::json!({ "type": kind }).to_string());
            }
        };
        Bytes::from(serde_json::to_vec(&out).expect("frames always encode"))
    }
}
