//! The behaviour every store must have, written once as generic async functions and
//! run against each implementation by `tests/behaviour.rs`.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwire_proto::Event;
use mailwire_store::{
    Appended, DeadLetter, ManualClock, MemoryStore, RedbStore, SeenSet, StoreError,
};

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

#[cfg(feature = "redis")]
pub(crate) mod redis;

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
/// `claim()` does not hand the event back, a copy is `Held`, and `holds` says so
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
            mailwire_store::Appended::Held
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
        mailwire_store::Appended::Held
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

/// A dead letter of `event`, its handler run `attempts` times, buried `at_ms`
/// milliseconds into 2026.
pub(crate) fn letter(event: Event, attempts: u32, at_ms: u64) -> DeadLetter {
    let mut letter = DeadLetter::new(event, attempts, format!("attempt {attempts} failed"));
    letter.at = at(at_ms);
    letter
}

/// `ms` milliseconds into 2026 (UTC).
pub(crate) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_767_225_600_000 + ms)
}

fn letter_ids(letters: &[DeadLetter]) -> Vec<&str> {
    letters.iter().map(DeadLetter::id).collect()
}

/// A buried event is listed with everything its letter said (the event's bytes as
/// received, the attempts, the error, when, to the millisecond), and it is acked: out
/// of the log, not held, a copy of it a duplicate, not claimable.
pub(crate) async fn a_buried_event_is_listed_and_acked<S: TestStore>(
    store: S,
    _clock: ManualClock,
) {
    let poison = event("evt_poison", 1);
    assert!(store.append(&poison).await.unwrap().is_new());
    assert!(store.append(&event("evt_ok", 2)).await.unwrap().is_new());
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    let mut buried = DeadLetter::new(poison.clone(), 5, "handler: 500 Internal Server Error ✉");
    // Sub-millisecond parts are not kept.
    buried.at = at(1234) + Duration::from_micros(567);
    assert_eq!(buried.id(), "evt_poison");
    store.bury(&buried).await.unwrap();

    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let got = &letters[0];
    assert_eq!(got.id(), "evt_poison");
    assert_eq!(got.event, poison);
    assert_eq!(got.event.raw(), poison.raw(), "the bytes as received");
    assert_eq!(got.attempts, 5);
    assert_eq!(got.error, "handler: 500 Internal Server Error ✉");
    assert_eq!(got.at, at(1234), "when, to the millisecond");

    // Acked: a copy is a duplicate, nothing hands it out again.
    assert!(!store.holds("evt_poison"));
    assert_eq!(
        store.append(&event("evt_poison", 9)).await.unwrap(),
        Appended::Known
    );
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_ok"]);
    store.release("evt_ok");
    for _ in 0..3 {
        for e in store.claim(10).await.unwrap() {
            assert_ne!(e.id(), "evt_poison", "a buried event is not claimed");
        }
    }
    assert!(
        mailwire_store::Store::contains(&store, "evt_poison")
            .await
            .unwrap()
    );
    // Acking it as well changes nothing: still a dead letter, still acked.
    store.ack("evt_poison").await.unwrap();
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_poison"]
    );
    assert_eq!(store.append(&poison).await.unwrap(), Appended::Known);

    // An event never appended can be buried too: its id is acked from then on.
    store
        .bury(&letter(event("evt_stray", 3), 1, 2000))
        .await
        .unwrap();
    assert_eq!(
        store.append(&event("evt_stray", 3)).await.unwrap(),
        Appended::Known
    );
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_poison", "evt_stray"]
    );
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_ok"]);
}

