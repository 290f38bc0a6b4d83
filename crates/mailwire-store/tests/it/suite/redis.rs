//! Opening a [`RedisStore`] on the Redis the tests need, under a key prefix of its own
//! that is deleted afterwards.

use mailwire_proto::Event;
use mailwire_store::{ManualClock, RedisStore, RedisStoreBuilder, Store};

use redis::Commands;

use super::HANG;

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

/// A plain connection to the test Redis, to look at or damage the store's keys.
pub(crate) async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test Redis")
}

/// Claims pages of at most `page` until `n` events came back (leases have to run
/// out on the server first), in the order they came.
pub(crate) async fn claim_n(store: &RedisStore, n: usize, page: usize) -> Vec<Vec<Event>> {
    tokio::time::timeout(HANG, async {
        let mut pages = Vec::new();
        let mut got = 0;
        while got < n {
            let events = store.claim(page).await.unwrap();
            if events.is_empty() {
                tokio::task::yield_now().await;
                continue;
            }
            got += events.len();
            pages.push(events);
        }
        pages
    })
    .await
    .expect("the idle events are taken over")
}

/// Waits (bounded by `HANG`) until `done` holds, checking again every few ms.
pub(crate) async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(HANG, async {
        while !done().await {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never happened: {what}"));
}
