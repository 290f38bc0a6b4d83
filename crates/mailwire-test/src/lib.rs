//! The mailwire test kit: [`FakeSource`], a scripted and strict in-memory
//! [`EventSource`](mailwire_source::EventSource) for testing code that consumes
//! events; [`fixtures`], realistic events of every type in both envelopes; and the
//! [`conformance`] suite every source passes.
//!
//! A test of a consumer, written against the fake: an agent that forwards bounced
//! addresses to a suppression list and acks each event once it is handled.
//!
//! ```
//! use std::time::Duration;
//!
//! use mailwire_proto::Payload;
//! use mailwire_source::{EventSource, SourceError};
//! use mailwire_test::{fixtures, FakeSource};
//!
//! /// The code under test: collects permanently bounced addresses until the source ends.
//! async fn suppress_bounces(mut source: impl EventSource) -> Result<Vec<String>, SourceError> {
//!     let mut suppressed = Vec::new();
//!     while let Some(delivery) = source.next().await? {
//!         if let Payload::Bounced(bounce) = delivery.event.payload() {
//!             if bounce.is_permanent() {
//!                 suppressed.extend(bounce.recipients.iter().filter_map(|r| r.address.clone()));
//!             }
//!         }
//!         delivery.ack().await?; // after the side effect
//!     }
//!     Ok(suppressed)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (source, handle) = FakeSource::new();
//! handle
//!     .push(fixtures::message_received("evt_1", "ada@agentmail.to"))
//!     .push(fixtures::message_bounced("evt_2", "ada@agentmail.to"))
//!     .end();
//!
//! let suppressed = suppress_bounces(source).await.unwrap();
//!
//! assert_eq!(suppressed, ["no-such-user@example.com"]);
//! // Every event was acked, the bounce included.
//! assert_eq!(handle.acked(), ["evt_1", "evt_2"]);
//! // An ack can also be awaited, bounded so that a bug fails instead of hanging.
//! tokio::time::timeout(Duration::from_secs(10), handle.wait_for_ack("evt_2")).await.unwrap();
//! # }
//! ```
//!
//! A fatal error is pushed the same way
//! (`handle.fail(SourceError::auth("revoked"))`), and a fake dropped with pushed
//! events never taken panics, so a test cannot pass while the code under test ignored
//! part of its script (see [`FakeBuilder::lenient`] to allow it).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod conformance;
mod fake;
pub use mailwire_proto::fixtures;

pub use fake::{FakeBuilder, FakeHandle, FakeSource};
