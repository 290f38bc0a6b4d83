//! The store `listen` and `forward` keep their events in: a redb file, Redis, or
//! memory, as their options name it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use mailwire_store::{MemoryStore, RedbStore, RedisStore, Store};

use crate::cmd::runtime::check_url;

/// The one store, and the engine behind it (to close it at the end).
pub(crate) struct Stores {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) redb: Option<RedbStore>,
    pub(crate) redis: Option<RedisStore>,
}

impl Stores {
    /// Closes the engine once everything that used the store is dropped: a redb file
    /// can be opened again, Redis's claims stop being renewed.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        drop(self.store);
        if let Some(store) = self.redb {
            store.close().await.context("closing the store")?;
        }
        if let Some(store) = self.redis {
            store.close().await.context("closing the Redis store")?;
        }
        Ok(())
    }
}

/// The store `--redis` (with `--redis-prefix`, `--consumer`), `--store` or neither
/// (memory) names, its claims held for `--lease-ms`.
pub(crate) async fn open_stores(
    store: Option<&Path>,
    redis: Option<&str>,
    redis_prefix: &str,
    consumer: Option<&str>,
    lease_ms: u64,
) -> anyhow::Result<Stores> {
    let lease = Duration::from_millis(lease_ms.max(1));
    if let Some(url) = redis {
        let mut builder = RedisStore::builder(url)
            .key_prefix(redis_prefix)
            .lease(lease);
        if let Some(name) = consumer {
            builder = builder.consumer(name);
        }
        let store = builder
            .connect()
            .await
            .map_err(|e| anyhow!("cannot use the Redis store: {e}"))?;
        return Ok(Stores {
            store: Arc::new(store.clone()),
            redb: None,
            redis: Some(store),
        });
    }
    Ok(match store {
        Some(path) => {
            let store = RedbStore::builder()
                .lease(lease)
                .open(path)
                .map_err(|e| anyhow!("cannot open the store at {}: {e}", path.display()))?;
            Stores {
                store: Arc::new(store.clone()),
                redb: Some(store),
                redis: None,
            }
        }
        None => Stores {
            store: Arc::new(MemoryStore::new().with_lease(lease)),
            redb: None,
            redis: None,
        },
    })
}

/// A `--redis` URL that cannot work, refused at start.
pub(crate) fn check_redis_url(url: &str) -> anyhow::Result<()> {
    check_url("--redis", url, &["redis", "rediss", "redis+unix", "unix"]).or_else(|e| {
        // A Unix socket URL has no host.
        if url.starts_with("unix:") || url.starts_with("redis+unix:") {
            Ok(())
        } else {
            Err(e)
        }
    })
}

/// A `--store` path that cannot work (no such folder, a folder), refused at start.
pub(crate) fn check_store_path(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let why = if dir.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(crate::usage::usage(format!(
            "--store {}: {} {why}",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(crate::usage::usage(format!(
            "--store {}: is a folder; expected a file path, e.g. {}/events.redb",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}
