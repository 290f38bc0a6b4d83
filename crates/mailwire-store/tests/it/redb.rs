//! What only the redb store promises: durability, group commit, one store per file,
//! typed errors for a damaged file. Real files in temp dirs.

use crate::suite;

use std::time::Duration;

use mailwire_store::{Checkpoints, ManualClock, RedbStore, SeenSet, Store, StoreError};
use suite::{HANG, event};

fn temp() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("store.redb");
    (dir, path)
}

fn ids(events: &[mailwire_proto::Event]) -> Vec<String> {
    events.iter().map(|e| e.id().to_owned()).collect()
}

#[tokio::test]
async fn close_then_reopen_keeps_everything() {
    let (_dir, path) = temp();
    let clock = ManualClock::default();
    let store = RedbStore::builder()
        .clock(clock.clone())
        .open(&path)
        .unwrap();
    for n in 0..10 {
        assert!(
            store
                .append(&event(&format!("evt_{n}"), n))
                .await
                .unwrap()
                .is_new()
        );
    }
    store.ack("evt_2").await.unwrap();
    store.ack("evt_5").await.unwrap();
    store.insert("wh_1", Duration::from_secs(60)).await.unwrap();
    store.close().await.unwrap();
    assert!(store.is_closed());

    let store = RedbStore::builder()
        .clock(clock.clone())
        .open(&path)
        .unwrap();
    let unacked = store.unacked(100).await.unwrap();
    assert_eq!(
        ids(&unacked),
        [
            "evt_0", "evt_1", "evt_3", "evt_4", "evt_6", "evt_7", "evt_8", "evt_9"
        ]
    );
    assert_eq!(unacked[0], event("evt_0", 0), "the same bytes come back");
    assert!(
        !store.append(&event("evt_2", 2)).await.unwrap().is_new(),
        "acked ids are remembered"
    );
    assert!(!store.insert("wh_1", Duration::from_secs(60)).await.unwrap());
    // The seen entry expires on the clock, across the restart.
    clock.advance(Duration::from_secs(60));
    assert!(!SeenSet::contains(&store, "wh_1").await.unwrap());
    // New events go after the old ones.
    assert!(store.append(&event("evt_a", 10)).await.unwrap().is_new());
    let unacked = store.unacked(100).await.unwrap();
    assert_eq!(unacked.last().unwrap().id(), "evt_a");
    assert_eq!(unacked.len(), 9);
}

/// Checkpoints are in the file: after a close and a reopen, and after every handle
/// is dropped without `close`, the last value saved is there.
#[tokio::test]
async fn checkpoints_survive_a_reopen() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    store.save("ws:default", "evt_1").await.unwrap();
    store
        .save("backfill:inbox_a", "2026-12-07T13:00:00Z")
        .await
        .unwrap();
    store.save("ws:default", "evt_2").await.unwrap();
    store.close().await.unwrap();

    let store = RedbStore::open(&path).unwrap();
    assert_eq!(
        store.load("ws:default").await.unwrap().as_deref(),
        Some("evt_2")
    );
    assert_eq!(
        store.load("backfill:inbox_a").await.unwrap().as_deref(),
        Some("2026-12-07T13:00:00Z")
    );
    store.save("ws:default", "evt_3").await.unwrap();
    drop(store); // no close: the save was committed before it returned

    let store = RedbStore::open(&path).unwrap();
    assert_eq!(
        store.load("ws:default").await.unwrap().as_deref(),
        Some("evt_3")
    );
}

