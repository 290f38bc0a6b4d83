//! The two store abstractions the receiver and the merge are written against.

use std::time::Duration;

use async_trait::async_trait;
use mailwire_proto::Event;

/// Why a store operation failed. A failed operation changed nothing the caller can
/// rely on: an append that errs must be treated as not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be used right now (I/O error, lock held, disk full); the same
    /// call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store was closed.
    #[error("store closed")]
    Closed,
    /// The data on disk is not what this version wrote.
    #[error("store corrupt: {0}")]
    Corrupt(String),
}

/// An append-only log of events, keyed by event id.
///
/// `append` is idempotent by id and durable before it returns. Events stay
/// "unacked" until [`ack`](EventLog::ack); after a crash, [`unacked`](EventLog::unacked)
/// returns every event appended and never acked, in append order.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends `event` unless an event with its id is already logged. Returns `true`
    /// when it was new. When this returns `Ok`, the event survives a crash.
    async fn append(&self, event: &Event) -> Result<bool, StoreError>;

    /// Up to `limit` events appended and not yet acked, oldest first.
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// Marks an event processed. Acking an unknown or already acked id is `Ok`.
    async fn ack(&self, id: &str) -> Result<(), StoreError>;

    /// True when an event with this id was ever appended (acked or not) and is
    /// still retained.
    async fn contains(&self, id: &str) -> Result<bool, StoreError>;
}

/// A set of event ids seen recently: the dedup memory that outlives a process.
#[async_trait]
pub trait SeenSet: Send + Sync + 'static {
    /// Inserts `id` unless present and not expired. Returns `true` when inserted
    /// (seen for the first time), `false` for a duplicate. The entry expires after
    /// `ttl`.
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// True when `id` is present and not expired.
    async fn contains(&self, id: &str) -> Result<bool, StoreError>;
}

// Shared handles: `Arc<dyn EventLog>` (or `Arc<S>`) can be passed wherever a store is
// expected, so one store serves a receiver and a merge at once.
#[async_trait]
impl<T: EventLog + ?Sized> EventLog for std::sync::Arc<T> {
    async fn append(&self, event: &Event) -> Result<bool, StoreError> {
        (**self).append(event).await
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        (**self).unacked(limit).await
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        (**self).ack(id).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        (**self).contains(id).await
    }
}

#[async_trait]
impl<T: SeenSet + ?Sized> SeenSet for std::sync::Arc<T> {
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        (**self).insert(id, ttl).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        (**self).contains(id).await
    }
}
