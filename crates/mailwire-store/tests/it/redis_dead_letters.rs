//! What the Redis store promises about dead letters: shared by the instances on one
//! log, a revived event claimed by any of them, a buried id kept while buried, typed
//! errors for letters it did not write. Needs a Redis server at 127.0.0.1:6379; each
//! test works under a key prefix of its own and deletes it afterwards.
#![cfg(feature = "redis")]

use crate::suite;

use std::time::Duration;

use mailwire_proto::Event;
use mailwire_store::{Appended, RedisStore, Store, StoreError};
use redis::AsyncCommands;
use suite::event;
use suite::redis::{Cleanup, builder, connect, prefix, raw};

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id().to_owned()).collect()
}

/// Two instances (consumers of one group) on a fresh prefix; `b` takes over after
/// `lease`.
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

/// Dead letters are shared by the instances on one log: buried by one, listed and
/// revived by another, and a revived event is claimed by whichever instance claims
/// next, at once (nobody holds it, whatever the leases).
#[tokio::test]
async fn a_revived_event_is_claimed_by_any_instance() {
    let (a, b, cleanup) = two_consumers(Duration::from_secs(3600)).await;
    for n in 0..2 {
        let e = event(&format!("evt_{n}"), n);
        assert_eq!(a.append(&e).await.unwrap(), Appended::New);
        a.bury(&suite::letter(e, 2, n)).await.unwrap();
    }
    assert_eq!(
        stream_len(&cleanup.prefix).await,
        0,
        "buried: out of the log"
    );
    let letters = b.dead_letters(10).await.unwrap();
    let letter_ids: Vec<&str> = letters.iter().map(|l| l.id()).collect();
    assert_eq!(letter_ids, ["evt_0", "evt_1"]);
    assert_eq!(letters[0].event.raw(), event("evt_0", 0).raw());
    assert_eq!(letters[1].attempts, 2);
    assert_eq!(letters[1].at, suite::at(1));
    assert_eq!(b.append(&event("evt_0", 0)).await.unwrap(), Appended::Known);

    // Revived by b, claimed by a.
    assert!(b.revive("evt_0").await.unwrap());
    assert_eq!(ids(&a.unacked(10).await.unwrap()), ["evt_0"]);
    assert_eq!(ids(&a.claim(10).await.unwrap()), ["evt_0"]);
    assert!(a.holds("evt_0") && !b.holds("evt_0"));
    assert!(b.claim(10).await.unwrap().is_empty(), "a holds it now");
    assert_eq!(b.append(&event("evt_0", 0)).await.unwrap(), Appended::Known);
    a.ack("evt_0").await.unwrap();

    // Revived by a, claimed by b (whose lease is an hour).
    assert!(a.revive("evt_1").await.unwrap());
    assert!(b.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(ids(&b.claim(10).await.unwrap()), ["evt_1"]);
    assert!(a.claim(10).await.unwrap().is_empty(), "b holds it now");
    b.ack("evt_1").await.unwrap();
    assert_eq!(stream_len(&cleanup.prefix).await, 0);
    assert_eq!(a.append(&event("evt_1", 1)).await.unwrap(), Appended::Known);
}

/// With a retention, a buried id's key does not expire while it is a dead letter
/// (acking it, from any instance, does not start the retention); discarding it does,
/// and reviving it takes the expiry away again.
#[tokio::test]
async fn a_buried_id_is_kept_until_discarded() {
    let cleanup = Cleanup { prefix: prefix() };
    let retained = |name: &str| {
        builder(&cleanup.prefix)
            .consumer(name)
            .forget_acked_after(Duration::from_secs(3600))
    };
    let store = connect(retained("r")).await;
    let other = connect(retained("o")).await;
    let mut raw = raw().await;
    let id_key = |id: &str| format!("{{{}:events}}:id:{id}", cleanup.prefix);
    let pttl = async |raw: &mut redis::aio::MultiplexedConnection, id: &str| -> i64 {
        raw.pttl(id_key(id)).await.unwrap()
    };
    for id in ["evt_a", "evt_b"] {
        assert!(store.append(&event(id, 0)).await.unwrap().is_new());
    }
    store.ack("evt_a").await.unwrap();
    assert!(pttl(&mut raw, "evt_a").await > 0);
    store
        .bury(&suite::letter(event("evt_a", 0), 1, 0))
        .await
        .unwrap();
    assert_eq!(pttl(&mut raw, "evt_a").await, -1, "buried: kept");
    store
        .bury(&suite::letter(event("evt_b", 0), 1, 1))
        .await
        .unwrap();
    other.ack("evt_b").await.unwrap();
    assert_eq!(pttl(&mut raw, "evt_b").await, -1, "an ack starts nothing");

    assert!(store.discard("evt_a").await.unwrap());
    let left = pttl(&mut raw, "evt_a").await;
    assert!(0 < left && left <= 3_600_000, "{left}");
    assert!(Store::contains(&store, "evt_a").await.unwrap());

    assert!(other.revive("evt_b").await.unwrap());
    assert_eq!(pttl(&mut raw, "evt_b").await, -1);
    assert_eq!(ids(&store.claim(10).await.unwrap()), ["evt_b"]);
    store.ack("evt_b").await.unwrap();
    let left = pttl(&mut raw, "evt_b").await;
    assert!(0 < left && left <= 3_600_000, "acked again: {left}");
}

/// A dead letter that is not what the store wrote is corrupt, for the listing and
/// the revive, and puts nothing into the stream; discarding it still works.
#[tokio::test]
async fn a_dead_letter_that_is_not_one_is_corrupt() {
    let cleanup = Cleanup { prefix: prefix() };
    let store = connect(builder(&cleanup.prefix)).await;
    let mut raw = raw().await;
    let dead = format!("{{{}:events}}:dead", cleanup.prefix);
    let letters = format!("{{{}:events}}:dead:letters", cleanup.prefix);
    let _: i64 = raw.zadd(&dead, "evt_1", 1).await.unwrap();
    let _: i64 = raw.hset(&letters, "evt_1", "not a letter").await.unwrap();
    let err = store.dead_letters(10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let err = store.revive("evt_1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_eq!(stream_len(&cleanup.prefix).await, 0);
    assert!(store.discard("evt_1").await.unwrap());
    assert!(store.dead_letters(10).await.unwrap().is_empty());

    // Listed but not kept.
    let _: i64 = raw.zadd(&dead, "evt_2", 2).await.unwrap();
    let err = store.dead_letters(10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(!store.revive("evt_2").await.unwrap());
    let _: i64 = raw.del(&dead).await.unwrap();

    // A key of another type.
    let _: () = raw.set(&letters, "x").await.unwrap();
    let err = store
        .bury(&suite::letter(event("evt_3", 3), 1, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        !Store::contains(&store, "evt_3").await.unwrap(),
        "a bury that failed wrote nothing"
    );
    let err = store.revive("evt_3").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}