/// A save is a write of the committer like an append: saves and appends made at
/// once share commits, and saving the value already there commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_saves_share_the_appends_commits() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..500u64 {
        let store = store.clone();
        tasks.spawn(async move {
            store.append(&event(&format!("evt_{n}"), n)).await.unwrap();
            store
                .save(&format!("ws:sub-{}", n % 10), &format!("evt_{n}"))
                .await
                .unwrap();
        });
    }
    while let Some(done) = tokio::time::timeout(HANG, tasks.join_next()).await.unwrap() {
        done.unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.operations, 1000, "{stats:?}");
    assert!(stats.commits < 100, "{stats:?}");

    let before = store.stats().commits;
    let last = store.load("ws:sub-3").await.unwrap().expect("saved");
    store.save("ws:sub-3", &last).await.unwrap();
    assert_eq!(
        store.stats().commits,
        before,
        "an unchanged value is not written"
    );
    store.save("ws:sub-3", "evt_moved").await.unwrap();
    assert_eq!(store.stats().commits, before + 1);
}

/// Appends race a runtime that is dropped under them (tasks cancelled mid-append,
/// waiters gone while their commit is running); then every handle is dropped without
/// `close`. Whatever was answered `Ok` is in the file.
#[test]
fn dropping_everything_without_close_loses_nothing_answered() {
    let (_dir, path) = temp();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = RedbStore::open(&path).unwrap();
    let (answered_tx, answered_rx) = std::sync::mpsc::channel();
    for task in 0..16u64 {
        let store = store.clone();
        let answered = answered_tx.clone();
        runtime.spawn(async move {
            for n in 0.. {
                let id = format!("evt_{task}_{n}");
                if store.append(&event(&id, n)).await.is_ok() {
                    let acked = n.is_multiple_of(3) && store.ack(&id).await.is_ok();
                    let _ = answered.send((id, acked));
                }
            }
        });
    }
    drop(answered_tx);
    // Let appends get answered, then pull the runtime out from under them.
    let mut answered = Vec::new();
    while answered.len() < 500 {
        answered.push(
            answered_rx
                .recv_timeout(HANG)
                .expect("appends are answered"),
        );
    }
    // Cancels every task at its next await and joins the worker threads, without
    // letting anything finish cleanly.
    drop(runtime);
    // Tasks are gone; collect what they reported before they went.
    answered.extend(answered_rx.try_iter());
    drop(store);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store =
            RedbStore::open(&path).expect("the file is released once the last handle is dropped");
        let unacked: std::collections::HashSet<String> =
            ids(&store.unacked(usize::MAX).await.unwrap())
                .into_iter()
                .collect();
        for (id, acked) in &answered {
            assert!(Store::contains(&store, id).await.unwrap(), "{id} was lost");
            assert_eq!(!unacked.contains(id), *acked, "{id}: acked {acked}");
        }
    });
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_refused() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let err = RedbStore::open(&path).expect_err("one store per file");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("already open"), "{err}");
    // The first store is unaffected; once it is closed the file opens again.
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    store.close().await.unwrap();
    let again = RedbStore::open(&path).unwrap();
    assert_eq!(again.unacked(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_an_error() {
    let (_dir, path) = temp();
    std::fs::write(
        &path,
        b"definitely not a redb file, just some bytes ".repeat(100),
    )
    .unwrap();
    let err = RedbStore::open(&path).expect_err("not a store");
    assert!(
        matches!(err, StoreError::Unavailable(_) | StoreError::Corrupt(_)),
        "{err:?}"
    );
}

/// 1000 appends at once commit in far fewer than 1000 transactions: the fsync is
/// shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..1000u64 {
        let store = store.clone();
        tasks.spawn(async move { store.append(&event(&format!("evt_{n}"), n)).await });
    }
    while let Some(appended) = tokio::time::timeout(HANG, tasks.join_next()).await.unwrap() {
        assert!(appended.unwrap().unwrap().is_new());
    }
    let stats = store.stats();
    assert_eq!(stats.appended, 1000);
    assert_eq!(stats.operations, 1000);
    // Far fewer: on average more than ten appends per commit.
    assert!(stats.commits < 100, "{stats:?}");
    assert_eq!(store.unacked(usize::MAX).await.unwrap().len(), 1000);
}

