//! Crash and restart with a real redb file: what was delivered and not acked comes
//! back (from the log, first), what was acked never does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mailwire_client::Backoff;
use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin, SourceError, async_trait};
use mailwire_store::{Appended, MemoryStore, RedbStore, Store, StoreError};
use mailwire_test::{FakeHandle, FakeSource, fixtures};
use tokio::sync::watch;

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

/// A store whose calls that touch the log fail while it is down (Redis down, a full
/// disk): the one wrapper of these tests, so a method the `Store` trait gains is one
/// edit here. It counts the calls that failed, and a test can wait for a count.
#[derive(Clone, Copy, Debug, Default)]
struct Refused {
    appends: usize,
    claims: usize,
    acks: usize,
}

struct Flaky {
    inner: MemoryStore,
    down: AtomicBool,
    /// Calls refused so far.
    refused: watch::Sender<Refused>,
}

impl Flaky {
    fn new(inner: MemoryStore) -> Arc<Flaky> {
        Arc::new(Flaky {
            inner,
            down: AtomicBool::new(false),
            refused: watch::channel(Refused::default()).0,
        })
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn refuse(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("no space left on device".into()));
        }
        Ok(())
    }

    fn refused(&self) -> Refused {
        *self.refused.borrow()
    }

    /// Waits until `enough` holds of the calls refused so far.
    async fn wait_refused(&self, enough: impl Fn(&Refused) -> bool) {
        let mut rx = self.refused.subscribe();
        // `wait_for` fails only when the sender is gone; `self` holds it.
        let _ = rx.wait_for(|r| enough(r)).await;
    }
}

#[async_trait]
impl Store for Flaky {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        self.refuse()
            .inspect_err(|_| self.refused.send_modify(|r| r.appends += 1))?;
        self.inner.append(event).await
    }
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.refuse()
            .inspect_err(|_| self.refused.send_modify(|r| r.claims += 1))?;
        self.inner.claim(limit).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.refuse()
            .inspect_err(|_| self.refused.send_modify(|r| r.acks += 1))?;
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
    fn holds(&self, id: &str) -> bool {
        self.inner.holds(id)
    }
    async fn bury(&self, letter: &mailwire_store::DeadLetter) -> Result<(), StoreError> {
        self.inner.bury(letter).await
    }
    async fn dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<mailwire_store::DeadLetter>, StoreError> {
        self.inner.dead_letters(limit).await
    }
    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.revive(id).await
    }
    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.discard(id).await
    }
}

#[async_trait]
impl mailwire_source::Checkpoints for Flaky {
    async fn load(&self, key: &str) -> Result<Option<String>, mailwire_source::BoxError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> Result<(), mailwire_source::BoxError> {
        self.inner.save(key, value).await
    }
}

/// Short delays, so a test of an outage takes milliseconds.
fn fast_backoff() -> Backoff {
    Backoff::default()
        .base(Duration::from_millis(2))
        .cap(Duration::from_millis(20))
}

/// A full disk under a WebSocket, which never delivers anything twice: every event
/// it brings while the store refuses writes is kept by the merge (the head held and
/// retried, the source no longer read) and delivered once, in order, when the store
/// takes writes again. The outage is reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arriving_while_the_store_fails_are_held_and_delivered_once_in_order() {
    let log = Flaky::new(MemoryStore::new());
    let (ws, feed) = FakeSource::builder().origin(Origin::WebSocket).build();
    let mut merge = Merge::builder()
        .source(ws)
        .store(log.clone())
        .store_backoff(fast_backoff())
        .take_over_every(Duration::from_millis(5))
        .build();
    let stats = merge.stats_handle();

    feed.push(event("e0"));
    let d = next(&mut merge).await.unwrap();
    d.ack().await.unwrap();

    // The disk fills; the WebSocket brings five more.
    log.set_down(true);
    let during = ["e1", "e2", "e3", "e4", "e5"];
    feed.push_all(events(&during));
    // One error for the outage: the caller prints it and carries on.
    let err = tokio::time::timeout(HANG, merge.next())
        .await
        .expect("next() hung")
        .expect_err("the outage is reported");
    assert!(
        matches!(err, SourceError::Store(_)) && err.is_transient(),
        "{err:?}"
    );
    assert!(stats.snapshot().store_down);

    // While the store keeps failing, the merge retries the held append and reads
    // nothing more. Each `next()` is dropped mid-way once retries are seen
    // (cancellation safe: the held event stays in the merge).
    for round in 0..2 {
        let refused = log.refused().appends;
        tokio::select! {
            got = merge.next() => panic!("next() returned while the store is down: {got:?}"),
            wait = tokio::time::timeout(HANG, log.wait_refused(|r| r.appends >= refused + 3)) => {
                wait.expect("the held append is retried");
            }
        }
        // e0, and e1 whose append failed: nothing after it was read.
        assert_eq!(
            feed.taken(),
            ["e0", "e1"],
            "round {round}: the source was polled while the head was held"
        );
    }
    let during_outage = stats.snapshot();
    assert!(during_outage.store_down);
    assert_eq!(during_outage.store_outages, 1);
    assert!(during_outage.store_retries >= 3, "{during_outage:?}");

    // The disk has room again: everything comes, in order, once; no second error.
    log.set_down(false);
    feed.end();
    let mut got = Vec::new();
    while let Some(d) = next(&mut merge).await {
        got.push(d.event.id().to_owned());
        d.ack().await.unwrap();
    }
    assert_eq!(got, during);
    assert_eq!(feed.acked(), ["e0", "e1", "e2", "e3", "e4", "e5"]);
    let after = stats.snapshot();
    assert!(!after.store_down);
    assert_eq!(after.store_outages, 1);
    assert_eq!(after.origin(&Origin::WebSocket).delivered, 6);
    assert!(log.unacked(10).await.unwrap().is_empty());
}

