//! Options for connecting a [`RedisStore`], and the connect itself.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::StoreError;
use crate::clock::Clock;
use crate::redis_store::error::from_redis;
use crate::redis_store::keys::Keys;
use crate::redis_store::naming;
use crate::redis_store::renewal::{Held, Renewal};
use crate::redis_store::reply::EntryId;
use crate::redis_store::{Inner, RedisStore, capped_millis, lock};

/// Options for connecting a [`RedisStore`]; from [`RedisStore::builder`].
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    log: String,
    group: String,
    consumer: Option<String>,
    lease: Duration,
    forget_acked_after: Option<Duration>,
    connect_timeout: Duration,
    response_timeout: Duration,
    connect_retries: usize,
    clock: Option<Arc<dyn Clock>>,
    stale_consumers_after: Option<Duration>,
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: String) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url,
            prefix: "mailwire".to_owned(),
            log: "events".to_owned(),
            group: "mailwire".to_owned(),
            consumer: None,
            lease: Duration::from_millis(crate::memory::DEFAULT_LEASE_MS),
            forget_acked_after: None,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            connect_retries: 3,
            clock: None,
            stale_consumers_after: None,
        }
    }

    /// The prefix of every key the store writes (default `mailwire`), so several
    /// stores (or tests) can share one Redis. Avoid `{` and `}`: the store uses them
    /// as a Redis Cluster hash tag.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisStoreBuilder {
        self.prefix = prefix.into();
        self
    }

    /// The name of the log (default `events`): one Redis Stream per name.
    pub fn log_name(mut self, log: impl Into<String>) -> RedisStoreBuilder {
        self.log = log.into();
        self
    }

    /// The consumer group reading the log (default `mailwire`). Instances that share a
    /// group share the work: each event goes to one of them.
    pub fn group(mut self, group: impl Into<String>) -> RedisStoreBuilder {
        self.group = group.into();
        self
    }

    /// This instance's name in the group. Events handed to a consumer stay its own
    /// until acked or taken over, so an instance that restarts under the same name
    /// gets its unacked events back at once; give each concurrently running instance
    /// a distinct name.
    ///
    /// The default is stable across restarts: `<host>-<n>`, with `n` the lowest slot
    /// free among the live instances on that host (a lock key per slot under the
    /// key prefix, taken at connect with a time to live of three leases (at least
    /// 10 s), renewed while the store runs, released by
    /// [`close`](RedisStore::close) or when the last clone is dropped). A restarted
    /// listener takes its old name back: at once after a clean stop, after the time
    /// to live after a crash (meanwhile it runs as `<host>-<n+1>`, and the crashed
    /// one's events are taken over after the lease).
    pub fn consumer(mut self, consumer: impl Into<String>) -> RedisStoreBuilder {
        self.consumer = Some(consumer.into());
        self
    }

    /// How long a claim nobody renews lasts before another instance takes the event
    /// over (default 15 s, at least 1 ms): how long a crashed or cut-off instance's
    /// events wait. A claim this store value holds is renewed every third of it, for
    /// as long as it is held, however long handling the event takes. Give every
    /// instance of a group the same lease: an instance takes over what has been idle
    /// for its own lease.
    pub fn lease(mut self, lease: Duration) -> RedisStoreBuilder {
        self.lease = lease;
        self
    }

    /// Forgets an acked event's id once `retention` has passed since its first ack
    /// (default: never; at least 1 ms). Appending that id again is then new. Without
    /// it, Redis keeps one small key per event id ever appended. Choose it longer than
    /// your sources redeliver: Standard Webhooks senders retry for about 28 hours.
    /// Redis measures it (a key expiry), not the injected clock.
    pub fn forget_acked_after(mut self, retention: Duration) -> RedisStoreBuilder {
        self.forget_acked_after = Some(retention);
        self
    }

    /// The bound on one connection attempt (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> RedisStoreBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// The bound on one command's reply (default 2 s); past it the call fails with
    /// [`StoreError::Unavailable`].
    pub fn response_timeout(mut self, timeout: Duration) -> RedisStoreBuilder {
        self.response_timeout = timeout;
        self
    }

    /// How many times a (re)connection is retried, with exponential backoff from
    /// 100 ms, before the call that needed it fails (default 3). A later call tries
    /// again.
    pub fn connect_retries(mut self, retries: usize) -> RedisStoreBuilder {
        self.connect_retries = retries;
        self
    }

    /// Measures seen-set expiry with `clock` instead of the Redis server's clock.
    ///
    /// By default an entry is `SET key 1 NX PX ttl` and Redis expires it, so every
    /// instance agrees whatever its own clock says. With a clock, the key holds its
    /// expiry (Unix milliseconds on `clock`) and a Redis expiry still reclaims it:
    /// what tests use with a [`ManualClock`](crate::ManualClock). Do not mix the two
    /// modes on one key prefix.
    pub fn clock(mut self, clock: impl Clock) -> RedisStoreBuilder {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// How long a consumer of the group with no pending entry must have been idle
    /// before a connect removes it (default: ten leases, at least 10 minutes). Every
    /// [`connect`](RedisStoreBuilder::connect) deletes the group's consumers that
    /// hold no pending entry and were idle for longer (`XGROUP DELCONSUMER`), so the
    /// names of stopped instances do not pile up; one with pending entries is never
    /// removed (its entries would leave the pending list), and a live consumer
    /// removed while idle is made again by its next read or claim.
    pub fn stale_consumers_after(mut self, idle: Duration) -> RedisStoreBuilder {
        self.stale_consumers_after = Some(idle);
        self
    }

    /// Connects, creates the log's stream and consumer group unless they exist,
    /// takes the default consumer name (unless one was given), removes stale
    /// consumers, and starts the task that renews the claims this store holds (it
    /// needs a tokio runtime; it ends when the store is closed or dropped).
    ///
    /// Fails with [`StoreError::Unavailable`] when the URL is invalid or Redis cannot
    /// be reached within the connect timeout and retries.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(self.url.as_str()).map_err(from_redis)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.connect_retries);
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(from_redis)?;
        let keys = Keys::new(&self.prefix, &self.log);
        let lease_ms = capped_millis(self.lease).max(1);
        // A few leases, so a round or two that fail do not lose the name; at least
        // 10 s, so a short test lease does not make it fragile.
        let slot_ttl_ms = lease_ms.saturating_mul(3).max(10_000);
        let (consumer, slot) = match self.consumer {
            Some(name) => (name, None),
            None => naming::default_name(&mut conn, &keys, &self.group, slot_ttl_ms).await?,
        };
        let held = Held::default();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let store = RedisStore {
            inner: Arc::new(Inner {
                conn: conn.clone(),
                keys: keys.clone(),
                group: self.group.clone(),
                consumer: consumer.clone(),
                lease_ms,
                forget_acked_after_ms: self
                    .forget_acked_after
                    .map_or(0, |d| capped_millis(d).max(1)),
                clock: self.clock,
                closed: AtomicBool::new(false),
                held: held.clone(),
                slot: slot.clone(),
                stop,
                renewal: Mutex::new(None),
                own_after: Mutex::new(Some(EntryId::ZERO)),
                takeover_cursor: Mutex::new(EntryId::ZERO),
            }),
        };
        // A store that fails to connect releases its name as it goes: dropping it
        // stops the task, which releases the lock.
        let renewal = tokio::spawn(
            Renewal {
                conn: conn.clone(),
                keys: keys.clone(),
                group: self.group.clone(),
                consumer: consumer.clone(),
                held,
                slot,
                slot_ttl_ms,
                every: Duration::from_millis((lease_ms / 3).max(1)),
                slot_lost: false,
            }
            .run(stopped),
        );
        *lock(&store.inner.renewal) = Some(renewal);
        store.create_group().await?;
        let bound = self.stale_consumers_after.map_or_else(
            || lease_ms.saturating_mul(10).max(STALE_AT_LEAST_MS),
            capped_millis,
        );
        match naming::remove_stale(&mut conn, &keys, &self.group, &consumer, bound).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "store: removed stale consumers"),
            // Housekeeping only: the store works without it, and the next connect
            // tries again.
            Err(e) => tracing::warn!(error = %e, "store: could not remove stale consumers"),
        }
        Ok(store)
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &redacted(&self.url))
            .field("prefix", &self.prefix)
            .field("log", &self.log)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("lease", &self.lease)
            .field("forget_acked_after", &self.forget_acked_after)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("connect_retries", &self.connect_retries)
            .field("clock", &self.clock)
            .field("stale_consumers_after", &self.stale_consumers_after)
            .finish()
    }
}

/// The URL without its credentials (`redis://user:secret@host` -> `redis://***@host`).
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The least idle time of a stale consumer by default: 10 minutes.
const STALE_AT_LEAST_MS: u64 = 10 * 60 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redacted("redis://user:hunter2@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        let debug = format!("{:?}", RedisStoreBuilder::new("rediss://:pw@h".into()));
        assert!(!debug.contains("pw"), "{debug}");
    }
}
