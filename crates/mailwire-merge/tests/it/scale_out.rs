//! Several instances, each with its own live source (its own WebSocket, say), share
//! one real Redis: each event is handled by exactly one of them, and the events an
//! instance claimed and never acked (it died) are taken over by the live ones while
//! they run.
//!
//! Needs a Redis: `MAILWIRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`). The
//! test works under a key prefix of its own and deletes only those keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin, SourceError, async_trait};
use mailwire_store::RedisStore;
use mailwire_test::fixtures;
use tokio::sync::{mpsc, watch};

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(60);
const EVENTS: usize = 600;
const INSTANCES: usize = 3;

fn url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Deletes the test's keys (and only those) when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(url()).and_then(|c| c.get_connection()) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{}*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        for key in keys {
            let _: Result<i64, _> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
    }
}

/// A live transport of one instance: every event the service emits, in order.
struct Live(mpsc::UnboundedReceiver<Event>);

#[async_trait]
impl EventSource for Live {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        Ok(self
            .0
            .recv()
            .await
            .map(|e| Delivery::new(e, Origin::WebSocket)))
    }
    fn name(&self) -> &str {
        "websocket"
    }
}

#[derive(Default)]
struct Tally {
    /// Event id -> the instances that acked it.
    acked: HashMap<String, Vec<usize>>,
    /// Event id -> the instances that delivered it (acked or not).
    delivered: HashMap<String, Vec<usize>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_handled_once_across_instances_and_a_dead_ones_are_taken_over() {
    let prefix = format!("mailwire-scale-{:016x}", fastrand_u64());
    let _cleanup = Cleanup(prefix.clone());
    let lease = Duration::from_millis(500);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (done_tx, done_rx) = watch::channel(0usize);
    let done_tx = Arc::new(done_tx);

    let mut feeds = Vec::new();
    let mut tasks = Vec::new();
    for n in 0..INSTANCES {
        let store = RedisStore::builder(url())
            .key_prefix(prefix.as_str())
            .consumer(format!("instance-{n}"))
            .lease(lease)
            .connect()
            .await
            .expect("these tests need a Redis (MAILWIRE_TEST_REDIS_URL)");
        let (tx, rx) = mpsc::unbounded_channel();
        feeds.push(tx);
        let merge = Merge::builder()
            .source(Live(rx))
            .store(store.clone())
            .take_over_every(Duration::from_millis(50))
            .build();
        let (tally, done_tx) = (tally.clone(), done_tx.clone());
        tasks.push(tokio::spawn(instance(n, merge, store, tally, done_tx)));
    }

    // The service emits every event to every instance's live transport.
    let events: Vec<Event> = (0..EVENTS)
        .map(|i| fixtures::message_received(&format!("evt_{i:04}"), fixtures::INBOX))
        .collect();
    let (first, rest) = events.split_at(EVENTS / 2);
    for e in first {
        for feed in &feeds {
            let _ = feed.send(e.clone());
        }
    }
    // Instance 0 dies once it holds unacked events (see `instance`); the rest of the
    // events go to whoever is alive.
    let died = tasks.remove(0);
    tokio::time::timeout(HANG, died)
        .await
        .expect("instance 0 reaches the point where it dies")
        .expect("instance 0's task");
    for e in rest {
        for feed in &feeds[1..] {
            let _ = feed.send(e.clone());
        }
    }

    let mut done = done_rx.clone();
    tokio::time::timeout(HANG, done.wait_for(|n| *n >= EVENTS))
        .await
        .expect("every event is acked, the dead instance's within the lease")
        .unwrap();
    for task in tasks {
        task.abort();
    }

    let tally = tally.lock().unwrap();
    assert_eq!(tally.acked.len(), EVENTS, "every event acked");
    for (id, by) in &tally.acked {
        assert_eq!(by.len(), 1, "{id} acked by {by:?}");
    }
    // Delivered twice only when the dead instance had it unacked: then exactly once
    // by a live one.
    let mut taken_over = 0;
    for (id, by) in &tally.delivered {
        match by.as_slice() {
            [_] => {}
            [0, survivor] if *survivor != 0 => taken_over += 1,
            other => panic!("{id} delivered by {other:?}"),
        }
    }
    assert!(
        taken_over >= HELD,
        "the dead instance's unacked events were taken over"
    );
    let by_zero = tally.acked.values().filter(|by| by[0] == 0).count();
    assert_eq!(by_zero, ACKED_BEFORE_DYING);
    let survivors: Vec<usize> = (1..INSTANCES)
        .map(|n| tally.acked.values().filter(|by| by[0] == n).count())
        .collect();
    assert!(
        survivors.iter().all(|&k| k > 0),
        "both survivors work: {survivors:?}"
    );
}

/// How many events instance 0 acks, then how many it holds unacked when it dies.
const ACKED_BEFORE_DYING: usize = 20;
const HELD: usize = 10;

async fn instance(
    n: usize,
    mut merge: Merge,
    store: RedisStore,
    tally: Arc<Mutex<Tally>>,
    done: Arc<watch::Sender<usize>>,
) {
    let mut held = Vec::new();
    let mut acked = 0;
    loop {
        // The merge ends when the test does (its feed is dropped): so does the
        // instance. An error is the test's failure, reported where it happened.
        let d = match merge.next().await {
            Ok(Some(d)) => d,
            Ok(None) => return,
            Err(e) => panic!("instance {n}: {e}"),
        };
        let id = d.event.id().to_owned();
        tally
            .lock()
            .unwrap()
            .delivered
            .entry(id.clone())
            .or_default()
            .push(n);
        if n == 0 && acked == ACKED_BEFORE_DYING {
            // Handled, never acked: then the instance dies with them claimed.
            held.push(d);
            if held.len() == HELD {
                // A live instance renews what it holds: a dead one does not. Its
                // store stops renewing (as when its process is gone), and its
                // deliveries are never settled nor released.
                let _ = store.close().await;
                std::mem::forget(held);
                std::mem::forget(merge);
                return;
            }
            continue;
        }
        d.ack().await.expect("ack");
        acked += 1;
        tally.lock().unwrap().acked.entry(id).or_default().push(n);
        done.send_modify(|k| *k += 1);
    }
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

/// A consumer's demand bounds what the merge claims ahead of it: with the store
/// shared by several instances, an event claimed here and not wanted would wait
/// for this instance while another is idle. Fifty events wait in the live source;
/// after each `next()`, the store holds exactly the claims handed out plus at most
/// the demand left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_claims_no_more_ahead_than_its_consumer_demands() {
    let prefix = format!("mailwire-demand-{:016x}", fastrand_u64());
    let _cleanup = Cleanup(prefix.clone());
    let store = RedisStore::builder(url())
        .key_prefix(prefix.as_str())
        .consumer("instance-0")
        .connect()
        .await
        .expect("these tests need a Redis (MAILWIRE_TEST_REDIS_URL)");
    let (tx, rx) = mpsc::unbounded_channel();
    let events: Vec<Event> = (0..50)
        .map(|i| fixtures::message_received(&format!("evt_{i:04}"), fixtures::INBOX))
        .collect();
    for e in &events {
        tx.send(e.clone()).unwrap();
    }
    let mut merge = Merge::builder()
        .source(Live(rx))
        .store(store.clone())
        .build();
    let held = || {
        events
            .iter()
            .filter(|e| mailwire_store::Store::holds(&store, e.dedup_id()))
            .count()
    };
    let mut out = Vec::new();
    for (demand, expect_at_most) in [(1, 1), (1, 2), (3, 5)] {
        merge.demand(demand);
        let d = tokio::time::timeout(HANG, merge.next())
            .await
            .expect("next() hung")
            .unwrap()
            .expect("a delivery");
        out.push(d);
        // What was handed out, plus what is still with the store (at most the
        // demand left after this one).
        let held = held();
        assert!(
            held >= out.len() && held <= expect_at_most,
            "{held} claims after {} deliveries at demand {demand}",
            out.len()
        );
    }
    // Without a hint the merge pipelines (up to max_in_admission): the rest of the
    // live events go through at once.
    merge.demand(usize::MAX);
    for _ in 3..50 {
        out.push(
            tokio::time::timeout(HANG, merge.next())
                .await
                .expect("next() hung")
                .unwrap()
                .expect("a delivery"),
        );
    }
    let mut ids: Vec<&str> = out.iter().map(|d| d.event.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "each event once");
    for d in out {
        d.ack().await.unwrap();
    }
    assert_eq!(held(), 0);
}
