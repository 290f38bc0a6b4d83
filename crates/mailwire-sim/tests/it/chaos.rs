//! Chaos over real sockets: the same seed gives the same faults, and the faults are
//! the ones asked for.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{FutureExt as _, SinkExt, StreamExt};
use mailwire_proto::ServerFrame;
use mailwire_proto::fixtures;
use mailwire_sim::{Chaos, ChaosStats, Simulator, WebhookSpec};
use mailwire_source::EventSource;
use mailwire_webhook::{Keyring, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use tokio_tungstenite::tungstenite::Message;

const HANG: Duration = Duration::from_secs(20);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("timed out")
}

fn events(n: usize) -> Vec<mailwire_proto::Event> {
    (0..n)
        .map(|i| fixtures::message_received(&format!("evt_{i:04}"), "a@x.to"))
        .collect()
}

/// The ids a WebSocket client receives, in order, for 200 events under `chaos`.
async fn websocket_run(chaos: Chaos) -> (Vec<String>, ChaosStats) {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.set_chaos(chaos).unwrap();
    let (mut ws, _) = bounded(tokio_tungstenite::connect_async(sim.ws_url()))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();
    bounded(sim.wait_subscribers(1)).await;
    sim.emit_all(events(200));
    let stats = sim.chaos_stats();
    let expected = 200 + stats.ws_duplicates as usize;
    let mut ids = Vec::new();
    while ids.len() < expected {
        let Message::Text(text) = bounded(ws.next()).await.unwrap().unwrap() else {
            continue;
        };
        if let Ok(ServerFrame::Event(e)) = ServerFrame::parse(Vec::from(text.as_bytes())) {
            ids.push(e.id().to_owned());
        }
    }
    (ids, stats)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_websocket_stream() {
    let chaos = |seed| Chaos::seeded(seed).duplicates(0.1).reorders(0.1);
    let (a, stats) = websocket_run(chaos(1)).await;
    let (b, _) = websocket_run(chaos(1)).await;
    let (c, _) = websocket_run(chaos(2)).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(
        stats.ws_duplicates > 0 && stats.ws_reordered > 0,
        "{stats:?}"
    );
    // Every event arrives; some twice; some out of order.
    let unique: BTreeSet<&String> = a.iter().collect();
    assert_eq!(unique.len(), 200);
    assert_eq!(a.len(), 200 + stats.ws_duplicates as usize);
    assert!(a.windows(2).any(|w| w[0] > w[1]), "reordered");
}

#[tokio::test]
async fn websocket_connections_drop_every_n_events() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.set_chaos(Chaos::seeded(3).drop_ws_every(10)).unwrap();
    let (mut ws, _) = bounded(tokio_tungstenite::connect_async(sim.ws_url()))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();
    bounded(sim.wait_subscribers(1)).await;
    sim.emit_all(events(35));
    assert_eq!(sim.chaos_stats().ws_drops, 3);
    // The client sees its connection end (without a closing handshake).
    while let Some(Ok(_)) = bounded(ws.next()).await {}
    sim.clear_chaos();
    assert!(sim.chaos().is_none());
}

/// 100 events as webhooks to a real receiver under `chaos`: what the receiver
/// yielded, and what chaos did.
async fn webhook_run(chaos: Chaos) -> (BTreeSet<String>, ChaosStats, mailwire_sim::WebhookStats) {
    let sim = Simulator::builder()
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    sim.set_chaos(chaos).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let hook = sim.register_webhook(WebhookSpec::new(url)).await.unwrap();
    let verifier = Verifier::new(Keyring::standard(&hook.secret).unwrap());
    let mut receiver = WebhookReceiver::new(verifier).serve(listener);
    sim.emit_all(events(100));
    let stats = bounded(sim.wait_webhooks(|s| s.queued > 0 && s.pending() == 0)).await;
    let mut got = BTreeSet::new();
    // Every delivery has ended, so whatever the receiver accepted is queued in it.
    while let Some(Ok(Some(delivery))) = receiver.next().now_or_never() {
        assert!(got.insert(delivery.event.id().to_owned()), "yielded twice");
    }
    (got, sim.chaos_stats(), stats)
}

