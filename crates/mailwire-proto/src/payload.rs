//! The typed payload each event type carries, as AgentMail's API definition
//! (`events.yml`) and its SDKs give them.
//!
//! Every field is read best effort: a field that is absent, or does not have the
//! definition's type, is `None` (or an empty list) here, and the event is still an
//! event. [`Event::payload_error`](crate::Event::payload_error) says which field did
//! not fit and why; [`Event::raw`](crate::Event::raw) keeps every byte, unknown fields
//! included. The structs are `#[non_exhaustive]`: build them with `new` or
//! `Default` and set their fields.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Address;

/// A JSON object, for fields whose shape varies (e.g. message headers).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// What serialization leaves out: an absent optional field. Lists the definition
/// requires are always written.
pub(crate) trait Absent {
    fn is_absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl<T> Absent for Vec<T> {
    fn is_absent(&self) -> bool {
        false
    }
}

fn is_absent<T: Absent>(t: &T) -> bool {
    t.is_absent()
}

/// A payload struct: every field read best effort (see the module docs), absent
/// optional fields not written.
macro_rules! payload_struct {
    ($(#[$m:meta])* pub struct $name:ident {
        $( $(#[$fm:meta])* $field:ident $(as $wire:literal)? : $ty:ty = $de:literal $(=> $ser:literal)?, )*
    }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default, deserialize_with = $de, skip_serializing_if = "is_absent")]
                $(#[serde(rename = $wire)])?
                $(#[serde(serialize_with = $ser)])?
                pub $field: $ty,
            )*
        }
    };
}

/// The payload of an event, typed by its [`EventType`](crate::EventType).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Payload {
    /// `message.received*`: the message and its thread.
    Message {
        /// The message.
        message: Box<Message>,
        /// Its thread, when the service sent one.
        thread: Option<Box<Thread>>,
    },
    /// `message.security.*`: an Agent Armor result, or the release of a held
    /// message, for a received message (fetch the message for its content).
    Security(Box<MessageSecurity>),
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
    /// `domain.verified`.
    Domain(Box<Domain>),
    /// `calendar.event.*`.
    Calendar(Box<CalendarChange>),
    /// Any other type, or a known type whose payload is missing or not an object:
    /// the fields besides the envelope's own, as a JSON object.
    Other(JsonObject),
}

impl Default for Payload {
    fn default() -> Payload {
        Payload::Other(JsonObject::new())
    }
}

impl Payload {
    /// The inbox the event concerns, when its payload names one.
    pub fn inbox_id(&self) -> Option<&str> {
        match self {
            Payload::Message { message, .. } => message.inbox_id.as_deref(),
            Payload::Security(p) => p.inbox_id.as_deref(),
            Payload::Sent(p) => p.inbox_id.as_deref(),
            Payload::Delivered(p) => p.inbox_id.as_deref(),
            Payload::Bounced(p) => p.inbox_id.as_deref(),
            Payload::Complained(p) => p.inbox_id.as_deref(),
            Payload::Rejected(p) => p.inbox_id.as_deref(),
            Payload::Opened(p) => p.inbox_id.as_deref(),
            Payload::Domain(_) => None,
            Payload::Calendar(p) => p.inbox_id.as_deref(),
            Payload::Other(obj) => find_str(obj, "inbox_id"),
        }
    }

