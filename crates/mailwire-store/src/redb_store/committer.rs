//! The group committer: one thread owns every write, so concurrent appends share a
//! transaction and its fsync.
//!
//! It blocks for the first queued operation, drains whatever else is queued (up to
//! `max_group`), applies them in queue order in one write transaction, commits once
//! (durably: redb's default `Durability::Immediate`) and only then answers each
//! waiter. While it commits, new operations queue up and form the next group, so the
//! busier the store, the larger the groups. A group that changes nothing (only
//! duplicates, acks of acked ids, claims) is aborted instead: no fsync. A group of
//! acks alone, while appends are coming in, waits up to `ACK_DELAY` for the next
//! append and shares its commit: under load, appends and acks are settled in the
//! same transactions, one fsync for both.
//!
//! Claims live in memory (they belong to this process): the committer decides them
//! in queue order with the log, so an append, a claim and an ack of one id never
//! race. After an I/O error (a full disk) the file is reopened before the next
//! group, so the store heals once the cause is gone.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::clock::{Clock, expiry, unix_millis};
use crate::redb_store::dead_letters::{Buried, DeadLetters, Log, Revived};
use crate::redb_store::error::{CommitFailed, unavailable};
use crate::redb_store::tables::{
    self, ACKED, CHECKPOINTS, EVENT_IDS, EVENTS, META, NEXT_SEQ_KEY, SEEN, SEEN_BY_EXPIRY, UNACKED,
};
use crate::{Appended, RedbStats, StoreError};

/// Expired seen entries removed per commit at most, so a backlog of expiries never
/// makes one group's commit slow.
const PURGE_PER_COMMIT: usize = 256;

/// How long acks with nothing else to commit wait for the next write, when writes
/// are coming in (one was committed within this time). An ack is pipelined by its
/// caller, not waited on before the next event, so it loses nothing by riding in the
/// next group's commit; an append is what a sender waits on, and it no longer
/// queues behind an fsync made for acks alone. When no write is coming in, acks
/// commit at once.
const ACK_DELAY: std::time::Duration = std::time::Duration::from_millis(2);

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One request to the committer.
#[derive(Debug)]
pub(crate) enum Op {
    /// The id and raw bytes of an event: all the log keeps.
    Append {
        id: String,
        raw: Bytes,
        reply: Reply<Appended>,
    },
    /// Up to `limit` unacked events whose claim is free, claimed.
    Claim {
        limit: usize,
        reply: Reply<Vec<(u64, Bytes)>>,
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
    /// A dead letter (its bytes, buried at `at` Unix ms), set aside and its event
    /// acked, in the group's transaction.
    Bury {
        id: String,
        at: u64,
        letter: Vec<u8>,
        reply: Reply<()>,
    },
    /// A dead letter back into the log, unacked and held by nobody; `false` when
    /// there is none.
    Revive {
        id: String,
        reply: Reply<bool>,
    },
    /// A dead letter deleted, its id left acked; `false` when there is none.
    Discard {
        id: String,
        reply: Reply<bool>,
    },
    /// A checkpoint, written in the group's transaction like an append.
    Save {
        key: String,
        value: String,
        reply: Reply<()>,
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

/// What one operation of a group came to.
enum Outcome {
    Appended(Appended),
    Claimed(Vec<(u64, Bytes)>),
    Inserted(bool),
    /// A revive or a discard: whether the dead letter was there.
    Found(bool),
    /// This operation alone failed (a dead letter that does not parse): nothing of
    /// it was written.
    Failed(StoreError),
    Done,
}

/// Counters the committer keeps; read through `RedbStore::stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    ops: AtomicU64,
    appended: AtomicU64,
    acked: AtomicU64,
    unwritten: AtomicU64,
    purged: AtomicU64,
    forgotten: AtomicU64,
    largest_group: AtomicU64,
    reopened: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RedbStats {
        RedbStats {
            commits: self.commits.load(Ordering::Relaxed),
            operations: self.ops.load(Ordering::Relaxed),
            appended: self.appended.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            unwritten: self.unwritten.load(Ordering::Relaxed),
            seen_purged: self.purged.load(Ordering::Relaxed),
            ids_forgotten: self.forgotten.load(Ordering::Relaxed),
            largest_group: self.largest_group.load(Ordering::Relaxed),
            reopened: self.reopened.load(Ordering::Relaxed),
        }
    }
}

/// The file as readers see it.
pub(crate) enum DbState {
    Open(Database),
    /// An I/O error broke the handle; the committer reopens it before its next group.
    Broken,
    Closed,
}

/// The file handle shared by the committer and readers.
pub(crate) type SharedDb = Arc<RwLock<DbState>>;

/// The claims this process holds (until acked or released: a held claim does not
/// lapse).
#[derive(Debug, Default)]
pub(crate) struct Claims {
    held: HashSet<String>,
}

pub(crate) type SharedClaims = Arc<Mutex<Claims>>;

pub(crate) fn lock(claims: &SharedClaims) -> MutexGuard<'_, Claims> {
    // Each update is one map operation: a panic cannot leave it half done.
    claims.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Claims {
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.held.contains(id)
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.held.remove(id);
    }

    fn hold(&mut self, id: String) {
        self.held.insert(id);
    }

    /// Records a committed revive: held here no more.
    fn free(&mut self, id: &str) {
        self.held.remove(id);
    }

    /// Records a committed ack: the claim ends.
    fn settle(&mut self, id: String) {
        self.held.remove(&id);
    }
}

pub(crate) struct Committer {
    pub(crate) rx: mpsc::Receiver<Op>,
    pub(crate) db: SharedDb,
    pub(crate) path: PathBuf,
    pub(crate) check_integrity: bool,
    pub(crate) next_seq: u64,
    pub(crate) max_group: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) claims: SharedClaims,
    /// How long (ms) an acked id is remembered; `None`: forever.
    pub(crate) forget_acked_after: Option<u64>,
}

