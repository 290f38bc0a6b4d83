//! The redb store: one file, durable appends, group commit.

mod builder;
mod committer;
mod dead_letters;
mod error;
mod stats;
mod tables;

pub use builder::RedbStoreBuilder;
pub use stats::RedbStats;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use mailwire_proto::Event;
use redb::Database;
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Clock, unix_millis};
use crate::{Appended, Checkpoints, DeadLetter, SeenSet, Store, StoreError, dead};
use committer::{Counters, DbState, Op, Reply, SharedClaims, SharedDb};
use error::unavailable;
use mailwire_source::BoxError;

/// How many operations may wait for the committer before callers wait to queue.
const QUEUE: usize = 4096;

/// A [`Store`](crate::Store) and [`SeenSet`] in one redb file: the embedded, durable default.
///
/// - **Durable:** `append`, `ack` and `insert` return once their write transaction is
///   committed with `Durability::Immediate` (fsync'd). An append that returned `Ok`
///   survives a crash, a kill or a power cut; one that returned `Err` (or was
///   cancelled) may or may not have been kept, and appending it again is harmless.
/// - **Group commit:** one thread owns all writes. It takes every operation queued
///   while the previous commit was running and commits them together, so N concurrent
///   appends cost about one fsync, not N. [`stats`](RedbStore::stats) shows how many
///   commits it took. Acks ride in the appends' commits: while appends are coming
///   in, acks with nothing else to commit wait (2 ms at most) for the next one.
/// - **Order:** each new event gets the next log position; [`unacked`](crate::Store::unacked)
///   scans positions, so it is oldest first however the ids sort.
/// - **Raw bytes:** the log keeps [`Event::raw`] and parses it again on read; a record
///   that no longer parses is [`StoreError::Corrupt`]. An event's bytes are removed
///   when it is acked; its id stays, so appending it again is still a duplicate.
/// - **Claims** are this process's (one store per file), in memory: a claim held
///   (appended or claimed, not acked or released) lasts for as long as it is held,
///   so [`claim`](crate::Store::claim) never hands it out again meanwhile; a
///   released one is free at once, and after a restart every unacked event is.
/// - **Dead letters:** two tables of the same file (the letters by when they were
///   buried, and their ids). [`bury`](crate::Store::bury) takes the event out of
///   the log, marks it acked and keeps its letter, [`revive`](crate::Store::revive)
///   puts it back at the end of the log, unacked and held by nobody: each one write,
///   by the committer, in the group's transaction.
/// - **Checkpoints:** a table of the same file; a save is written by the
///   committer in the group's transaction, as durable as an append and costing no
///   more (it shares the group's fsync). A save that cannot be written (a full disk)
///   is an error, like an append.
/// - **Seen-set:** entries carry their expiry on disk (wall clock, from the injected
///   [`Clock`]), so they outlive a restart; the committer purges expired ones a few
///   hundred per commit.
///
/// Clones share the store. Writes go to the committer thread; reads run on tokio's
/// blocking pool within a tokio runtime, inline on any other executor. Prefer
/// [`close`](RedbStore::close) at shutdown; when the last handle is dropped instead,
/// the queued operations are still committed and the drop waits for that (one
/// commit, usually milliseconds) before releasing the file.
#[derive(Clone)]
pub struct RedbStore {
    shared: Arc<Shared>,
}

// Field order matters: fields drop in declaration order, so the queue's sender is
// gone (which ends the committer's loop) before `committer` joins its thread.
struct Shared {
    tx: mpsc::Sender<Op>,
    db: SharedDb,
    closed: AtomicBool,
    counters: Arc<Counters>,
    claims: SharedClaims,
    lease_ms: u64,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    // Held only for its Drop.
    _committer: CommitterThread,
}

/// Joins the committer when the store goes away, so that once the last handle is
/// dropped the file is closed and can be opened again.
struct CommitterThread(Mutex<Option<JoinHandle<()>>>);

impl Drop for CommitterThread {
    fn drop(&mut self) {
        let handle = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // A committer that panicked has nothing left to flush.
            let _ = handle.join();
        }
    }
}