/// With groups of one, each append is its own transaction: the baseline the
/// benchmark compares against, and proof the counter counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_of_one_commit_each_append() {
    let (_dir, path) = temp();
    let store = RedbStore::builder().max_group(1).open(&path).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..50u64 {
        let store = store.clone();
        tasks.spawn(async move { store.append(&event(&format!("evt_{n}"), n)).await });
    }
    while let Some(appended) = tokio::time::timeout(HANG, tasks.join_next()).await.unwrap() {
        assert!(appended.unwrap().unwrap().is_new());
    }
    let stats = store.stats();
    assert_eq!((stats.commits, stats.largest_group), (50, 1), "{stats:?}");
}

/// Expired seen entries are removed from the file by later commits.
#[tokio::test]
async fn expired_seen_entries_are_purged() {
    let (_dir, path) = temp();
    let clock = ManualClock::default();
    let store = RedbStore::builder()
        .clock(clock.clone())
        .open(&path)
        .unwrap();
    // All at once, so they share a few commits.
    let ids: Vec<String> = (0..600).map(|n| format!("wh_{n}")).collect();
    let ttl = Duration::from_secs(10);
    let inserted = futures::future::join_all(ids.iter().map(|id| store.insert(id, ttl))).await;
    assert!(inserted.into_iter().all(|r| r.unwrap()));
    assert_eq!(store.stats().seen_purged, 0);
    clock.advance(Duration::from_secs(10));
    // Each commit purges a bounded number; a few commits clear the backlog.
    for n in 0..5 {
        store
            .insert(&format!("new_{n}"), Duration::from_secs(10))
            .await
            .unwrap();
    }
    assert_eq!(store.stats().seen_purged, 600);
    let again = futures::future::join_all(ids.iter().map(|id| store.insert(id, ttl))).await;
    assert!(
        again.into_iter().all(|r| r.unwrap()),
        "purged ids are new again"
    );
}

#[tokio::test]
async fn flush_waits_for_queued_writes() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let events: Vec<_> = (0..20u64).map(|n| event(&format!("evt_{n}"), n)).collect();
    // join! polls the appends first, so all twenty are queued before the flush is.
    let (appended, at_flush) = tokio::join!(
        futures::future::join_all(events.iter().map(|e| store.append(e))),
        async {
            store.flush().await.unwrap();
            store.stats().appended
        },
    );
    assert!(appended.into_iter().all(|r| r.unwrap().is_new()));
    assert_eq!(
        at_flush, 20,
        "the flush returned before queued appends were committed"
    );
    store.close().await.unwrap();
    assert!(matches!(store.flush().await, Err(StoreError::Closed)));
}

/// `close` commits what was queued before it and refuses what comes after.
#[tokio::test]
async fn close_commits_what_was_queued_before_it() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let events: Vec<_> = (0..50u64).map(|n| event(&format!("evt_{n}"), n)).collect();
    // join! polls the appends first: all fifty are queued before the close is.
    let (appended, closed) = tokio::join!(
        futures::future::join_all(events.iter().map(|e| store.append(e))),
        store.close(),
    );
    closed.unwrap();
    assert!(appended.into_iter().all(|r| r.unwrap().is_new()));
    assert!(matches!(
        store.append(&event("evt_late", 0)).await,
        Err(StoreError::Closed)
    ));
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.unacked(100).await.unwrap(), events);
}

/// Seen-set ids come from request headers: a long one is stored like any other.
#[tokio::test]
async fn long_seen_ids_are_kept() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let long = "w".repeat(64 * 1024);
    assert!(store.insert(&long, Duration::from_secs(60)).await.unwrap());
    assert!(!store.insert(&long, Duration::from_secs(60)).await.unwrap());
    assert!(SeenSet::contains(&store, &long).await.unwrap());
}

