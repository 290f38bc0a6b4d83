//! Dedup, ack and fairness semantics of `Merge`, against fakes.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use mailwire_merge::{Merge, OnSourceFailure};
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, EventSourceExt, Origin, SourceError, async_trait};
use mailwire_test::{FakeHandle, FakeSource, fixtures};
use proptest::prelude::*;

const HANG: Duration = Duration::from_secs(10);

fn event(id: &str) -> Event {
    fixtures::message_received(id, fixtures::INBOX)
}

fn fake(name: &'static str, origin: Origin) -> (FakeSource, FakeHandle) {
    FakeSource::builder().name(name).origin(origin).build()
}

async fn next(merge: &mut Merge) -> Option<Delivery> {
    tokio::time::timeout(HANG, merge.next())
        .await
        .expect("next() hung")
        .expect("next() failed")
}

/// Takes everything until the end, acking each delivery; returns (id, origin) pairs.
async fn drain(merge: &mut Merge) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(d) = next(merge).await {
        out.push((d.event.id().to_owned(), d.origin.to_string()));
        d.ack().await.expect("ack");
    }
    out
}

/// A source that always has an event ready: the busiest source imaginable.
struct Firehose {
    n: u64,
}

#[async_trait]
impl EventSource for Firehose {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        self.n += 1;
        let e = event(&format!("hose_{}", self.n));
        Ok(Some(Delivery::new(e, Origin::WebSocket)))
    }
    fn name(&self) -> &str {
        "firehose"
    }
}

#[tokio::test]
async fn a_source_always_ready_does_not_starve_another() {
    let (quiet, handle) = fake("quiet", Origin::Webhook);
    handle.push_all((0..10).map(|i| event(&format!("quiet_{i}"))));
    let mut merge = Merge::builder()
        .source(Firehose { n: 0 })
        .source(quiet)
        .build();
    let mut origins = Vec::new();
    for _ in 0..20 {
        let d = next(&mut merge).await.expect("an event");
        origins.push(d.origin.to_string());
        d.ack().await.unwrap();
    }
    // Strict turns: the quiet source's ten events are interleaved with the hose's.
    let quiet_taken = origins.iter().filter(|o| *o == "webhook").count();
    assert_eq!(quiet_taken, 10, "{origins:?}");
    for pair in origins.chunks(2) {
        assert_ne!(pair[0], pair[1], "{origins:?}");
    }
}

#[tokio::test]
async fn a_copy_arriving_while_the_first_is_in_flight_is_suppressed_and_settled_with_it() {
    let (ws, ws_feed) = fake("ws", Origin::WebSocket);
    let (hooks, hook_feed) = fake("hooks", Origin::Webhook);
    ws_feed.push(event("evt_1"));
    let mut merge = Merge::builder().source(ws).source(hooks).build();
    let first = next(&mut merge).await.unwrap();
    assert_eq!(first.origin, Origin::WebSocket);

    // The webhook copy arrives while evt_1 is unacked: suppressed, nothing settled yet.
    hook_feed.push(event("evt_1")).push(event("evt_2"));
    let second = next(&mut merge).await.unwrap();
    assert_eq!(second.event.id(), "evt_2");
    assert_eq!(merge.stats().origin(&Origin::Webhook).duplicates, 1);
    assert!(!hook_feed.acked().contains(&"evt_1".to_owned()));
    assert!(ws_feed.acked().is_empty());

    // Acking the first settles both copies, each in its source.
    first.ack().await.unwrap();
    assert_eq!(ws_feed.acked(), ["evt_1"]);
    assert_eq!(hook_feed.acked(), ["evt_1"]);
    second.ack().await.unwrap();

    // A later copy is suppressed too, and settled at once.
    ws_feed.push(event("evt_2")).end();
    hook_feed.end();
    assert!(next(&mut merge).await.is_none());
    assert_eq!(ws_feed.acked(), ["evt_1", "evt_2"]);
    let stats = merge.stats();
    assert_eq!(stats.origin(&Origin::WebSocket).delivered, 1);
    assert_eq!(stats.origin(&Origin::WebSocket).duplicates, 1);
    assert_eq!(stats.origin(&Origin::WebSocket).won, 1);
    assert_eq!(stats.origin(&Origin::Webhook).won, 1);
    assert_eq!(stats.duplicates(), 2);
}