/// An ack whose store write fails is retried, and succeeds once the store is back
/// within the bound; past the bound it fails, and the event, still unacked in the
/// log, comes back from the backlog: delivered again, never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_ack_is_retried_within_its_bound_then_left_to_the_backlog() {
    let log = Flaky::new(MemoryStore::new());
    let (ws, feed) = FakeSource::builder().origin(Origin::WebSocket).build();
    let mut merge = Merge::builder()
        .source(ws)
        .source(Idle)
        .store(log.clone())
        .store_backoff(fast_backoff())
        .ack_retry_for(Duration::from_secs(30))
        .take_over_every(Duration::from_millis(5))
        .build();
    let stats = merge.stats_handle();

    // 1. Within the bound: the store is down when the ack starts, back while it
    //    retries.
    feed.push(event("e1"));
    let d = next(&mut merge).await.unwrap();
    log.set_down(true);
    let ack = tokio::spawn(d.ack());
    tokio::time::timeout(HANG, log.wait_refused(|r| r.acks >= 2))
        .await
        .expect("the ack is retried");
    log.set_down(false);
    tokio::time::timeout(HANG, ack)
        .await
        .expect("the ack hung")
        .unwrap()
        .expect("the ack succeeds once the store is back");
    assert_eq!(feed.acked(), ["e1"]);
    assert!(log.unacked(10).await.unwrap().is_empty());
    assert!(stats.snapshot().store_retries >= 1);
    drop(merge);

    // 2. Past the bound: the ack fails; the event comes back from the backlog.
    let mut merge = Merge::builder()
        .source(Idle)
        .store(log.clone())
        .store_backoff(fast_backoff())
        .ack_retry_for(Duration::from_millis(20))
        .take_over_every(Duration::from_millis(5))
        .build();
    log.append(&event("e2")).await.unwrap();
    log.release(event("e2").dedup_id());
    let d = next(&mut merge).await.unwrap();
    assert_eq!((d.event.id(), d.origin.as_str()), ("e2", "log"));
    log.set_down(true);
    let refused = log.refused().acks;
    let err = tokio::time::timeout(HANG, d.ack())
        .await
        .expect("the ack hung")
        .expect_err("the store stayed down past the bound");
    assert!(matches!(err, SourceError::Store(_)), "{err:?}");
    assert!(log.refused().acks > refused + 1, "it was retried");
    log.set_down(false);
    let again = next(&mut merge).await.unwrap();
    assert_eq!((again.event.id(), again.origin.as_str()), ("e2", "log"));
    again.ack().await.unwrap();
    assert!(log.unacked(10).await.unwrap().is_empty());
}
/// The store is down at start-up: the backlog claim fails, is reported once, and is
/// tried again (with backoff) until the store answers; the live source waits for
/// the backlog meanwhile, as it always does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_claim_is_retried_until_the_store_answers() {
    let log = Flaky::new(MemoryStore::new());
    log.append(&event("old_1")).await.unwrap();
    log.release(event("old_1").dedup_id());
    log.set_down(true);
    let (ws, feed) = FakeSource::builder().origin(Origin::WebSocket).build();
    feed.push(event("live_1"));
    let mut merge = Merge::builder()
        .source(ws)
        .source(Idle)
        .store(log.clone())
        .store_backoff(fast_backoff())
        .build();
    let err = tokio::time::timeout(HANG, merge.next())
        .await
        .expect("next() hung")
        .expect_err("the outage is reported");
    assert!(matches!(err, SourceError::Store(_)), "{err:?}");
    tokio::select! {
        got = merge.next() => panic!("next() returned while the store is down: {got:?}"),
        wait = tokio::time::timeout(HANG, log.wait_refused(|r| r.claims >= 3)) => {
            wait.expect("the claim is tried again");
        }
    }
    assert!(feed.taken().is_empty(), "live events wait for the backlog");
    log.set_down(false);
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = next(&mut merge).await.unwrap();
        got.push(format!("{}:{}", d.event.id(), d.origin));
        d.ack().await.unwrap();
    }
    assert_eq!(got, ["old_1:log", "live_1:websocket"]);
    let stats = merge.stats();
    assert_eq!(stats.store_outages, 1);
    assert!(!stats.store_down);
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
/// dropped) is claimed and delivered: no restart.
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
    let late = event("late_1");
    assert_eq!(store.append(&late).await.unwrap(), Appended::New);
    // Released by its id in the store (a received email's is derived from its
    // inbox and message id): a held claim never lapses by itself.
    store.release(late.dedup_id());
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
