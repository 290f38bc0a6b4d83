//! End to end, under chaos: 20,000 events through the simulator (WebSocket dropped
//! every 500 events, 20% of webhook attempts failing and retried, duplicates,
//! reorders, delays), consumed as `mailwire listen` consumes them (WebSocket +
//! webhook receiver + merge over a redb store), the consumer stopped and restarted
//! once mid-way. Every event is delivered; none twice within a run; none acked before
//! the stop is delivered again after it.
//!
//! `MAILWIRE_CHAOS_EVENTS` changes the number of events.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_merge::{Merge, MergeStats, OnSourceFailure};
use mailwire_proto::fixtures;
use mailwire_sim::{Chaos, Simulator, WebhookSpec};
use mailwire_source::EventSource as _;
use mailwire_store::RedbStore;
use mailwire_webhook::{Keyring, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_ws::{Backoff, Status, WsConfig, WsSource};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(120);
const KEY: &str = "sk_chaos";
/// The producer stays at most this far ahead of the consumer.
const MAX_LAG: usize = 3_000;
const BATCH: usize = 250;

/// What the consumer did, per run.
#[derive(Default)]
struct Journal {
    /// Deliveries per run, in order.
    delivered: [Vec<String>; 2],
    /// Ids whose ack completed, per run.
    acked: [HashSet<String>; 2],
    /// Distinct ids delivered so far, all runs.
    distinct: HashSet<String>,
}

type Shared = (Arc<Mutex<Journal>>, watch::Sender<usize>);

fn lock(j: &Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    j.lock().unwrap_or_else(|p| p.into_inner())
}

/// One run of the consumer: what `mailwire listen --ws .. --webhook-listen ..
/// --store ..` builds, acking each event once handled.
async fn consume(
    run: usize,
    store_path: &Path,
    hook_addr: SocketAddr,
    secret: &str,
    ws_url: &str,
    shared: Shared,
    (ready, mut stop): (tokio::sync::oneshot::Sender<()>, watch::Receiver<bool>),
) -> MergeStats {
    let (journal, progress) = shared;
    let store = RedbStore::open(store_path).expect("the store opens");
    let receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(secret).unwrap()))
        .store(store.clone())
        .queue_capacity(4096)
        .bind(hook_addr)
        .await
        .expect("the webhook port is free again");
    let receiver_handle = receiver.shutdown_handle().expect("a bound receiver");
    let backoff = Backoff::default()
        .base(Duration::from_millis(10))
        .cap(Duration::from_millis(200));
    let ws = WsSource::spawn(WsConfig::new(ws_url).api_key(KEY).backoff(backoff)).unwrap();
    tokio::time::timeout(
        HANG,
        ws.status().wait_for(|s| matches!(s, Status::Subscribed)),
    )
    .await
    .expect("subscribed")
    .unwrap();
    // Nothing is emitted before this: a subscription that a burst of events and a
    // chaos drop replace at once is never seen as `Subscribed` by this wait.
    let _ = ready.send(());
    let mut merge = Merge::builder()
        .source(ws)
        .source(receiver)
        .store(store.clone())
        .on_source_failure(OnSourceFailure::Propagate)
        .max_in_admission(256)
        .build();

    // Acks run concurrently so the store groups their commits, as a busy agent's
    // handlers would.
    let mut acks: JoinSet<String> = JoinSet::new();
    let record = |id: String| {
        lock(&journal).acked[run].insert(id);
    };
    loop {
        let next = tokio::select! {
            next = merge.next() => next,
            _ = stop.wait_for(|s| *s) => break,
        };
        let delivery = next
            .expect("no fatal error")
            .expect("sources never end here");
        let id = delivery.event.id().to_owned();
        {
            let mut j = lock(&journal);
            j.delivered[run].push(id.clone());
            j.distinct.insert(id.clone());
            progress.send_replace(j.distinct.len());
        }
        acks.spawn(async move {
            delivery.ack().await.expect("ack");
            id
        });
        while let Some(done) = acks.try_join_next() {
            record(done.expect("ack task"));
        }
        while acks.len() > 512 {
            record(acks.join_next().await.unwrap().expect("ack task"));
        }
    }
    // Stop as a crash would: acks in flight are abandoned (they may or may not have
    // been committed); only the completed ones count as acked.
    while let Some(done) = acks.try_join_next() {
        record(done.expect("ack task"));
    }
    acks.abort_all();
    while acks.join_next().await.is_some() {}
    let stats = merge.stats();
    // The port is free once the receiver has stopped, for the next run to bind.
    receiver_handle.shutdown();
    receiver_handle.finished().await;
    drop(merge);
    store.close().await.expect("close");
    stats
}

/// Emits `ids` in batches, never more than [`MAX_LAG`] ahead of the consumer when
/// `paced`.
async fn produce(
    sim: &Simulator,
    ids: std::ops::Range<usize>,
    paced: Option<&watch::Sender<usize>>,
) {
    let mut at = ids.start;
    while at < ids.end {
        let end = (at + BATCH).min(ids.end);
        sim.emit_all(
            (at..end).map(|i| fixtures::message_received(&format!("evt_{i:05}"), inbox(i))),
        );
        at = end;
        if let Some(progress) = paced {
            let floor = at.saturating_sub(MAX_LAG);
            let mut rx = progress.subscribe();
            tokio::time::timeout(HANG, rx.wait_for(|n| *n >= floor))
                .await
                .expect("the consumer keeps up")
                .unwrap();
        }
    }
}