/// Claims to take once the group they were decided in is committed (or aborted
/// without error).
#[derive(Default)]
struct Pending {
    /// In the order decided.
    changes: Vec<(String, Change)>,
    /// Log positions handed out for anything but a new event (a buried id, a
    /// revived letter): not counted as appended.
    repositioned: u64,
}

/// What a committed operation did to an id's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Held here (appended or claimed).
    Hold,
    /// Acked (or buried): the claim ended, the ack remembered.
    Settle,
    /// Revived: back in the log, held by nobody.
    Free,
}

/// Decides whether a group of acks waits for the next write to share its commit:
/// only while writes are coming in (see [`ACK_DELAY`]).
#[derive(Debug, Default)]
struct Pace {
    /// When the last group with anything but acks was committed.
    last_write: Option<std::time::Instant>,
}

impl Pace {
    /// How long the group may still wait, if at all.
    fn wait(&self, group: &[Op]) -> Option<std::time::Duration> {
        let acks_only = group.iter().all(|op| matches!(op, Op::Ack { .. }));
        let writing = self.last_write.is_some_and(|at| at.elapsed() < ACK_DELAY);
        (acks_only && writing).then_some(ACK_DELAY)
    }

    fn committing(&mut self, group: &[Op]) {
        if group.iter().any(|op| !matches!(op, Op::Ack { .. })) {
            self.last_write = Some(std::time::Instant::now());
        }
    }
}

