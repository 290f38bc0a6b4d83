//! The pattern the project exists for, over real sockets on loopback: the
//! simulator's WebSocket and its signed webhooks into the webhook receiver, merged,
//! with one redb file as the log and seen-set, and the WebSocket dropped mid-way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_proto::fixtures;
use mailwire_sim::{Simulator, WebhookSpec};
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
        .map(|i| fixtures::message_received(&format!("evt_{i:02}"), INBOX))
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

/// A `redis-server` of the test's own, on a port of its own, that it can kill. It
/// keeps nothing on disk (`--save ''`, no append-only file): killed, it forgets
/// everything, as a crashed Redis without persistence does.
struct RedisServer {
    child: std::process::Child,
}

impl RedisServer {
    /// Starts it and waits until it accepts connections.
    async fn start(port: u16) -> RedisServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("redis-server on the PATH");
        let stdout = child.stdout.take().expect("piped");
        let ready = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let ready = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|line| line.contains("Ready to accept connections"));
            // Keep reading, so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            ready
        });
        let server = RedisServer { child };
        assert!(
            bounded("redis-server to start", ready).await.unwrap(),
            "redis-server exited before it was ready (port {port} taken?)"
        );
        server
    }

    /// SIGKILL: no shutdown, nothing saved.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Redis killed under a WebSocket: the 20 events that arrive while it is down are
/// held by the merge (the WebSocket's reader stops, the simulator buffers) and each
/// is delivered once, in order, when Redis is back. The outage is reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_a_websocket_every_event_is_delivered_once() {
    use mailwire_client::Backoff;
    use mailwire_store::{RedisStore, Store};

    let port = free_port();
    let mut redis = RedisServer::start(port).await;
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .key_prefix("mailwire-merge-outage")
        .consumer("outage-test")
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_secs(1))
        .connect_retries(1)
        .connect()
        .await
        .unwrap();
    let sim = Simulator::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // A small channel: with the merge paused, the reader stops after a few events
    // and the rest wait in the simulator and the socket.
    let ws = WsSource::spawn(WsConfig::new(sim.ws_url()).api_key(KEY).channel_capacity(4)).unwrap();
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
        .store(store.clone())
        .store_backoff(
            Backoff::default()
                .base(Duration::from_millis(50))
                .cap(Duration::from_millis(500)),
        )
        .build();
    let stats = merge.stats_handle();
    let mut got = Vec::new();
    let mut errors = Vec::new();

    sim.emit_all(events(0..5));
    take(&mut merge, 5, &mut got).await;

    // Redis dies (and forgets everything: only events sent from now on are checked).
    redis.kill();
    sim.emit_all(events(5..25));
    match bounded("the outage to be reported", merge.next()).await {
        Err(e) => errors.push(e),
        Ok(d) => panic!("delivered with Redis down: {d:?}"),
    }
    assert!(stats.snapshot().store_down);

    // Redis is back on the same port, empty: the store reconnects by itself and its
    // append recreates the stream and the consumer group.
    let _redis = RedisServer::start(port).await;
    let mut back = Vec::new();
    while back.len() < 20 {
        match bounded("a delivery", merge.next()).await {
            Ok(Some(d)) => {
                back.push(d.event.id().to_owned());
                d.ack().await.expect("ack");
            }
            Ok(None) => panic!("the merge ended early"),
            Err(e) => errors.push(e),
        }
    }
    ws_shutdown.shutdown();
    while let Some(d) = bounded("the end", merge.next())
        .await
        .expect("next() failed")
    {
        back.push(d.event.id().to_owned());
        d.ack().await.unwrap();
    }

    let want: Vec<String> = (5..25).map(|i| format!("evt_{i:02}")).collect();
    assert_eq!(back, want, "each once, in order");
    assert_eq!(errors.len(), 1, "one error for one outage: {errors:?}");
    assert!(matches!(errors[0], mailwire_source::SourceError::Store(_)));
    let stats = stats.snapshot();
    assert!(!stats.store_down);
    assert_eq!(stats.store_outages, 1);
    assert!(stats.store_retries >= 1, "{stats:?}");
    assert!(store.unacked(100).await.unwrap().is_empty());
}
