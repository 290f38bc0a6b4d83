//! The Redis store: one log shared by several agent instances.

mod builder;
mod error;
mod keys;
mod naming;
mod renewal;
mod reply;
mod scripts;

pub use builder::RedisStoreBuilder;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use mailwire_proto::Event;
use redis::Value;
use redis::aio::ConnectionManager;

use crate::clock::{Clock, expiry, unix_millis};
use crate::{Appended, Checkpoints, DeadLetter, SeenSet, Store, StoreError, dead};
use error::{from_redis, unexpected};
use keys::Keys;
use mailwire_source::BoxError;
use naming::Slot;
use renewal::Held;
use reply::{Entry, EntryId};

/// The most entries asked of Redis in one command; `unacked` pages past it.
const PAGE: usize = 512;

/// Longer times to live are cut to this (about 100 years): Redis refuses an expiry
/// that overflows its clock.
pub(crate) const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// `d` in milliseconds, capped at [`MAX_TTL_MS`].
pub(crate) fn capped_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(MAX_TTL_MS)
}

/// A [`Store`] and [`SeenSet`] in Redis: the store for several agent instances
/// (processes, machines) sharing one log, each event delivered by one of them.
///
/// - **The log is a Redis Stream; claims are its consumer group's pending list.**
///   Each instance is a consumer of one group. [`append`](Store::append) is one
///   script: an unknown id is added to the stream, its id key set, and the entry
///   put in this consumer's pending list at once (`XCLAIM ... FORCE`), so of
///   several instances appending one event exactly one gets [`Appended::New`] and
///   the others [`Appended::Known`]. An entry idle for longer than the
///   [lease](RedisStoreBuilder::lease) is taken over by the next append or
///   [`claim`](Store::claim) of any instance ([`Appended::Claimed`]). Leases are
///   measured by the Redis server's clock, so instances need not agree on the time.
/// - **Held claims are renewed.** A task started by
///   [`connect`](RedisStoreBuilder::connect) resets, about every third of the lease,
///   the idle time of every entry this store value holds (appended or claimed, not
///   yet acked or released), in one script per 256 entries that checks each is
///   still this consumer's before touching it (`XPENDING`, then `XCLAIM ... JUSTID`).
///   So an event waiting in memory or in a slow handler is not taken over, however
///   long it waits; what is not renewed (the instance crashed or was stopped, the
///   delivery was released) is taken over after the lease. An entry found with
///   another consumer, or acked by it, is marked lost: [`holds`](Store::holds)
///   turns false. One whose id Redis no longer knows (restarted without its data)
///   stays held: nobody else can deliver it. The task ends when the store is closed
///   or its last clone dropped.
/// - **Redis unreachable.** A renewal round that fails is logged and retried at the
///   next one. If Redis stays unreachable for longer than a lease, the idle time of
///   the entries held here grows past the lease meanwhile (Redis counts it from the
///   last renewal): once Redis is back, another instance may take them over before
///   this one's next round. The round then finds them lost and `holds` turns false,
///   so an event not yet handed over is dropped here and delivered by the other
///   instance; one already in a handler here may be delivered a second time there.
///   Nothing is lost either way.
/// - **Consumer names.** The default name is `<host>-<n>`, the lowest slot free on
///   that host, so a restarted instance takes its old name back and with it, at
///   once, the events it left unacked (see [`RedisStoreBuilder::consumer`]). Each
///   connect removes the group's consumers with no pending entry idle for longer
///   than [a bound](RedisStoreBuilder::stale_consumers_after) (ten leases, at least
///   10 minutes), so stopped instances' names do not pile up.
/// - **The backlog is read in pages.** [`claim`](Store::claim) returns, oldest
///   first, this consumer's own pending entries left by an earlier run under the
///   same name (read once per store value), then entries idle past the lease
///   (`XAUTOCLAIM`, resuming where the last page stopped). Never more than it was
///   asked for: whatever it claims it returns, or this instance holds already.
/// - **Ack** removes the entry from the pending list and the stream in one script;
///   the id key stays, so a late copy is still a duplicate (see
///   [`forget_acked_after`](RedisStoreBuilder::forget_acked_after) to bound how long).
/// - **Durability is Redis's:** an append is kept once Redis has it; to survive a
///   Redis crash too, run Redis with `appendonly yes` and `appendfsync always`.
/// - **Dead letters:** a sorted set of their ids by when they were buried and a hash
///   of the letters, under the log's hash tag. [`bury`](Store::bury) is one script
///   (the ack and the letter kept), [`revive`](Store::revive) another: the event goes
///   back into the stream as a new entry nobody renews, idle since the epoch, so the
///   next [`claim`](Store::claim) of any instance takes it; the id key names it (the
///   acked mark is gone) and the letter is removed.
/// - **Checkpoints:** one hash, `<prefix>:checkpoints`, a field per key: every
///   instance on the same key prefix shares them. A save is kept once Redis
///   answers (as durable as an append); one that Redis does not answer is an error.
/// - **Seen-set:** `SET <prefix>:seen:<id> 1 NX PX <ttl>`, expired by the server (or
///   on an injected [`Clock`], see [`RedisStoreBuilder::clock`]).
/// - **Faults:** one multiplexed connection that reconnects by itself after a drop;
///   every call is bounded by the response timeout. A refused, dropped or timed out
///   call is [`StoreError::Unavailable`]; a stream entry that is not an event, or a
///   store key holding another Redis type, is [`StoreError::Corrupt`].
///
/// Clones share the connection and the claims: they are one instance. Give each
/// concurrently running instance its own [consumer name](RedisStoreBuilder::consumer)
/// (the default does), and every instance of a group the same lease.
/// [`close`](RedisStore::close) closes every clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    keys: Keys,
    group: String,
    consumer: String,
    lease_ms: u64,
    /// 0: acked ids are kept forever.
    forget_acked_after_ms: u64,
    clock: Option<Arc<dyn Clock>>,
    closed: AtomicBool,
    /// The ids this value holds the claim of and has handed out: in flight here.
    /// Shared with the renewal task, which keeps them alive and removes the ones it
    /// finds taken over.
    held: Held,
    /// The lock on the default consumer name, when this value uses one.
    slot: Option<Slot>,
    /// Tells the renewal task to stop (`true` on close); dropped with the last
    /// clone, which stops it too.
    stop: tokio::sync::watch::Sender<bool>,
    /// The renewal task, awaited by `close` so no round of it runs after the name
    /// is released.
    renewal: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Where the read of this consumer's own pending entries (an earlier run's) is;
    /// `None` once done.
    own_after: Mutex<Option<EntryId>>,
    /// Where the next `XAUTOCLAIM` page starts.
    takeover_cursor: Mutex<EntryId>,
}

