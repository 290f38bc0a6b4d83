//! The `event_type` of an event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! event_types {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// What happened. Every type the services document, plus [`EventType::Other`]
        /// for any type this version does not know: an unknown type is kept, never an
        /// error. `#[non_exhaustive]`: a type the services add becomes a variant of
        /// its own in a later version (until then it is `Other`), so a `match` keeps a
        /// `_` arm.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventType {
            $( $(#[$doc])* $variant, )*
            /// A type this version does not know, kept as sent.
            Other(String),
        }

        impl EventType {
            /// Every known type, in the order the protocol lists them.
            pub const KNOWN: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The wire name, e.g. `"message.received"`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventType::$variant => $name, )*
                    EventType::Other(name) => name,
                }
            }

            /// Parses a wire name; never fails (unknown names become `Other`).
            pub fn from_name(name: &str) -> EventType {
                match name {
                    $( $name => EventType::$variant, )*
                    other => EventType::Other(other.to_owned()),
                }
            }
        }
    };
}

event_types! {
    /// A message arrived in an inbox.
    MessageReceived => "message.received",
    /// A message arrived and was classified as spam.
    MessageReceivedSpam => "message.received.spam",
    /// A message arrived from a blocked sender.
    MessageReceivedBlocked => "message.received.blocked",
    /// A message arrived that failed sender authentication.
    MessageReceivedUnauthenticated => "message.received.unauthenticated",
    /// Agent Armor reached a verdict on a received message.
    MessageSecurityCompleted => "message.security.completed",
    /// Agent Armor held a received message for review.
    MessageSecurityReview => "message.security.review",
    /// Someone released a message Agent Armor held.
    MessageSecurityOverride => "message.security.override",
    /// A message was sent.
    MessageSent => "message.sent",
    /// A sent message was delivered to the recipient's server.
    MessageDelivered => "message.delivered",
    /// A sent message bounced.
    MessageBounced => "message.bounced",
    /// A recipient marked a message as spam.
    MessageComplained => "message.complained",
    /// The service refused to send a message.
    MessageRejected => "message.rejected",
    /// A tracked message was opened for the first time.
    MessageOpened => "message.opened",
    /// A sending domain was verified.
    DomainVerified => "domain.verified",
    /// A calendar event was created.
    CalendarEventCreated => "calendar.event.created",
    /// A calendar event was updated.
    CalendarEventUpdated => "calendar.event.updated",
    /// A calendar event was deleted.
    CalendarEventDeleted => "calendar.event.deleted",
    /// Someone responded to a calendar invitation.
    CalendarEventResponded => "calendar.event.responded",
    /// A calendar event is starting.
    CalendarEventStarting => "calendar.event.starting",
    /// A calendar event has ended.
    CalendarEventEnding => "calendar.event.ending",
}

/// Which payload an event of a given type carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayloadKind {
    Message,
    Security,
    Sent,
    Delivered,
    Bounced,
    Complained,
    Rejected,
    Opened,
    Domain,
    /// At the top of the envelope, not under a key.
    Calendar,
    Untyped,
}

impl PayloadKind {
    /// The key of the payload object in the AgentMail envelope.
    pub(crate) fn key(self) -> Option<crate::wire::Key> {
        use crate::wire::Key;
        Some(match self {
            PayloadKind::Message | PayloadKind::Security => Key::Message,
            PayloadKind::Sent => Key::Send,
            PayloadKind::Delivered => Key::Delivery,
            PayloadKind::Bounced => Key::Bounce,
            PayloadKind::Complained => Key::Complaint,
            PayloadKind::Rejected => Key::Reject,
            PayloadKind::Opened => Key::Open,
            PayloadKind::Domain => Key::Domain,
            PayloadKind::Calendar | PayloadKind::Untyped => return None,
        })
    }

    /// The name of that key, for errors.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PayloadKind::Message | PayloadKind::Security => "message",
            PayloadKind::Sent => "send",
            PayloadKind::Delivered => "delivery",
            PayloadKind::Bounced => "bounce",
            PayloadKind::Complained => "complaint",
            PayloadKind::Rejected => "reject",
            PayloadKind::Opened => "open",
            PayloadKind::Domain => "domain",
            PayloadKind::Calendar | PayloadKind::Untyped => "",
        }
    }
}

impl EventType {
    /// True for the `message.received*` family (a new message in an inbox).
    pub fn is_received(&self) -> bool {
        matches!(
            self,
            EventType::MessageReceived
                | EventType::MessageReceivedSpam
                | EventType::MessageReceivedBlocked
                | EventType::MessageReceivedUnauthenticated
        )
    }

    pub(crate) fn payload_kind(&self) -> PayloadKind {
        use EventType::*;
        match self {
            MessageReceived
            | MessageReceivedSpam
            | MessageReceivedBlocked
            | MessageReceivedUnauthenticated => PayloadKind::Message,
            MessageSecurityCompleted | MessageSecurityReview | MessageSecurityOverride => {
                PayloadKind::Security
            }
            MessageSent => PayloadKind::Sent,
            MessageDelivered => PayloadKind::Delivered,
            MessageBounced => PayloadKind::Bounced,
            MessageComplained => PayloadKind::Complained,
            MessageRejected => PayloadKind::Rejected,
            MessageOpened => PayloadKind::Opened,
            DomainVerified => PayloadKind::Domain,
            CalendarEventCreated
            | CalendarEventUpdated
            | CalendarEventDeleted
            | CalendarEventResponded
            | CalendarEventStarting
            | CalendarEventEnding => PayloadKind::Calendar,
            Other(_) => PayloadKind::Untyped,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(EventType::from_name(s))
    }
}

impl From<&str> for EventType {
    fn from(s: &str) -> Self {
        EventType::from_name(s)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(EventType::from_name(&name))
    }
}
