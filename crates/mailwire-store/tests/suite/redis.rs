//! Opening a [`RedisStore`] on the Redis the tests need, under a key prefix of its own
//! that is deleted afterwards.

use mailwire_store::{ManualClock, RedisStore, RedisStoreBuilder};
use redis::Commands;

/// Where the tests find Redis: `MAILWIRE_TEST_REDIS_URL`, by default
/// `redis://127.0.0.1:6379`. Every test works under a key prefix of its own and
/// deletes only those keys: never the database.
pub(crate) fn url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Deletes every key under its prefix when dropped, even when the test panicked.
#[derive(Debug)]
pub(crate) struct Cleanup {
    pub(crate) prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // A plain blocking connection: drop cannot await, and a cleanup that fails
        // only leaves a few keys behind.
        let Ok(client) = redis::Client::open(url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let pattern = format!("*{}:*", self.prefix);
        let keys: Vec<Vec<u8>> = match Commands::scan_match(&mut conn, pattern) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => return,
        };
        for key in keys {
            let _: Result<i64, _> = Commands::del(&mut conn, key);
        }
    }
}

/// A key prefix no other test uses.
pub(crate) fn prefix() -> String {
    format!("mailwire-test-{:016x}", fastrand::u64(..))
}

/// A builder for the test Redis under `prefix`.
pub(crate) fn builder(prefix: &str) -> RedisStoreBuilder {
    RedisStore::builder(url()).key_prefix(prefix)
}

/// Connects `builder`, failing the test with what it needs when Redis is not there.
pub(crate) async fn connect(builder: RedisStoreBuilder) -> RedisStore {
    match builder.connect().await {
        Ok(store) => store,
        Err(e) => panic!(
            "these tests need a Redis server at 127.0.0.1:6379 (CI starts one; locally: \
             redis-server --port 6379 --save '' --appendonly no): {e}"
        ),
    }
}

/// A store on a fresh prefix whose seen-set runs on `clock`.
pub(crate) async fn open(clock: ManualClock) -> (RedisStore, Cleanup) {
    let cleanup = Cleanup { prefix: prefix() };
    let store = connect(builder(&cleanup.prefix).clock(clock).consumer("suite")).await;
    (store, cleanup)
}