impl RedisStore {
    /// Options for a store at `url` (`redis://host:port/db`, `rediss://` for TLS).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    /// Connects to the Redis at `url` with the default options.
    pub async fn connect(url: impl Into<String>) -> Result<RedisStore, StoreError> {
        RedisStore::builder(url).connect().await
    }

    /// This instance's consumer name in the group.
    pub fn consumer(&self) -> &str {
        &self.inner.consumer
    }

    /// Closes the store for every clone: later calls fail with [`StoreError::Closed`].
    /// Nothing is buffered, so there is nothing to flush. The claims held stop being
    /// renewed (another instance takes them over after the lease) and the default
    /// consumer name is released, so the next instance started on this host takes
    /// it. Closing twice is `Ok`; an error means the name could not be released (it
    /// then expires by itself).
    pub async fn close(&self) -> Result<(), StoreError> {
        let first = !self.inner.closed.swap(true, Ordering::SeqCst);
        self.inner.stop.send_replace(true);
        let renewal = lock(&self.inner.renewal).take();
        if let Some(renewal) = renewal {
            // It ends after its round in flight, if any (bounded by the response
            // timeout); one that panicked has nothing left to do.
            let _ = renewal.await;
        }
        if first && let Some(slot) = &self.inner.slot {
            slot.release(&mut self.inner.conn.clone()).await?;
        }
        Ok(())
    }

    /// True once [`close`](RedisStore::close) was called on any clone.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// A connection handle for one call, unless the store is closed.
    fn conn(&self) -> Result<ConnectionManager, StoreError> {
        if self.is_closed() {
            return Err(StoreError::Closed);
        }
        Ok(self.inner.conn.clone())
    }