    /// The thread (conversation) the event concerns, when its payload names one:
    /// a message's, an outbound message's (sent, delivered, bounced...). Security
    /// verdicts, domains and calendars have none.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            Payload::Message { message, thread } => message
                .thread_id
                .as_deref()
                .or_else(|| thread.as_ref().and_then(|t| t.thread_id.as_deref())),
            Payload::Sent(p) => p.thread_id.as_deref(),
            Payload::Delivered(p) => p.thread_id.as_deref(),
            Payload::Bounced(p) => p.thread_id.as_deref(),
            Payload::Complained(p) => p.thread_id.as_deref(),
            Payload::Rejected(p) => p.thread_id.as_deref(),
            Payload::Opened(p) => p.thread_id.as_deref(),
            Payload::Security(_) | Payload::Domain(_) | Payload::Calendar(_) => None,
            Payload::Other(obj) => find_str(obj, "thread_id"),
        }
    }

    /// The message the event concerns, when its payload names one.
    pub fn message_id(&self) -> Option<&str> {
        match self {
            Payload::Message { message, .. } => message.message_id.as_deref(),
            Payload::Security(p) => p.message_id.as_deref(),
            Payload::Sent(p) => p.message_id.as_deref(),
            Payload::Delivered(p) => p.message_id.as_deref(),
            Payload::Bounced(p) => p.message_id.as_deref(),
            Payload::Complained(p) => p.message_id.as_deref(),
            Payload::Rejected(p) => p.message_id.as_deref(),
            Payload::Opened(p) => p.message_id.as_deref(),
            Payload::Domain(_) | Payload::Calendar(_) => None,
            Payload::Other(obj) => find_str(obj, "message_id"),
        }
    }

    /// When the event happened, when its payload says.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        match self {
            Payload::Message { message, .. } => message.timestamp.or(message.created_at),
            Payload::Security(p) => p
                .agent_armor
                .as_ref()
                .and_then(|a| a.completed_at)
                .or_else(|| p.manual_override.as_ref().and_then(|o| o.released_at)),
            Payload::Sent(p) => p.timestamp,
            Payload::Delivered(p) => p.timestamp,
            Payload::Bounced(p) => p.timestamp,
            Payload::Complained(p) => p.timestamp,
            Payload::Rejected(p) => p.timestamp,
            Payload::Opened(p) => p.timestamp,
            Payload::Domain(p) => p.updated_at,
            Payload::Calendar(p) => p.scheduled_at.or_else(|| {
                p.calendar_event
                    .as_ref()
                    .and_then(|e| e.get("updated_at"))
                    .and_then(|v| v.as_str())
                    .and_then(crate::timestamp::parse)
            }),
            Payload::Other(obj) => find_str(obj, "timestamp").and_then(crate::timestamp::parse),
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

payload_struct! {
    /// An email message (`messages.Message`).
    pub struct Message {
        /// The inbox it belongs to.
        inbox_id: Option<String> = "crate::lenient::string",
        /// Its thread.
        thread_id: Option<String> = "crate::lenient::string",
        /// Its id.
        message_id: Option<String> = "crate::lenient::string",
        /// Labels, e.g. `received`, `unread`.
        labels: Vec<String> = "crate::lenient::strings",
        /// When it was sent or received.
        timestamp: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// The sender, as the service wrote it.
        from: Option<Address> = "crate::lenient::any",
        /// Reply-To addresses.
        reply_to: Option<Vec<Address>> = "crate::lenient::opt_items",
        /// Recipients.
        to: Vec<Address> = "crate::lenient::items",
        /// Copied recipients.
        cc: Option<Vec<Address>> = "crate::lenient::opt_items",
        /// Blind-copied recipients.
        bcc: Option<Vec<Address>> = "crate::lenient::opt_items",
        /// Subject line.
        subject: Option<String> = "crate::lenient::string",
        /// A short plain-text preview.
        preview: Option<String> = "crate::lenient::string",
        /// Plain-text body.
        text: Option<String> = "crate::lenient::string",
        /// HTML body.
        html: Option<String> = "crate::lenient::string",
        /// The new text of the message, quoted replies removed.
        extracted_text: Option<String> = "crate::lenient::string",
        /// The new HTML of the message, quoted replies removed.
        extracted_html: Option<String> = "crate::lenient::string",
        /// Attachments (metadata only).
        attachments: Option<Vec<Attachment>> = "crate::lenient::opt_items",
        /// The id of the message this one replies to.
        in_reply_to: Option<String> = "crate::lenient::string",
        /// The calendar event the message carries (an invitation), if any.
        calendar_event_id: Option<String> = "crate::lenient::string",
        /// The Agent Armor result, when the inbox has Agent Armor.
        agent_armor: Option<AgentArmor> = "crate::lenient::any",
        /// The ids of the previous messages in its thread.
        references: Option<Vec<String>> = "crate::lenient::opt_strings",
        /// Headers.
        headers: Option<JsonObject> = "crate::lenient::any",
        /// Size in bytes.
        size: Option<u64> = "crate::lenient::uint",
        /// When the service last updated it.
        updated_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// When the service created it.
        created_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
    }
}