/// Acked events' bytes are removed, but their positions are never handed out again:
/// a late ack of an old id must not settle a new event.
#[tokio::test]
async fn positions_are_not_reused_after_acked_events_are_removed() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    for n in 0..3 {
        store.append(&event(&format!("old_{n}"), n)).await.unwrap();
        store.ack(&format!("old_{n}")).await.unwrap();
    }
    store.close().await.unwrap();

    let store = RedbStore::open(&path).unwrap();
    for n in 0..3 {
        assert!(
            store
                .append(&event(&format!("new_{n}"), n))
                .await
                .unwrap()
                .is_new()
        );
    }
    for n in 0..3 {
        store.ack(&format!("old_{n}")).await.unwrap(); // a late, repeated ack
    }
    assert_eq!(
        ids(&store.unacked(10).await.unwrap()),
        ["new_0", "new_1", "new_2"]
    );
    assert!(!store.append(&event("old_1", 1)).await.unwrap().is_new());
}

#[tokio::test]
async fn acked_ids_are_forgotten_after_the_retention() {
    let (_dir, path) = temp();
    let clock = ManualClock::default();
    let store = RedbStore::builder()
        .clock(clock.clone())
        .forget_acked_after(Duration::from_secs(60))
        .open(&path)
        .unwrap();
    suite::acked_ids_are_forgotten_after_the_retention(store.clone(), clock).await;
    assert_eq!(store.stats().ids_forgotten, 2);
}

#[tokio::test]
async fn a_buried_id_is_kept_until_discarded() {
    let (_dir, path) = temp();
    let clock = ManualClock::default();
    let store = RedbStore::builder()
        .clock(clock.clone())
        .forget_acked_after(Duration::from_secs(60))
        .open(&path)
        .unwrap();
    suite::a_buried_id_is_kept_until_discarded(store, clock).await;
}

/// Dead letters are in the file: after a close and a reopen they are listed as they
/// were buried and their ids are still acked; one revived before the close is
/// claimed after it, one revived after the reopen is claimed after the next.
#[tokio::test]
async fn dead_letters_survive_a_reopen() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    for n in 0..4 {
        let e = event(&format!("evt_{n}"), n);
        assert!(store.append(&e).await.unwrap().is_new());
        if n < 3 {
            store.bury(&suite::letter(e, 3, n)).await.unwrap();
        }
    }
    assert!(store.revive("evt_2").await.unwrap());
    store.close().await.unwrap();

    let store = RedbStore::open(&path).unwrap();
    let letters = store.dead_letters(10).await.unwrap();
    let letter_ids: Vec<&str> = letters.iter().map(|l| l.id()).collect();
    assert_eq!(letter_ids, ["evt_0", "evt_1"]);
    assert_eq!(letters[0].event.raw(), event("evt_0", 0).raw());
    assert_eq!(letters[1].attempts, 3);
    assert_eq!(letters[1].error, "attempt 3 failed");
    assert_eq!(letters[1].at, suite::at(1));
    assert!(!store.append(&event("evt_0", 0)).await.unwrap().is_new());
    assert_eq!(
        ids(&store.claim(10).await.unwrap()),
        ["evt_3", "evt_2"],
        "the revived event is at the end of the log"
    );
    assert!(store.revive("evt_1").await.unwrap());
    assert!(store.discard("evt_0").await.unwrap());
    assert_eq!(store.stats().appended, 0, "a revive logs no new event");
    // Dropped without a close this time: what was answered is on file.
    drop(store);

    let store = RedbStore::open(&path).unwrap();
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(
        ids(&store.claim(10).await.unwrap()),
        ["evt_3", "evt_2", "evt_1"]
    );
    assert!(!store.append(&event("evt_0", 0)).await.unwrap().is_new());
    for id in ["evt_1", "evt_2", "evt_3"] {
        store.ack(id).await.unwrap();
    }
    assert!(store.unacked(10).await.unwrap().is_empty());
    // New events still get positions of their own after the repositioned ones.
    assert!(store.append(&event("evt_4", 4)).await.unwrap().is_new());
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_4"]);
    store.close().await.unwrap();
}

