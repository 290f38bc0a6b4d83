//! Wire types of the email-event protocol spoken by AgentMail and wire-compatible
//! services: events in both envelopes, their typed payloads, and WebSocket frames.
//!
//! ```
//! use mailwire_proto::{EventType, ServerFrame};
//!
//! let frame = ServerFrame::parse(&br#"{"id":"evt_7","type":"message.bounced","data":{
//!     "inbox_id":"ada@agentmail.to","thread_id":"thr_1","message_id":"msg_1",
//!     "type":"Permanent","recipients":[{"address":"nobody@example.com","status":"5.1.1"}]}}"#[..])?;
//! let ServerFrame::Event(event) = frame else { panic!("an event") };
//! assert_eq!(event.event_type(), &EventType::MessageBounced);
//! let mailwire_proto::Payload::Bounced(bounce) = event.payload() else { panic!("a bounce") };
//! assert!(bounce.is_permanent());
//! assert_eq!(bounce.recipients[0].status.as_deref(), Some("5.1.1"));
//! # Ok::<(), mailwire_proto::ParseError>(())
//! ```
//!
//! Parsing is strict where it matters and lenient where services differ: ids and
//! types are required, timestamps must be RFC 3339, most other fields are optional,
//! and an unknown event type is [`EventType::Other`], never an error. Every [`Event`]
//! keeps the exact bytes it was parsed from. Nothing from the network can make a
//! parser panic: malformed, truncated, deeply nested or oversized input is a
//! [`ParseError`].

mod address;
mod error;
mod event;
mod event_type;
mod frame;
mod payload;
mod wire;

pub use address::Address;
pub use error::ParseError;
pub use event::{Envelope, Event, MAX_EVENT_BYTES, MAX_ID_BYTES};
pub use event_type::EventType;
pub use frame::{ClientFrame, ErrorFrame, ServerFrame, Subscribe, Subscribed};
pub use payload::{
    Attachment, Bounce, BounceRecipient, Complaint, Delivered, JsonObject, Message, Open, Payload,
    Reject, Sent, Thread,
};
pub use time::OffsetDateTime;

/// Entry points for the fuzzers. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses arbitrary bytes as an event and as a server and client frame; checks
    /// that what parses keeps its bytes and re-encodes.
    pub fn event_json(data: &[u8]) {
        if let Ok(event) = crate::Event::parse(data.to_vec()) {
            assert_eq!(event.raw().as_ref(), data);
            let again = crate::Event::new(
                event.id(),
                event.event_type().clone(),
                event.payload().clone(),
                event.envelope(),
            );
            assert_eq!(again.id(), event.id());
        }
        if let Ok(frame) = crate::ServerFrame::parse(data.to_vec()) {
            let _ = frame.to_bytes();
        }
        if let Ok(frame) = crate::ClientFrame::parse(data) {
            let _ = frame.to_bytes();
        }
    }
}
