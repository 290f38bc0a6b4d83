//! What only the Redis store promises: one log shared by several consumers, a dead
//! consumer's events claimed by another, typed errors for a Redis that is down or
//! holds something else. Needs a Redis server at 127.0.0.1:6379 (CI starts one); each
//! test works under a key prefix of its own and deletes it afterwards.
#![cfg(feature = "redis")]

use crate::suite;

use std::collections::HashSet;
use std::time::Duration;

use mailwire_proto::Event;
use mailwire_store::{Appended, Checkpoints, RedisStore, SeenSet, Store, StoreError};
use redis::AsyncCommands;
use suite::redis::{Cleanup, builder, claim_n, connect, prefix, raw, until};
use suite::{HANG, event};

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id().to_owned()).collect()
}

/// Two instances (consumers of one group) on a fresh prefix, each with its own
/// connection; `b` takes over after `lease`.
async fn two_consumers(lease: Duration) -> (RedisStore, RedisStore, Cleanup) {
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(builder(&cleanup.prefix).consumer("a")).await;
    let b = connect(builder(&cleanup.prefix).consumer("b").lease(lease)).await;
    (a, b, cleanup)
}

async fn stream_len(prefix: &str) -> i64 {
    raw()
        .await
        .xlen(format!("{{{prefix}:events}}:stream"))
        .await
        .unwrap()
}

/// The first instance to append an event holds it; the other's copy is known, and
/// neither hands out the other's events while its lease is live.
#[tokio::test]
async fn the_first_to_append_claims() {
    let (a, b, _cleanup) = two_consumers(Duration::from_secs(3600)).await;
    for n in 0..20 {
        let id = format!("evt_{n}");
        let (first, second) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(first.append(&event(&id, n)).await.unwrap(), Appended::New);
        assert_eq!(first.append(&event(&id, n)).await.unwrap(), Appended::Known);
        assert_eq!(
            second.append(&event(&id, n)).await.unwrap(),
            Appended::Known
        );
    }
    // Nothing is free: every event is held by a live instance.
    assert!(a.claim(100).await.unwrap().is_empty());
    assert!(b.claim(100).await.unwrap().is_empty());
    assert_eq!(
        a.unacked(100).await.unwrap().len(),
        20,
        "a read claims nothing"
    );
    for n in (0..20).step_by(2) {
        a.ack(&format!("evt_{n}")).await.unwrap();
    }
    assert_eq!(
        b.append(&event("evt_0", 0)).await.unwrap(),
        Appended::Known,
        "acked"
    );
    assert_eq!(
        stream_len(&_cleanup.prefix).await,
        10,
        "acked bytes are dropped"
    );
}

/// A claim not acked within its lease is taken over, while the taker runs: by its
/// next page of `claim`, or by appending a copy.
#[tokio::test]
async fn a_dead_instances_events_are_taken_over_after_the_lease() {
    let cleanup = Cleanup { prefix: prefix() };
    let dead = connect(builder(&cleanup.prefix).consumer("dead")).await;
    for n in 0..4 {
        assert!(
            dead.append(&event(&format!("evt_{n}"), n))
                .await
                .unwrap()
                .is_new()
        );
    }
    drop(dead); // crashed: its four events stay pending under its name

    // An instance whose lease is an hour takes nothing.
    let patient = connect(
        builder(&cleanup.prefix)
            .consumer("patient")
            .lease(Duration::from_secs(3600)),
    )
    .await;
    assert!(patient.claim(10).await.unwrap().is_empty());
    assert_eq!(
        patient.append(&event("evt_3", 3)).await.unwrap(),
        Appended::Known
    );

    // One whose lease is 5 ms takes them once they are that old, oldest first.
    let heir = connect(
        builder(&cleanup.prefix)
            .consumer("heir")
            .lease(Duration::from_millis(5)),
    )
    .await;
    let claimed: Vec<Event> = claim_n(&heir, 4, 10).await.concat();
    assert_eq!(ids(&claimed), ["evt_0", "evt_1", "evt_2", "evt_3"]);
    assert_eq!(claimed[1], event("evt_1", 1), "the same bytes come back");
    // Held by the heir now: not handed out again, a copy is Held.
    assert!(heir.claim(10).await.unwrap().is_empty());
    assert_eq!(
        heir.append(&event("evt_1", 1)).await.unwrap(),
        Appended::Known
    );
    for e in &claimed {
        heir.ack(e.id()).await.unwrap();
    }
    assert!(heir.unacked(10).await.unwrap().is_empty());
    assert_eq!(stream_len(&cleanup.prefix).await, 0);
    assert!(Store::contains(&heir, "evt_1").await.unwrap());
    assert_eq!(
        heir.append(&event("evt_1", 9)).await.unwrap(),
        Appended::Known
    );
}

