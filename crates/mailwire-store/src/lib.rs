//! One store for mailwire: the durable event log, the memory of acked ids and the
//! claims that let several agent instances share the work, behind one trait
//! ([`Store`]), in memory, in a redb file, or in Redis.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mailwire_proto::Event;
//! use mailwire_store::{Appended, RedbStore, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = RedbStore::open(dir.path().join("events.redb"))?;
//!
//! let event = Event::parse(&br#"{"id":"evt_1","type":"message.delivered","data":{
//!     "inbox_id":"ada@agentmail.to","thread_id":"thr_1","message_id":"msg_1"}}"#[..])?;
//! // On disk (fsync'd) once this returns, and claimed by this instance.
//! assert_eq!(store.append(&event).await?, Appended::New);
//! // The same id again: kept once, and this instance holds it already.
//! assert_eq!(store.append(&event).await?, Appended::Known);
//! store.ack(event.id()).await?; // after the side effect: one more write
//! assert_eq!(store.append(&event).await?, Appended::Known); // a late copy
//! store.close().await?;
//!
//! // After a restart, whatever was appended and never acked is free to claim,
//! // oldest first, a page at a time.
//! let store = RedbStore::open(dir.path().join("events.redb"))?;
//! assert!(store.claim(100).await?.is_empty());
//! # Ok(()) }
//! ```
//!
//! - [`Store`]: append (idempotent by id, durable before it returns, and a claim),
//!   claim a page of the backlog, ack (log and seen memory settled in one write),
//!   release, and `holds` (checked just before handing an event over). A claim
//!   this store value holds is kept alive for as long as it holds it; one nobody
//!   renews is taken over after the lease. Its docs state the rule that makes
//!   delivery exactly once across instances, and what each event costs.
//! - [`Checkpoints`] (re-exported from `mailwire-source`, a supertrait of [`Store`]):
//!   the sources' small durable values (a WebSocket's resume point, a backfill's
//!   progress), under the caller's keys (per subscription and tenant), kept beside
//!   the log: in the redb file, in one Redis hash under the key prefix (shared by
//!   every instance on it). A save is as durable as an append; one that cannot be
//!   kept (a full disk, Redis down) is an error boxing the [`StoreError`].
//! - Dead letters ([`DeadLetter`], part of [`Store`]): an event whose handler failed
//!   on every attempt is buried (acked and set aside with its attempts, error and
//!   time, in one write), listed oldest first, and revived (back in the log, free for
//!   any instance to claim) or discarded on demand, in every store.
//! - [`SeenSet`]: insert-if-absent with a time to live, for dedup without a log.
//! - [`MemoryStore`]: both in memory, for tests and for running without a file.
//! - `RedbStore` (feature `redb`, on by default): both in one
//!   [redb](https://docs.rs/redb) file. Writes are fsync'd before they return, and
//!   concurrent writes share a transaction (group commit), so a busy instance pays
//!   about one fsync per group, not per event. After an I/O error (a full disk) the
//!   file is reopened before the next write: the store heals without a restart.
//! - `RedisStore` (feature `redis`): both in Redis, for **several agent instances
//!   sharing one store** (processes or machines, each with its own WebSocket and
//!   webhook receiver). The first instance to append an event claims it and renews
//!   the claim in the background while it holds the event; a claim nobody renews
//!   (its instance crashed or stopped) is taken over by a live instance after the
//!   lease. Default consumer names are stable per host (`<host>-<n>`), so a
//!   restarted instance gets its unacked events back at once, and stale consumers
//!   are removed at connect. Pick redb for one instance (no server, an fsync per
//!   group); pick Redis when instances must share the work and survive each other.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn shared() -> Result<(), mailwire_store::StoreError> {
//! use std::time::Duration;
//! use mailwire_store::{RedisStore, Store};
//!
//! // One of several instances: same group, a name of its own (by default
//! // `<host>-<n>`, stable across restarts).
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .lease(Duration::from_secs(30)) // how long a crashed instance's events wait
//!     .connect()
//!     .await?;
//! // A page of events nobody holds (an earlier run's, a dead instance's): now ours,
//! // and renewed for as long as we hold them, however long handling takes.
//! for event in store.claim(100).await? {
//!     if !store.holds(event.id()) {
//!         continue; // taken over meanwhile (Redis was unreachable): not ours
//!     }
//!     // ... handle it, then:
//!     store.ack(event.id()).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Taking the traits alone (`default-features = false`) compiles no storage
//! engine: neither redb nor redis.
//!
//! Both take their notion of time from a [`Clock`]; [`ManualClock`] makes TTL and
//! lease tests exact (Redis measures its leases with the server's clock). Growth is
//! bounded where it can be: expired seen-set entries are purged as writes come in,
//! an acked event's bytes are dropped at once, and its id (kept so a late
//! redelivery is still a duplicate) can be forgotten after a retention
//! (`RedbStoreBuilder::forget_acked_after`, [`MemoryStore::forget_acked_after`]).
//!
//! Every failure is a [`StoreError`]: `Unavailable` (try later: answer 503; for Redis
//! also a refused, dropped or timed out connection), `Closed`, or `Corrupt` (the file
//! or the Redis keys hold something this version did not write); nothing read from
//! the file or the server can panic. Clones share one store, and `Arc<S>`
//! (`Arc<dyn Store>` too) implements the traits.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
#[cfg(any(feature = "redb", feature = "redis"))]
mod dead;
mod memory;
#[cfg(feature = "redb")]
mod redb_store;
#[cfg(feature = "redis")]
mod redis_store;
mod traits;

pub use clock::{Clock, ManualClock, SystemClock};
pub use mailwire_source::Checkpoints;
pub use memory::MemoryStore;
#[cfg(feature = "redb")]
pub use redb_store::{RedbStats, RedbStore, RedbStoreBuilder};
#[cfg(feature = "redis")]
pub use redis_store::{RedisStore, RedisStoreBuilder};
pub use traits::{Appended, DeadLetter, SeenSet, Store, StoreError};
