//! The durable resume point over the real simulator: acks move a watermark, one
//! writer saves it, a restart resumes after it, and a failing store never stops
//! delivery.

use crate::common;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use common::*;
use mailwire_sim::Simulator;
use mailwire_source::{
    BoxError, Checkpoints, Delivery, EventSource, MemoryCheckpoints, async_trait,
};
use mailwire_ws::{CheckpointOp, ResumePoint, WsSource};

const KEY: &str = "ws:test-subscription";

/// Takes `n` deliveries, kept for acking later.
async fn deliveries(source: &mut WsSource, n: usize) -> Vec<Delivery> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let next = bounded("a delivery", source.next()).await;
        out.push(next.expect("no error").expect("not ended"));
    }
    out
}

fn id_list(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| d.event.id().to_owned()).collect()
}

async fn wait_point(
    source: &WsSource,
    what: &str,
    f: impl FnMut(&ResumePoint) -> bool,
) -> ResumePoint {
    let mut point = source.resume_point();
    bounded(what, point.wait_for(f))
        .await
        .expect("the writer is alive")
        .clone()
}

#[tokio::test]
async fn acked_out_of_order_the_saved_point_is_the_watermark() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let checkpoints = MemoryCheckpoints::new();
    let mut source = WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), KEY)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=5);
    let mut got = deliveries(&mut source, 5)
        .await
        .into_iter()
        .map(Some)
        .collect::<Vec<_>>();
    let mut ack = |i: usize| got[i - 1].take().expect("not acked yet").ack();

    ack(2).await.unwrap();
    ack(4).await.unwrap();
    source.flush().await.unwrap();
    assert_eq!(checkpoints.snapshot().get(KEY), None, "evt_1 is not acked");
    assert_eq!(source.resume_point().borrow().acked, None);

    ack(1).await.unwrap();
    source.flush().await.unwrap();
    assert_eq!(checkpoints.snapshot()[KEY], "evt_2", "evt_3 is not acked");

    ack(5).await.unwrap();
    ack(3).await.unwrap();
    source.flush().await.unwrap();
    assert_eq!(checkpoints.snapshot()[KEY], "evt_5");
    let point = source.resume_point().borrow().clone();
    assert_eq!(point.saved.as_deref(), Some("evt_5"));
    assert_eq!(point.acked.as_deref(), Some("evt_5"));
    assert_eq!(point.failures, 0);
}

#[tokio::test]
async fn a_restart_resumes_after_the_saved_point_every_event_exactly_once() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let checkpoints = MemoryCheckpoints::new();
    let mut source = WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), KEY)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=5);
    let mut seen = Vec::new();
    for d in deliveries(&mut source, 5).await {
        seen.push(d.event.id().to_owned());
        d.ack().await.unwrap();
    }
    source.close().await.unwrap();
    assert_eq!(checkpoints.snapshot()[KEY], "evt_5");

    emit(&sim, 6..=10); // while nobody listens
    let mut source = WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), KEY)).unwrap();
    let mut gaps = source.gaps().unwrap();
    for d in deliveries(&mut source, 5).await {
        seen.push(d.event.id().to_owned());
        d.ack().await.unwrap();
    }
    subscribed(&source).await;
    emit(&sim, 11..=11);
    for d in deliveries(&mut source, 1).await {
        seen.push(d.event.id().to_owned());
        d.ack().await.unwrap();
    }
    assert_eq!(seen, ids(1..=11), "each once, in order");
    assert!(
        gaps.try_recv().is_none(),
        "the simulator replayed the downtime"
    );
    let point = wait_point(&source, "the last save", |p| {
        p.saved.as_deref() == Some("evt_11")
    })
    .await;
    assert_eq!(point.loaded.as_deref(), Some("evt_5"));
}

#[tokio::test]
async fn a_delivery_dropped_without_ack_is_delivered_again_after_a_restart() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let checkpoints = MemoryCheckpoints::new();
    let mut source = WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), KEY)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=6);
    let got = deliveries(&mut source, 6).await;
    assert_eq!(id_list(&got), ids(1..=6));
    for d in got {
        if d.event.id() != "evt_4" {
            d.ack().await.unwrap();
        }
    }
    // Dropped, not closed: the writer saves the last value by itself. The acks of
    // 5 and 6 do not pass the unacked 4.
    let mut point = source.resume_point();
    drop(source);
    bounded(
        "the save after the drop",
        point.wait_for(|p| p.saved.as_deref() == Some("evt_3")),
    )
    .await
    .expect("the writer saved before it ended");
    assert_eq!(checkpoints.snapshot()[KEY], "evt_3");
    let mut source = WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), KEY)).unwrap();
    assert_eq!(
        take(&mut source, 3).await,
        ids(4..=6),
        "replayed from the watermark: 4, and 5 and 6 again (the store suppresses those)"
    );
    assert_eq!(
        source.resume_point().borrow().loaded.as_deref(),
        Some("evt_3")
    );
}

#[tokio::test]
async fn an_explicit_resume_point_wins_over_the_saved_one() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    emit(&sim, 1..=5);
    let checkpoints = MemoryCheckpoints::new();
    checkpoints.save(KEY, "evt_1").await.unwrap();
    let config = config(&sim)
        .checkpoints(checkpoints.clone(), KEY)
        .resume_after("evt_3");
    let mut source = WsSource::spawn(config).unwrap();
    let got = deliveries(&mut source, 2).await;
    assert_eq!(id_list(&got), ids(4..=5));
    assert_eq!(
        source.resume_point().borrow().loaded.as_deref(),
        Some("evt_3")
    );
    for d in got {
        d.ack().await.unwrap();
    }
    source.close().await.unwrap();
    assert_eq!(checkpoints.snapshot()[KEY], "evt_5");
}

