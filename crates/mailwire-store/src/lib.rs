//! Durable event log and seen-set: what lets a webhook receiver answer 2xx only for
//! what it kept, and a merge replay what was never handled.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mailwire_proto::Event;
//! use mailwire_store::{EventLog, RedbStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = RedbStore::open(dir.path().join("events.redb"))?;
//!
//! let event = Event::parse(&br#"{"id":"evt_1","type":"message.delivered","data":{
//!     "inbox_id":"ada@agentmail.to","thread_id":"thr_1","message_id":"msg_1"}}"#[..])?;
//! assert!(store.append(&event).await?); // on disk (fsync'd) once this returns
//! assert!(!store.append(&event).await?); // the same id again: kept once
//!
//! // After a restart, whatever was appended and never acked comes back, oldest first.
//! let pending = store.unacked(100).await?;
//! assert_eq!(pending, vec![event]);
//! for event in pending {
//!     // ... handle it, then:
//!     store.ack(event.id()).await?;
//! }
//! assert!(store.unacked(100).await?.is_empty());
//! store.close().await?;
//! # Ok(()) }
//! ```
//!
//! Two traits, three implementations:
//!
//! - [`EventLog`]: append (idempotent by event id, durable before it returns), read
//!   what is not acked (oldest first), ack.
//! - [`SeenSet`]: insert-if-absent with a time to live; the dedup memory for ids that
//!   are not logged (webhook message ids, for instance).
//! - [`MemoryStore`]: both traits in memory, for tests and for running without a
//!   file. No durability.
//! - [`RedbStore`]: both traits in one [redb](https://docs.rs/redb) file. Appends are
//!   fsync'd before they return, and concurrent appends share a transaction (group
//!   commit), so a busy receiver pays about one fsync per group, not per event.
//! - `RedisStore` (feature `redis`): both traits in Redis, for **several agent
//!   instances sharing one log** (processes or machines behind one webhook URL). The
//!   log is a Redis Stream read through a consumer group: each event goes to one
//!   instance, and the events of an instance that died unacked are claimed by
//!   another once they have sat idle for a while. The seen-set is `SET NX PX`. Pick
//!   redb for one instance (no server, an fsync per group); pick Redis when instances
//!   must share the work and survive each other.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn shared() -> Result<(), mailwire_store::StoreError> {
//! use std::time::Duration;
//! use mailwire_store::{EventLog, RedisStore};
//!
//! // One of several workers: same group, a name of its own.
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .consumer("worker-1")
//!     .claim_idle_after(Duration::from_secs(120)) // longer than handling one event takes
//!     .connect()
//!     .await?;
//! // This worker's unacked events, then a dead worker's, then new ones; never an event
//! // another live worker holds.
//! for event in store.unacked(100).await? {
//!     // ... handle it, then:
//!     store.ack(event.id()).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Both take their notion of time from a [`Clock`]; [`ManualClock`] makes TTL tests
//! exact. Growth is bounded where it can be: expired seen-set entries are purged as
//! writes come in, an acked event's bytes are dropped at once, and its id (kept so a
//! late redelivery is still a duplicate) can be forgotten after a retention
//! ([`RedbStoreBuilder::forget_acked_after`], [`MemoryStore::forget_acked_after`]).
//!
//! Every failure is a [`StoreError`]: `Unavailable` (try later: answer 503; for Redis
//! also a refused, dropped or timed out connection), `Closed`, or `Corrupt` (the file
//! or the Redis keys hold something this version did not write); nothing read from
//! the file or the server can panic. Clones share one store, and `Arc<S>`
//! (`Arc<dyn EventLog>` too) implements the traits, so one store can serve a receiver
//! and a merge.

mod clock;
mod memory;
mod redb_store;
#[cfg(feature = "redis")]
mod redis_store;
mod traits;

pub use clock::{Clock, ManualClock, SystemClock};
pub use memory::MemoryStore;
pub use redb_store::{RedbStats, RedbStore, RedbStoreBuilder};
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, RedisStoreBuilder};
pub use traits::{EventLog, SeenSet, StoreError};
