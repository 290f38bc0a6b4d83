//! The group committer: one thread owns every write, so concurrent appends share a
//! transaction and its fsync.
//!
//! It blocks for the first queued operation, drains whatever else is queued (up to
//! `max_group`), applies them in queue order in one write transaction, commits once
//! (durably: redb's default `Durability::Immediate`) and only then answers each
//! waiter. While it commits, new operations queue up and form the next group, so the
//! busier the store, the larger the groups.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Clock, expiry, unix_millis};
use crate::redb_store::error::{CommitFailed, unavailable};
use crate::redb_store::tables::{
    ACKED, EVENT_IDS, EVENTS, META, NEXT_SEQ_KEY, SEEN, SEEN_BY_EXPIRY, UNACKED,
};
use crate::{RedbStats, StoreError};

/// Expired seen entries removed per commit at most, so a backlog of expiries never
/// makes one group's commit slow.
const PURGE_PER_COMMIT: usize = 256;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One request to the committer.
#[derive(Debug)]
pub(crate) enum Op {
    /// The id and raw bytes of an event: all the log keeps.
    Append {
        id: String,
        raw: Bytes,
        reply: Reply<bool>,
    },
    Ack {
        id: String,
        reply: Reply<()>,
    },
    Insert {
        id: String,
        ttl: Duration,
        reply: Reply<bool>,
    },
    /// Answered once everything queued before it is committed.
    Flush {
        reply: Reply<()>,
    },
    /// Commits everything queued before it, refuses what comes after, closes the file.
    Close {
        reply: Reply<()>,
    },
}

/// Counters the committer keeps; read through `RedbStore::stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    ops: AtomicU64,
    appended: AtomicU64,
    purged: AtomicU64,
    forgotten: AtomicU64,
    largest_group: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RedbStats {
        RedbStats {
            commits: self.commits.load(Ordering::Relaxed),
            operations: self.ops.load(Ordering::Relaxed),
            appended: self.appended.load(Ordering::Relaxed),
            seen_purged: self.purged.load(Ordering::Relaxed),
            ids_forgotten: self.forgotten.load(Ordering::Relaxed),
            largest_group: self.largest_group.load(Ordering::Relaxed),
        }
    }
}

/// The file handle shared by the committer and readers; `None` once closed.
pub(crate) type SharedDb = Arc<RwLock<Option<Database>>>;

pub(crate) struct Committer {
    pub(crate) rx: mpsc::Receiver<Op>,
    pub(crate) db: SharedDb,
    pub(crate) next_seq: u64,
    pub(crate) max_group: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) counters: Arc<Counters>,
    /// How long (ms) an acked id is remembered; `None`: forever.
    pub(crate) forget_acked_after: Option<u64>,
}

