//! What only the memory store promises.

use std::time::Duration;

use crate::suite;

use mailwire_store::{ManualClock, MemoryStore, SeenSet};

/// Expired entries are dropped as new ones arrive, so the set stays about one TTL's
/// worth of ids however long the process runs.
#[tokio::test]
async fn seen_set_growth_is_bounded_by_the_ttl() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(clock.clone());
    let ttl = Duration::from_secs(60);
    for round in 0..10 {
        for n in 0..1000 {
            assert!(store.insert(&format!("wh_{round}_{n}"), ttl).await.unwrap());
        }
        assert!(
            store.seen_len() <= 1000,
            "round {round}: {}",
            store.seen_len()
        );
        clock.advance(ttl);
    }
    assert!(store.insert("last", ttl).await.unwrap());
    assert_eq!(store.seen_len(), 1);
}

/// A re-inserted id keeps its new expiry even though its old one is still queued for
/// purging.
#[tokio::test]
async fn a_stale_expiry_does_not_purge_a_reinserted_id() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(clock.clone());
    assert!(store.insert("wh_1", Duration::from_secs(1)).await.unwrap());
    clock.advance(Duration::from_secs(1));
    assert!(
        store
            .insert("wh_1", Duration::from_secs(100))
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(10));
    assert!(store.insert("wh_2", Duration::from_secs(1)).await.unwrap());
    assert!(SeenSet::contains(&store, "wh_1").await.unwrap());
    assert!(!store.insert("wh_1", Duration::from_secs(1)).await.unwrap());
}

#[tokio::test]
async fn acked_ids_are_forgotten_after_the_retention() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(clock.clone()).forget_acked_after(Duration::from_secs(60));
    suite::acked_ids_are_forgotten_after_the_retention(store, clock).await;
}

#[tokio::test]
async fn a_buried_id_is_kept_until_discarded() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(clock.clone()).forget_acked_after(Duration::from_secs(60));
    suite::a_buried_id_is_kept_until_discarded(store, clock).await;
}
