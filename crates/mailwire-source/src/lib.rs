//! The one abstraction every mailwire transport shares: an [`EventSource`] yields
//! [`Delivery`]s, each an [`Event`] with its [`Origin`], the time it was received,
//! the [`TenantId`] it belongs to (for a source serving several tenants) and an
//! [`Ack`] that settles it.
//!
//! A WebSocket, a webhook receiver, a durable log replay, a merge of all three, or a
//! transport of your own: code written against `EventSource` takes any of them, and
//! tests take an in-memory fake.
//!
//! # A complete custom source
//!
//! Here is a source over a queue you already have (a REST poller, an SQS client...),
//! in full: it yields what the queue holds, acks by deleting the message upstream,
//! and ends when the queue is closed.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::sync::{Arc, Mutex};
//!
//! use mailwire_proto::Event;
//! use mailwire_source::{async_trait, Ack, Delivery, EventSource, Origin, SourceError};
//!
//! /// Stands in for an upstream queue: messages, and the ids deleted once handled.
//! #[derive(Default)]
//! struct Upstream {
//!     pending: VecDeque<Vec<u8>>,
//!     deleted: Vec<String>,
//! }
//!
//! struct QueueSource {
//!     upstream: Arc<Mutex<Upstream>>,
//! }
//!
//! #[async_trait]
//! impl EventSource for QueueSource {
//!     async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
//!         let Some(body) = self.upstream.lock().unwrap().pending.pop_front() else {
//!             return Ok(None); // the queue is drained and closed: the source ends
//!         };
//!         let event = Event::parse(body).map_err(SourceError::protocol)?;
//!         let (upstream, id) = (self.upstream.clone(), event.id().to_owned());
//!         // Acking deletes the message upstream, so it is never handled twice.
//!         let ack = Ack::from_fn(move || upstream.lock().unwrap().deleted.push(id));
//!         Ok(Some(Delivery::new(event, Origin::custom("queue")).with_ack(ack)))
//!     }
//!
//!     fn name(&self) -> &str {
//!         "queue"
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), SourceError> {
//! let upstream = Arc::new(Mutex::new(Upstream::default()));
//! upstream.lock().unwrap().pending.push_back(
//!     br#"{"id":"evt_1","type":"domain.verified","data":{"domain":"example.com"}}"#.to_vec(),
//! );
//! let mut source = QueueSource { upstream: upstream.clone() };
//!
//! while let Some(delivery) = source.next().await? {
//!     println!("{} from {}", delivery.event.event_type(), delivery.origin);
//!     delivery.ack().await?; // after the side effect: exactly once
//! }
//! assert_eq!(upstream.lock().unwrap().deleted, ["evt_1"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Contract
//!
//! - `next()` returns events in the order the source received them, `Ok(None)` once
//!   it has ended for good (and on every later call), and `Err` only when it cannot go
//!   on ([`SourceError::is_fatal`]). Transient trouble, such as a dropped socket, is
//!   healed inside the source.
//! - `next()` is cancellation safe: dropping its future before it completes loses no
//!   event; the next call returns it. `tokio::select!` over sources is therefore safe.
//! - A delivery dropped without [`Delivery::ack`] is not settled: a durable source
//!   delivers it again after a restart (at-least-once). Ack after the side effect and
//!   each event is handled exactly once.
//!
//! The shared conformance suite in `mailwire-test` checks these for any source.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ack;
mod checkpoint;
mod delivery;
mod error;
mod shutdown;
mod stream;

use std::fmt;

pub use ack::{Ack, Settle};
pub use async_trait::async_trait;
pub use checkpoint::{Checkpoints, MemoryCheckpoints};
pub use delivery::{Custody, Delivery, Origin, TenantId};
pub use error::{BoxError, SourceError};
pub use mailwire_proto::Event;
pub use shutdown::Shutdown;
pub use stream::{EventSourceExt, ForTenant, SourceStream};

/// A source of email events. See the [crate docs](crate) for the contract and an
/// implementation in full.
#[async_trait]
pub trait EventSource: Send {
    /// The next event, or `Ok(None)` once the source has ended for good.
    ///
    /// Transient trouble is healed inside the source and reported through its own
    /// status; `Err` means it cannot go on (bad credentials, a closed store).
    /// Cancellation safe: dropping the future loses no event.
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError>;

    /// A short stable name for logs and metrics (`"websocket"`, `"webhook"`, ...).
    fn name(&self) -> &str;

    /// A hint from the consumer: it will take up to `n` deliveries now (its free
    /// handler slots). A source that claims work ahead of handing it out (a merge
    /// over a store shared by several instances) claims no more than that, so an
    /// event never waits on a busy instance while another is idle. Call it before
    /// [`next`](EventSource::next); it holds until called again. Ignored by default.
    fn demand(&mut self, n: usize) {
        let _ = n;
    }
}

/// A type-erased source, e.g. to keep sources of different types in one `Vec`.
pub type BoxSource<'a> = Box<dyn EventSource + 'a>;

#[async_trait]
impl<S: EventSource + ?Sized> EventSource for Box<S> {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        (**self).next().await
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn demand(&mut self, n: usize) {
        (**self).demand(n);
    }
}

#[async_trait]
impl<S: EventSource + ?Sized> EventSource for &mut S {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        (**self).next().await
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn demand(&mut self, n: usize) {
        (**self).demand(n);
    }
}

impl fmt::Debug for dyn EventSource + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}
