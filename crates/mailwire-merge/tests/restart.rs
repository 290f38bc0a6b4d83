//! Crash and restart with a real redb file: what was delivered and not acked comes
//! back (from the log, first), what was acked never does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin, SourceError, async_trait};
use mailwire_store::{Appended, MemoryStore, RedbStore, Store, StoreError};
use mailwire_test::{FakeHandle, FakeSource, fixtures};

const HANG: Duration = Duration::from_secs(10);

fn event(id: &str) -> Event {
    fixtures::message_received(id, fixtures::INBOX)
}

fn events(ids: &[&str]) -> Vec<Event> {
    ids.iter().map(|id| event(id)).collect()
}

async fn next(merge: &mut Merge) -> Option<Delivery> {
    tokio::time::timeout(HANG, merge.next())
        .await
        .expect("next() hung")
        .expect("next() failed")
}

fn merge_over(store: &Arc<RedbStore>, source: FakeSource) -> Merge {
    Merge::builder().source(source).store(store.clone()).build()
}

fn open(path: &Path) -> Arc<RedbStore> {
    Arc::new(RedbStore::open(path).expect("open the store"))
}

fn source(origin: Origin, ids: &[&str]) -> (FakeSource, FakeHandle) {
    let (source, feed) = FakeSource::builder().origin(origin).build();
    feed.push_all(events(ids)).end();
    (source, feed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_events_come_back_after_a_restart_and_acked_ones_never_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");

    // Run 1: the WebSocket brings five events; the agent acks three and dies with two
    // delivered and unacked.
    {
        let store = open(&path);
        let (ws, _feed) = source(Origin::WebSocket, &["e1", "e2", "e3", "e4", "e5"]);
        let mut merge = merge_over(&store, ws);
        let mut unacked = Vec::new();
        for want in ["e1", "e2", "e3", "e4", "e5"] {
            let d = next(&mut merge).await.unwrap();
            assert_eq!(d.event.id(), want);
            if ["e1", "e2", "e4"].contains(&want) {
                d.ack().await.unwrap();
            } else {
                unacked.push(d);
            }
        }
        // The crash: nothing more is acked. (Dropping an unacked delivery writes
        // nothing durable, so dropping is what a crash leaves on disk.)
        drop(unacked);
        drop(merge);
    }

    // Run 2: the service retries every webhook, plus one new event. The log's unacked
    // events come first, from the log; acked ones are suppressed by the seen-set.
    {
        let store = open(&path);
        let (hooks, feed) = source(Origin::Webhook, &["e1", "e2", "e3", "e4", "e5", "e6"]);
        let mut merge = merge_over(&store, hooks);
        let mut got = Vec::new();
        while let Some(d) = next(&mut merge).await {
            got.push((d.event.id().to_owned(), d.origin.clone()));
            d.ack().await.unwrap();
        }
        // The log replays in the order its appends committed; admissions run
        // concurrently, so two events of one run may have committed either way round.
        let (replayed, live) = got.split_at(2);
        let mut replayed = replayed.to_vec();
        replayed.sort();
        assert_eq!(
            replayed,
            [
                ("e3".to_owned(), Origin::Log),
                ("e5".to_owned(), Origin::Log),
            ]
        );
        assert_eq!(live, [("e6".to_owned(), Origin::Webhook)]);
        // Every webhook copy is settled in its source, delivered or suppressed.
        let mut acked = feed.acked();
        acked.sort();
        assert_eq!(acked, ["e1", "e2", "e3", "e4", "e5", "e6"]);
        let stats = merge.stats();
        assert_eq!(stats.origin(&Origin::Log).delivered, 2);
        assert_eq!(stats.origin(&Origin::Webhook).duplicates, 5);
        assert!(store.unacked(100).await.unwrap().is_empty());
    }

    // Run 3: everything again, from both transports: nothing is delivered.
    {
        let store = open(&path);
        let all = ["e1", "e2", "e3", "e4", "e5", "e6"];
        let (ws, _ws) = source(Origin::WebSocket, &all);
        let (hooks, _hooks) = source(Origin::Webhook, &all);
        let mut merge = Merge::builder()
            .source(ws)
            .source(hooks)
            .store(store.clone())
            .build();
        assert!(next(&mut merge).await.is_none());
        assert_eq!(merge.stats().delivered(), 0);
        assert_eq!(merge.stats().duplicates(), 12);
        // Nobody won: nothing was delivered.
        assert_eq!(merge.stats().origin(&Origin::WebSocket).won, 0);
        assert_eq!(merge.stats().origin(&Origin::Webhook).won, 0);
    }
}

/// A log whose appends fail while `down` is set.
struct Flaky {
    inner: MemoryStore,
    down: AtomicBool,
}

#[async_trait]
impl Store for Flaky {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("disk full".into()));
        }
        self.inner.append(event).await
    }
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.claim(limit).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.inner.ack(id).await
    }
    fn release(&self, id: &str) {
        self.inner.release(id);
    }
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.unacked(limit).await
    }
    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.contains(id).await
    }
    fn lease(&self) -> Duration {
        self.inner.lease()
    }
}