/// Checkpoints whose loads and saves fail while `failing` is set.
#[derive(Default)]
struct Flaky {
    inner: MemoryCheckpoints,
    failing: AtomicBool,
    load_failures: AtomicU32,
}

#[derive(Debug, thiserror::Error)]
#[error("the disk is full")]
struct DiskFull;

#[async_trait]
impl Checkpoints for Flaky {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        if self.load_failures.load(Ordering::SeqCst) > 0 {
            self.load_failures.fetch_sub(1, Ordering::SeqCst);
            return Err(Box::new(DiskFull));
        }
        self.inner.load(key).await
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(Box::new(DiskFull));
        }
        self.inner.save(key, value).await
    }
}

#[tokio::test]
async fn failing_checkpoints_are_reported_and_never_stop_delivery() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let flaky = Arc::new(Flaky::default());
    flaky.inner.save(KEY, "evt_2").await.unwrap();
    flaky.load_failures.store(2, Ordering::SeqCst);
    flaky.failing.store(true, Ordering::SeqCst);
    emit(&sim, 1..=4);
    let mut source = WsSource::spawn(config(&sim).checkpoints(flaky.clone(), KEY)).unwrap();
    // Two failed loads, then the saved point: the replay starts after it.
    let got = deliveries(&mut source, 2).await;
    assert_eq!(id_list(&got), ids(3..=4));
    let point = source.resume_point().borrow().clone();
    assert_eq!(point.failures, 2, "{point:?}");
    assert_eq!(point.loaded.as_deref(), Some("evt_2"));

    for d in got {
        d.ack().await.unwrap();
    }
    let point = wait_point(&source, "a failed save", |p| {
        p.last_error
            .as_ref()
            .is_some_and(|e| e.op == CheckpointOp::Save)
    })
    .await;
    let error = point.last_error.expect("an error");
    assert_eq!(error.key, KEY);
    let cause = std::error::Error::source(&error).expect("the cause");
    assert_eq!(cause.to_string(), "the disk is full");
    assert!(
        source.flush().await.is_err(),
        "a flush says the save failed"
    );

    // Delivery goes on while saves fail.
    subscribed(&source).await;
    emit(&sim, 5..=6);
    for d in deliveries(&mut source, 2).await {
        d.ack().await.unwrap();
    }
    assert_eq!(
        flaky.inner.snapshot()[KEY],
        "evt_2",
        "nothing saved while failing"
    );

    // Healed: the retry saves the latest value, not each one missed.
    flaky.failing.store(false, Ordering::SeqCst);
    let point = wait_point(&source, "the retry", |p| {
        p.saved.as_deref() == Some("evt_6")
    })
    .await;
    assert!(point.last_error.is_none());
    assert_eq!(flaky.inner.snapshot()[KEY], "evt_6");
}

/// Checkpoints whose saves wait for a permit, recording each value saved.
struct Gated {
    gate: tokio::sync::Semaphore,
    saves: Mutex<Vec<String>>,
}

#[async_trait]
impl Checkpoints for Gated {
    async fn load(&self, _key: &str) -> Result<Option<String>, BoxError> {
        Ok(None)
    }

    async fn save(&self, _key: &str, value: &str) -> Result<(), BoxError> {
        self.gate.acquire().await?.forget();
        self.saves.lock().unwrap().push(value.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn saves_are_coalesced_not_one_per_ack() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let gated = Arc::new(Gated {
        gate: tokio::sync::Semaphore::new(0),
        saves: Mutex::new(Vec::new()),
    });
    let mut source = WsSource::spawn(config(&sim).checkpoints(gated.clone(), KEY)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=100);
    // The first save waits at the gate while the other 99 acks come in.
    for d in deliveries(&mut source, 100).await {
        d.ack().await.unwrap();
    }
    gated.gate.add_permits(100);
    source.flush().await.unwrap();
    let saves = gated.saves.lock().unwrap().clone();
    assert!(
        saves.len() <= 2,
        "{} saves for 100 acks: {saves:?}",
        saves.len()
    );
    assert_eq!(saves.last().map(String::as_str), Some("evt_100"));
}

#[tokio::test]
async fn without_checkpoints_nothing_is_tracked() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=1);
    let d = deliveries(&mut source, 1).await.pop().unwrap();
    d.ack().await.unwrap();
    source.flush().await.unwrap();
    assert_eq!(*source.resume_point().borrow(), ResumePoint::default());
}

#[tokio::test]
async fn a_handle_waits_for_the_last_save_after_the_source_is_gone() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let checkpoints = MemoryCheckpoints::new();
    let mut source = WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), KEY)).unwrap();
    let handle = source.resume_handle();
    subscribed(&source).await;
    emit(&sim, 1..=3);
    let got = deliveries(&mut source, 3).await;
    // The source goes (as into a merge that is then dropped); its deliveries are
    // still being handled, and acked afterwards.
    drop(source);
    for d in got {
        d.ack().await.unwrap();
    }
    handle.flush().await.unwrap();
    bounded("the writer's end", handle.finished()).await;
    assert_eq!(checkpoints.snapshot()[KEY], "evt_3");
    assert_eq!(handle.point().saved.as_deref(), Some("evt_3"));
}