impl RedbStore {
    /// Opens the store in the file at `path` with default options, creating it if it
    /// does not exist. See [`RedbStoreBuilder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        RedbStore::builder().open(path)
    }

    /// Options: the clock, the largest group.
    pub fn builder() -> RedbStoreBuilder {
        RedbStoreBuilder::default()
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Counters since the store was opened.
    pub fn stats(&self) -> RedbStats {
        self.shared.counters.snapshot()
    }

    /// True once [`close`](RedbStore::close) was called (on any clone), or the
    /// committer stopped: every operation then fails with [`StoreError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst) || self.shared.tx.is_closed()
    }

    /// Waits until every operation queued before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.submit(|reply| Op::Flush { reply }).await
    }

    /// Commits everything queued, then closes the file; every later operation, on any
    /// clone, fails with [`StoreError::Closed`]. When it returns the file can be
    /// opened again. Closing twice is `Ok`.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.shared.closed.store(true, Ordering::SeqCst);
        let (reply, answer) = oneshot::channel();
        let closed = match self.shared.tx.send(Op::Close { reply }).await {
            Ok(()) => answer.await.unwrap_or(Ok(())),
            // The committer is gone: an earlier close, or it stopped.
            Err(_) => Ok(()),
        };
        // Readers in flight finish first (they hold the read lock). Normally the
        // committer has closed the file already; this covers a committer that stopped.
        let db = std::mem::replace(
            &mut *self
                .shared
                .db
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            DbState::Closed,
        );
        if let DbState::Open(db) = db {
            db.close().map_err(|e| unavailable(redb::Error::from(e)))?;
        }
        closed
    }

    async fn submit<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, StoreError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let (reply, answer) = oneshot::channel();
        self.shared
            .tx
            .send(op(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        // A committer that vanished without answering has stopped: nothing more will
        // be written.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read under the read lock (so `close` waits for it): on tokio's blocking
    /// pool when called within a tokio runtime, else right here (any other executor
    /// works, the read just blocks it briefly).
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let db = self.shared.db.clone();
        let locked = move || {
            let guard = db.read().unwrap_or_else(PoisonError::into_inner);
            match &*guard {
                DbState::Open(db) => read(db),
                DbState::Broken => Err(StoreError::Unavailable(
                    "the store file is being reopened after an I/O error".into(),
                )),
                DbState::Closed => Err(StoreError::Closed),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(locked)
                .await
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?,
            Err(_) => locked(),
        }
    }
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.shared.path)
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .field("clock", &self.shared.clock)
            .finish()
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        if committer::lock(&self.shared.claims).holds(event.dedup_id()) {
            // Held by this process: answered from memory, nothing queued.
            return Ok(Appended::Known);
        }
        let (id, raw) = (event.dedup_id().to_owned(), event.raw().clone());
        self.submit(|reply| Op::Append { id, raw, reply }).await
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Decided by the committer, in order with the appends and acks.
        let records = self.submit(|reply| Op::Claim { limit, reply }).await?;
        tables::parse_records(records)
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.submit(|reply| Op::Ack { id, reply }).await
    }

    fn release(&self, id: &str) {
        committer::lock(&self.shared.claims).remove(id);
    }

    fn holds(&self, id: &str) -> bool {
        committer::lock(&self.shared.claims).holds(id)
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.read(move |db| tables::unacked(db, limit)).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.read(move |db| tables::logged(db, &id)).await
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.shared.lease_ms)
    }

    async fn bury(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let (id, at, letter) = (
            letter.id().to_owned(),
            unix_millis(letter.at),
            dead::encode(letter),
        );
        self.submit(|reply| Op::Bury {
            id,
            at,
            letter,
            reply,
        })
        .await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.read(move |db| tables::dead_letters(db, limit)).await
    }

    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.submit(|reply| Op::Revive { id, reply }).await
    }

    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.submit(|reply| Op::Discard { id, reply }).await
    }
}

#[async_trait]
impl Checkpoints for RedbStore {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        let key = key.to_owned();
        Ok(self.read(move |db| tables::checkpoint(db, &key)).await?)
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        Ok(self.submit(|reply| Op::Save { key, value, reply }).await?)
    }
}

#[async_trait]
impl SeenSet for RedbStore {
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.submit(|reply| Op::Insert { id, ttl, reply }).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        let now = unix_millis(self.shared.clock.now());
        self.read(move |db| tables::seen(db, &id, now)).await
    }
}