#[tokio::test]
async fn a_store_failure_is_a_transient_error_and_the_event_is_left_unsettled() {
    let log = Arc::new(Flaky {
        inner: MemoryStore::new(),
        down: AtomicBool::new(true),
    });
    let (hooks, feed) = FakeSource::builder().origin(Origin::Webhook).build();
    feed.push(event("e1"));
    let mut merge = Merge::builder().source(hooks).store(log.clone()).build();
    let err = tokio::time::timeout(HANG, merge.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Store(_)) && err.is_transient(),
        "{err:?}"
    );
    // Not settled: the webhook source would deliver it again (e.g. after a restart).
    assert!(feed.acked().is_empty());
    // The merge carries on, and the same event is not blocked by its failed attempt.
    log.down.store(false, Ordering::SeqCst);
    feed.push(event("e1")).end();
    let d = next(&mut merge).await.unwrap();
    assert_eq!(d.event.id(), "e1");
    d.ack().await.unwrap();
    assert!(next(&mut merge).await.is_none());
    assert_eq!(feed.acked(), ["e1"]);
}

/// A source that never ends on its own: stands for a live transport.
struct Idle;

#[async_trait]
impl EventSource for Idle {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        futures::future::pending().await
    }
    fn name(&self) -> &str {
        "idle"
    }
}

#[tokio::test]
async fn the_backlog_is_replayed_before_live_events() {
    let store = Arc::new(MemoryStore::new());
    for id in ["old_1", "old_2"] {
        store.append(&event(id)).await.unwrap();
        // Left by an earlier run: nobody here holds them.
        store.release(event(id).dedup_id());
    }
    let (ws, feed) = FakeSource::builder().origin(Origin::WebSocket).build();
    feed.push(event("live_1"));
    let mut merge = Merge::builder()
        .source(ws)
        .source(Idle)
        .store(store.clone())
        .build();
    let mut got = Vec::new();
    for _ in 0..3 {
        let d = next(&mut merge).await.unwrap();
        got.push(format!("{}:{}", d.event.id(), d.origin));
        d.ack().await.unwrap();
    }
    assert_eq!(got, ["old_1:log", "old_2:log", "live_1:websocket"]);
    // The live event was logged before it was delivered, and acked with it.
    assert!(store.contains(event("live_1").dedup_id()).await.unwrap());
    assert!(store.unacked(10).await.unwrap().is_empty());
    assert_eq!(
        store.append(&event("live_1")).await.unwrap(),
        Appended::Known
    );
}

/// While the merge runs, an event whose claim is free (its delivery elsewhere was
/// dropped, or its holder's lease ran out) is claimed and delivered: no restart.
#[tokio::test]
async fn a_free_claim_is_taken_over_while_the_merge_runs() {
    let store = MemoryStore::new().with_lease(Duration::from_millis(100));
    let mut merge = Merge::builder()
        .source(Idle)
        .store(store.clone())
        .take_over_every(Duration::from_millis(10))
        .build();
    // The start-up backlog is empty: after one poll the merge waits, live.
    let mut waiting = merge.next();
    assert!(futures::poll!(&mut waiting).is_pending());
    // Another part of this instance appended it, then dropped it unacked. Nothing
    // wakes the merge but its take-over tick.
    assert_eq!(store.append(&event("late_1")).await.unwrap(), Appended::New);
    store.release("late_1");
    let d = tokio::time::timeout(HANG, waiting)
        .await
        .expect("the take-over tick wakes the merge")
        .unwrap()
        .unwrap();
    assert_eq!((d.event.id(), d.origin.as_str()), ("late_1", "log"));
    d.ack().await.unwrap();
    drop(merge);
    assert!(store.unacked(10).await.unwrap().is_empty());
}
