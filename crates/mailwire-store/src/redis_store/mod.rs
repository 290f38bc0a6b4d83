//! The Redis store: one log shared by several agent instances.

mod builder;
mod error;
mod keys;
mod reply;
mod scripts;

pub use builder::RedisStoreBuilder;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mailwire_proto::Event;
use redis::Value;
use redis::aio::ConnectionManager;

use crate::clock::{Clock, expiry, unix_millis};
use crate::{EventLog, SeenSet, StoreError};
use error::{from_redis, unexpected};
use keys::Keys;
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

/// An [`EventLog`] and [`SeenSet`] in Redis: the store for several agent instances
/// (processes, machines) sharing one log.
///
/// - **The log is a Redis Stream read through a consumer group.** Each instance is a
///   consumer; [`unacked`](EventLog::unacked) hands an event to one of them. It
///   returns, oldest first: this consumer's own unacked events (so a restart under
///   the same name gets them back), then events left unacked by another consumer for
///   longer than [`claim_idle_after`](RedisStoreBuilder::claim_idle_after) (a crashed
///   instance's, now claimed by this one), then events no consumer has had yet.
///   Every event returned is this consumer's until acked or claimed, so ask for what
///   you will handle: `unacked(usize::MAX)` takes the whole backlog from the others.
/// - **Append is idempotent by id, atomically:** a script checks the id key, adds the
///   stream entry and records its entry id in one step, so two instances appending
///   one id at once add one entry. The id key outlives the ack (a late redelivery is
///   still a duplicate; see [`forget_acked_after`](RedisStoreBuilder::forget_acked_after)
///   to bound how long); [`ack`](EventLog::ack) removes the entry from the group's
///   pending list and its bytes from the stream.
/// - **Durability is Redis's:** an append is kept once Redis has it; to survive a
///   Redis crash too, run Redis with `appendonly yes` and `appendfsync always`.
/// - **Seen-set:** `SET <prefix>:seen:<id> 1 NX PX <ttl>`, expired by the server (or
///   on an injected [`Clock`], see [`RedisStoreBuilder::clock`]).
/// - **Faults:** one multiplexed connection that reconnects by itself after a drop;
///   every call is bounded by the response timeout. A refused, dropped or timed out
///   call is [`StoreError::Unavailable`]; a stream entry that is not an event, or a
///   store key holding another Redis type, is [`StoreError::Corrupt`].
///
/// Clones share the connection. [`close`](RedisStore::close) closes every clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    keys: Keys,
    group: String,
    consumer: String,
    claim_idle_after_ms: u64,
    /// 0: acked ids are kept forever.
    forget_acked_after_ms: u64,
    clock: Option<Arc<dyn Clock>>,
    closed: AtomicBool,
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
    /// Nothing is buffered, so there is nothing to flush.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.closed.store(true, Ordering::SeqCst);
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

    /// One `XAUTOCLAIM` step from `cursor`: entries idle too long with any consumer
    /// become this one's.
    async fn claim(
        &self,
        cursor: EntryId,
        count: usize,
    ) -> Result<(EntryId, Vec<Entry>), StoreError> {
        let inner = &self.inner;
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(&inner.keys.stream)
            .arg(&inner.group)
            .arg(&inner.consumer)
            .arg(inner.claim_idle_after_ms)
            .arg(cursor.to_string())
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn()?)
            .await
            .map_err(from_redis)?;
        reply::auto_claim(reply)
    }

    /// Takes the events of `entries` into `got`. An entry deleted from the stream
    /// while pending has nothing left to hand out: it is acked so it stops coming back.
    async fn take(
        &self,
        entries: Vec<Entry>,
        got: &mut BTreeMap<EntryId, Event>,
    ) -> Result<(), StoreError> {
        let mut gone = Vec::new();
        for entry in entries {
            match entry.event {
                Some(event) => {
                    got.insert(entry.id, event);
                }
                None => gone.push(entry.id.to_string()),
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

    async fn read_unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        // Keyed by entry id: oldest first, and an entry met twice (read as our own,
        // then claimed back from ourselves) counts once.
        let mut got = BTreeMap::new();
        let left = |got: &BTreeMap<EntryId, Event>| (limit - got.len()).min(PAGE);

        // 1. Our own pending entries, after the last one seen.
        let mut after = EntryId::ZERO;
        while got.len() < limit {
            let count = left(&got);
            let entries = self.read_group(&after.to_string(), count).await?;
            let Some(last) = entries.last() else { break };
            after = last.id;
            let full = entries.len() == count;
            self.take(entries, &mut got).await?;
            if !full {
                break;
            }
        }
        // 2. Entries other consumers left idle too long.
        let mut cursor = EntryId::ZERO;
        while got.len() < limit {
            let (next, entries) = self.claim(cursor, left(&got)).await?;
            self.take(entries, &mut got).await?;
            if next == EntryId::ZERO {
                break;
            }
            cursor = next;
        }
        // 3. Entries no consumer has had yet.
        while got.len() < limit {
            let count = left(&got);
            let entries = self.read_group(">", count).await?;
            let full = entries.len() == count;
            self.take(entries, &mut got).await?;
            if !full {
                break;
            }
        }
        Ok(got.into_values().collect())
    }
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
impl EventLog for RedisStore {
    async fn append(&self, event: &Event) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let new: i64 = scripts::APPEND
            .key(self.inner.keys.id(event.id()))
            .key(&self.inner.keys.stream)
            .arg(event.raw().as_ref())
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        Ok(new == 1)
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.conn()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self.read_unacked(limit).await {
            Err(e) if is_no_group(&e) => {
                self.create_group().await?;
                self.read_unacked(limit).await
            }
            done => done,
        }
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let _: i64 = scripts::ACK
            .key(self.inner.keys.id(id))
            .key(&self.inner.keys.stream)
            .arg(&self.inner.group)
            .arg(self.inner.forget_acked_after_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(from_redis)?;
        Ok(())
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
            .field("claim_idle_after_ms", &self.inner.claim_idle_after_ms)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