impl Message {
    /// A message with these ids and nothing else.
    pub fn new(inbox_id: &str, thread_id: &str, message_id: &str) -> Message {
        Message {
            inbox_id: Some(inbox_id.to_owned()),
            thread_id: Some(thread_id.to_owned()),
            message_id: Some(message_id.to_owned()),
            ..Message::default()
        }
    }
}

payload_struct! {
    /// Attachment metadata (`attachments.Attachment`).
    pub struct Attachment {
        /// Its id, to download it through the service's API.
        attachment_id: Option<String> = "crate::lenient::string",
        /// File name.
        filename: Option<String> = "crate::lenient::string",
        /// Size in bytes.
        size: Option<u64> = "crate::lenient::uint",
        /// MIME type.
        content_type: Option<String> = "crate::lenient::string",
        /// `inline` or `attachment`.
        content_disposition: Option<String> = "crate::lenient::string",
        /// Its Content-ID, which inline HTML refers to as `cid:`.
        content_id: Option<String> = "crate::lenient::string",
    }
}

impl Attachment {
    /// An attachment with this id and nothing else.
    pub fn new(attachment_id: &str) -> Attachment {
        Attachment {
            attachment_id: Some(attachment_id.to_owned()),
            ..Attachment::default()
        }
    }

    /// True when it is shown inline (`content_disposition` is `inline`).
    pub fn is_inline(&self) -> bool {
        self.content_disposition
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("inline"))
    }
}

payload_struct! {
    /// A conversation thread (`threads.ThreadItem`).
    pub struct Thread {
        /// The inbox it belongs to.
        inbox_id: Option<String> = "crate::lenient::string",
        /// Its id.
        thread_id: Option<String> = "crate::lenient::string",
        /// Labels.
        labels: Vec<String> = "crate::lenient::strings",
        /// Time of its latest message.
        timestamp: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// Time of its latest received message.
        received_timestamp: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// Time of its latest sent message.
        sent_timestamp: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// Everyone who sent a message in it.
        senders: Vec<Address> = "crate::lenient::items",
        /// Everyone who received a message in it.
        recipients: Vec<Address> = "crate::lenient::items",
        /// Subject line.
        subject: Option<String> = "crate::lenient::string",
        /// A short preview of the latest message.
        preview: Option<String> = "crate::lenient::string",
        /// Attachments of its messages.
        attachments: Option<Vec<Attachment>> = "crate::lenient::opt_items",
        /// Id of the latest message.
        last_message_id: Option<String> = "crate::lenient::string",
        /// Number of messages.
        message_count: Option<u64> = "crate::lenient::uint",
        /// Total size in bytes.
        size: Option<u64> = "crate::lenient::uint",
        /// When it last changed.
        updated_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// When it was created.
        created_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
    }
}

impl Thread {
    /// A thread with these ids and nothing else.
    pub fn new(inbox_id: &str, thread_id: &str) -> Thread {
        Thread {
            inbox_id: Some(inbox_id.to_owned()),
            thread_id: Some(thread_id.to_owned()),
            ..Thread::default()
        }
    }
}