/// A copy appended after the holder's lease ran out takes the event over.
#[tokio::test]
async fn an_append_takes_over_an_expired_claim() {
    let (a, b, _cleanup) = two_consumers(Duration::from_millis(5)).await;
    assert!(a.append(&event("evt_1", 1)).await.unwrap().is_new());
    // Dropped without an ack: no longer renewed, free once idle for b's lease.
    a.release("evt_1");
    let taken = tokio::time::timeout(HANG, async {
        loop {
            match b.append(&event("evt_1", 1)).await.unwrap() {
                Appended::Known => tokio::task::yield_now().await,
                other => return other,
            }
        }
    })
    .await
    .expect("the lease runs out");
    assert_eq!(taken, Appended::Claimed);
    assert_eq!(b.append(&event("evt_1", 1)).await.unwrap(), Appended::Known);
}

/// The backlog comes in pages of the size asked for, each event once.
#[tokio::test]
async fn the_backlog_is_claimed_in_pages() {
    let cleanup = Cleanup { prefix: prefix() };
    let dead = connect(builder(&cleanup.prefix).consumer("dead")).await;
    for n in 0..25 {
        dead.append(&event(&format!("evt_{n:02}"), n))
            .await
            .unwrap();
    }
    drop(dead);
    let heir = connect(
        builder(&cleanup.prefix)
            .consumer("heir")
            .lease(Duration::from_millis(5)),
    )
    .await;
    let pages = claim_n(&heir, 25, 10).await;
    assert!(heir.claim(10).await.unwrap().is_empty(), "nothing more");
    assert!(pages.iter().all(|p| p.len() <= 10), "a page is at most 10");
    for page in &pages {
        let page = ids(page);
        assert!(page.is_sorted(), "oldest first within a page: {page:?}");
    }
    let mut all: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
    all.sort();
    let expected: Vec<String> = (0..25).map(|n| format!("evt_{n:02}")).collect();
    assert_eq!(all, expected, "each once");
}

#[tokio::test]
async fn a_restart_under_the_same_name_gets_its_events_back() {
    let cleanup = Cleanup { prefix: prefix() };
    let first = connect(builder(&cleanup.prefix).consumer("worker-1")).await;
    for n in 0..3 {
        first.append(&event(&format!("evt_{n}"), n)).await.unwrap();
    }
    first.ack("evt_1").await.unwrap();
    drop(first);

    // At once, without waiting for the lease: they are this name's.
    let again = connect(builder(&cleanup.prefix).consumer("worker-1")).await;
    assert_eq!(ids(&again.claim(10).await.unwrap()), ["evt_0", "evt_2"]);
    assert!(again.claim(10).await.unwrap().is_empty());
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
            if store.append(&event(&id, n)).await.unwrap().is_claimed() {
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
    assert_eq!(all.len(), 200, "an id was claimed twice");
    assert_eq!(a.unacked(usize::MAX).await.unwrap().len(), 200);
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
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
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
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    drop(redis);

    let err = tokio::time::timeout(HANG, store.append(&event("evt_2", 2)))
        .await
        .expect("a call to a dead Redis does not hang")
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // A checkpoint cannot be saved either: an error with its typed cause, never a
    // silent success.
    let err = tokio::time::timeout(HANG, store.save("ws:default", "evt_2"))
        .await
        .expect("a call to a dead Redis does not hang")
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<StoreError>(),
            Some(StoreError::Unavailable(_))
        ),
        "{err:?}"
    );

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
    assert!(appended.is_new());
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_3"]);
}

