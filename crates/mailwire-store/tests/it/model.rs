//! Random sequences of operations, run against each store and against a plain model
//! of what the traits promise; every answer must match. The redb runs also close and
//! reopen the file at random points.

use crate::suite;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use mailwire_store::{ManualClock, MemoryStore, RedbStore, SeenSet, Store};
use proptest::prelude::*;
use suite::event;

#[derive(Clone, Debug)]
enum Op {
    Append { id: u8, n: u64 },
    Ack { id: u8 },
    Unacked { limit: usize },
    LogContains { id: u8 },
    Insert { id: u8, ttl_ms: u64 },
    SeenContains { id: u8 },
    Advance { ms: u64 },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..8u8, any::<u64>()).prop_map(|(id, n)| Op::Append { id, n }),
        2 => (0..8u8).prop_map(|id| Op::Ack { id }),
        2 => (0..10usize).prop_map(|limit| Op::Unacked { limit }),
        1 => (0..8u8).prop_map(|id| Op::LogContains { id }),
        3 => (0..4u8, prop_oneof![Just(0u64), Just(10), Just(1000), 0..3000u64])
            .prop_map(|(id, ttl_ms)| Op::Insert { id, ttl_ms }),
        1 => (0..4u8).prop_map(|id| Op::SeenContains { id }),
        2 => (0..1500u64).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Reopen),
    ]
}

/// What the traits promise, in the plainest terms.
struct Model {
    /// (id, body number, acked at), in append order.
    log: Vec<(u8, u64, Option<u64>)>,
    /// Seen id -> expiry, in ms on the model's clock.
    seen: HashMap<u8, u64>,
    /// Acked ids are forgotten this long after their ack, on the next write.
    forget_acked_after: Option<u64>,
    /// Ids this store value holds (appended or claimed, not acked): a copy of one
    /// is answered from memory, which writes nothing (and so forgets nothing).
    held: HashSet<u8>,
    // Starts far from zero, as a real clock does, so "now - retention" never
    // saturates.
    now: u64,
}

impl Model {
    fn new(forget_acked_after: Option<u64>) -> Model {
        Model {
            log: Vec::new(),
            seen: HashMap::new(),
            forget_acked_after,
            held: HashSet::new(),
            now: 1_000_000,
        }
    }

    /// What every write does first.
    fn forget(&mut self) {
        if let Some(retain) = self.forget_acked_after {
            let cutoff = self.now - retain;
            self.log.retain(|e| e.2.is_none_or(|at| at > cutoff));
        }
    }

    fn append(&mut self, id: u8, n: u64) -> bool {
        if self.held.contains(&id) {
            return false;
        }
        self.forget();
        match self.log.iter().find(|&&(i, _, _)| i == id) {
            // Unacked and free: claimed now.
            Some(&(_, _, None)) => {
                self.held.insert(id);
                false
            }
            Some(_) => false,
            None => {
                self.log.push((id, n, None));
                self.held.insert(id);
                true
            }
        }
    }

    fn ack(&mut self, id: u8) {
        self.held.remove(&id);
        self.forget();
        for entry in &mut self.log {
            if entry.0 == id && entry.2.is_none() {
                entry.2 = Some(self.now);
            }
        }
    }

    fn unacked(&self, limit: usize) -> Vec<(u8, u64)> {
        let pending = self.log.iter().filter(|e| e.2.is_none());
        pending.take(limit).map(|&(id, n, _)| (id, n)).collect()
    }

    fn seen(&self, id: u8) -> bool {
        self.seen
            .get(&id)
            .is_some_and(|&expires| expires > self.now)
    }

    fn insert(&mut self, id: u8, ttl_ms: u64) -> bool {
        self.forget();
        if self.seen(id) {
            return false;
        }
        self.seen.insert(id, self.now + ttl_ms);
        true
    }
}

fn log_id(id: u8) -> String {
    format!("evt_{id}")
}

fn seen_id(id: u8) -> String {
    format!("wh_{id}")
}

/// Runs `ops` against `store` and the model; `reopen` swaps in the store reopened.
async fn check<S: Store + SeenSet>(
    mut store: S,
    clock: ManualClock,
    forget_acked_after: Option<u64>,
    ops: &[Op],
    frees_claims: bool,
    mut reopen: impl AsyncFnMut(S) -> S,
) -> Result<(), TestCaseError> {
    let mut model = Model::new(forget_acked_after);
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Append { id, n } => {
                let got = store.append(&event(&log_id(id), n)).await.unwrap();
                prop_assert_eq!(got.is_new(), model.append(id, n), "step {}: {:?}", step, op);
            }
            Op::Ack { id } => {
                store.ack(&log_id(id)).await.unwrap();
                model.ack(id);
            }
            Op::Unacked { limit } => {
                let got = store.unacked(limit).await.unwrap();
                let want: Vec<_> = model
                    .unacked(limit)
                    .into_iter()
                    .map(|(id, n)| event(&log_id(id), n))
                    .collect();
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
            }
            Op::LogContains { id } => {
                let got = Store::contains(&store, &log_id(id)).await.unwrap();
                let want = model.log.iter().any(|e| e.0 == id);
                prop_assert_eq!(got, want, "step {}: {:?}", step, op);
            }
            Op::Insert { id, ttl_ms } => {
                let ttl = Duration::from_millis(ttl_ms);
                let got = store.insert(&seen_id(id), ttl).await.unwrap();
                prop_assert_eq!(got, model.insert(id, ttl_ms), "step {}: {:?}", step, op);
            }
            Op::SeenContains { id } => {
                let got = SeenSet::contains(&store, &seen_id(id)).await.unwrap();
                prop_assert_eq!(got, model.seen(id), "step {}: {:?}", step, op);
            }
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms;
            }
            Op::Reopen => {
                store = reopen(store).await;
                // A restart frees every claim (a store that is not reopened keeps
                // its own).
                if frees_claims {
                    model.held.clear();
                }
            }
        }
    }
    Ok(())
}

/// No retention, an immediate one, or one the clock steps cross now and then.
fn retention() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), Just(Some(0)), (1..3000u64).prop_map(Some)]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_store_matches_the_model(
        ops in prop::collection::vec(op(), 1..60),
        retain in retention(),
    ) {
        runtime().block_on(async {
            let clock = ManualClock::default();
            let mut store = MemoryStore::with_clock(clock.clone());
            if let Some(ms) = retain {
                store = store.forget_acked_after(Duration::from_millis(ms));
            }
            // Memory does not persist: "reopen" keeps the same store.
            check(store, clock, retain, &ops, false, async |s| s).await
        })?;
    }
}

proptest! {
    // Every write is an fsync: fewer, shorter cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn redb_store_matches_the_model(
        ops in prop::collection::vec(op(), 1..40),
        retain in retention(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        runtime().block_on(async {
            let clock = ManualClock::default();
            let open = |clock: &ManualClock, path: &Path| {
                let mut builder = RedbStore::builder().clock(clock.clone());
                if let Some(ms) = retain {
                    builder = builder.forget_acked_after(Duration::from_millis(ms));
                }
                builder.open(path).unwrap()
            };
            let store = open(&clock, &path);
            let reopen_clock = clock.clone();
            check(store, clock, retain, &ops, true, async |store: RedbStore| {
                store.close().await.unwrap();
                open(&reopen_clock, &path)
            })
            .await
        })?;
    }
}
