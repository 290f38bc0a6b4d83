//! The typed payload each event type carries.
//!
//! Every struct is lenient where services differ (most fields optional, unknown fields
//! ignored here and kept byte-exact in [`Event::raw`](crate::Event::raw)) and strict
//! where a wrong value would mislead (ids are required, timestamps must be RFC 3339).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Address;

/// A JSON object, for fields whose shape varies (e.g. message headers).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The payload of an event, typed by its [`EventType`](crate::EventType).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Payload {
    /// `message.received*` and `message.security.*`: the message and its thread.
    Message {
        /// The message.
        message: Box<Message>,
        /// Its thread, when the service sent one.
        thread: Option<Box<Thread>>,
    },
    /// `message.sent`.
    Sent(Sent),
    /// `message.delivered`.
    Delivered(Delivered),
    /// `message.bounced`.
    Bounced(Bounce),
    /// `message.complained`.
    Complained(Complaint),
    /// `message.rejected`.
    Rejected(Reject),
    /// `message.opened`.
    Opened(Open),
    /// Any other type (domain, calendar, unknown): the fields besides the envelope's
    /// own, as a JSON object.
    Other(JsonObject),
}

impl Payload {
    /// The inbox the event concerns, when its payload names one.
    pub fn inbox_id(&self) -> Option<&str> {
        match self {
            Payload::Message { message, .. } => Some(&message.inbox_id),
            Payload::Sent(p) => Some(&p.inbox_id),
            Payload::Delivered(p) => Some(&p.inbox_id),
            Payload::Bounced(p) => Some(&p.inbox_id),
            Payload::Complained(p) => Some(&p.inbox_id),
            Payload::Rejected(p) => Some(&p.inbox_id),
            Payload::Opened(p) => Some(&p.inbox_id),
            Payload::Other(obj) => find_str(obj, "inbox_id"),
        }
    }

    /// When the event happened, when its payload says.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        match self {
            Payload::Message { message, .. } => message.timestamp.or(message.created_at),
            Payload::Sent(p) => p.timestamp,
            Payload::Delivered(p) => p.timestamp,
            Payload::Bounced(p) => p.timestamp,
            Payload::Complained(p) => p.timestamp,
            Payload::Rejected(p) => p.timestamp,
            Payload::Opened(p) => p.timestamp,
            Payload::Other(obj) => find_str(obj, "timestamp").and_then(|s| {
                OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            }),
        }
    }

    /// The message, for `message.received*` events.
    pub fn message(&self) -> Option<&Message> {
        match self {
            Payload::Message { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Looks for a string field at the top of an untyped payload or one level down.
fn find_str<'a>(obj: &'a JsonObject, key: &str) -> Option<&'a str> {
    if let Some(v) = obj.get(key).and_then(|v| v.as_str()) {
        return Some(v);
    }
    obj.values()
        .filter_map(|v| v.as_object())
        .find_map(|o| o.get(key).and_then(|v| v.as_str()))
}

/// An email message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The inbox it belongs to.
    pub inbox_id: String,
    /// Its thread.
    pub thread_id: String,
    /// Its id (often the RFC 5322 Message-ID).
    pub message_id: String,
    /// Labels, e.g. `received`, `unread`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// When it was received.
    #[serde(default, with = "crate::timestamp::option")]
    pub timestamp: Option<OffsetDateTime>,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    /// Recipients.
    #[serde(default)]
    pub to: Vec<Address>,
    /// Copied recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cc: Option<Vec<Address>>,
    /// Blind-copied recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcc: Option<Vec<Address>>,
    /// Reply-To addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Vec<Address>>,
    /// Subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A short plain-text preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// Plain-text body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// HTML body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Attachments (metadata only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// The id of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The ids of the messages in its reply chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<String>>,
    /// Selected headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<JsonObject>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When the service created it.
    #[serde(
        default,
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<OffsetDateTime>,
    /// When the service last updated it.
    #[serde(
        default,
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<OffsetDateTime>,
}

/// Attachment metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Its id, to download it through the service's API.
    pub attachment_id: String,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Whether it is shown inline.
    #[serde(default)]
    pub inline: bool,
}

/// A conversation thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// The inbox it belongs to.
    pub inbox_id: String,
    /// Its id.
    pub thread_id: String,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Time of its latest message.
    #[serde(default, with = "crate::timestamp::option")]
    pub timestamp: Option<OffsetDateTime>,
    /// Everyone who sent a message in it.
    #[serde(default)]
    pub senders: Vec<Address>,
    /// Everyone who received a message in it.
    #[serde(default)]
    pub recipients: Vec<Address>,
    /// Subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A short preview of the latest message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// Id of the latest message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<String>,
    /// Number of messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<u64>,
    /// Total size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When it was created.
    #[serde(
        default,
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<OffsetDateTime>,
    /// When it last changed.
    #[serde(
        default,
        with = "crate::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<OffsetDateTime>,
}

macro_rules! outbound_payload {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// The sending inbox.
            pub inbox_id: String,
            /// The thread of the message.
            pub thread_id: String,
            /// The message concerned.
            pub message_id: String,
            /// When it happened.
            #[serde(default, with = "crate::timestamp::option")]
            pub timestamp: Option<OffsetDateTime>,
            $( $(#[$fdoc])* pub $field: $ty, )*
        }
    };
}

outbound_payload!(
    /// `message.sent`: the service accepted a message for sending.
    Sent {
        /// The recipients it was sent to.
        #[serde(default)]
        pub recipients: Vec<String>,
    }
);

outbound_payload!(
    /// `message.delivered`: the recipients' servers accepted the message.
    Delivered {
        /// The recipients it was delivered to.
        #[serde(default)]
        pub recipients: Vec<String>,
    }
);

outbound_payload!(
    /// `message.bounced`: delivery failed.
    Bounce {
        /// `Permanent` or `Transient`.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        pub bounce_type: Option<String>,
        /// A finer classification, e.g. `General`, `NoEmail`, `MailboxFull`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sub_type: Option<String>,
        /// The recipients that bounced, with their SMTP status.
        #[serde(default)]
        pub recipients: Vec<BounceRecipient>,
    }
);

impl Bounce {
    /// True when the service says retrying will not help.
    pub fn is_permanent(&self) -> bool {
        self.bounce_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("permanent"))
    }
}

/// One bounced recipient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BounceRecipient {
    /// The recipient's address.
    pub address: String,
    /// The SMTP enhanced status code, e.g. `5.1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

outbound_payload!(
    /// `message.complained`: a recipient reported the message as spam.
    Complaint {
        /// The complaint's type, e.g. `abuse`.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        pub complaint_type: Option<String>,
        /// A finer classification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sub_type: Option<String>,
        /// The recipients who complained.
        #[serde(default)]
        pub recipients: Vec<String>,
    }
);

outbound_payload!(
    /// `message.rejected`: the service refused to send the message.
    Reject {
        /// Why, as the service explains it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reason: Option<String>,
    }
);

outbound_payload!(
    /// `message.opened`: a recipient opened the message.
    Open {
        /// The recipients who opened it.
        #[serde(default)]
        pub recipients: Vec<String>,
    }
);
