//! The pattern the project exists for, over real sockets on loopback: the
//! simulator's WebSocket and its signed webhooks into the webhook receiver, merged,
//! with one redb file as the log and seen-set, and the WebSocket dropped mid-way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_sim::{Simulator, WebhookSpec, sample};
use mailwire_source::{Delivery, EventSource, Origin};
use mailwire_store::RedbStore;
use mailwire_webhook::{Keyring, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_ws::{Status, WsConfig, WsSource};

/// Bounds a hang only; reconnect backoff may take a few seconds.
const HANG: Duration = Duration::from_secs(60);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY: &str = "sk_test";
const INBOX: &str = "ada@agentmail.to";

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

fn events(range: std::ops::Range<usize>) -> Vec<Event> {
    range
        .map(|i| sample::message_received(&format!("evt_{i:02}"), INBOX))
        .collect()
}

/// Takes deliveries until `n` more arrived, acking each; records (id, origin).
async fn take(merge: &mut Merge, n: usize, got: &mut Vec<(String, Origin)>) {
    for _ in 0..n {
        let d: Delivery = bounded("a delivery", merge.next())
            .await
            .expect("next() failed")
            .expect("the merge ended early");
        got.push((d.event.id().to_owned(), d.origin.clone()));
        d.ack().await.expect("ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_webhooks_merged_every_event_exactly_once_across_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("events.redb")).unwrap());
    let sim = Simulator::builder()
        .api_key(KEY)
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await
        .unwrap();

    // The webhook receiver logs to the same file the merge uses, before its 200.
    let receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(SECRET).unwrap()))
        .store(store.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let hook_url = format!("http://{}/webhooks", receiver.local_addr().unwrap());
    let hooks_shutdown = receiver.shutdown_handle().expect("a bound receiver");

    let ws = WsSource::spawn(WsConfig::new(sim.ws_url()).api_key(KEY)).unwrap();
    let mut status = ws.status();
    let ws_shutdown = ws.shutdown_handle();
    bounded(
        "subscribed",
        status.wait_for(|s| matches!(s, Status::Subscribed)),
    )
    .await
    .unwrap();

    let mut merge = Merge::builder()
        .source(ws)
        .source(receiver)
        .store(store.clone())
        .build();
    let mut got = Vec::new();

    // 1. Before any webhook is registered: the WebSocket alone.
    sim.emit_all(events(0..10));
    take(&mut merge, 10, &mut got).await;
    bounded(
        "the webhook registration",
        sim.register_webhook(WebhookSpec::new(&hook_url).secret(SECRET)),
    )
    .await
    .unwrap();

    // 2. The WebSocket drops and cannot reconnect: the webhooks carry on alone.
    sim.faults().refuse_connections(None);
    sim.faults().drop_connections();
    bounded(
        "the WebSocket to notice the drop",
        status.wait_for(|s| !matches!(s, Status::Subscribed | Status::Connected)),
    )
    .await
    .unwrap();
    sim.emit_all(events(10..20));
    take(&mut merge, 10, &mut got).await;

    // 3. The WebSocket comes back (resuming after the last id it delivered, so the
    //    server replays 10..20 to it: copies the merge must suppress); from now on
    //    every event comes through both.
    sim.faults().accept_connections();
    bounded(
        "the WebSocket to resubscribe",
        status.wait_for(|s| matches!(s, Status::Subscribed)),
    )
    .await
    .unwrap();
    sim.emit_all(events(20..30));
    take(&mut merge, 10, &mut got).await;

    // 4. Every webhook answered, both transports shut down: whatever copies are
    //    still on their way are taken, and none may come out.
    bounded(
        "every webhook delivered",
        sim.wait_webhooks(|w| w.delivered >= 20 && w.pending() == 0),
    )
    .await;
    ws_shutdown.shutdown();
    hooks_shutdown.shutdown();
    while let Some(d) = bounded("the end", merge.next())
        .await
        .expect("next() failed")
    {
        got.push((d.event.id().to_owned(), d.origin.clone()));
        d.ack().await.unwrap();
    }

    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _) in &got {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let want: Vec<String> = (0..30).map(|i| format!("evt_{i:02}")).collect();
    assert_eq!(times.keys().copied().collect::<Vec<_>>(), want, "{got:?}");
    assert!(
        times.values().all(|&n| n == 1),
        "an event came out twice: {got:?}"
    );

    // Who brought what: 0..10 only the WebSocket could; 10..20 only the webhooks.
    for (id, origin) in &got[..10] {
        assert_eq!(origin, &Origin::WebSocket, "{id}");
    }
    for (id, origin) in &got[10..20] {
        assert_eq!(origin, &Origin::Webhook, "{id}");
    }
    let stats = merge.stats();
    println!("{stats}");
    let (ws, hooks) = (
        stats.origin(&Origin::WebSocket),
        stats.origin(&Origin::Webhook),
    );
    assert!(ws.delivered >= 10 && hooks.delivered >= 10, "{stats}");
    assert_eq!(ws.delivered + hooks.delivered, 30, "{stats}");
    // The WebSocket's resumed copies of 10..20 were suppressed: the webhooks won them.
    assert!(ws.duplicates >= 10, "{stats}");
    assert!(hooks.won >= 10, "{stats}");
    assert!(store_is_settled(&store).await);
}

async fn store_is_settled(store: &RedbStore) -> bool {
    use mailwire_store::Store;
    store.unacked(100).await.unwrap().is_empty()
}