    /// Creates the stream and the group reading it from the start, unless the group
    /// exists.
    async fn create_group(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let created: Result<Value, _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.inner.keys.stream)
            .arg(&self.inner.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(from_redis(e)),
            _ => Ok(()),
        }
    }

    /// `XREADGROUP ... STREAMS <stream> <from>`: this consumer's pending entries after
    /// `from`, or new entries for `>`.
    async fn read_group(&self, from: &str, count: usize) -> Result<Vec<Entry>, StoreError> {
        let inner = &self.inner;
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&inner.group)
            .arg(&inner.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&inner.keys.stream)
            .arg(from)
            .query_async(&mut self.conn()?)
            .await
            .map_err(from_redis)?;
        reply::read_group(reply)
    }

    /// One `XAUTOCLAIM` step from `cursor`: entries idle past the lease with any
    /// consumer become this one's.
    async fn autoclaim(
        &self,
        cursor: EntryId,
        count: usize,
    ) -> Result<(EntryId, Vec<Entry>), StoreError> {
        let inner = &self.inner;
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&inner.keys.stream)
            .arg(&inner.group)
            .arg(&inner.consumer)
            .arg(inner.lease_ms)
            .arg(cursor.to_string())
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn()?)
            .await
            .map_err(from_redis)?;
        reply::auto_claim(reply)
    }

    /// Takes the events of `entries` into `got`, and holds them, unless this value
    /// holds them already (in flight here: `XAUTOCLAIM` only renewed their lease).
    /// An entry deleted from the stream while pending has nothing left to hand out:
    /// it is acked so it stops coming back.
    async fn take(
        &self,
        entries: Vec<Entry>,
        got: &mut BTreeMap<EntryId, Event>,
    ) -> Result<(), StoreError> {
        let mut gone = Vec::new();
        {
            let mut held = self.held();
            for entry in entries {
                match entry.event {
                    Some(event) => {
                        if held.insert(event.dedup_id().to_owned()) {
                            got.insert(entry.id, event);
                        }
                    }
                    None => gone.push(entry.id.to_string()),
                }
            }
        }
        if !gone.is_empty() {
            let _: Value = redis::cmd("XACK")
                .arg(&self.inner.keys.stream)
                .arg(&self.inner.group)
                .arg(gone)
                .query_async(&mut self.conn()?)
                .await
                .map_err(from_redis)?;
        }
        Ok(())
    }

    /// One append, its claim recorded as held here when it is this consumer's.
    async fn append_now(&self, event: &Event) -> Result<Appended, StoreError> {
        let mut conn = self.conn()?;
        let outcome: i64 = scripts::APPEND
            .key(self.inner.keys.id(event.dedup_id()))
            .key(&self.inner.keys.stream)
            .arg(event.raw().as_ref())
            .arg(&self.inner.group)
            .arg(&self.inner.consumer)
            .arg(self.inner.lease_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        let appended = match outcome {
            1 => Appended::New,
            // 2: taken over from a holder past its lease, or free; 3: pending with
            // this consumer but not held by this value (an earlier run, released).
            2 | 3 => Appended::Claimed,
            0 => Appended::Known,
            other => return Err(unexpected(format_args!("append script answered {other}"))),
        };
        if appended.is_claimed() {
            self.held().insert(event.dedup_id().to_owned());
        }
        Ok(appended)
    }

    fn held(&self) -> MutexGuard<'_, HashSet<String>> {
        lock(&self.inner.held)
    }

    async fn claim_page(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        // Keyed by entry id: oldest first within each step.
        let mut got = BTreeMap::new();
        let left = |got: &BTreeMap<EntryId, Event>| (limit - got.len()).min(PAGE);

        // 1. Our own pending entries from an earlier run under this name, once.
        loop {
            let after = *lock(&self.inner.own_after);
            let Some(after) = after else { break };
            if got.len() >= limit {
                break;
            }
            let count = left(&got);
            let entries = self.read_group(&after.to_string(), count).await?;
            let full = entries.len() == count;
            let next = entries.last().map(|e| e.id);
            self.take(entries, &mut got).await?;
            *lock(&self.inner.own_after) = match next {
                Some(next) if full => Some(next),
                _ => None,
            };
        }
        // 2. Entries whose holder's lease ran out, from where the last page stopped.
        let mut wrapped = false;
        while got.len() < limit && !wrapped {
            let cursor = *lock(&self.inner.takeover_cursor);
            let (next, entries) = self.autoclaim(cursor, left(&got)).await?;
            self.take(entries, &mut got).await?;
            *lock(&self.inner.takeover_cursor) = next;
            wrapped = next == EntryId::ZERO;
        }
        Ok(got.into_values().collect())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is one map or set operation: a panic cannot
    // leave one half done.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True for the error Redis gives when the stream or group is gone (deleted from
/// outside): the store recreates them and retries once.
fn is_no_group(err: &StoreError) -> bool {
    match err {
        StoreError::Unavailable(e) => e
            .downcast_ref::<redis::RedisError>()
            .is_some_and(|e| e.code() == Some("NOGROUP")),
        _ => false,
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        self.conn()?;
        if self.held().contains(event.dedup_id()) {
            // Held here: answered from memory.
            return Ok(Appended::Known);
        }
        // Driven to the end by a task of its own: once Redis has made this consumer
        // the holder, the claim is recorded here (and so renewed) even while the
        // caller does not poll (a consumer stalled on a full pipe); a caller that is
        // gone releases it, so it is not held for nobody.
        let (this, event) = (self.clone(), event.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let appended = this.append_now(&event).await;
            if let Err(Ok(appended)) = tx.send(appended)
                && appended.is_claimed()
            {
                this.release(event.dedup_id());
            }
        });
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.conn()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        // As for an append: recorded as held here even while the caller waits to be
        // polled, released if the caller is gone.
        let this = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let claimed = match this.claim_page(limit).await {
                Err(e) if is_no_group(&e) => match this.create_group().await {
                    Ok(()) => this.claim_page(limit).await,
                    Err(e) => Err(e),
                },
                done => done,
            };
            if let Err(Ok(events)) = tx.send(claimed) {
                for event in &events {
                    this.release(event.dedup_id());
                }
            }
        });
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let _: i64 = scripts::ACK
            .key(self.inner.keys.id(id))
            .key(&self.inner.keys.stream)
            .key(&self.inner.keys.dead_letters)
            .arg(&self.inner.group)
            .arg(self.inner.forget_acked_after_ms)
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        self.held().remove(id);
        Ok(())
    }

    fn release(&self, id: &str) {
        // The entry stays pending with this consumer, no longer renewed: once idle
        // past the lease, any instance (this one too) takes it over.
        self.held().remove(id);
    }

    fn holds(&self, id: &str) -> bool {
        self.held().contains(id)
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let mut got = Vec::new();
        let mut start = "-".to_owned();
        while got.len() < limit {
            let count = (limit - got.len()).min(PAGE);
            let reply: Value = redis::cmd("XRANGE")
                .arg(&self.inner.keys.stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut self.conn()?)
                .await
                .map_err(from_redis)?;
            let entries = reply::range(reply)?;
            let full = entries.len() == count;
            let Some(last) = entries.last().map(|e| e.id) else {
                break;
            };
            got.extend(entries.into_iter().filter_map(|e| e.event));
            if !full {
                break;
            }
            start = format!("({last}");
        }
        Ok(got)
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n: i64 = redis::cmd("EXISTS")
            .arg(self.inner.keys.id(id))
            .query_async(&mut conn)
            .await
            .map_err(from_redis)?;
        Ok(n == 1)
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.inner.lease_ms)
    }

    async fn bury(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let id = letter.id();
        let keys = &self.inner.keys;
        let _: i64 = scripts::BURY
            .key(keys.id(id))
            .key(&keys.stream)
            .key(&keys.dead)
            .key(&keys.dead_letters)
            .arg(&self.inner.group)
            .arg(id)
            .arg(unix_millis(letter.at))
            .arg(dead::encode(letter))
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        self.held().remove(id);
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut conn = self.conn()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = &self.inner.keys;
        let reply: Value = scripts::DEAD_LETTERS
            .key(&keys.dead)
            .key(&keys.dead_letters)
            .arg(i64::try_from(limit - 1).unwrap_or(i64::MAX))
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        reply::dead_letters(reply)?
            .into_iter()
            .map(|(id, letter)| {
                let letter = letter.ok_or_else(|| {
                    StoreError::Corrupt(format!("dead letter {id:?} is listed but not kept"))
                })?;
                dead::decode(&id, &letter)
            })
            .collect()
    }

    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        let keys = &self.inner.keys;
        // Read, checked, then put back if it is still the letter read: only an event
        // that parses goes back into the stream.
        for _ in 0..REVIVE_TRIES {
            let mut conn = self.conn()?;
            let letter: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(&keys.dead_letters)
                .arg(id)
                .query_async(&mut conn)
                .await
                .map_err(from_redis)?;
            let Some(letter) = letter else {
                return Ok(false);
            };
            let event = dead::decode(id, &letter)?.event;
            let revived: i64 = scripts::REVIVE
                .key(keys.id(id))
                .key(&keys.stream)
                .key(&keys.dead)
                .key(&keys.dead_letters)
                .arg(&self.inner.group)
                .arg(&self.inner.consumer)
                .arg(id)
                .arg(letter)
                .arg(event.raw().as_ref())
                .invoke_async(&mut conn)
                .await
                .map_err(from_redis)?;
            match revived {
                0 => return Ok(false),
                1 => {
                    // Not held here.
                    self.held().remove(id);
                    return Ok(true);
                }
                2 => continue,
                other => return Err(unexpected(format_args!("revive script answered {other}"))),
            }
        }
        Err(StoreError::Unavailable(
            format!("dead letter {id:?} kept changing while being revived").into(),
        ))
    }

    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let keys = &self.inner.keys;
        let discarded: i64 = scripts::DISCARD
            .key(keys.id(id))
            .key(&keys.dead)
            .key(&keys.dead_letters)
            .arg(id)
            .arg(self.inner.forget_acked_after_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        Ok(discarded == 1)
    }
}

