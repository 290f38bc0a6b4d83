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
//! What makes an event is an envelope with an id and a type; nothing in its payload
//! can make it an error. The payload is read when asked for, best effort: a field
//! that does not have the definition's type (or is nested past serde_json's depth
//! limit) is absent from the typed view, and [`Event::payload_error`] says which and
//! why. An unknown event type is [`EventType::Other`]. Every [`Event`] keeps the
//! exact bytes it was parsed from. Nothing from the network can make a parser panic:
//! malformed, truncated or oversized input, or a body that is not an envelope, is a
//! [`ParseError`]; deep nesting is skipped unread, never recursed into.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod address;
mod error;
mod event;
mod event_type;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod frame;
mod lenient;
mod payload;
mod selection;
mod timestamp;
mod wire;

pub use address::{Address, Mailbox};
pub use error::{EncodeError, ParseError, PayloadError};
pub use event::{Envelope, Event, MAX_EVENT_BYTES, MAX_ID_BYTES, MessageKey};
pub use event_type::EventType;
pub use frame::{ClientFrame, ErrorFrame, ServerFrame, Subscribe, Subscribed};
pub use payload::{
    AgentArmor, Attachment, Bounce, CalendarChange, Complaint, Delivered, Domain, JsonObject,
    ManualOverride, Message, MessageSecurity, Open, Payload, Recipient, Reject, Sent, Thread,
    VerificationRecord,
};
pub use selection::Selection;
pub use time::OffsetDateTime;

/// Entry points for the fuzzers. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{ClientFrame, Envelope, Event, Payload, ServerFrame};

    /// Parses arbitrary bytes as an event and as a server and client frame, and checks
    /// what parses: an event keeps its bytes; reading its payload never fails, and
    /// reports a problem exactly when the strict read finds one; a payload read whole,
    /// re-encoded in either envelope, parses back to the same id, type and payload
    /// (less the thread, which the simple envelope does not carry); a frame
    /// re-encodes to a frame that parses back the same.
    pub fn event_json(data: &[u8]) {
        let event = Event::parse(data.to_vec());
        if let Ok(event) = &event {
            assert_eq!(event.raw().as_ref(), data);
            let payload = event.payload();
            if event.payload_error().is_none() {
                for envelope in [Envelope::AgentMail, Envelope::Simple] {
                    let again = match Event::new(
                        event.id(),
                        event.event_type().clone(),
                        payload.clone(),
                        envelope,
                    ) {
                        Ok(again) => again,
                        // Only a timestamp RFC 3339 cannot write; parsed ones can.
                        Err(e) => panic!("a parsed event does not re-encode: {e}"),
                    };
                    let back = match Event::parse(again.raw().clone()) {
                        Ok(back) => back,
                        Err(e) => {
                            panic!("re-encoded in {envelope:?}, the event does not parse: {e}")
                        }
                    };
                    assert_eq!(back.id(), event.id());
                    assert_eq!(back.event_type(), event.event_type());
                    assert_eq!(back.payload(), &as_carried(payload, envelope));
                }
            }
        }
        if let Ok(frame) = ServerFrame::parse(data.to_vec()) {
            if let ServerFrame::Event(e) = &frame {
                // One parser: a frame that is an event is the same event.
                assert_eq!(Some(e), event.as_ref().ok());
            }
            let bytes = frame.to_bytes();
            match ServerFrame::parse(bytes) {
                Ok(back) => assert_eq!(back, frame),
                Err(e) => panic!("a re-encoded server frame does not parse: {e}"),
            }
        }
        if let Ok(frame) = ClientFrame::parse(data) {
            match ClientFrame::parse(&frame.to_bytes()) {
                Ok(back) => assert_eq!(back, frame),
                Err(e) => panic!("a re-encoded client frame does not parse: {e}"),
            }
        }
    }

    /// What `envelope` carries of `payload`: the simple envelope has no thread; at the
    /// top of AgentMail's, `type`, `event_type` and `event_id` are the envelope's own.
    fn as_carried(payload: &Payload, envelope: Envelope) -> Payload {
        match (payload, envelope) {
            (Payload::Message { message, .. }, Envelope::Simple) => Payload::Message {
                message: message.clone(),
                thread: None,
            },
            (Payload::Other(obj), Envelope::AgentMail) => {
                let mut obj = obj.clone();
                for key in ["type", "event_type", "event_id"] {
                    obj.remove(key);
                }
                Payload::Other(obj)
            }
            (p, _) => p.clone(),
        }
    }
}