/// A revived event is back in the log, unacked and held by nobody: the next claim
/// hands it out (a lease after nothing), and it is no longer a dead letter. A copy
/// appended after the revive claims that one entry, it makes no second one.
pub(crate) async fn a_revived_event_is_claimed_again<S: TestStore>(store: S, _clock: ManualClock) {
    let first = event("evt_1", 1);
    let second = event("evt_2", 2);
    for (n, e) in [&first, &second].into_iter().enumerate() {
        assert!(store.append(e).await.unwrap().is_new());
        store.bury(&letter(e.clone(), 3, n as u64)).await.unwrap();
    }
    assert!(store.claim(10).await.unwrap().is_empty());
    assert!(store.unacked(10).await.unwrap().is_empty());

    assert!(store.revive("evt_1").await.unwrap());
    assert!(!store.revive("evt_1").await.unwrap(), "revived already");
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_2"]
    );
    assert_eq!(
        store.unacked(10).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert!(!store.holds("evt_1"), "held by nobody");
    let claimed = store.claim(10).await.unwrap();
    assert_eq!(
        claimed,
        std::slice::from_ref(&first),
        "the bytes as first received"
    );
    assert!(store.holds("evt_1"));
    assert_eq!(store.append(&first).await.unwrap(), Appended::Held);

    // Revived, then a copy appended: it claims the revived entry.
    assert!(store.revive("evt_2").await.unwrap());
    assert_eq!(
        store.append(&event("evt_2", 7)).await.unwrap(),
        Appended::Claimed
    );
    assert!(store.holds("evt_2"));
    let unacked = store.unacked(10).await.unwrap();
    assert_eq!(ids(&unacked), ["evt_1", "evt_2"], "one entry each");
    assert_eq!(unacked[1], second, "the revived bytes, not the copy's");
    assert!(store.dead_letters(10).await.unwrap().is_empty());

    // Its acked mark was forgotten: acking it now settles it again.
    store.ack("evt_1").await.unwrap();
    store.ack("evt_2").await.unwrap();
    assert!(store.unacked(10).await.unwrap().is_empty());
    assert_eq!(store.append(&first).await.unwrap(), Appended::Known);
    assert_eq!(store.append(&second).await.unwrap(), Appended::Known);
    assert!(store.claim(10).await.unwrap().is_empty());

    // Buried again after its revive: a dead letter again.
    assert!(store.append(&event("evt_3", 3)).await.unwrap().is_new());
    store.bury(&letter(event("evt_3", 3), 1, 10)).await.unwrap();
    assert!(store.revive("evt_3").await.unwrap());
    assert_eq!(ids(&store.claim(10).await.unwrap()), ["evt_3"]);
    store.bury(&letter(event("evt_3", 3), 2, 20)).await.unwrap();
    assert!(!store.holds("evt_3"));
    assert!(store.unacked(10).await.unwrap().is_empty());
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letter_ids(&letters), ["evt_3"]);
    assert_eq!(letters[0].attempts, 2);
}

/// A discarded letter is gone for good and its id stays acked; unknown ids are
/// `false`, and change nothing.
pub(crate) async fn a_discarded_letter_stays_acked<S: TestStore>(store: S, _clock: ManualClock) {
    assert!(!store.revive("evt_unknown").await.unwrap());
    assert!(!store.discard("evt_unknown").await.unwrap());
    assert!(
        !mailwire_store::Store::contains(&store, "evt_unknown")
            .await
            .unwrap(),
        "asking about an unknown letter does not make its id known"
    );
    let e = event("evt_1", 1);
    assert!(store.append(&e).await.unwrap().is_new());
    assert!(!store.revive("evt_1").await.unwrap(), "logged, not buried");
    assert!(!store.discard("evt_1").await.unwrap(), "logged, not buried");
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_1"]);

    store.bury(&letter(e.clone(), 2, 0)).await.unwrap();
    assert!(store.discard("evt_1").await.unwrap());
    assert!(!store.discard("evt_1").await.unwrap(), "discarded already");
    assert!(!store.revive("evt_1").await.unwrap(), "discarded: gone");
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(store.append(&e).await.unwrap(), Appended::Known);
    assert!(
        mailwire_store::Store::contains(&store, "evt_1")
            .await
            .unwrap()
    );
    assert!(store.unacked(10).await.unwrap().is_empty());
    assert!(store.claim(10).await.unwrap().is_empty());
}