/// Checkpoints are shared by every store value on the same key prefix (another
/// instance, a restart), whatever its consumer name, and by no other prefix.
#[tokio::test]
async fn checkpoints_are_shared_on_a_key_prefix() {
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(builder(&cleanup.prefix).consumer("a")).await;
    a.save("ws:tenant-a:sub-1", "evt_9").await.unwrap();
    a.save("backfill:tenant-a:inbox_1", "1765112400000")
        .await
        .unwrap();

    let b = connect(builder(&cleanup.prefix).consumer("b")).await;
    assert_eq!(
        b.load("ws:tenant-a:sub-1").await.unwrap().as_deref(),
        Some("evt_9")
    );
    b.save("ws:tenant-a:sub-1", "evt_10").await.unwrap();
    drop(a);
    let restarted = connect(builder(&cleanup.prefix).consumer("a")).await;
    assert_eq!(
        restarted
            .load("ws:tenant-a:sub-1")
            .await
            .unwrap()
            .as_deref(),
        Some("evt_10")
    );
    assert_eq!(
        restarted
            .load("backfill:tenant-a:inbox_1")
            .await
            .unwrap()
            .as_deref(),
        Some("1765112400000")
    );

    let elsewhere = Cleanup { prefix: prefix() };
    let other = connect(builder(&elsewhere.prefix)).await;
    assert_eq!(other.load("ws:tenant-a:sub-1").await.unwrap(), None);

    // The hash holding something else is corrupt, not a missing checkpoint.
    let key = format!("{}:checkpoints", elsewhere.prefix);
    let _: () = raw().await.set(&key, "not a hash").await.unwrap();
    let err = other.load("ws:tenant-a:sub-1").await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<StoreError>(),
            Some(StoreError::Corrupt(_))
        ),
        "{err:?}"
    );
}