/// How many times a revive reads its letter again when it was buried again
/// meanwhile.
const REVIVE_TRIES: usize = 8;

#[async_trait]
impl Checkpoints for RedisStore {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        let value: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(&self.inner.keys.checkpoints)
            .arg(key)
            .query_async(&mut self.conn()?)
            .await
            .map_err(from_redis)?;
        let Some(value) = value else { return Ok(None) };
        let value = String::from_utf8(value)
            .map_err(|_| StoreError::Corrupt(format!("checkpoint {key:?} is not UTF-8 text")))?;
        Ok(Some(value))
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        let _: Value = redis::cmd("HSET")
            .arg(&self.inner.keys.checkpoints)
            .arg(key)
            .arg(value)
            .query_async(&mut self.conn()?)
            .await
            .map_err(from_redis)?;
        Ok(())
    }
}

#[async_trait]
impl SeenSet for RedisStore {
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let key = self.inner.keys.seen(id);
        let ttl_ms = capped_millis(ttl);
        if let Some(clock) = &self.inner.clock {
            let now = unix_millis(clock.now());
            let inserted: i64 = scripts::INSERT_AT
                .key(key)
                .arg(now)
                .arg(expiry(now, ttl))
                .arg(ttl_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(from_redis)?;
            return Ok(inserted == 1);
        }
        if ttl_ms == 0 {
            // Expired as soon as inserted: nothing to keep (and Redis refuses PX 0).
            return Ok(true);
        }
        let reply: Value = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await
            .map_err(from_redis)?;
        match reply {
            Value::Nil => Ok(false),
            Value::Okay | Value::SimpleString(_) => Ok(true),
            other => Err(unexpected(format_args!("SET NX {other:?}"))),
        }
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let key = self.inner.keys.seen(id);
        let Some(clock) = &self.inner.clock else {
            let n: i64 = redis::cmd("EXISTS")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(from_redis)?;
            return Ok(n == 1);
        };
        let held: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(from_redis)?;
        let Some(held) = held else { return Ok(false) };
        let expiry: u64 = held.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "seen-set entry {id:?} holds {held:?}, not an expiry"
            ))
        })?;
        Ok(expiry > unix_millis(clock.now()))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("stream", &self.inner.keys.stream)
            .field("group", &self.inner.group)
            .field("consumer", &self.inner.consumer)
            .field("lease_ms", &self.inner.lease_ms)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