#[tokio::test]
async fn failed_webhook_attempts_are_retried_and_the_same_seed_fails_the_same_ones() {
    let chaos = |seed| {
        Chaos::seeded(seed)
            .webhook_failures(0.3, 2)
            .duplicates(0.05)
    };
    let (got, chaos_a, hooks) = webhook_run(chaos(11)).await;
    assert_eq!(got.len(), 100, "every event delivered once");
    let failed = chaos_a.webhook_refused + chaos_a.webhook_answers_lost;
    assert!(
        chaos_a.webhook_refused > 0 && chaos_a.webhook_answers_lost > 0,
        "{chaos_a:?}"
    );
    assert_eq!(hooks.queued, 100 + chaos_a.webhook_duplicates);
    assert_eq!(hooks.delivered, hooks.queued);
    assert_eq!(hooks.gave_up, 0);
    assert!(hooks.attempts >= hooks.queued + failed - chaos_a.webhook_duplicates * 2);

    let (_, chaos_b, _) = webhook_run(chaos(11)).await;
    assert_eq!(chaos_a, chaos_b);
    let (_, chaos_c, _) = webhook_run(chaos(12)).await;
    assert_ne!(chaos_a, chaos_c);
}

#[tokio::test]
async fn every_attempt_failing_up_to_the_cap_still_delivers() {
    let (got, chaos, hooks) = webhook_run(Chaos::seeded(5).webhook_failures(1.0, 2)).await;
    assert_eq!(got.len(), 100);
    assert_eq!(chaos.webhook_refused + chaos.webhook_answers_lost, 200);
    assert_eq!(hooks.attempts, 300);
}

#[tokio::test]
async fn chaos_is_set_read_and_cleared_over_rest() {
    use http_body_util::{BodyExt, Full};
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let call = |method: &str, body: &'static str| {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}/_sim/chaos", sim.http_url()))
            .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
            .unwrap();
        let client = client.clone();
        async move {
            let res = bounded(client.request(req)).await.unwrap();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        }
    };
    let set = call(
        "POST",
        r#"{"seed":9,"drop_ws_every":300,"webhook_failure_rate":0.2}"#,
    )
    .await;
    assert_eq!(set["chaos"]["drop_ws_every"], 300);
    assert_eq!(sim.chaos().unwrap().seed, 9);
    assert_eq!(call("GET", "").await["chaos"]["seed"], 9);
    assert_eq!(call("DELETE", "").await["chaos"], serde_json::Value::Null);
    assert!(sim.chaos().is_none());
    let dropped = call("POST", r#"{"drop_now":true}"#).await;
    assert_eq!(dropped["stats"]["ws_drops"], 1);
}

#[tokio::test]
async fn a_websocket_outage_refuses_handshakes_while_rest_carries_on() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let (mut ws, _) = bounded(tokio_tungstenite::connect_async(sim.ws_url()))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();
    bounded(sim.wait_subscribers(1)).await;
    sim.set_chaos(Chaos::seeded(1).ws_down(true).drop_now())
        .unwrap();
    // The open connection is dropped...
    while let Some(Ok(_)) = bounded(ws.next()).await {}
    // ...new handshakes are refused with 503...
    let refused = bounded(tokio_tungstenite::connect_async(sim.ws_url())).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 503),
        other => panic!("expected a 503, got {other:?}"),
    }
    // ...while events are still published (and retained for later resumes).
    let id = sim
        .receive_email(
            "a@x.to",
            mailwire_sim::IncomingEmail::new("b@x.to", "s", "t"),
        )
        .unwrap();
    assert_eq!(sim.hub().retained_after(None, 10).unwrap()[0].id(), id);
    sim.clear_chaos();
    assert!(
        bounded(tokio_tungstenite::connect_async(sim.ws_url()))
            .await
            .is_ok()
    );
}