payload_struct! {
    /// The message of a `message.security.*` event (`MessageSecurity`, or
    /// `MessageSecurityOverride` for `message.security.override`): which message, and
    /// the Agent Armor result or the record of its release. It has no thread.
    pub struct MessageSecurity {
        /// The organization.
        organization_id: Option<String> = "crate::lenient::string",
        /// The inbox.
        inbox_id: Option<String> = "crate::lenient::string",
        /// The message.
        message_id: Option<String> = "crate::lenient::string",
        /// The verdict (`message.security.completed` and `.review`).
        agent_armor: Option<AgentArmor> = "crate::lenient::any",
        /// The release of a held message (`message.security.override`).
        manual_override: Option<ManualOverride> = "crate::lenient::any",
    }
}

payload_struct! {
    /// An Agent Armor result.
    pub struct AgentArmor {
        /// `complete` in events.
        status: Option<String> = "crate::lenient::string",
        /// `clear` or `review` (others may come).
        verdict: Option<String> = "crate::lenient::string",
        /// A short explanation of the verdict.
        reason: Option<String> = "crate::lenient::string",
        /// Which Agent Armor release produced it (opaque).
        model: Option<String> = "crate::lenient::string",
        /// When the scan finished.
        completed_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// Present on a held message that someone released.
        manual_override: Option<ManualOverride> = "crate::lenient::any",
    }
}

payload_struct! {
    /// The record of the release of a message Agent Armor held for review.
    pub struct ManualOverride {
        /// Id of the release (the `event_id` of its `message.security.override`).
        override_id: Option<String> = "crate::lenient::string",
        /// Who released it: `{"kind":"api_key","api_key_id":..}` or
        /// `{"kind":"console"}`.
        actor: Option<JsonObject> = "crate::lenient::any",
        /// Why it was released.
        reason: Option<String> = "crate::lenient::string",
        /// The verdict that held it (`review`).
        original_verdict: Option<String> = "crate::lenient::string",
        /// When it was released.
        released_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
    }
}