#[tokio::test]
async fn a_delivery_dropped_without_ack_lets_the_next_copy_through() {
    let (ws, ws_feed) = fake("ws", Origin::WebSocket);
    let (hooks, hook_feed) = fake("hooks", Origin::Webhook);
    ws_feed.push(event("evt_1")).end();
    let mut merge = Merge::builder().source(ws).source(hooks).build();
    let first = next(&mut merge).await.unwrap();
    hook_feed.push(event("evt_1"));
    // Suppressed while the first is in flight...
    assert!(merge.next().now_or_never().is_none());
    assert_eq!(merge.in_flight(), 1);
    // ...and the held copy is left unsettled when the first is dropped: its source
    // redelivers it after a restart.
    drop(first);
    assert_eq!(merge.in_flight(), 0);
    assert!(hook_feed.acked().is_empty());

    // A copy arriving after the drop is delivered: the handler gets another chance.
    hook_feed.push(event("evt_1")).end();
    let again = next(&mut merge).await.unwrap();
    assert_eq!(
        (again.event.id(), &again.origin),
        ("evt_1", &Origin::Webhook)
    );
    again.ack().await.unwrap();
    assert!(next(&mut merge).await.is_none());
    assert_eq!(hook_feed.acked(), ["evt_1"]);
    assert!(ws_feed.acked().is_empty());
}

#[tokio::test]
async fn lead_time_is_measured_from_the_sources_receive_times() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    struct Timed(Vec<Delivery>, &'static str);
    #[async_trait]
    impl EventSource for Timed {
        async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
            Ok(if self.0.is_empty() {
                None
            } else {
                Some(self.0.remove(0))
            })
        }
        fn name(&self) -> &str {
            self.1
        }
    }
    let at = |s: u64| t0 + Duration::from_millis(s);
    let ws = Timed(
        vec![
            Delivery::new(event("a"), Origin::WebSocket).with_received_at(at(0)),
            Delivery::new(event("b"), Origin::WebSocket).with_received_at(at(1000)),
        ],
        "ws",
    );
    let hooks = Timed(
        vec![
            Delivery::new(event("a"), Origin::Webhook).with_received_at(at(300)),
            Delivery::new(event("b"), Origin::Webhook).with_received_at(at(1100)),
        ],
        "hooks",
    );
    let mut merge = Merge::builder().source(ws).source(hooks).build();
    drain(&mut merge).await;
    let ws = merge.stats().origin(&Origin::WebSocket);
    assert_eq!((ws.won, ws.lead), (2, Duration::from_millis(400)));
    assert_eq!(ws.mean_lead(), Some(Duration::from_millis(200)));
}

#[tokio::test]
async fn one_failed_source_is_dropped_reported_and_surfaced_at_the_end() {
    let (ws, ws_feed) = fake("ws", Origin::WebSocket);
    let (hooks, hook_feed) = fake("hooks", Origin::Webhook);
    ws_feed
        .push(event("evt_1"))
        .fail(SourceError::auth("revoked"));
    hook_feed.push(event("evt_2"));
    let mut merge = Merge::builder().source(ws).source(hooks).build();
    let mut ids = BTreeSet::new();
    for _ in 0..2 {
        let d = next(&mut merge).await.unwrap();
        ids.insert(d.event.id().to_owned());
        d.ack().await.unwrap();
    }
    assert_eq!(ids, BTreeSet::from(["evt_1".into(), "evt_2".into()]));
    // The webhook source carries on after the WebSocket's death.
    assert!(merge.next().now_or_never().is_none());
    assert_eq!(merge.live_sources(), 1);
    let failed = merge.stats().failed_sources;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].source, "ws");
    hook_feed.push(event("evt_3")).end();
    let d = next(&mut merge).await.unwrap();
    assert_eq!(d.event.id(), "evt_3");
    d.ack().await.unwrap();
    // Every source gone: the failure comes out once, then the end.
    let end = tokio::time::timeout(HANG, merge.next()).await.unwrap();
    assert!(matches!(end, Err(SourceError::Auth(_))), "{end:?}");
    assert!(next(&mut merge).await.is_none());
}

#[tokio::test]
async fn propagate_policy_fails_the_merge_at_once() {
    let (ws, ws_feed) = fake("ws", Origin::WebSocket);
    let (hooks, _hook_feed) = fake("hooks", Origin::Webhook);
    ws_feed.fail(SourceError::auth("revoked"));
    let mut merge = Merge::builder()
        .source(ws)
        .source(hooks)
        .on_source_failure(OnSourceFailure::Propagate)
        .build();
    let got = tokio::time::timeout(HANG, merge.next()).await.unwrap();
    assert!(matches!(got, Err(SourceError::Auth(_))), "{got:?}");
    assert!(next(&mut merge).await.is_none());
}

