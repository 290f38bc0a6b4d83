//! The behaviour every store must have, written once as generic async functions and
//! run against each implementation by the `behaviour` module.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::HashSet;
use std::time::Duration;

use mailwire_proto::Event;
use mailwire_store::{ManualClock, MemoryStore, RedbStore, SeenSet, StoreError};

/// Bounds a hang; never a speed assertion.
pub(crate) const HANG: Duration = Duration::from_secs(30);

/// What the suite needs beyond the two traits.
pub(crate) trait TestStore: mailwire_store::Store + SeenSet + Clone {
    /// Closes the store for every clone.
    fn close(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl TestStore for MemoryStore {
    async fn close(&self) -> Result<(), StoreError> {
        MemoryStore::close(self).await
    }
}

impl TestStore for RedbStore {
    async fn close(&self) -> Result<(), StoreError> {
        RedbStore::close(self).await
    }
}

mod dead_letters;
#[cfg(feature = "redis")]
pub(crate) mod redis;

pub(crate) use dead_letters::*;

#[cfg(feature = "redis")]
impl TestStore for mailwire_store::RedisStore {
    async fn close(&self) -> Result<(), StoreError> {
        mailwire_store::RedisStore::close(self).await
    }
}

/// An event with this id, under the simple envelope, with `n` in its body so two
/// events with one id can be told apart.
pub(crate) fn event(id: &str, n: u64) -> Event {
    let raw = format!(r#"{{"id":"{id}","type":"test.event","data":{{"n":{n}}}}}"#);
    Event::parse(raw.into_bytes()).expect("a valid test event")
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(Event::id).collect()
}

pub(crate) async fn append_is_idempotent<S: TestStore>(store: S, _clock: ManualClock) {
    let first = event("evt_1", 1);
    let second = event("evt_1", 2);
    assert!(
        store.append(&first).await.unwrap().is_new(),
        "a new id is kept"
    );
    assert!(
        !store.append(&second).await.unwrap().is_new(),
        "the same id is not kept twice"
    );
    assert!(!store.append(&first).await.unwrap().is_new());
    let unacked = store.unacked(10).await.unwrap();
    assert_eq!(unacked.len(), 1);
    assert_eq!(
        unacked[0].raw(),
        first.raw(),
        "the event stays as first logged"
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_1")
            .await
            .unwrap()
    );
    assert!(
        !mailwire_store::Store::contains(&store, "evt_2")
            .await
            .unwrap()
    );
}

pub(crate) async fn unacked_is_oldest_first<S: TestStore>(store: S, _clock: ManualClock) {
    // Ids that do not sort in append order, so the order must come from the log.
    let all: Vec<Event> = (0..50u64)
        .map(|n| event(&format!("evt_{}", (n * 37) % 101), n))
        .collect();
    for e in &all {
        assert!(store.append(e).await.unwrap().is_new());
    }
    assert_eq!(store.unacked(100).await.unwrap(), all);
    assert_eq!(store.unacked(10).await.unwrap(), all[..10]);
    assert!(store.unacked(0).await.unwrap().is_empty());
}

pub(crate) async fn ack_removes_from_unacked<S: TestStore>(store: S, _clock: ManualClock) {
    for n in 0..5 {
        store.append(&event(&format!("evt_{n}"), n)).await.unwrap();
    }
    store.ack("evt_0").await.unwrap();
    store.ack("evt_3").await.unwrap();
    store.ack("evt_3").await.unwrap(); // twice: still Ok
    store.ack("evt_unknown").await.unwrap(); // never appended: Ok, changes nothing
    let unacked = store.unacked(10).await.unwrap();
    assert_eq!(ids(&unacked), ["evt_1", "evt_2", "evt_4"]);
    // An acked event is still known: appending it again is a duplicate, and it does
    // not come back as unacked.
    assert!(
        mailwire_store::Store::contains(&store, "evt_0")
            .await
            .unwrap()
    );
    assert!(!store.append(&event("evt_0", 9)).await.unwrap().is_new());
    assert_eq!(
        ids(&store.unacked(10).await.unwrap()),
        ["evt_1", "evt_2", "evt_4"]
    );
    // The id never appended is not known.
    assert!(
        !mailwire_store::Store::contains(&store, "evt_unknown")
            .await
            .unwrap()
    );
    assert!(
        store
            .append(&event("evt_unknown", 1))
            .await
            .unwrap()
            .is_new()
    );
}

pub(crate) async fn seen_set_honours_ttl<S: TestStore>(store: S, clock: ManualClock) {
    let ttl = Duration::from_secs(60);
    assert!(!SeenSet::contains(&store, "wh_1").await.unwrap());
    assert!(store.insert("wh_1", ttl).await.unwrap(), "first sight");
    assert!(!store.insert("wh_1", ttl).await.unwrap(), "a duplicate");
    assert!(SeenSet::contains(&store, "wh_1").await.unwrap());

    clock.advance(ttl - Duration::from_millis(1));
    assert!(
        SeenSet::contains(&store, "wh_1").await.unwrap(),
        "not yet expired"
    );
    assert!(!store.insert("wh_1", ttl).await.unwrap());
    // A duplicate does not extend the entry's life.
    clock.advance(Duration::from_millis(1));
    assert!(
        !SeenSet::contains(&store, "wh_1").await.unwrap(),
        "expired at the TTL"
    );
    assert!(
        store.insert("wh_1", ttl).await.unwrap(),
        "new again once expired"
    );
    assert!(!store.insert("wh_1", ttl).await.unwrap());
}

pub(crate) async fn seen_set_ttls_are_per_entry<S: TestStore>(store: S, clock: ManualClock) {
    assert!(store.insert("short", Duration::from_secs(1)).await.unwrap());
    assert!(
        store
            .insert("long", Duration::from_secs(100))
            .await
            .unwrap()
    );
    assert!(store.insert("zero", Duration::ZERO).await.unwrap());
    assert!(
        !SeenSet::contains(&store, "zero").await.unwrap(),
        "a zero TTL is gone at once"
    );
    assert!(store.insert("zero", Duration::ZERO).await.unwrap());
    // A huge TTL saturates instead of overflowing.
    assert!(store.insert("forever", Duration::MAX).await.unwrap());
    clock.advance(Duration::from_secs(2));
    assert!(!SeenSet::contains(&store, "short").await.unwrap());
    assert!(SeenSet::contains(&store, "long").await.unwrap());
    assert!(SeenSet::contains(&store, "forever").await.unwrap());
    assert!(store.insert("short", Duration::from_secs(1)).await.unwrap());
    assert!(!store.insert("long", Duration::from_secs(1)).await.unwrap());
}

pub(crate) async fn log_and_seen_set_are_separate<S: TestStore>(store: S, _clock: ManualClock) {
    store.append(&event("evt_1", 1)).await.unwrap();
    assert!(!SeenSet::contains(&store, "evt_1").await.unwrap());
    assert!(
        store
            .insert("evt_2", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !mailwire_store::Store::contains(&store, "evt_2")
            .await
            .unwrap()
    );
    assert!(
        store
            .insert("evt_1", Duration::from_secs(60))
            .await
            .unwrap()
    );
}

pub(crate) async fn odd_ids_round_trip<S: TestStore>(store: S, _clock: ManualClock) {
    let long = "e".repeat(mailwire_proto::MAX_ID_BYTES);
    let odd = ["évt ✉ 1", "evt\\\"quoted\\\"", long.as_str(), "x"];
    for (n, id) in odd.iter().enumerate() {
        let e = event(id, n as u64);
        assert!(store.append(&e).await.unwrap().is_new(), "{id}");
        assert!(store.insert(e.id(), Duration::from_secs(5)).await.unwrap());
    }
    let unacked = store.unacked(10).await.unwrap();
    assert_eq!(unacked.len(), odd.len());
    for e in &unacked {
        assert!(
            mailwire_store::Store::contains(&store, e.id())
                .await
                .unwrap()
        );
        assert!(SeenSet::contains(&store, e.id()).await.unwrap());
        store.ack(e.id()).await.unwrap();
    }
    assert!(store.unacked(10).await.unwrap().is_empty());
}

/// Many tasks append at once, each id from two tasks: every event is kept exactly
/// once and exactly one append of each id reports it new.
pub(crate) async fn concurrent_appends_keep_each_once<S: TestStore>(store: S, _clock: ManualClock) {
    const TASKS: u64 = 32;
    const PER_TASK: u64 = 40;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut new = Vec::new();
            for n in 0..PER_TASK {
                // Task t and task t ^ 1 append the same ids.
                let id = format!("evt_{}_{n}", task / 2);
                if store.append(&event(&id, task)).await.unwrap().is_new() {
                    new.push(id);
                }
                let seen = format!("wh_{}_{n}", task / 2);
                store.insert(&seen, Duration::from_secs(60)).await.unwrap();
            }
            new
        });
    }
    let mut new = Vec::new();
    while let Some(result) = tokio::time::timeout(HANG, tasks.join_next()).await.unwrap() {
        new.extend(result.unwrap());
    }
    let distinct: HashSet<&String> = new.iter().collect();
    assert_eq!(distinct.len(), new.len(), "an id was reported new twice");
    assert_eq!(new.len() as u64, TASKS / 2 * PER_TASK);

    let unacked = store.unacked(usize::MAX).await.unwrap();
    let logged: HashSet<&str> = unacked.iter().map(Event::id).collect();
    assert_eq!(unacked.len(), new.len(), "an id was logged twice");
    assert_eq!(logged, new.iter().map(String::as_str).collect());
    // Each task's own appends come out in the order it made them.
    for task in 0..TASKS / 2 {
        let prefix = format!("evt_{task}_");
        let mine: Vec<u64> = unacked
            .iter()
            .filter_map(|e| e.id().strip_prefix(&prefix)?.parse().ok())
            .collect();
        assert!(mine.is_sorted(), "task {task}: {mine:?}");
    }
    for pair in 0..TASKS / 2 {
        for n in 0..PER_TASK {
            assert!(
                !store
                    .insert(&format!("wh_{pair}_{n}"), Duration::from_secs(60))
                    .await
                    .unwrap()
            );
        }
    }
}

pub(crate) async fn closed_store_refuses_everything<S: TestStore>(store: S, _clock: ManualClock) {
    store.append(&event("evt_1", 1)).await.unwrap();
    let other = store.clone();
    store.close().await.unwrap();
    store.close().await.unwrap(); // twice: Ok
    let closed = |r: Result<(), StoreError>| assert!(matches!(r, Err(StoreError::Closed)), "{r:?}");
    closed(other.append(&event("evt_2", 2)).await.map(drop));
    closed(other.unacked(10).await.map(drop));
    closed(other.ack("evt_1").await);
    closed(
        mailwire_store::Store::contains(&other, "evt_1")
            .await
            .map(drop),
    );
    closed(other.insert("wh_1", Duration::from_secs(1)).await.map(drop));
    closed(SeenSet::contains(&other, "wh_1").await.map(drop));
    closed(other.bury(&letter(event("evt_1", 1), 1, 1)).await);
    closed(other.dead_letters(10).await.map(drop));
    closed(other.revive("evt_1").await.map(drop));
    closed(other.discard("evt_1").await.map(drop));
}

/// For a store opened with a 60 s retention of acked ids: an acked id is a duplicate
/// for 60 s after its ack, then new again; unacked ids are never forgotten. Forgetting
/// happens on writes, so each check follows one.
pub(crate) async fn acked_ids_are_forgotten_after_the_retention<S: TestStore>(
    store: S,
    clock: ManualClock,
) {
    for id in ["evt_a", "evt_b", "evt_c"] {
        assert!(store.append(&event(id, 0)).await.unwrap().is_new());
    }
    store.ack("evt_a").await.unwrap();
    clock.advance(Duration::from_secs(30));
    store.ack("evt_b").await.unwrap();
    store.ack("evt_a").await.unwrap(); // acked again: its clock does not restart
    clock.advance(Duration::from_secs(30) - Duration::from_millis(1));
    assert!(
        !store.append(&event("evt_a", 1)).await.unwrap().is_new(),
        "still within the retention"
    );

    clock.advance(Duration::from_millis(1));
    assert!(store.append(&event("evt_d", 0)).await.unwrap().is_new());
    assert!(
        !mailwire_store::Store::contains(&store, "evt_a")
            .await
            .unwrap(),
        "forgotten"
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_b")
            .await
            .unwrap()
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_c")
            .await
            .unwrap(),
        "unacked: kept"
    );
    assert!(
        store.append(&event("evt_a", 2)).await.unwrap().is_new(),
        "new again"
    );
    assert_eq!(
        ids(&store.unacked(10).await.unwrap()),
        ["evt_c", "evt_d", "evt_a"]
    );

    clock.advance(Duration::from_secs(3600));
    store.ack("evt_d").await.unwrap(); // a write: forgets evt_b; evt_d is acked now
    assert!(
        !mailwire_store::Store::contains(&store, "evt_b")
            .await
            .unwrap()
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_c")
            .await
            .unwrap()
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_d")
            .await
            .unwrap()
    );
}

/// A checkpoint saved is the one loaded; saving again replaces it; keys are apart
/// from each other and from the log and the seen-set; a closed store refuses both
/// with its typed error.
pub(crate) async fn checkpoints_round_trip<S: TestStore>(store: S, _clock: ManualClock) {
    assert_eq!(store.load("ws:tenant-a:sub-1").await.unwrap(), None);
    store.save("ws:tenant-a:sub-1", "evt_41").await.unwrap();
    store.save("ws:tenant-b:sub-1", "evt_7").await.unwrap();
    assert_eq!(
        store.load("ws:tenant-a:sub-1").await.unwrap().as_deref(),
        Some("evt_41")
    );
    store.save("ws:tenant-a:sub-1", "evt_42").await.unwrap();
    store.save("ws:tenant-a:sub-1", "evt_42").await.unwrap(); // unchanged: Ok
    assert_eq!(
        store.load("ws:tenant-a:sub-1").await.unwrap().as_deref(),
        Some("evt_42"),
        "the last value saved"
    );
    assert_eq!(
        store.load("ws:tenant-b:sub-1").await.unwrap().as_deref(),
        Some("evt_7")
    );
    // Odd keys and values round-trip, the empty string included.
    let long = "k".repeat(4096);
    for (key, value) in [
        ("backfill:inbox ✉ é", "2026-01-01T00:00:00.123Z"),
        ("", "empty key"),
        ("empty value", ""),
        (long.as_str(), "{\"after\":\"evt_1\"}"),
    ] {
        store.save(key, value).await.unwrap();
        assert_eq!(
            store.load(key).await.unwrap().as_deref(),
            Some(value),
            "{key}"
        );
    }
    // A checkpoint is neither an event nor a seen id.
    assert!(
        !mailwire_store::Store::contains(&store, "ws:tenant-a:sub-1")
            .await
            .unwrap()
    );
    assert!(
        !SeenSet::contains(&store, "ws:tenant-a:sub-1")
            .await
            .unwrap()
    );
    assert!(store.unacked(10).await.unwrap().is_empty());

    let other = store.clone();
    store.close().await.unwrap();
    for err in [
        other.save("ws:tenant-a:sub-1", "evt_43").await.unwrap_err(),
        other.load("ws:tenant-a:sub-1").await.map(drop).unwrap_err(),
    ] {
        assert!(
            matches!(err.downcast_ref::<StoreError>(), Some(StoreError::Closed)),
            "a typed StoreError: {err:?}"
        );
    }
}

/// A claim this store value holds does not lapse while held, however long: its own
/// `claim()` does not hand the event back, a copy is `Known`, and `holds` says so
/// until the ack.
pub(crate) async fn a_held_claim_does_not_lapse<S: TestStore>(store: S, clock: ManualClock) {
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    assert!(store.holds("evt_1"));
    assert!(!store.holds("evt_unknown"), "never appended");
    for _ in 0..10 {
        clock.advance(store.lease());
        assert!(store.claim(10).await.unwrap().is_empty(), "held: not free");
        assert_eq!(
            store.append(&event("evt_1", 1)).await.unwrap(),
            mailwire_store::Appended::Known
        );
        assert!(store.holds("evt_1"));
    }
    store.ack("evt_1").await.unwrap();
    assert!(!store.holds("evt_1"), "acked: no longer held");
    assert!(store.claim(10).await.unwrap().is_empty(), "acked: gone");
}

/// Memory and redb: a released claim is free at once (nothing else in this process
/// holds it), and the claim `claim()` makes is held like an append's.
pub(crate) async fn a_released_claim_is_free_at_once<S: TestStore>(store: S, clock: ManualClock) {
    for n in 1..=2 {
        let e = event(&format!("evt_{n}"), n);
        assert!(store.append(&e).await.unwrap().is_new());
    }
    store.release("evt_1");
    assert!(!store.holds("evt_1"));
    assert!(store.holds("evt_2"));
    assert_eq!(ids(&store.claim(10).await.unwrap()), ["evt_1"]);
    assert!(store.holds("evt_1"), "claimed again: held");
    clock.advance(store.lease() * 10);
    assert!(store.claim(10).await.unwrap().is_empty());
    assert_eq!(
        store.append(&event("evt_1", 1)).await.unwrap(),
        mailwire_store::Appended::Known
    );
    store.release("evt_2");
    assert_eq!(
        store.append(&event("evt_2", 2)).await.unwrap(),
        mailwire_store::Appended::Claimed,
        "a copy of a released event claims it again"
    );
    assert!(store.holds("evt_2"));
    store.ack("evt_1").await.unwrap();
    store.ack("evt_2").await.unwrap();
    assert!(!store.holds("evt_1") && !store.holds("evt_2"));
}
