//! Consumer names: a stable default (`<host>-<n>`, the lowest slot free among the
//! live instances on that host), and the removal of consumers nobody uses any more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use redis::Value;
use redis::aio::ConnectionManager;

use crate::StoreError;
use crate::redis_store::error::from_redis;
use crate::redis_store::keys::Keys;
use crate::redis_store::scripts;

/// How many slots one host may use before the default name falls back to
/// `<host>-pid<pid>`: far more instances than one host runs.
const SLOTS: usize = 1024;

/// The lock on a default consumer name, held by the instance using it. Its token is
/// this store value's alone, so a lock taken over by another instance is never
/// extended or released by this one.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(crate) key: String,
    pub(crate) token: String,
}

impl Slot {
    /// Releases the lock unless another instance holds it by now.
    pub(crate) async fn release(&self, conn: &mut ConnectionManager) -> Result<(), StoreError> {
        let _: i64 = scripts::RELEASE_SLOT
            .key(&self.key)
            .arg(&self.token)
            .invoke_async(conn)
            .await
            .map_err(from_redis)?;
        Ok(())
    }

    /// Extends the lock, or takes it again once expired. False when another
    /// instance holds it.
    pub(crate) async fn keep(
        &self,
        conn: &mut ConnectionManager,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let kept: i64 = scripts::KEEP_SLOT
            .key(&self.key)
            .arg(&self.token)
            .arg(ttl_ms)
            .invoke_async(conn)
            .await
            .map_err(from_redis)?;
        Ok(kept == 1)
    }
}

/// The default name: `<host>-<n>` for the lowest `n` whose slot lock is free, taken
/// (`SET NX PX`) for `ttl_ms`. A restarted instance gets its old name back (once the
/// old lock was released, or expired after a crash) and with it the events it left
/// unacked. Past [`SLOTS`], `<host>-pid<pid>`, without a lock.
pub(crate) async fn default_name(
    conn: &mut ConnectionManager,
    keys: &Keys,
    group: &str,
    ttl_ms: u64,
) -> Result<(String, Option<Slot>), StoreError> {
    let host = host();
    let token = token(&host);
    for n in 0..SLOTS {
        let name = format!("{host}-{n}");
        let key = keys.slot(group, &name);
        let taken: Value = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(conn)
            .await
            .map_err(from_redis)?;
        if !matches!(taken, Value::Nil) {
            return Ok((name, Some(Slot { key, token })));
        }
    }
    tracing::warn!(
        host,
        "every consumer-name slot of this host is taken: using a per-process name"
    );
    Ok((format!("{host}-pid{}", std::process::id()), None))
}

/// Deletes the group's consumers that have no pending entry and were idle for longer
/// than `bound_ms`, except `own`. Returns how many.
pub(crate) async fn remove_stale(
    conn: &mut ConnectionManager,
    keys: &Keys,
    group: &str,
    own: &str,
    bound_ms: u64,
) -> Result<u64, StoreError> {
    let removed: u64 = scripts::REMOVE_STALE
        .key(&keys.stream)
        .arg(group)
        .arg(bound_ms)
        .arg(own)
        .invoke_async(conn)
        .await
        .map_err(from_redis)?;
    Ok(removed)
}

/// This machine's name, or `host` when it has none readable.
pub(crate) fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// A value no other store value holds: host, process, time and a counter.
fn token(host: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{host}:{}:{nanos}:{n}", std::process::id())
}