/// Dead letters come oldest first by when they were buried, whatever the order of
/// the calls and of the ids; `limit` takes the oldest. Burying an id again replaces
/// its letter (and its place).
pub(crate) async fn dead_letters_are_oldest_first<S: TestStore>(store: S, _clock: ManualClock) {
    // Buried at 0, 1000, ..., 9000 ms, in a shuffled order, ids not sorting by time.
    let order = [3u64, 7, 0, 9, 5, 1, 8, 2, 6, 4];
    for &n in &order {
        let e = event(&format!("evt_{}", (n * 37) % 101), n);
        assert!(store.append(&e).await.unwrap().is_new());
        store.bury(&letter(e, 1, n * 1000)).await.unwrap();
    }
    let all = store.dead_letters(100).await.unwrap();
    let expected: Vec<String> = (0..10u64)
        .map(|n| format!("evt_{}", (n * 37) % 101))
        .collect();
    assert_eq!(letter_ids(&all), expected);
    let times: Vec<SystemTime> = all.iter().map(|l| l.at).collect();
    assert!(times.is_sorted(), "{times:?}");
    assert_eq!(
        letter_ids(&store.dead_letters(3).await.unwrap()),
        expected[..3]
    );
    assert!(store.dead_letters(0).await.unwrap().is_empty());
    assert_eq!(store.dead_letters(usize::MAX).await.unwrap().len(), 10);

    // The oldest buried again, later, after more attempts: replaced, now the newest.
    let oldest = all[0].event.clone();
    store.bury(&letter(oldest, 9, 60_000)).await.unwrap();
    let all = store.dead_letters(100).await.unwrap();
    assert_eq!(all.len(), 10, "replaced, not added");
    let mut expected_now = expected[1..].to_vec();
    expected_now.push(expected[0].clone());
    assert_eq!(letter_ids(&all), expected_now);
    assert_eq!(all[9].attempts, 9);
    assert_eq!(all[9].error, "attempt 9 failed");
    assert_eq!(all[9].at, at(60_000));
    // Buried again at the same time it was: replaced in place.
    let second = all[0].event.clone();
    store.bury(&letter(second, 4, 1000)).await.unwrap();
    let all = store.dead_letters(100).await.unwrap();
    assert_eq!(letter_ids(&all), expected_now);
    assert_eq!(all[0].attempts, 4);

    // Revived and discarded ones leave their place; the rest keep their order.
    assert!(store.revive(&expected[5]).await.unwrap());
    assert!(store.discard(&expected[2]).await.unwrap());
    let left = store.dead_letters(100).await.unwrap();
    let expected_left: Vec<&str> = expected_now
        .iter()
        .map(String::as_str)
        .filter(|id| *id != expected[5] && *id != expected[2])
        .collect();
    assert_eq!(letter_ids(&left), expected_left);
}

/// For a store opened with a 60 s retention of acked ids: a buried id is not
/// forgotten while it is a dead letter, however long; once discarded, it is, a
/// retention later.
pub(crate) async fn a_buried_id_is_kept_until_discarded<S: TestStore>(
    store: S,
    clock: ManualClock,
) {
    // One buried from the log, one acked first and buried after (its ack's
    // retention must not forget it while it is buried).
    for id in ["evt_a", "evt_b"] {
        assert!(store.append(&event(id, 0)).await.unwrap().is_new());
    }
    store.bury(&letter(event("evt_a", 0), 1, 0)).await.unwrap();
    store.ack("evt_b").await.unwrap();
    store.bury(&letter(event("evt_b", 0), 1, 1)).await.unwrap();
    store.ack("evt_a").await.unwrap(); // acked too: starts nothing
    clock.advance(Duration::from_secs(3600));
    assert!(store.append(&event("evt_w1", 0)).await.unwrap().is_new()); // a write
    for id in ["evt_a", "evt_b"] {
        assert!(
            mailwire_store::Store::contains(&store, id).await.unwrap(),
            "{id}: buried, so kept"
        );
        assert_eq!(store.append(&event(id, 1)).await.unwrap(), Appended::Known);
    }

    assert!(store.discard("evt_a").await.unwrap());
    clock.advance(Duration::from_secs(60) - Duration::from_millis(1));
    assert!(store.append(&event("evt_w2", 0)).await.unwrap().is_new());
    assert!(
        mailwire_store::Store::contains(&store, "evt_a")
            .await
            .unwrap(),
        "within the retention after the discard"
    );
    clock.advance(Duration::from_millis(1));
    assert!(store.append(&event("evt_w3", 0)).await.unwrap().is_new());
    assert!(
        !mailwire_store::Store::contains(&store, "evt_a")
            .await
            .unwrap(),
        "forgotten a retention after the discard"
    );
    assert!(
        mailwire_store::Store::contains(&store, "evt_b")
            .await
            .unwrap(),
        "still buried"
    );
    assert_eq!(
        letter_ids(&store.dead_letters(10).await.unwrap()),
        ["evt_b"]
    );
}
