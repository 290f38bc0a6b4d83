//! The shared behaviour suite, run against every store.

use crate::suite;

use mailwire_store::{ManualClock, MemoryStore, RedbStore};

/// One `#[tokio::test]` per suite function, for the store `$open` makes.
macro_rules! run_suite {
    ($open:path: $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let clock = ManualClock::default();
            let (store, _guard) = $open(clock.clone()).await;
            tokio::time::timeout(suite::HANG, suite::$name(store, clock))
                .await
                .expect("the test hung");
        }
    )*};
}

macro_rules! all_tests {
    ($open:path) => {
        run_suite!($open:
            append_is_idempotent,
            unacked_is_oldest_first,
            ack_removes_from_unacked,
            seen_set_honours_ttl,
            seen_set_ttls_are_per_entry,
            log_and_seen_set_are_separate,
            odd_ids_round_trip,
            concurrent_appends_keep_each_once,
            closed_store_refuses_everything,
            checkpoints_round_trip,
            a_held_claim_does_not_lapse,
            a_buried_event_is_listed_and_acked,
            a_revived_event_is_claimed_again,
            a_discarded_letter_stays_acked,
            dead_letters_are_oldest_first,
        );
    };
}

mod memory {
    use super::*;

    async fn open(clock: ManualClock) -> (MemoryStore, ()) {
        (MemoryStore::with_clock(clock), ())
    }

    all_tests!(open);
    run_suite!(open: a_released_claim_is_free_at_once);
}

mod redb {
    use super::*;

    /// A store in a new file in a temp dir (real disk, real fsync); the dir lives as
    /// long as the returned guard.
    async fn open(clock: ManualClock) -> (RedbStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = RedbStore::builder()
            .clock(clock)
            .open(dir.path().join("store.redb"))
            .expect("a new store");
        (store, dir)
    }

    all_tests!(open);
    run_suite!(open: a_released_claim_is_free_at_once);
}

/// Needs a Redis server at 127.0.0.1:6379; each test works under a key prefix of its
/// own and deletes it afterwards.
#[cfg(feature = "redis")]
mod redis {
    use super::*;

    use suite::redis::open;

    all_tests!(open);
}
