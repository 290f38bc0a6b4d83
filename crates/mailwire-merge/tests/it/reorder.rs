//! The per-inbox reorder window, on tokio's paused clock: time only moves when the
//! runtime has nothing else to do, so holds and deadlines are exact.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt;
use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin};
use mailwire_test::{FakeSource, fixtures};
use proptest::prelude::*;

const W: Duration = Duration::from_secs(2);
const HANG: Duration = Duration::from_secs(3600);

/// An event of `inbox` that happened `second` seconds after the fixtures' base time.
fn at(id: &str, inbox: &str, second: u64) -> Event {
    let e = fixtures::message_received(id, inbox);
    fixtures::retimed(&e, fixtures::base_time() + Duration::from_secs(second))
}

async fn next(merge: &mut Merge) -> Option<Delivery> {
    tokio::time::timeout(HANG, merge.next())
        .await
        .expect("hung")
        .expect("failed")
}

#[tokio::test(start_paused = true)]
async fn shuffled_within_the_window_comes_out_sorted_per_inbox() {
    let (source, feed) = FakeSource::builder().origin(Origin::Webhook).build();
    // Two inboxes, each shuffled.
    for (id, inbox, s) in [
        ("a3", "a", 3),
        ("b2", "b", 2),
        ("a1", "a", 1),
        ("a2", "a", 2),
        ("b1", "b", 1),
        ("a4", "a", 4),
        ("b3", "b", 3),
    ] {
        feed.push(at(id, inbox, s));
    }
    feed.end();
    let mut merge = Merge::builder().source(source).reorder(W).build();
    let start = tokio::time::Instant::now();
    let mut per_inbox: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while let Some(d) = next(&mut merge).await {
        let inbox = d.event.inbox_id().unwrap().to_owned();
        per_inbox
            .entry(inbox)
            .or_default()
            .push(d.event.id().to_owned());
        d.ack().await.unwrap();
    }
    assert_eq!(per_inbox["a"], ["a1", "a2", "a3", "a4"]);
    assert_eq!(per_inbox["b"], ["b1", "b2", "b3"]);
    assert_eq!(merge.stats().late, 0);
    // The end flushed them: no need to wait out the window.
    assert!(tokio::time::Instant::now() - start < W);
}

#[tokio::test(start_paused = true)]
async fn events_are_held_up_to_the_window_then_released_in_order() {
    let (source, feed) = FakeSource::new();
    let mut merge = Merge::builder().source(source).reorder(W).build();
    feed.push(at("e5", "a", 5)).push(at("e3", "a", 3));
    // Held: half the window later, still nothing.
    let early = tokio::time::timeout(W / 2, merge.next()).await;
    assert!(early.is_err(), "released before the window elapsed");
    // A third one arrives mid-window with the earliest timestamp.
    feed.push(at("e1", "a", 1));
    let started = tokio::time::Instant::now();
    let first = next(&mut merge).await.unwrap();
    // The oldest arrival's deadline (W after it) releases everything up to it: e1, e3, e5.
    assert_eq!(first.event.id(), "e1");
    assert_eq!(tokio::time::Instant::now() - started, W / 2);
    assert_eq!(next(&mut merge).await.unwrap().event.id(), "e3");
    assert_eq!(next(&mut merge).await.unwrap().event.id(), "e5");
    assert_eq!(merge.stats().late, 0);
    feed.end();
    assert!(next(&mut merge).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_late_arrival_goes_out_at_once_and_is_counted() {
    let (source, feed) = FakeSource::new();
    let mut merge = Merge::builder().source(source).reorder(W).build();
    feed.push(at("e10", "a", 10));
    assert_eq!(next(&mut merge).await.unwrap().event.id(), "e10");
    // Older than what already went out for inbox a: not held, not dropped.
    feed.push(at("e4", "a", 4));
    let late = merge
        .next()
        .now_or_never()
        .expect("a late event is not held");
    assert_eq!(late.unwrap().unwrap().event.id(), "e4");
    assert_eq!(merge.stats().late, 1);
    // Another inbox is not affected by inbox a's clock.
    feed.push(at("b1", "b", 1));
    assert!(
        merge.next().now_or_never().is_none(),
        "held in its own inbox"
    );
    assert_eq!(next(&mut merge).await.unwrap().event.id(), "b1");
    assert_eq!(merge.stats().late, 1);
    feed.end();
    assert!(next(&mut merge).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn events_without_an_inbox_or_timestamp_are_never_held() {
    let (source, feed) = FakeSource::new();
    let mut merge = Merge::builder().source(source).reorder(W).build();
    let unordered = Event::parse(
        &br#"{"id":"evt_x","type":"domain.verified","data":{"domain":"example.com"}}"#[..],
    )
    .unwrap();
    assert!(unordered.inbox_id().is_none());
    feed.push(unordered);
    let got = merge.next().now_or_never().expect("not held");
    assert_eq!(got.unwrap().unwrap().event.id(), "evt_x");
    feed.end();
    assert!(next(&mut merge).await.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Events of three inboxes, arriving in random order and at random moments within
    /// the window: each inbox comes out sorted, none lost, none late.
    #[test]
    fn any_shuffle_within_the_window_comes_out_sorted(
        order in Just((0u64..30).collect::<Vec<_>>()).prop_shuffle(),
        gaps in proptest::collection::vec(0u64..60, 30),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let (source, feed) = FakeSource::new();
            let mut merge = Merge::builder().source(source).reorder(W).build();
            let mut out: Vec<Delivery> = Vec::new();
            // Arrivals spread over at most 30 · 59 ms < W: the first is still held
            // when the last arrives, so nothing may come out late.
            for (&i, &gap) in order.iter().zip(&gaps) {
                feed.push(at(&format!("e{i:02}"), ["a", "b", "c"][(i % 3) as usize], i));
                while let Some(got) = merge.next().now_or_never() {
                    out.push(got.unwrap().unwrap());
                }
                tokio::time::advance(Duration::from_millis(gap)).await;
            }
            feed.end();
            while let Some(d) = next(&mut merge).await {
                out.push(d);
            }
            prop_assert_eq!(out.len(), 30);
            for inbox in ["a", "b", "c"] {
                let ts: Vec<_> = out.iter().filter(|d| d.event.inbox_id() == Some(inbox)).map(|d| d.event.timestamp().unwrap()).collect();
                prop_assert!(ts.windows(2).all(|w| w[0] <= w[1]), "inbox {} out of order", inbox);
            }
            prop_assert_eq!(merge.stats().late, 0);
            Ok(())
        })?;
    }
}

#[tokio::test(start_paused = true)]
async fn take_held_hands_out_what_the_window_holds_in_order_and_its_acks_work() {
    let (source, feed) = FakeSource::new();
    let mut merge = Merge::builder().source(source).reorder(W).build();
    feed.push(at("e5", "a", 5))
        .push(at("e3", "a", 3))
        .push(at("f1", "b", 1));
    // All three are held: nothing comes within half the window.
    let early = tokio::time::timeout(W / 2, merge.next()).await;
    assert!(early.is_err(), "released before the window elapsed");
    assert_eq!(merge.in_flight(), 3);
    let held = merge.take_held();
    let ids: Vec<&str> = held.iter().map(|d| d.event.id()).collect();
    assert_eq!(ids, ["e3", "e5", "f1"]);
    for d in held {
        d.ack().await.unwrap();
    }
    assert_eq!(merge.in_flight(), 0);
    assert!(merge.take_held().is_empty());
    // Nothing is released twice when the window would have ended.
    feed.end();
    assert!(next(&mut merge).await.is_none());
}
