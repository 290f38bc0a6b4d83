//! Options for opening a [`RedbStore`], and the open itself.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redb::{Database, DatabaseError, StorageError};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::memory::DEFAULT_LEASE_MS;
use crate::redb_store::committer::{Committer, Counters, DbState, SharedClaims, SharedDb};
use crate::redb_store::error::{AlreadyOpen, unavailable};
use crate::redb_store::{CommitterThread, QUEUE, RedbStore, Shared, tables};
use crate::{StoreError, SystemClock};

/// Options for opening a [`RedbStore`]; from [`RedbStore::builder`].
#[derive(Debug)]
pub struct RedbStoreBuilder {
    clock: Arc<dyn Clock>,
    max_group: usize,
    forget_acked_after: Option<Duration>,
    check_integrity: bool,
    lease_ms: u64,
}

impl RedbStoreBuilder {
    /// The clock seen-set expiry is measured with (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> RedbStoreBuilder {
        self.clock = Arc::new(clock);
        self
    }

    /// The most operations one transaction may carry (default 1024; at least 1).
    /// `1` turns group commit off: one transaction, and one fsync, per operation.
    pub fn max_group(mut self, max: usize) -> RedbStoreBuilder {
        self.max_group = max.max(1);
        self
    }

    /// Forgets an acked event's id once `retention` has passed since its ack (default:
    /// never). Appending that id again is then new. The log otherwise keeps every id
    /// it ever saw (about 100 bytes each on disk) to stay idempotent; with a retention
    /// it holds only the unacked events and the ids acked within it. Choose it longer
    /// than your sources redeliver: Standard Webhooks senders retry for about 28
    /// hours. Ids acked while no retention was set are kept forever.
    pub fn forget_acked_after(mut self, retention: Duration) -> RedbStoreBuilder {
        self.forget_acked_after = Some(retention);
        self
    }

    /// The lease [`lease`](crate::Store::lease) reports (default 15 s; at least
    /// 1 ms). Claims are this process's (one store per file): a claim held by this
    /// store lasts until acked or released, and after a restart every unacked event
    /// is free.
    pub fn lease(mut self, lease: Duration) -> RedbStoreBuilder {
        self.lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        self
    }

    /// Whether to verify the whole file (every page's checksum) when opening it
    /// (default: yes). A file damaged outside the store then fails to open with
    /// [`StoreError::Corrupt`] instead of being trusted; the cost is one read of the
    /// file, small for a log that keeps only unacked events. Turn it off only for
    /// large files whose integrity is guaranteed otherwise.
    pub fn check_integrity_on_open(mut self, check: bool) -> RedbStoreBuilder {
        self.check_integrity = check;
        self
    }

    /// Opens the store in the file at `path`, creating it if it does not exist.
    ///
    /// Fails with [`StoreError::Unavailable`] when the file is already open (by this
    /// process or another: one store per file) or cannot be read or created, and with
    /// [`StoreError::Corrupt`] when it is damaged or not a store this version can read.
    /// A file left by a crash is recovered: every commit that completed is there.
    pub fn open(self, path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::builder()
            .set_check_integrity_on_open(self.check_integrity)
            .create(&path);
        let db = match db {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::Unavailable(Box::new(AlreadyOpen(path))));
            }
            Err(DatabaseError::Storage(StorageError::Corrupted(why))) => {
                return Err(StoreError::Corrupt(format!("{}: {why}", path.display())));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let next_seq = tables::prepare(&db)?;
        let db: SharedDb = Arc::new(RwLock::new(DbState::Open(db)));
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let claims = SharedClaims::default();
        let committer = Committer {
            rx,
            db: db.clone(),
            path: path.clone(),
            check_integrity: self.check_integrity,
            claims: claims.clone(),
            next_seq,
            max_group: self.max_group,
            clock: self.clock.clone(),
            counters: counters.clone(),
            forget_acked_after: self
                .forget_acked_after
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        let handle = std::thread::Builder::new()
            .name("mailwire-store-commit".into())
            .spawn(move || committer.run())
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(RedbStore {
            shared: Arc::new(Shared {
                tx,
                db,
                closed: AtomicBool::new(false),
                counters,
                claims,
                lease_ms: self.lease_ms,
                clock: self.clock,
                path,
                _committer: CommitterThread(Mutex::new(Some(handle))),
            }),
        })
    }
}

impl Default for RedbStoreBuilder {
    fn default() -> RedbStoreBuilder {
        RedbStoreBuilder {
            clock: Arc::new(SystemClock),
            max_group: 1024,
            forget_acked_after: None,
            check_integrity: true,
            lease_ms: DEFAULT_LEASE_MS,
        }
    }
}
