//! What only the Redis store promises: one log shared by several consumers, a dead
//! consumer's events claimed by another, typed errors for a Redis that is down or
//! holds something else. Needs a Redis server at 127.0.0.1:6379 (CI starts one); each
//! test works under a key prefix of its own and deletes it afterwards.
#![cfg(feature = "redis")]

mod suite;

use std::collections::HashSet;
use std::time::Duration;

use mailwire_proto::Event;
use mailwire_store::{EventLog, RedisStore, SeenSet, StoreError};
use redis::AsyncCommands;
use suite::redis::{Cleanup, builder, connect, prefix};
use suite::{HANG, event};

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id().to_owned()).collect()
}

/// Two consumers of one group on a fresh prefix, each with its own connection.
async fn two_consumers(claim_idle_after: Duration) -> (RedisStore, RedisStore, Cleanup) {
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(builder(&cleanup.prefix).consumer("a")).await;
    let b = connect(
        builder(&cleanup.prefix)
            .consumer("b")
            .claim_idle_after(claim_idle_after),
    )
    .await;
    (a, b, cleanup)
}

/// A plain connection to the test Redis, to look at or damage the store's keys.
async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(suite::redis::URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test Redis")
}

async fn stream_len(prefix: &str) -> i64 {
    raw()
        .await
        .xlen(format!("{{{prefix}:events}}:stream"))
        .await
        .unwrap()
}

#[tokio::test]
async fn two_consumers_get_distinct_events() {
    let (a, b, _cleanup) = two_consumers(Duration::from_secs(3600)).await;
    for n in 0..20 {
        assert!(a.append(&event(&format!("evt_{n}"), n)).await.unwrap());
    }
    let to_a = ids(&a.unacked(8).await.unwrap());
    let to_b = ids(&b.unacked(100).await.unwrap());
    assert_eq!(to_a.len(), 8);
    assert_eq!(to_b.len(), 12, "b gets what a was not given");
    let expected: Vec<String> = (0..20).map(|n| format!("evt_{n}")).collect();
    assert_eq!(to_a, expected[..8], "oldest first");
    assert_eq!(to_b, expected[8..]);

    // Each keeps its own until it acks them; nothing new is left for anyone.
    assert_eq!(ids(&a.unacked(100).await.unwrap()), to_a);
    assert_eq!(ids(&b.unacked(100).await.unwrap()), to_b);
    for id in &to_a {
        a.ack(id).await.unwrap();
    }
    assert!(a.unacked(100).await.unwrap().is_empty());
    assert_eq!(ids(&b.unacked(100).await.unwrap()), to_b);

    // A new event goes to whoever asks first, once.
    assert!(b.append(&event("evt_new", 0)).await.unwrap());
    assert_eq!(ids(&a.unacked(100).await.unwrap()), ["evt_new"]);
    assert_eq!(ids(&b.unacked(100).await.unwrap()), to_b);
}