fn inbox(i: usize) -> &'static str {
    ["a@x.to", "b@x.to", "c@x.to", "d@x.to"][i % 4]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_events_through_chaos_and_a_restart_exactly_once() {
    let n: usize = std::env::var("MAILWIRE_CHAOS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("agent.redb");
    let sim = Simulator::builder()
        .api_key(KEY)
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let hook_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hook = sim
        .register_webhook(WebhookSpec::new(format!("http://{hook_addr}/webhooks")))
        .await
        .unwrap();
    sim.set_chaos(
        Chaos::seeded(20_000)
            .drop_ws_every(500)
            .webhook_failures(0.2, 2)
            .webhook_delay_ms(20)
            .duplicates(0.02)
            .reorders(0.02),
    )
    .unwrap();

    let journal = Arc::new(Mutex::new(Journal::default()));
    let (progress, _) = watch::channel(0usize);
    let shared = || (journal.clone(), progress.clone());
    let ws_url = sim.ws_url();

    // Run 1: the first half.
    let (stop1, rx1) = watch::channel(false);
    let (ready, subscribed) = tokio::sync::oneshot::channel();
    let run1 = {
        let (path, secret, url, shared) = (
            store_path.clone(),
            hook.secret.clone(),
            ws_url.clone(),
            shared(),
        );
        tokio::spawn(async move {
            consume(0, &path, hook_addr, &secret, &url, shared, (ready, rx1)).await
        })
    };
    tokio::time::timeout(HANG, subscribed)
        .await
        .expect("run 1 subscribes")
        .expect("run 1 is running");
    let half = n / 2;
    produce(&sim, 0..half, Some(&progress)).await;
    stop1.send_replace(true);
    let stats1 = tokio::time::timeout(HANG, run1)
        .await
        .expect("run 1 stops")
        .unwrap();

    // Down: events keep coming; webhooks to the dead port are retried.
    let down = (n / 20).max(1);
    produce(&sim, half..half + down, None).await;

    // Run 2: the rest.
    let (stop2, rx2) = watch::channel(false);
    let (ready, subscribed) = tokio::sync::oneshot::channel();
    let run2 = {
        let (path, secret, url, shared) = (
            store_path.clone(),
            hook.secret.clone(),
            ws_url.clone(),
            shared(),
        );
        tokio::spawn(async move {
            consume(1, &path, hook_addr, &secret, &url, shared, (ready, rx2)).await
        })
    };
    tokio::time::timeout(HANG, subscribed)
        .await
        .expect("run 2 subscribes")
        .expect("run 2 is running");
    produce(&sim, half + down..n, Some(&progress)).await;
    let mut rx = progress.subscribe();
    tokio::time::timeout(HANG, rx.wait_for(|d| *d >= n))
        .await
        .expect("every event delivered")
        .unwrap();
    // Let every webhook delivery end, so that late copies meet the dedup too.
    tokio::time::timeout(HANG, sim.wait_webhooks(|s| s.pending() == 0))
        .await
        .expect("webhooks settle");
    stop2.send_replace(true);
    let stats2 = tokio::time::timeout(HANG, run2)
        .await
        .expect("run 2 stops")
        .unwrap();

    let j = lock(&journal);
    let chaos = sim.chaos_stats();
    let hooks = sim.webhook_stats();
    eprintln!(
        "chaos: {chaos:?}\nwebhooks: {hooks:?}\nrun 1: {} delivered, {} acked; {stats1}run 2: {} delivered, {} acked; {stats2}",
        j.delivered[0].len(),
        j.acked[0].len(),
        j.delivered[1].len(),
        j.acked[1].len(),
    );

    // The faults really happened.
    assert!(chaos.ws_drops >= (n as u64 / 500) - 2, "{chaos:?}");
    assert!(
        chaos.webhook_refused + chaos.webhook_answers_lost > n as u64 / 10,
        "{chaos:?}"
    );
    assert!(chaos.ws_duplicates > 0 && chaos.ws_reordered > 0 && chaos.webhook_duplicates > 0);
    assert_eq!(hooks.gave_up, 0, "every webhook delivered in the end");

    // Every event delivered.
    let all: HashSet<String> = (0..n).map(|i| format!("evt_{i:05}")).collect();
    assert_eq!(j.distinct, all);
    // None twice within a run.
    for run in 0..2 {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &j.delivered[run] {
            *counts.entry(id).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "run {run} delivered twice: {twice:?}");
    }
    // Nothing acked before the stop is delivered after it; what is delivered again
    // was delivered and not acked when run 1 stopped.
    let first: HashSet<&String> = j.delivered[0].iter().collect();
    let again: Vec<&String> = j.delivered[1]
        .iter()
        .filter(|id| first.contains(id))
        .collect();
    for id in &again {
        assert!(
            !j.acked[0].contains(*id),
            "{id} was acked before the stop and delivered again"
        );
    }
    assert!(
        again.len() <= 512 + 256 + 1024,
        "at most what was in flight: {}",
        again.len()
    );
    // Both transports and the log did their part.
    let from = |s: &MergeStats, o: mailwire_source::Origin| s.origin(&o).delivered;
    assert!(from(&stats1, mailwire_source::Origin::WebSocket) > 0);
    assert!(from(&stats2, mailwire_source::Origin::WebSocket) > 0);
    assert!(
        from(&stats1, mailwire_source::Origin::Webhook)
            + from(&stats2, mailwire_source::Origin::Webhook)
            > 0
    );
}