/// Bytes flipped inside a store's file: the open reports it, it does not trust it.
#[tokio::test]
async fn a_damaged_file_fails_to_open() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    let events: Vec<_> = (0..200u64).map(|n| event(&format!("evt_{n}"), n)).collect();
    futures::future::join_all(events.iter().map(|e| store.append(e))).await;
    store.close().await.unwrap();

    let mut bytes = std::fs::read(&path).unwrap();
    // Damage every event record (each holds `"type":"test.event"`).
    let needle = b"test.event";
    let mut damaged = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
        bytes[at + i] ^= 0x20;
        damaged += 1;
        at += i + needle.len();
    }
    assert!(damaged >= 200, "found {damaged} records");
    std::fs::write(&path, &bytes).unwrap();

    let err = RedbStore::open(&path).expect_err("damaged");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

/// Nothing needs a tokio runtime: the store works from a plain executor too.
#[test]
fn works_without_a_tokio_runtime() {
    let (_dir, path) = temp();
    futures::executor::block_on(async {
        let store = RedbStore::open(&path).unwrap();
        assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
        assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_1"]);
        assert!(Store::contains(&store, "evt_1").await.unwrap());
        assert!(store.insert("wh_1", Duration::from_secs(1)).await.unwrap());
        assert!(SeenSet::contains(&store, "wh_1").await.unwrap());
        store.ack("evt_1").await.unwrap();
        store.close().await.unwrap();
    });
}

#[tokio::test]
async fn a_second_ack_of_an_acked_id_commits_nothing() {
    let (_dir, path) = temp();
    let store = RedbStore::open(&path).unwrap();
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    store.ack("evt_1").await.unwrap();
    let after_first = store.stats();
    assert_eq!((after_first.appended, after_first.acked), (1, 1));
    // Acked again (a caller that retries its ack): the committer finds it acked,
    // writes nothing and commits nothing.
    store.ack("evt_1").await.unwrap();
    store.ack("evt_1").await.unwrap();
    let after = store.stats();
    assert_eq!(after.operations, after_first.operations + 2, "{after:?}");
    assert_eq!(after.commits, after_first.commits, "{after:?}");
    assert_eq!(after.unwritten, after_first.unwritten + 2, "{after:?}");
    assert_eq!(after.acked, 1, "{after:?}");
    // Still acked on file: a late copy is a duplicate, and nothing is left to claim.
    assert!(!store.append(&event("evt_1", 1)).await.unwrap().is_claimed());
    assert!(store.claim(10).await.unwrap().is_empty());
    store.close().await.unwrap();
    assert!(matches!(store.ack("evt_1").await, Err(StoreError::Closed)));

    // After a restart too: an ack of an acked id finds nothing to write.
    let store = RedbStore::open(&path).unwrap();
    store.ack("evt_1").await.unwrap();
    assert_eq!(store.stats().unwritten, 1);
}

#[tokio::test]
async fn an_id_appended_again_after_it_was_forgotten_is_acked_on_file_again() {
    let (_dir, path) = temp();
    let clock = ManualClock::default();
    let store = RedbStore::builder()
        .clock(clock.clone())
        .forget_acked_after(Duration::from_secs(1))
        .open(&path)
        .unwrap();
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    store.ack("evt_1").await.unwrap();
    clock.advance(Duration::from_secs(2));
    // The retention ran out (forgotten at the next write): new again, claimed again.
    assert!(store.append(&event("evt_2", 2)).await.unwrap().is_new());
    assert!(store.append(&event("evt_1", 1)).await.unwrap().is_new());
    // Its ack is not the earlier one remembered: it reaches the file.
    store.ack("evt_1").await.unwrap();
    assert_eq!(store.stats().acked, 2);
    assert_eq!(ids(&store.unacked(10).await.unwrap()), ["evt_2"]);
}