#[tokio::test]
async fn a_merge_of_no_sources_ends_at_once() {
    let mut merge = Merge::new([]);
    assert!(next(&mut merge).await.is_none());
}

#[tokio::test]
async fn ids_fall_out_of_a_small_window_and_in_flight_ones_never_do() {
    let (ws, feed) = fake("ws", Origin::WebSocket);
    let mut merge = Merge::builder()
        .source(ws)
        .window(10, Duration::from_secs(3600))
        .build();
    let held = {
        feed.push(event("held"));
        next(&mut merge).await.unwrap()
    };
    feed.push_all((0..100).map(|i| event(&format!("e{i}"))));
    for _ in 0..100 {
        next(&mut merge).await.unwrap().ack().await.unwrap();
    }
    // Far beyond the window: e0 is forgotten, but `held` is in flight, not forgotten.
    feed.push(event("held")).push(event("e0")).end();
    let d = next(&mut merge).await.unwrap();
    assert_eq!(d.event.id(), "e0");
    d.ack().await.unwrap();
    held.ack().await.unwrap();
    assert!(next(&mut merge).await.is_none());
}

/// One step of a proptest schedule.
#[derive(Clone, Debug)]
enum Step {
    /// Feed the next scripted event to source `k`.
    Feed(usize),
    /// Poll the merge once; keep what it returns.
    Poll,
}

fn scripts_and_schedule() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<Step>)> {
    (2usize..=3)
        .prop_flat_map(|n| {
            proptest::collection::vec(
                proptest::collection::vec(0usize..24, 0..24).prop_shuffle(),
                n,
            )
        })
        .prop_flat_map(|scripts| {
            let n = scripts.len();
            let steps = proptest::collection::vec(
                prop_oneof![(0..n).prop_map(Step::Feed), Just(Step::Poll)],
                0..120,
            );
            (Just(scripts), steps)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Two or three sources with overlapping ids, in random orders and random
    /// interleavings (with repeats within one source too): the output is the union,
    /// each id once, and every copy the merge took is settled in its own source.
    #[test]
    fn output_is_the_union_each_id_once((scripts, schedule) in scripts_and_schedule()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let mut feeds = Vec::new();
            let mut sources = Vec::new();
            for k in 0..scripts.len() {
                let (s, h) = FakeSource::builder().name(format!("s{k}")).origin(Origin::custom(format!("s{k}"))).build();
                sources.push(s.boxed());
                feeds.push(h);
            }
            let mut merge = Merge::new(sources);
            let mut fed = vec![0usize; scripts.len()];
            let mut out = Vec::new();
            for step in schedule {
                match step {
                    Step::Feed(k) => if let Some(&id) = scripts[k].get(fed[k]) {
                        feeds[k].push(event(&format!("evt_{id}")));
                        fed[k] += 1;
                    },
                    Step::Poll => if let Some(got) = merge.next().now_or_never() {
                        let d = got.unwrap().expect("no source ended yet");
                        out.push(d.event.id().to_owned());
                        d.ack().await.unwrap();
                    },
                }
            }
            for (k, feed) in feeds.iter().enumerate() {
                for &id in &scripts[k][fed[k]..] {
                    feed.push(event(&format!("evt_{id}")));
                }
                feed.end();
            }
            while let Some(d) = next(&mut merge).await {
                out.push(d.event.id().to_owned());
                d.ack().await.unwrap();
            }
            let union: BTreeSet<String> = scripts.iter().flatten().map(|id| format!("evt_{id}")).collect();
            let unique: HashSet<&String> = out.iter().collect();
            assert_eq!(unique.len(), out.len(), "an id came out twice: {out:?}");
            assert_eq!(out.iter().cloned().collect::<BTreeSet<_>>(), union);
            for (k, feed) in feeds.iter().enumerate() {
                let mut acked = feed.acked();
                acked.sort();
                let mut taken = feed.taken();
                taken.sort();
                assert_eq!(acked, taken, "source s{k}: every copy taken is settled");
            }
            let stats = merge.stats();
            assert_eq!(stats.delivered() as usize, union.len());
            assert_eq!(stats.duplicates() as usize, scripts.iter().map(Vec::len).sum::<usize>() - union.len());
        });
    }
}
