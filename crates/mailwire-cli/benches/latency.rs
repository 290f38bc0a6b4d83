//! End to end, from the moment the simulator emits an event to the moment the
//! handler holds it, one event at a time, side by side with the floor of each
//! transport measured on the same events:
//!
//! 1. **WebSocket**: `WsSource` + `Merge` against a bare tokio-tungstenite client
//!    subscribed to the same server (the frame read, nothing parsed).
//! 2. **Webhooks**: the simulator's signed POST through `WebhookReceiver` (verify,
//!    parse, store) + `Merge` against a bare hyper server that receives the same
//!    POST (to another URL of the same registration list).
//! 3. **A server restart**: the time from the server listening again to the first
//!    event emitted after it reaching the handler (reconnect with the default
//!    delays, met as a first disconnect: each session counts as healthy; subscribe
//!    with `after`, replay), against a fresh bare connection opened the
//!    moment the server is back (the floor for any client).
//!
//! Both contenders run at once in each round, so a noisy machine hurts both alike.
//! Prints p50 and p99 per row and `cargo xtask bench` rows.
//! `cargo bench -p mailwire-cli --bench latency`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use mailwire_merge::Merge;
use mailwire_proto::fixtures;
use mailwire_sim::{Retention, Simulator, WebhookSpec};
use mailwire_source::EventSource;
use mailwire_store::MemoryStore;
use mailwire_webhook::{Keyring, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_ws::{Backoff, Status, WsConfig, WsSource};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(60);

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

/// Events per latency row.
fn events() -> usize {
    if quick() { 30 } else { 1000 }
}

/// Restarts in the restart row.
fn restarts() -> usize {
    if quick() { 3 } else { 30 }
}

/// Arrivals: (event id, when the handler held it).
type Arrivals = mpsc::UnboundedSender<(String, Instant)>;

/// Waits for `id` on `rx`; earlier ids (none here: one event at a time) are skipped.
async fn arrival(rx: &mut mpsc::UnboundedReceiver<(String, Instant)>, id: &str) -> Instant {
    loop {
        let (got, at) = tokio::time::timeout(HANG, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{id} arrives"))
            .expect("the client runs");
        if got == id {
            return at;
        }
    }
}

/// The handler: takes every delivery of `merge`, notes its arrival, acks it.
fn handle(mut merge: Merge, arrivals: Arrivals) {
    tokio::spawn(async move {
        while let Ok(Some(delivery)) = merge.next().await {
            let at = Instant::now();
            let id = delivery.event.id().to_owned();
            let _ = arrivals.send((id, at));
            let _ = delivery.ack().await;
        }
    });
}

/// A bare WebSocket client: subscribes (after `after`, if given), then notes the
/// arrival of every event frame by the id it contains. Ends with the connection.
async fn bare_ws(url: String, after: Option<String>, arrivals: Arrivals) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("the bare client connects");
    let subscribe = match after {
        Some(id) => format!(r#"{{"type":"subscribe","after":"{id}"}}"#),
        None => r#"{"type":"subscribe"}"#.to_owned(),
    };
    ws.send(Message::text(subscribe)).await.expect("subscribe");
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else { continue };
        // The ids of this bench are `evt_` and digits: find one without parsing.
        if let Some(at) = text.find("\"evt_") {
            let rest = &text[at + 1..];
            let end = rest.find('"').unwrap_or(rest.len());
            let _ = arrivals.send((rest[..end].to_owned(), Instant::now()));
        }
    }
}

/// A bare hyper server: notes the arrival of every POST by the event id in its body.
async fn bare_hyper(arrivals: Arrivals) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let arrivals = arrivals.clone();
                        async move {
                            let body = req.into_body().collect().await.map(|b| b.to_bytes());
                            let at = Instant::now();
                            if let Ok(body) = body {
                                let text = String::from_utf8_lossy(&body);
                                if let Some(start) = text.find("\"evt_") {
                                    let rest = &text[start + 1..];
                                    let end = rest.find('"').unwrap_or(rest.len());
                                    let _ = arrivals.send((rest[..end].to_owned(), at));
                                }
                            }
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Microseconds at the quantile `q` of `v`.
fn quantile(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    let at = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[at].as_secs_f64() * 1e6
}

/// Prints one row of p50/p99 and the table rows for them.
fn report(bench: &str, ours: &str, theirs: &str, mut a: Vec<Duration>, mut b: Vec<Duration>) {
    let (a50, a99, b50, b99) = (
        quantile(&mut a, 0.5),
        quantile(&mut a, 0.99),
        quantile(&mut b, 0.5),
        quantile(&mut b, 0.99),
    );
    println!(
        "{bench}, {} samples: {ours} p50 {a50:.0} µs, p99 {a99:.0} µs; {theirs} p50 {b50:.0} µs, p99 {b99:.0} µs",
        a.len()
    );
    for (q, x, y) in [("p50", a50, b50), ("p99", a99, b99)] {
        println!("bench-row\t{bench}\t{ours}, {q}\t{x:.0}\tµs\t{theirs}, {q}\t{y:.0}");
    }
}

type Arrived = mpsc::UnboundedReceiver<(String, Instant)>;

/// Emits [`events`] one at a time, each once both contenders hold the last; returns
/// the latencies of each.
async fn one_at_a_time(
    sim: &Simulator,
    ours: &mut Arrived,
    bare: &mut Arrived,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..events() {
        let id = format!("evt_{i:06}");
        let start = Instant::now();
        sim.emit(fixtures::message_received(&id, "ada@agentmail.to"));
        let (x, y) = (arrival(ours, &id).await, arrival(bare, &id).await);
        a.push(x - start);
        b.push(y - start);
    }
    (a, b)
}

async fn simulator() -> Simulator {
    Simulator::builder()
        .ping_interval(None)
        .bind("127.0.0.1:0")
        .await
        .expect("the simulator binds")
}

async fn subscribed(ws: &WsSource) {
    let mut status = ws.status();
    tokio::time::timeout(HANG, status.wait_for(|s| matches!(s, Status::Subscribed)))
        .await
        .expect("subscribed in time")
        .expect("the source runs");
}

/// Row 1: emit, then the WebSocket through `WsSource` + `Merge` and the bare client.
async fn websocket() {
    let sim = simulator().await;
    let (ours_tx, mut ours) = mpsc::unbounded_channel();
    let (bare_tx, mut bare) = mpsc::unbounded_channel();
    let ws = WsSource::spawn(WsConfig::new(sim.ws_url())).expect("a source");
    subscribed(&ws).await;
    handle(
        Merge::builder()
            .source(ws)
            .store(MemoryStore::new())
            .build(),
        ours_tx,
    );
    tokio::spawn(bare_ws(sim.ws_url(), None, bare_tx));
    tokio::time::timeout(HANG, sim.wait_subscribers(2))
        .await
        .expect("both subscribed");
    let (a, b) = one_at_a_time(&sim, &mut ours, &mut bare).await;
    report(
        "e2e: emit to handler, WebSocket",
        "WsSource + Merge",
        "bare tokio-tungstenite client",
        a,
        b,
    );
}

/// Row 2: emit, then the signed POST through `WebhookReceiver` + `Merge` and the
/// bare hyper server.
async fn webhooks() {
    let sim = simulator().await;
    let (ours_tx, mut ours) = mpsc::unbounded_channel();
    let (bare_tx, mut bare) = mpsc::unbounded_channel();
    let bare_addr = bare_hyper(bare_tx).await;
    let receiver_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let hook = sim
        .register_webhook(WebhookSpec::new(format!("http://{receiver_addr}/webhooks")))
        .await
        .expect("registered");
    sim.register_webhook(WebhookSpec::new(format!("http://{bare_addr}/webhooks")))
        .await
        .expect("registered");
    let receiver = WebhookReceiver::new(Verifier::new(
        Keyring::standard(&hook.secret).expect("the simulator's secret"),
    ))
    .store(MemoryStore::new())
    .bind(receiver_addr)
    .await
    .expect("the receiver binds");
    handle(
        Merge::builder()
            .source(receiver)
            .store(MemoryStore::new())
            .build(),
        ours_tx,
    );
    let (a, b) = one_at_a_time(&sim, &mut ours, &mut bare).await;
    report(
        "e2e: emit to handler, webhooks",
        "WebhookReceiver + Merge",
        "bare hyper server",
        a,
        b,
    );
}

/// Row 3: the server restarts; the first event after it, to the handler.
async fn restart() {
    let sim = simulator().await;
    let (ours_tx, mut ours) = mpsc::unbounded_channel();
    // Every session counts as healthy, so each restart is met as a first one (by
    // default the delays reset only after a healthy minute, and these restarts come
    // every few milliseconds: they would climb to the 30 s cap).
    let config =
        WsConfig::new(sim.ws_url()).backoff(Backoff::default().healthy_after(Duration::ZERO));
    let ws = WsSource::spawn(config).expect("a source");
    let mut status = ws.status();
    subscribed(&ws).await;
    handle(
        Merge::builder()
            .source(ws)
            .store(MemoryStore::new())
            .build(),
        ours_tx,
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut last = "evt_r_start".to_owned();
    sim.emit(fixtures::message_received(&last, "ada@agentmail.to"));
    arrival(&mut ours, &last).await;
    for round in 0..restarts() {
        sim.stop().await;
        tokio::time::timeout(
            HANG,
            status.wait_for(|s| !matches!(s, Status::Subscribed | Status::Connected)),
        )
        .await
        .expect("the source notices")
        .expect("the source runs");
        sim.restart(Retention::Keep).await.expect("listens again");
        let start = Instant::now();
        let id = format!("evt_r_{round:04}");
        sim.emit(fixtures::message_received(&id, "ada@agentmail.to"));
        let (bare_tx, mut bare) = mpsc::unbounded_channel();
        let client = tokio::spawn(bare_ws(sim.ws_url(), Some(last.clone()), bare_tx));
        let (x, y) = (arrival(&mut ours, &id).await, arrival(&mut bare, &id).await);
        client.abort();
        a.push(x - start);
        b.push(y - start);
        last = id;
    }
    report(
        "e2e: server restart to the next event handled",
        "WsSource (default delays, from the first) + Merge",
        "a new bare connection, opened at once",
        a,
        b,
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        websocket().await;
        webhooks().await;
        restart().await;
    });
}