impl Committer {
    /// Runs until the store is closed or every handle to it is dropped. Either way
    /// everything already queued is committed first, then the file is closed.
    pub(crate) fn run(mut self) {
        let mut closers = Vec::new();
        let mut group = Vec::with_capacity(self.max_group);
        // Times the waits of `Pace`; without it (a runtime could not be built) every
        // group commits at once.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
        let mut pace = Pace::default();
        // When the group stops waiting for company.
        let mut until: Option<tokio::time::Instant> = None;
        loop {
            let next = match (until, &timer) {
                (Some(at), Some(timer)) => {
                    // The timeout is made inside the runtime: a timer needs its context.
                    let next =
                        timer.block_on(async { tokio::time::timeout_at(at, self.rx.recv()).await });
                    match next {
                        Ok(next) => next,
                        Err(_elapsed) => {
                            until = None;
                            let group = std::mem::take(&mut group);
                            pace.committing(&group);
                            self.commit(group);
                            continue;
                        }
                    }
                }
                _ => self.rx.blocking_recv(),
            };
            let Some(first) = next else {
                // Every handle is gone: what is queued is still committed.
                if !group.is_empty() {
                    self.commit(std::mem::take(&mut group));
                }
                break;
            };
            group.push(first);
            while group.len() < self.max_group {
                match self.rx.try_recv() {
                    Ok(op) => group.push(op),
                    Err(_) => break,
                }
            }
            if timer.is_some()
                && group.len() < self.max_group
                && let Some(wait) = pace.wait(&group)
            {
                until.get_or_insert_with(|| tokio::time::Instant::now() + wait);
                continue;
            }
            until = None;
            pace.committing(&group);
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
        let db = std::mem::replace(
            &mut *self.db.write().unwrap_or_else(PoisonError::into_inner),
            DbState::Closed,
        );
        let closed = match db {
            DbState::Open(db) => db.close().map_err(|e| unavailable(redb::Error::from(e))),
            DbState::Broken | DbState::Closed => Ok(()),
        };
        for reply in closers {
            let _ = reply.send(match &closed {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.to_string().into())),
            });
        }
    }

    /// Reopens the file after an I/O error broke the handle. redb repairs a file
    /// whose last commit did not complete; every completed commit is there.
    fn heal(&mut self) -> Result<(), StoreError> {
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*guard, DbState::Broken) {
            return Ok(());
        }
        let db = Database::builder()
            .set_check_integrity_on_open(self.check_integrity)
            .create(&self.path)
            .map_err(unavailable)?;
        self.next_seq = tables::prepare(&db)?;
        *guard = DbState::Open(db);
        self.counters.reopened.fetch_add(1, Ordering::Relaxed);
        tracing::info!(path = %self.path.display(), "store file reopened after an I/O error");
        Ok(())
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
                answer(op, Ok(Outcome::Done));
            }
            return;
        }
        if let Err(e) = self.heal() {
            let e = CommitFailed(Arc::new(e));
            for op in group {
                answer(op, Err(StoreError::Unavailable(Box::new(e.clone()))));
            }
            return;
        }
        let first_seq = self.next_seq;
        let shared = self.db.clone();
        let guard = shared.read().unwrap_or_else(PoisonError::into_inner);
        let mut pending = Pending::default();
        let result = match &*guard {
            DbState::Open(db) => self.write(db, &group, &mut pending).map_err(Some),
            DbState::Broken | DbState::Closed => Err(None),
        };
        drop(guard);
        match result {
            Ok((outcomes, committed)) => {
                if committed {
                    self.counters.commits.fetch_add(1, Ordering::Relaxed);
                }
                self.counters
                    .ops
                    .fetch_add(writes as u64, Ordering::Relaxed);
                self.counters
                    .largest_group
                    .fetch_max(writes as u64, Ordering::Relaxed);
                self.counters.appended.fetch_add(
                    (self.next_seq - first_seq).saturating_sub(pending.repositioned),
                    Ordering::Relaxed,
                );
                {
                    let mut claims = lock(&self.claims);
                    for (id, change) in pending.changes {
                        match change {
                            Change::Hold => claims.hold(id),
                            Change::Settle => claims.settle(id),
                            Change::Free => claims.free(&id),
                        }
                    }
                }
                for (op, outcome) in group.into_iter().zip(outcomes) {
                    answer(op, Ok(outcome));
                }
            }
            Err(err) => {
                // Nothing of the group was kept: positions are handed out again.
                self.next_seq = first_seq;
                if let Some(e) = &err
                    && matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
                {
                    tracing::warn!(error = %e, "store I/O error: reopening the file before the next write");
                    *self.db.write().unwrap_or_else(PoisonError::into_inner) = DbState::Broken;
                }
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

    /// The outcome of each operation, and whether anything was committed.
    fn write(
        &mut self,
        db: &Database,
        group: &[Op],
        pending: &mut Pending,
    ) -> Result<(Vec<Outcome>, bool), redb::Error> {
        let now = unix_millis(self.clock.now());
        let txn = db.begin_write()?;
        let first_seq = self.next_seq;
        let (outcomes, changed) = self.apply(&txn, group, now, pending)?;
        if self.next_seq != first_seq {
            txn.open_table(META)?.insert(NEXT_SEQ_KEY, self.next_seq)?;
        }
        if changed {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok((outcomes, changed))
    }

    fn apply(
        &mut self,
        txn: &WriteTransaction,
        group: &[Op],
        now: u64,
        pending: &mut Pending,
    ) -> Result<(Vec<Outcome>, bool), redb::Error> {
        let mut events = txn.open_table(EVENTS)?;
        let mut ids = txn.open_table(EVENT_IDS)?;
        let mut unacked = txn.open_table(UNACKED)?;
        let mut seen = txn.open_table(SEEN)?;
        let mut by_expiry = txn.open_table(SEEN_BY_EXPIRY)?;
        let mut acked = txn.open_table(ACKED)?;
        let mut checkpoints = txn.open_table(CHECKPOINTS)?;
        let mut dead = DeadLetters::open(txn)?;
        let mut changed = false;

        // Purge first, so an id that has just expired is new again below. Only when
        // the group writes anyway: a purge alone is not worth an fsync.
        let writes = group.iter().any(|op| {
            matches!(
                op,
                Op::Insert { .. }
                    | Op::Save { .. }
                    | Op::Ack { .. }
                    | Op::Bury { .. }
                    | Op::Revive { .. }
                    | Op::Discard { .. }
            ) || matches!(op, Op::Append { id, .. } if !lock(&self.claims).holds(id))
        });
        if writes {
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
            changed |= !expired.is_empty();
            self.counters
                .purged
                .fetch_add(expired.len() as u64, Ordering::Relaxed);
        }

        // Likewise ids acked long enough ago, when a retention is set.
        if let Some(retain) = self.forget_acked_after
            && writes
        {
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
            changed |= !old.is_empty();
            self.counters
                .forgotten
                .fetch_add(old.len() as u64, Ordering::Relaxed);
        }

        // Claims decided earlier in this group, not yet in the shared map.
        let mut held_here: HashMap<String, bool> = HashMap::new();
        let claims = self.claims.clone();
        let is_held = |held_here: &HashMap<String, bool>, id: &str| {
            held_here
                .get(id)
                .copied()
                .unwrap_or_else(|| lock(&claims).holds(id))
        };
        // The log's tables, lent to one dead letter operation.
        macro_rules! log {
            () => {
                Log {
                    events: &mut events,
                    ids: &mut ids,
                    unacked: &mut unacked,
                    acked: &mut acked,
                    next_seq: &mut self.next_seq,
                }
            };
        }
        let mut outcomes = Vec::with_capacity(group.len());
        for op in group {
            let outcome = match op {
                Op::Append { id, raw, .. } => {
                    let logged = ids.get(id.as_str())?.map(|v| v.value());
                    let appended = match logged {
                        None => {
                            let seq = self.next_seq;
                            self.next_seq += 1;
                            events.insert(seq, raw.as_ref())?;
                            ids.insert(id.as_str(), seq)?;
                            unacked.insert(seq, ())?;
                            changed = true;
                            Appended::New
                        }
                        Some(seq) if unacked.get(seq)?.is_none() => Appended::Known,
                        Some(_) if is_held(&held_here, id) => Appended::Known,
                        Some(_) => Appended::Claimed,
                    };
                    if appended.is_claimed() {
                        held_here.insert(id.clone(), true);
                        pending.changes.push((id.clone(), Change::Hold));
                    } else {
                        self.counters.unwritten.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Appended(appended)
                }
                Op::Claim { limit, .. } => {
                    let mut free = Vec::new();
                    for entry in unacked.iter()? {
                        if free.len() >= *limit {
                            break;
                        }
                        let seq = entry?.0.value();
                        let Some(raw) = events.get(seq)? else {
                            continue;
                        };
                        let raw = Bytes::copy_from_slice(raw.value());
                        let Some(id) = tables::id_of(&raw) else {
                            // Not an event: `unacked` reports it as corrupt.
                            continue;
                        };
                        if is_held(&held_here, &id) {
                            continue;
                        }
                        held_here.insert(id.clone(), true);
                        pending.changes.push((id, Change::Hold));
                        free.push((seq, raw));
                    }
                    Outcome::Claimed(free)
                }
                Op::Ack { id, .. } => {
                    let seq = ids.get(id.as_str())?.map(|v| v.value());
                    if let Some(seq) = seq
                        && unacked.remove(seq)?.is_some()
                    {
                        // Nothing reads an acked body again; the id stays, for
                        // idempotence, forever or for the retention.
                        events.remove(seq)?;
                        if self.forget_acked_after.is_some() {
                            acked.insert((now, seq), id.as_str())?;
                        }
                        changed = true;
                        self.counters.acked.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.counters.unwritten.fetch_add(1, Ordering::Relaxed);
                    }
                    held_here.insert(id.clone(), false);
                    pending.changes.push((id.clone(), Change::Settle));
                    Outcome::Done
                }
                Op::Bury { id, at, letter, .. } => {
                    match dead.bury(log!(), id, *at, letter)? {
                        Buried::Acked => {
                            self.counters.acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Buried::Repositioned => pending.repositioned += 1,
                    }
                    changed = true;
                    held_here.insert(id.clone(), false);
                    pending.changes.push((id.clone(), Change::Settle));
                    Outcome::Done
                }
                Op::Revive { id, .. } => match dead.revive(log!(), id)? {
                    Revived::Missing => Outcome::Found(false),
                    Revived::Corrupt(e) => Outcome::Failed(e),
                    Revived::Logged => {
                        changed = true;
                        Outcome::Found(true)
                    }
                    Revived::Requeued => {
                        changed = true;
                        pending.repositioned += 1;
                        held_here.insert(id.clone(), false);
                        pending.changes.push((id.clone(), Change::Free));
                        Outcome::Found(true)
                    }
                },
                Op::Discard { id, .. } => {
                    let retention = self.forget_acked_after.is_some();
                    let found = dead.discard(log!(), id, now, retention)?;
                    changed |= found;
                    Outcome::Found(found)
                }
                Op::Insert { id, ttl, .. } => {
                    let current = seen.get(id.as_str())?.map(|v| v.value());
                    let inserted = match current {
                        // Expired entries beyond this commit's purge budget are
                        // still on file: they count as absent.
                        Some(expires) if expires > now => false,
                        _ => {
                            if let Some(old) = current {
                                by_expiry.remove((old, id.as_str()))?;
                                seen.remove(id.as_str())?;
                                changed = true;
                            }
                            let expires = expiry(now, *ttl);
                            if expires > now {
                                seen.insert(id.as_str(), expires)?;
                                by_expiry.insert((expires, id.as_str()), ())?;
                                changed = true;
                            }
                            true
                        }
                    };
                    Outcome::Inserted(inserted)
                }
                Op::Save { key, value, .. } => {
                    // The same value again (a checkpoint saved at every ack that did
                    // not move) costs no fsync.
                    let same = checkpoints
                        .get(key.as_str())?
                        .is_some_and(|v| v.value() == value.as_str());
                    if !same {
                        checkpoints.insert(key.as_str(), value.as_str())?;
                        changed = true;
                    }
                    Outcome::Done
                }
                Op::Flush { .. } | Op::Close { .. } => Outcome::Done,
            };
            outcomes.push(outcome);
        }
        Ok((outcomes, changed))
    }
}

fn answer(op: Op, outcome: Result<Outcome, StoreError>) {
    // A waiter that went away (its future was dropped) needs no answer. Each
    // operation gets the outcome of its own kind; a mismatch cannot happen (the
    // outcome is made from the op), and would answer as done.
    match op {
        Op::Append { reply, .. } => {
            let _ = reply.send(outcome.map(|o| match o {
                Outcome::Appended(a) => a,
                _ => Appended::Known,
            }));
        }
        Op::Claim { reply, .. } => {
            let _ = reply.send(outcome.map(|o| match o {
                Outcome::Claimed(free) => free,
                _ => Vec::new(),
            }));
        }
        Op::Insert { reply, .. } => {
            let _ = reply.send(outcome.map(|o| matches!(o, Outcome::Inserted(true))));
        }
        Op::Revive { reply, .. } | Op::Discard { reply, .. } => {
            let _ = reply.send(outcome.and_then(|o| match o {
                Outcome::Failed(e) => Err(e),
                o => Ok(matches!(o, Outcome::Found(true))),
            }));
        }
        Op::Bury { reply, .. } => {
            let _ = reply.send(outcome.and_then(|o| match o {
                Outcome::Failed(e) => Err(e),
                _ => Ok(()),
            }));
        }
        Op::Ack { reply, .. }
        | Op::Save { reply, .. }
        | Op::Flush { reply }
        | Op::Close { reply } => {
            let _ = reply.send(outcome.map(drop));
        }
    }
}

fn refuse(op: Op) {
    answer(op, Err(StoreError::Closed));
}