/// Renewal rounds that fail while Redis is down are retried: once a Redis restarted
/// without its data is back, a round runs again (it makes the group again), and an
/// event held in memory whose entry Redis lost stays held: nobody else can deliver
/// it, so dropping it would lose it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_survives_a_redis_restart_and_keeps_what_redis_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let redis = OwnRedis::start(port);
    redis.ready().await;
    let store = RedisStore::builder(&url)
        .consumer("a")
        .lease(Duration::from_millis(60))
        .connect_timeout(Duration::from_millis(200))
        .connect_retries(1)
        .connect()
        .await
        .unwrap();
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    drop(redis);
    // Rounds fail meanwhile; the claim is still held here.
    let err = store.append(&event("evt_2", 2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(store.holds("evt_1"));

    let back = OwnRedis::start(port);
    back.ready().await;
    let stream = "{mailwire:events}:stream";
    tokio::time::timeout(HANG, async {
        loop {
            let conn = redis::Client::open(url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await;
            if let Ok(mut conn) = conn {
                let exists: Result<bool, _> = conn.exists(stream).await;
                if exists == Ok(true) {
                    break;
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a renewal round runs again once Redis is back");
    assert!(
        store.holds("evt_1"),
        "an event Redis lost is kept, not dropped"
    );
    store.ack("evt_1").await.unwrap();
    assert!(!store.holds("evt_1"));
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
        assert!(hour.append(&event(id, 0)).await.unwrap().is_new());
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
        while Store::contains(&brief, "evt_b").await.unwrap() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the acked id is forgotten");
    assert!(
        brief.append(&event("evt_b", 1)).await.unwrap().is_new(),
        "new again"
    );
}

/// A claim held is renewed for as long as it is held, over many leases: the other
/// instance's `claim()` and `append()` get nothing. Released, or its holder dropped
/// without an ack, it is taken over within about a lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_claim_is_renewed_while_held() {
    let lease = Duration::from_millis(200);
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(builder(&cleanup.prefix).consumer("a").lease(lease)).await;
    let b = connect(builder(&cleanup.prefix).consumer("b").lease(lease)).await;
    for n in 1..=2 {
        assert!(
            a.append(&event(&format!("evt_{n}"), n))
                .await
                .unwrap()
                .is_new()
        );
    }
    // Five leases of a slow consumer: the events wait in a's memory, unacked.
    let start = std::time::Instant::now();
    let mut checks = 0;
    while start.elapsed() < lease * 5 {
        assert!(
            b.claim(10).await.unwrap().is_empty(),
            "taken over while held"
        );
        for n in 1..=2 {
            let id = format!("evt_{n}");
            assert_eq!(b.append(&event(&id, n)).await.unwrap(), Appended::Known);
            assert!(a.holds(&id));
        }
        checks += 1;
        // tidy: allow(sleep) the pace of checks over several leases, not a wait
        tokio::time::sleep(lease / 10).await;
    }
    assert!(checks >= 10, "checked throughout: {checks}");

    // Released (its delivery dropped): b takes it over, a no longer holds it.
    a.release("evt_1");
    assert!(!a.holds("evt_1"));
    let taken = claim_n(&b, 1, 10).await.concat();
    assert_eq!(ids(&taken), ["evt_1"]);
    assert!(b.holds("evt_1"));
    assert!(a.holds("evt_2"), "the other claim is still renewed");

    // Dropped without an ack (a crashed handler, a stopped instance): no longer
    // renewed, taken over.
    drop(a);
    let taken = claim_n(&b, 1, 10).await.concat();
    assert_eq!(ids(&taken), ["evt_2"]);
    b.ack("evt_1").await.unwrap();
    b.ack("evt_2").await.unwrap();
    assert!(b.unacked(10).await.unwrap().is_empty());
}

/// An instance whose claim was taken over anyway (here by one with a far shorter
/// lease, as after a cut-off longer than the lease) learns it at its next renewal:
/// `holds` turns false, so the event is not handed over by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_taken_over_is_no_longer_held() {
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(
        builder(&cleanup.prefix)
            .consumer("a")
            .lease(Duration::from_millis(300)),
    )
    .await;
    let b = connect(
        builder(&cleanup.prefix)
            .consumer("b")
            .lease(Duration::from_millis(5)),
    )
    .await;
    assert!(a.append(&event("evt_1", 1)).await.unwrap().is_new());
    assert!(a.holds("evt_1"));
    let taken = claim_n(&b, 1, 10).await.concat();
    assert_eq!(ids(&taken), ["evt_1"]);
    until("a finds its claim lost", async || !a.holds("evt_1")).await;
    assert!(b.holds("evt_1"));
    assert_eq!(
        a.append(&event("evt_1", 1)).await.unwrap(),
        Appended::Known,
        "b holds it now"
    );
}

/// An append its caller stops polling once Redis has it (a consumer stalled on a
/// full pipe does not poll its merge) is still recorded as held here, and renewed:
/// the other instance never takes it over. An append whose caller is gone releases
/// its claim, which is then taken over within about a lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_not_polled_to_its_end_is_held_and_renewed_or_released() {
    let lease = Duration::from_millis(200);
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(builder(&cleanup.prefix).consumer("a").lease(lease)).await;
    let b = connect(builder(&cleanup.prefix).consumer("b").lease(lease)).await;

    let stalled_event = event("evt_stalled", 1);
    let mut stalled = Box::pin(a.append(&stalled_event));
    assert!(
        futures::poll!(&mut stalled).is_pending(),
        "Redis answers later"
    );
    // Not polled for five leases, as a stalled consumer's merge is not.
    let start = std::time::Instant::now();
    while start.elapsed() < lease * 5 {
        assert!(
            b.claim(10).await.unwrap().is_empty(),
            "taken over while held"
        );
        // tidy: allow(sleep) paces the other instance's looks, a few per lease
        tokio::time::sleep(lease / 4).await;
    }
    assert!(stalled.await.unwrap().is_new());
    assert!(a.holds(stalled_event.dedup_id()));

    // A caller that gives up: the claim is not held for nobody.
    let gone_event = event("evt_gone", 2);
    let mut gone = Box::pin(a.append(&gone_event));
    assert!(futures::poll!(&mut gone).is_pending());
    drop(gone);
    let taken = tokio::time::timeout(HANG, async {
        loop {
            let claimed = b.claim(10).await.unwrap();
            if !claimed.is_empty() {
                return ids(&claimed);
            }
            // tidy: allow(sleep) paces the other instance's looks, a few per lease
            tokio::time::sleep(lease / 4).await;
        }
    })
    .await
    .expect("taken over once its lease runs out");
    assert_eq!(taken, ["evt_gone"]);
    assert!(!a.holds(gone_event.dedup_id()));
}