impl Committer {
    /// Runs until the store is closed or every handle to it is dropped. Either way
    /// everything already queued is committed first, then the file is closed.
    pub(crate) fn run(mut self) {
        let mut closers = Vec::new();
        let mut group = Vec::with_capacity(self.max_group);
        while let Some(first) = self.rx.blocking_recv() {
            group.push(first);
            while group.len() < self.max_group {
                match self.rx.try_recv() {
                    Ok(op) => group.push(op),
                    Err(_) => break,
                }
            }
            let close_at = group.iter().position(|op| matches!(op, Op::Close { .. }));
            let after_close = close_at.map(|at| group.split_off(at));
            self.commit(std::mem::take(&mut group));
            if let Some(rest) = after_close {
                // Refuse new sends, then everything that slipped in before that.
                self.rx.close();
                let mut rest = rest;
                while let Ok(op) = self.rx.try_recv() {
                    rest.push(op);
                }
                for op in rest {
                    match op {
                        Op::Close { reply } => closers.push(reply),
                        other => refuse(other),
                    }
                }
                break;
            }
        }
        // Closing waits for readers in flight (they hold the read lock).
        let db = self
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let closed = match db {
            Some(db) => db.close().map_err(|e| unavailable(redb::Error::from(e))),
            None => Ok(()),
        };
        for reply in closers {
            let _ = reply.send(match &closed {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.to_string().into())),
            });
        }
    }

    /// Applies `group` in one transaction and answers every operation in it.
    fn commit(&mut self, group: Vec<Op>) {
        let writes = group
            .iter()
            .filter(|op| !matches!(op, Op::Flush { .. } | Op::Close { .. }))
            .count();
        if writes == 0 {
            // Barriers alone: everything before them is committed already.
            for op in group {
                answer(op, Ok(true));
            }
            return;
        }
        let first_seq = self.next_seq;
        let shared = self.db.clone();
        let guard = shared.read().unwrap_or_else(PoisonError::into_inner);
        let result = match guard.as_ref() {
            None => Err(None),
            Some(db) => self.write(db, &group).map_err(Some),
        };
        drop(guard);
        match result {
            Ok(outcomes) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .ops
                    .fetch_add(writes as u64, Ordering::Relaxed);
                self.counters
                    .largest_group
                    .fetch_max(writes as u64, Ordering::Relaxed);
                self.counters
                    .appended
                    .fetch_add(self.next_seq - first_seq, Ordering::Relaxed);
                for (op, outcome) in group.into_iter().zip(outcomes) {
                    answer(op, Ok(outcome));
                }
            }
            Err(err) => {
                // Nothing of the group was kept: positions are handed out again.
                self.next_seq = first_seq;
                let err = err.map(|e| CommitFailed(Arc::new(e)));
                for op in group {
                    let e = match &err {
                        Some(e) => StoreError::Unavailable(Box::new(e.clone())),
                        None => StoreError::Closed,
                    };
                    answer(op, Err(e));
                }
            }
        }
    }

    /// Returns, for each operation, whether it changed something (an append or an
    /// insert that was new); acks and barriers answer `()` whatever it says.
    fn write(&mut self, db: &Database, group: &[Op]) -> Result<Vec<bool>, redb::Error> {
        let now = unix_millis(self.clock.now());
        let txn = db.begin_write()?;
        let first_seq = self.next_seq;
        let outcomes = self.apply(&txn, group, now)?;
        if self.next_seq != first_seq {
            txn.open_table(META)?.insert(NEXT_SEQ_KEY, self.next_seq)?;
        }
        txn.commit()?;
        Ok(outcomes)
    }

    fn apply(
        &mut self,
        txn: &WriteTransaction,
        group: &[Op],
        now: u64,
    ) -> Result<Vec<bool>, redb::Error> {
        let mut events = txn.open_table(EVENTS)?;
        let mut ids = txn.open_table(EVENT_IDS)?;
        let mut unacked = txn.open_table(UNACKED)?;
        let mut seen = txn.open_table(SEEN)?;
        let mut by_expiry = txn.open_table(SEEN_BY_EXPIRY)?;
        let mut acked = txn.open_table(ACKED)?;

        // Purge first, so an id that has just expired is new again below.
        let expired: Vec<(u64, String)> = by_expiry
            .range(..(now.saturating_add(1), ""))?
            .take(PURGE_PER_COMMIT)
            .map(|entry| entry.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
            .collect::<Result<_, _>>()?;
        for (expires, id) in &expired {
            by_expiry.remove((*expires, id.as_str()))?;
            let current = seen.get(id.as_str())?.map(|v| v.value());
            if current == Some(*expires) {
                seen.remove(id.as_str())?;
            }
        }
        self.counters
            .purged
            .fetch_add(expired.len() as u64, Ordering::Relaxed);

        // Likewise ids acked long enough ago, when a retention is set.
        if let Some(retain) = self.forget_acked_after {
            let cutoff = now.saturating_sub(retain);
            let old: Vec<(u64, u64, String)> = acked
                .range(..(cutoff.saturating_add(1), 0))?
                .take(PURGE_PER_COMMIT)
                .map(|entry| entry.map(|(k, v)| (k.value().0, k.value().1, v.value().to_owned())))
                .collect::<Result<_, _>>()?;
            for (at, seq, id) in &old {
                acked.remove((*at, *seq))?;
                if ids.get(id.as_str())?.map(|v| v.value()) == Some(*seq) {
                    ids.remove(id.as_str())?;
                }
            }
            self.counters
                .forgotten
                .fetch_add(old.len() as u64, Ordering::Relaxed);
        }

        let mut outcomes = Vec::with_capacity(group.len());
        for op in group {
            let outcome = match op {
                Op::Append { id, raw, .. } => {
                    if ids.get(id.as_str())?.is_some() {
                        false
                    } else {
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        events.insert(seq, raw.as_ref())?;
                        ids.insert(id.as_str(), seq)?;
                        unacked.insert(seq, ())?;
                        true
                    }
                }
                Op::Ack { id, .. } => {
                    let seq = ids.get(id.as_str())?.map(|v| v.value());
                    if let Some(seq) = seq {
                        // Nothing reads an acked body again; the id stays, for
                        // idempotence, forever or for the retention.
                        let first_ack = unacked.remove(seq)?.is_some();
                        events.remove(seq)?;
                        if first_ack && self.forget_acked_after.is_some() {
                            acked.insert((now, seq), id.as_str())?;
                        }
                    }
                    true
                }
                Op::Insert { id, ttl, .. } => {
                    let current = seen.get(id.as_str())?.map(|v| v.value());
                    match current {
                        // Expired entries beyond this commit's purge budget are
                        // still on file: they count as absent.
                        Some(expires) if expires > now => false,
                        _ => {
                            if let Some(old) = current {
                                by_expiry.remove((old, id.as_str()))?;
                                seen.remove(id.as_str())?;
                            }
                            let expires = expiry(now, *ttl);
                            if expires > now {
                                seen.insert(id.as_str(), expires)?;
                                by_expiry.insert((expires, id.as_str()), ())?;
                            }
                            true
                        }
                    }
                }
                Op::Flush { .. } | Op::Close { .. } => true,
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

fn answer(op: Op, outcome: Result<bool, StoreError>) {
    // A waiter that went away (its future was dropped) needs no answer.
    match op {
        Op::Append { reply, .. } | Op::Insert { reply, .. } => {
            let _ = reply.send(outcome);
        }
        Op::Ack { reply, .. } | Op::Flush { reply } | Op::Close { reply } => {
            let _ = reply.send(outcome.map(drop));
        }
    }
}

fn refuse(op: Op) {
    answer(op, Err(StoreError::Closed));
}