macro_rules! outbound_payload {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident $(as $wire:literal)? : $ty:ty = $de:literal,)* }) => {
        payload_struct! {
            $(#[$doc])*
            pub struct $name {
                /// The sending inbox.
                inbox_id: Option<String> = "crate::lenient::string",
                /// The thread of the message.
                thread_id: Option<String> = "crate::lenient::string",
                /// The message concerned.
                message_id: Option<String> = "crate::lenient::string",
                /// When it happened.
                timestamp: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
                $( $(#[$fdoc])* $field $(as $wire)? : $ty = $de, )*
            }
        }

        impl $name {
            /// A payload about this message and nothing else.
            pub fn new(inbox_id: &str, thread_id: &str, message_id: &str) -> $name {
                $name {
                    inbox_id: Some(inbox_id.to_owned()),
                    thread_id: Some(thread_id.to_owned()),
                    message_id: Some(message_id.to_owned()),
                    ..$name::default()
                }
            }
        }
    };
}

outbound_payload!(
    /// `message.sent`: the service accepted a message for sending.
    Sent {
        /// The recipients it was sent to.
        recipients: Vec<String> = "crate::lenient::strings",
    }
);

outbound_payload!(
    /// `message.delivered`: the recipients' servers accepted the message.
    Delivered {
        /// The recipients it was delivered to.
        recipients: Vec<String> = "crate::lenient::strings",
    }
);

outbound_payload!(
    /// `message.bounced`: delivery failed.
    Bounce {
        /// `Permanent` or `Transient`.
        bounce_type as "type": Option<String> = "crate::lenient::string",
        /// A finer classification, e.g. `General`, `NoEmail`, `MailboxFull`.
        sub_type: Option<String> = "crate::lenient::string",
        /// The recipients that bounced, with their status.
        recipients: Vec<Recipient> = "crate::lenient::items",
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

payload_struct! {
    /// One bounced recipient.
    pub struct Recipient {
        /// The recipient's address.
        address: Option<String> = "crate::lenient::string",
        /// Its status, e.g. an SMTP enhanced status code such as `5.1.1`.
        status: Option<String> = "crate::lenient::string",
    }
}

impl Recipient {
    /// A recipient with this address and status.
    pub fn new(address: &str, status: Option<&str>) -> Recipient {
        Recipient {
            address: Some(address.to_owned()),
            status: status.map(str::to_owned),
        }
    }
}

outbound_payload!(
    /// `message.complained`: a recipient reported the message as spam.
    Complaint {
        /// The complaint's type, e.g. `abuse`.
        complaint_type as "type": Option<String> = "crate::lenient::string",
        /// A finer classification.
        sub_type: Option<String> = "crate::lenient::string",
        /// The recipients who complained.
        recipients: Vec<String> = "crate::lenient::strings",
    }
);

outbound_payload!(
    /// `message.rejected`: the service refused to send the message.
    Reject {
        /// Why, as the service explains it.
        reason: Option<String> = "crate::lenient::string",
    }
);

outbound_payload!(
    /// `message.opened`: a tracked message was opened for the first time.
    Open {}
);

payload_struct! {
    /// `domain.verified`: a sending domain (`domains.Domain`).
    pub struct Domain {
        /// Its pod, if any.
        pod_id: Option<String> = "crate::lenient::string",
        /// Its id.
        domain_id: Option<String> = "crate::lenient::string",
        /// The domain name.
        domain: Option<String> = "crate::lenient::string",
        /// `VERIFIED`, `PENDING`, ...
        status: Option<String> = "crate::lenient::string",
        /// Why it has that status.
        reason: Option<String> = "crate::lenient::string",
        /// Whether bounce and complaint feedback is on.
        feedback_enabled: Option<bool> = "crate::lenient::boolean",
        /// Whether it receives mail.
        inbound_enabled: Option<bool> = "crate::lenient::boolean",
        /// Whether opens are tracked.
        tracking_enabled: Option<bool> = "crate::lenient::boolean",
        /// Whether inboxes may use any subdomain.
        subdomains_enabled: Option<bool> = "crate::lenient::boolean",
        /// The DNS records that verify it.
        records: Vec<VerificationRecord> = "crate::lenient::items",
        /// The client id given at creation.
        client_id: Option<String> = "crate::lenient::string",
        /// When it last changed.
        updated_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
        /// When it was created.
        created_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
    }
}

payload_struct! {
    /// A DNS record of a [`Domain`].
    pub struct VerificationRecord {
        /// `TXT`, `CNAME` or `MX`.
        record_type as "type": Option<String> = "crate::lenient::string",
        /// Its name.
        name: Option<String> = "crate::lenient::string",
        /// Its value.
        value: Option<String> = "crate::lenient::string",
        /// `MISSING`, `INVALID` or `VALID`.
        status: Option<String> = "crate::lenient::string",
        /// MX priority.
        priority: Option<u64> = "crate::lenient::uint",
        /// Why it has that status.
        reason: Option<String> = "crate::lenient::string",
    }
}

payload_struct! {
    /// `calendar.event.*`: a calendar event of an inbox changed, started or ended.
    /// Unlike message events, these fields sit at the top of the envelope.
    pub struct CalendarChange {
        /// The inbox whose calendar it is.
        inbox_id: Option<String> = "crate::lenient::string",
        /// The calendar event (or the date of a recurring one), as the service sent it.
        calendar_event: Option<JsonObject> = "crate::lenient::any",
        /// `calendar.event.updated`: the prior values of the fields that changed.
        previous: Option<JsonObject> = "crate::lenient::any",
        /// `calendar.event.starting` / `.ending`: the boundary the event is for.
        scheduled_at: Option<OffsetDateTime> = "crate::lenient::timestamp" => "crate::timestamp::option::serialize",
    }
}