#[tokio::test]
async fn a_dead_consumers_events_are_claimed_after_the_idle_time() {
    let cleanup = Cleanup { prefix: prefix() };
    let dead = connect(builder(&cleanup.prefix).consumer("dead")).await;
    for n in 0..3 {
        dead.append(&event(&format!("evt_{n}"), n)).await.unwrap();
    }
    assert_eq!(dead.unacked(10).await.unwrap().len(), 3);
    drop(dead); // crashed: its three events stay pending under its name

    // A consumer that waits an hour before claiming gets nothing of them.
    let patient = connect(
        builder(&cleanup.prefix)
            .consumer("patient")
            .claim_idle_after(Duration::from_secs(3600)),
    )
    .await;
    assert!(patient.unacked(10).await.unwrap().is_empty());

    // One that claims after 5 ms gets all three, oldest first, once they are that old.
    let heir = connect(
        builder(&cleanup.prefix)
            .consumer("heir")
            .claim_idle_after(Duration::from_millis(5)),
    )
    .await;
    let claimed = tokio::time::timeout(HANG, async {
        loop {
            let got = heir.unacked(10).await.unwrap();
            if !got.is_empty() {
                return got;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the idle events are claimed");
    assert_eq!(ids(&claimed), ["evt_0", "evt_1", "evt_2"]);
    assert_eq!(claimed[1], event("evt_1", 1), "the same bytes come back");

    // They are the heir's now: its own on the next call, acked by it for good.
    assert_eq!(ids(&heir.unacked(10).await.unwrap()), ids(&claimed));
    for e in &claimed {
        heir.ack(e.id()).await.unwrap();
    }
    assert!(heir.unacked(10).await.unwrap().is_empty());
    assert!(patient.unacked(10).await.unwrap().is_empty());
    assert_eq!(
        stream_len(&cleanup.prefix).await,
        0,
        "acked bytes are dropped"
    );
    assert!(EventLog::contains(&heir, "evt_1").await.unwrap());
    assert!(!heir.append(&event("evt_1", 9)).await.unwrap());
}

#[tokio::test]
async fn a_restart_under_the_same_name_gets_its_events_back() {
    let cleanup = Cleanup { prefix: prefix() };
    let first = connect(builder(&cleanup.prefix).consumer("worker-1")).await;
    for n in 0..3 {
        first.append(&event(&format!("evt_{n}"), n)).await.unwrap();
    }
    assert_eq!(first.unacked(10).await.unwrap().len(), 3);
    first.ack("evt_1").await.unwrap();
    drop(first);

    let again = connect(builder(&cleanup.prefix).consumer("worker-1")).await;
    assert_eq!(ids(&again.unacked(10).await.unwrap()), ["evt_0", "evt_2"]);
}

/// Appends of the same ids from two instances, each on its own connection: every id
/// is kept once, and exactly one of its appends says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_instances_append_each_id_once() {
    let (a, b, _cleanup) = two_consumers(Duration::from_secs(3600)).await;
    let race = |store: RedisStore| async move {
        let mut new = Vec::new();
        for n in 0..200 {
            let id = format!("evt_{n}");
            if store.append(&event(&id, n)).await.unwrap() {
                new.push(id);
            }
        }
        new
    };
    let (from_a, from_b) = tokio::time::timeout(
        HANG,
        futures::future::join(tokio::spawn(race(a.clone())), tokio::spawn(race(b.clone()))),
    )
    .await
    .unwrap();
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert_eq!(from_a.len() + from_b.len(), 200);
    let all: HashSet<&String> = from_a.iter().chain(&from_b).collect();
    assert_eq!(all.len(), 200, "an id was reported new twice");
    assert_eq!(a.unacked(usize::MAX).await.unwrap().len(), 200);
    assert!(b.unacked(usize::MAX).await.unwrap().is_empty());
}

/// The default seen-set is expired by Redis itself: `SET NX PX`.
#[tokio::test]
async fn the_seen_set_expires_on_the_server() {
    let cleanup = Cleanup { prefix: prefix() };
    let store = connect(builder(&cleanup.prefix)).await;
    let ttl = Duration::from_secs(60);
    assert!(store.insert("wh_1", ttl).await.unwrap());
    assert!(!store.insert("wh_1", ttl).await.unwrap());
    assert!(SeenSet::contains(&store, "wh_1").await.unwrap());
    let key = format!("{}:seen:wh_1", cleanup.prefix);
    let pttl: i64 = raw().await.pttl(&key).await.unwrap();
    assert!(0 < pttl && pttl <= 60_000, "{pttl}");

    // Zero is gone at once; a huge TTL is capped, not refused.
    assert!(store.insert("zero", Duration::ZERO).await.unwrap());
    assert!(!SeenSet::contains(&store, "zero").await.unwrap());
    assert!(store.insert("zero", Duration::ZERO).await.unwrap());
    assert!(store.insert("forever", Duration::MAX).await.unwrap());
    assert!(!store.insert("forever", Duration::MAX).await.unwrap());

    // Once Redis expires the key, the id is new again.
    assert!(
        store
            .insert("brief", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::timeout(HANG, async {
        while SeenSet::contains(&store, "brief").await.unwrap() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("Redis expires the key");
    assert!(store.insert("brief", ttl).await.unwrap());
}

#[tokio::test]
async fn a_stream_entry_that_is_not_an_event_is_corrupt() {
    let cleanup = Cleanup { prefix: prefix() };
    let store = connect(builder(&cleanup.prefix)).await;
    store.append(&event("evt_0", 0)).await.unwrap();
    let stream = format!("{{{}:events}}:stream", cleanup.prefix);
    let _: String = raw()
        .await
        .xadd(&stream, "*", &[("event", "{\"id\": truncated")])
        .await
        .unwrap();
    let err = store.unacked(10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    // Nor an entry without the event field.
    let cleanup2 = Cleanup { prefix: prefix() };
    let other = connect(builder(&cleanup2.prefix)).await;
    let _: String = raw()
        .await
        .xadd(
            format!("{{{}:events}}:stream", cleanup2.prefix),
            "*",
            &[("something", "else")],
        )
        .await
        .unwrap();
    let err = other.unacked(10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn a_store_key_of_another_type_is_corrupt() {
    let cleanup = Cleanup { prefix: prefix() };
    let store = connect(builder(&cleanup.prefix)).await;
    let mut raw = raw().await;
    let id_key = format!("{{{}:events}}:id:evt_1", cleanup.prefix);
    let _: i64 = raw.lpush(&id_key, "x").await.unwrap();
    let err = store.ack("evt_1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");

    let stream = format!("{{{}:events}}:stream", cleanup.prefix);
    let _: i64 = raw.del(&stream).await.unwrap();
    let _: () = raw.set(&stream, "not a stream").await.unwrap();
    let err = store.append(&event("evt_2", 2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = store.unacked(10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

/// The stream and group deleted from outside are made again on the next read.
#[tokio::test]
async fn a_deleted_stream_is_recreated() {
    let cleanup = Cleanup { prefix: prefix() };
    let store = connect(builder(&cleanup.prefix)).await;
    let stream = format!("{{{}:events}}:stream", cleanup.prefix);
    let _: i64 = raw().await.del(&stream).await.unwrap();
    assert!(store.unacked(10).await.unwrap().is_empty());
    assert!(store.append(&event("evt_1", 1)).await.unwrap());
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_1"]);
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let connecting = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(200))
        .connect_retries(1)
        .connect();
    let err = tokio::time::timeout(HANG, connecting)
        .await
        .expect("a refused connection does not hang")
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let err = RedisStore::connect("not a url").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// A Redis started for this test alone on a free port; killed when dropped.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on the PATH (CI installs it)");
        OwnRedis { child, port }
    }

    async fn ready(&self) {
        tokio::time::timeout(HANG, async {
            while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_err()
            {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("redis-server starts");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis goes away under a connected store and comes back: calls fail with
/// `Unavailable` meanwhile (no panic, no hang), and the store reconnects by itself.
#[tokio::test]
async fn the_store_reconnects_after_redis_restarts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = OwnRedis::start(port);
    redis.ready().await;
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(200))
        .connect_retries(1)
        .connect()
        .await
        .unwrap();
    assert!(store.append(&event("evt_1", 1)).await.unwrap());
    drop(redis);

    let err = tokio::time::timeout(HANG, store.append(&event("evt_2", 2)))
        .await
        .expect("a call to a dead Redis does not hang")
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // The new server is empty (no persistence): the log starts over, group and all.
    let _redis = OwnRedis::start(port);
    let appended = tokio::time::timeout(HANG, async {
        loop {
            match store.append(&event("evt_3", 3)).await {
                Ok(new) => return new,
                Err(StoreError::Unavailable(_)) => tokio::task::yield_now().await,
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await
    .expect("the store reconnects");
    assert!(appended);
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_3"]);
}

/// With a retention, an acked id is forgotten once Redis expires its key; unacked ids
/// never are, and acking again does not restart the retention.
#[tokio::test]
async fn acked_ids_are_forgotten_after_the_retention() {
    let cleanup = Cleanup { prefix: prefix() };
    let hour = connect(
        builder(&cleanup.prefix)
            .consumer("hour")
            .forget_acked_after(Duration::from_secs(3600)),
    )
    .await;
    let mut raw = raw().await;
    let id_key = |id: &str| format!("{{{}:events}}:id:{id}", cleanup.prefix);
    for id in ["evt_a", "evt_b"] {
        assert!(hour.append(&event(id, 0)).await.unwrap());
    }
    hour.ack("evt_a").await.unwrap();
    let pttl: i64 = raw.pttl(id_key("evt_a")).await.unwrap();
    assert!(0 < pttl && pttl <= 3_600_000, "{pttl}");
    let pttl: i64 = raw.pttl(id_key("evt_b")).await.unwrap();
    assert_eq!(pttl, -1, "unacked: kept");
    let _: bool = raw.pexpire(id_key("evt_a"), 100_000).await.unwrap();
    hour.ack("evt_a").await.unwrap();
    let pttl: i64 = raw.pttl(id_key("evt_a")).await.unwrap();
    assert!(
        0 < pttl && pttl <= 100_000,
        "acked again restarted it: {pttl}"
    );

    let brief = connect(
        builder(&cleanup.prefix)
            .consumer("brief")
            .forget_acked_after(Duration::from_millis(1)),
    )
    .await;
    brief.ack("evt_b").await.unwrap();
    tokio::time::timeout(HANG, async {
        while EventLog::contains(&brief, "evt_b").await.unwrap() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the acked id is forgotten");
    assert!(brief.append(&event("evt_b", 1)).await.unwrap(), "new again");
}
