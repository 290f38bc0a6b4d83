//! The simulator's REST side over real loopback sockets: webhooks, messages, raw
//! events, paging, API keys, and the dispatch of signed webhooks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailwire_proto::fixtures;
use mailwire_proto::{Envelope, Event};
use mailwire_sim::{Simulator, WebhookSpec};
use mailwire_source::EventSource;
use mailwire_webhook::{Keyring, Scheme, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HANG: Duration = Duration::from_secs(10);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("timed out")
}

struct Api {
    base: String,
    key: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    fn new(sim: &Simulator, key: Option<&str>) -> Api {
        Api {
            base: sim.http_url(),
            key: key.map(str::to_owned),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            req = req.header("x-api-key", key);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        let res = bounded(self.client.request(req)).await.expect("answer");
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Bytes::new()).await
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.call(Method::POST, path, body.to_owned()).await
    }
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_key() {
    let sim = Simulator::builder()
        .api_key("sk_good")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    for key in [None, Some("sk_bad")] {
        let api = Api::new(&sim, key);
        for (method, path) in [
            (Method::POST, "/v1/webhooks"),
            (Method::GET, "/v1/webhooks"),
            (Method::GET, "/v1/webhooks/wh_1"),
            (Method::DELETE, "/v1/webhooks/wh_1"),
            (Method::POST, "/_sim/inboxes/a@x.to/messages"),
            (Method::POST, "/_sim/events"),
            (Method::GET, "/_sim/events"),
            (Method::POST, "/_sim/chaos"),
            (Method::GET, "/v0/inboxes"),
            (Method::POST, "/v0/inboxes"),
            (Method::GET, "/v0/inboxes/a@x.to/messages"),
            (Method::POST, "/v0/inboxes/a@x.to/messages/send"),
            (Method::GET, "/v0/threads"),
            (Method::GET, "/v0/webhooks"),
            (Method::GET, "/v0/pods"),
            (Method::GET, "/v1/nothing"),
        ] {
            let (status, body) = api.call(method.clone(), path, "{}").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(body["name"], "UnauthorizedError");
            let code = if key.is_some() {
                "unknown_api_key"
            } else {
                "missing_authorization"
            };
            assert_eq!(body["code"], code);
        }
    }
    let api = Api::new(&sim, Some("sk_good"));
    assert_eq!(api.get("/v1/webhooks").await.0, StatusCode::OK);
    assert_eq!(api.get("/v1/nothing").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::PUT, "/v1/webhooks", "").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn webhooks_are_created_listed_and_deleted() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let api = Api::new(&sim, None);
    let (status, hook) = api
        .post(
            "/v1/webhooks",
            r#"{"url":"http://127.0.0.1:9/hooks","events":["message.received"]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hook}");
    let id = hook["webhook_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"));
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(hook["scheme"], "standard");
    assert_eq!(hook["events"], serde_json::json!(["message.received"]));
    assert_eq!(hook["enabled"], true);

    let (_, list) = api.get("/v1/webhooks").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["webhooks"][0]["webhook_id"], id.as_str());
    let (status, one) = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(
        (status, &one["url"]),
        (StatusCode::OK, &Value::from("http://127.0.0.1:9/hooks"))
    );

    let (status, _) = api
        .call(Method::DELETE, &format!("/v1/webhooks/{id}"), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("/v1/webhooks/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/v1/webhooks/{id}"), "")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get("/v1/webhooks").await.1["count"], 0);
}

#[tokio::test]
async fn bad_webhook_requests_are_400_with_the_field() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let api = Api::new(&sim, None);
    for (body, field) in [
        (r#"{"url":"ftp://x/y"}"#, "url"),
        (r#"{"url":"http://x/y","scheme":"rot13"}"#, "scheme"),
        (
            r#"{"url":"http://x/y","scheme":"standard","secret":"not-whsec"}"#,
            "secret",
        ),
        (r#"{"url":"http://x/y","colour":"red"}"#, "colour"),
        (r#"{"url":"#, "JSON"),
        (r#"[1,2]"#, "JSON"),
    ] {
        let (status, answer) = api.post("/v1/webhooks", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["name"], "ValidationError");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    // The secret is never echoed in an error.
    let (_, answer) = api
        .post(
            "/v1/webhooks",
            r#"{"url":"http://x/y","scheme":"standard","secret":"hunter2"}"#,
        )
        .await;
    assert!(!answer.to_string().contains("hunter2"));
}

/// A WebSocket client subscribed to everything.
async fn subscribe(
    url: &str,
    key: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = url.into_client_request().unwrap();
    if let Some(key) = key {
        req.headers_mut().insert("x-api-key", key.parse().unwrap());
    }
    let (mut ws, _) = bounded(tokio_tungstenite::connect_async(req))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();
    ws
}

/// The next event frame's JSON (greetings, pings and `subscribed` skipped).
async fn next_event(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let Message::Text(text) = bounded(ws.next()).await.unwrap().unwrap() else {
            continue;
        };
        let json: Value = serde_json::from_str(&text).unwrap();
        if !matches!(
            json["type"].as_str(),
            Some("connected" | "ping" | "subscribed")
        ) {
            return json;
        }
    }
}

#[tokio::test]
async fn a_message_arrives_on_the_websocket_and_as_a_signed_webhook() {
    let sim = Simulator::builder()
        .api_key("sk")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim, Some("sk"));

    // The receiver's address first, then the registration, whose secret it verifies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let (status, hook) = api
        .post(
            "/v1/webhooks",
            &serde_json::json!({ "url": url }).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let secret = hook["secret"].as_str().unwrap();
    let mut receiver = WebhookReceiver::new(Verifier::new(
        Keyring::new(Scheme::Standard, [secret]).unwrap(),
    ))
    .serve(listener);

    let mut ws = subscribe(&sim.ws_url(), Some("sk")).await;
    bounded(sim.wait_subscribers(1)).await;
    let (status, sent) = api
        .post(
            "/_sim/inboxes/ada%40agentmail.to/messages",
            r#"{"from":"Bob <bob@example.com>","to":["ada@agentmail.to"],"subject":"Your code","text":"Your code is 481516","html":"<p>481516</p>"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let id = sent["event_id"].as_str().unwrap();

    let frame = next_event(&mut ws).await;
    assert_eq!(frame["type"], "event");
    assert_eq!(frame["event_type"], "message.received");
    assert_eq!(frame["event_id"], id);
    assert_eq!(frame["message"]["inbox_id"], "ada@agentmail.to");
    assert_eq!(frame["message"]["from"], "Bob <bob@example.com>");
    assert_eq!(frame["message"]["html"], "<p>481516</p>");
    assert_eq!(frame["thread"]["message_count"], 1);

    let delivery = bounded(receiver.next()).await.unwrap().expect("a webhook");
    assert_eq!(delivery.event.id(), id);
    assert_eq!(delivery.event.envelope(), Envelope::AgentMail);
    let stats = bounded(sim.wait_webhooks(|s| s.delivered == 1)).await;
    assert_eq!((stats.queued, stats.attempts, stats.pending()), (1, 1, 0));
}

/// A webhook endpoint written as the article's handler is: it reads the raw body
/// and the `x-signature` header.
async fn capture_server() -> (
    String,
    mpsc::UnboundedReceiver<(BTreeMap<String, String>, Bytes)>,
) {
    capture_server_answering(StatusCode::OK).await
}

/// The same endpoint, answering every request with `status`.
pub(crate) async fn capture_server_answering(
    status: StatusCode,
) -> (
    String,
    mpsc::UnboundedReceiver<(BTreeMap<String, String>, Bytes)>,
) {
    capture_server_switching(Arc::new(AtomicU16::new(status.as_u16()))).await
}

/// The same endpoint, answering each request with the status `status` holds then.
async fn capture_server_switching(
    status: Arc<AtomicU16>,
) -> (
    String,
    mpsc::UnboundedReceiver<(BTreeMap<String, String>, Bytes)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            let status = status.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        let status = StatusCode::from_u16(status.load(Ordering::SeqCst))
                            .unwrap_or(StatusCode::OK);
                        async move {
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let _ = tx.send((headers, body));
                            let mut res =
                                hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                            *res.status_mut() = status;
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_simple_envelope_serves_the_article_client_unchanged() {
    let sim = Simulator::builder()
        .api_key("mam_key")
        .envelope(Envelope::Simple)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim, Some("mam_key"));
    let (url, mut hooks) = capture_server().await;
    let body = serde_json::json!({ "url": url, "events": ["message.received"], "secret": "my-webhook-secret" });
    let (status, hook) = api.post("/v1/webhooks", &body.to_string()).await;
    assert_eq!(
        (status, hook["scheme"].as_str()),
        (StatusCode::OK, Some("hex"))
    );

    let ws_url = format!("ws://{}/v1/ws", sim.addr());
    let mut ws = subscribe(&ws_url, Some("mam_key")).await;
    bounded(sim.wait_subscribers(1)).await;
    let (_, sent) = api
        .post("/_sim/inboxes/agent@myagentmail.com/messages", r#"{"from":"alice@example.com","to":"agent@myagentmail.com","subject":"Hello","text":"Can we meet?"}"#)
        .await;

    let frame = next_event(&mut ws).await;
    let keys: Vec<&str> = frame
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["data", "id", "type"]);
    assert_eq!(frame["type"], "message.received");
    assert_eq!(frame["id"], sent["event_id"]);
    assert_eq!(frame["data"]["subject"], "Hello");
    assert_eq!(frame["data"]["from"], "alice@example.com");

    let (headers, body) = bounded(hooks.recv()).await.unwrap();
    // The article's check: hex HMAC-SHA256 of the raw body with the secret's bytes.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"my-webhook-secret");
    let expected: String = ring::hmac::sign(&key, &body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(headers.get("x-signature"), Some(&expected));
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json, frame, "the webhook carries the same event");
    // Compact: re-encoding (which sorts keys, same length) adds no byte.
    assert_eq!(serde_json::to_vec(&json).unwrap().len(), body.len());
}

#[tokio::test]
async fn raw_events_are_emitted_compact_and_paged_after_an_id() {
    let sim = Simulator::builder()
        .retain(4)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim, None);
    let raw = "{ \"type\": \"event\", \"event_type\": \"domain.verified\", \"event_id\": \"evt_raw\",\n  \"domain\": {\"name\": \"a b.example\", \"x-extra\": true} }";
    let (status, answer) = api.post("/_sim/events", raw).await;
    assert_eq!(
        (status, answer["event_id"].as_str()),
        (StatusCode::OK, Some("evt_raw"))
    );
    for i in 1..=3 {
        sim.emit(fixtures::message_received(&format!("evt_{i}"), "a@x.to"));
    }
    let (status, page) = api.get("/_sim/events?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 2);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["events"][0]["event_id"], "evt_raw");
    assert_eq!(
        page["events"][0]["domain"]["name"], "a b.example",
        "strings untouched"
    );
    assert_eq!(page["next_after"], "evt_1");
    let (_, rest) = api.get("/_sim/events?after=evt_1&limit=10").await;
    assert_eq!(rest["count"], 2);
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["next_after"], "evt_3");
    let (_, empty) = api.get("/_sim/events?after=evt_3").await;
    assert_eq!(
        (empty["count"].as_u64(), &empty["next_after"]),
        (Some(0), &Value::Null)
    );
    // The stored bytes are compact.
    let (_, page) = api.get("/_sim/events?limit=1").await;
    let first = sim.hub().retained_after(None, 1).unwrap();
    assert!(!first[0].raw().contains(&b'\n'));
    assert_eq!(
        page["events"][0],
        serde_json::from_slice::<Value>(first[0].raw()).unwrap()
    );

    // Retention is 4: a fifth event pushes evt_raw out, and resuming after it is a gap.
    sim.emit(fixtures::message_received("evt_4", "a@x.to"));
    let (status, gone) = api.get("/_sim/events?after=evt_raw").await;
    assert_eq!(
        (status, gone["name"].as_str()),
        (StatusCode::GONE, Some("GapError"))
    );
    for bad in [
        "/_sim/events?limit=0",
        "/_sim/events?limit=5000",
        "/_sim/events?limit=x",
    ] {
        assert_eq!(api.get(bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn hostile_bodies_get_clear_errors() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let api = Api::new(&sim, None);
    for body in [
        "",
        "null",
        "[]",
        "{\"id\":3}",
        "{\"type\":\"event\"}",
        "\u{0}\u{1}",
        "{\"id\":\"\",\"type\":\"x\"}",
    ] {
        let (status, answer) = api.post("/_sim/events", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(answer["name"], "ValidationError");
    }
    let huge = format!(
        "{{\"id\":\"evt_1\",\"type\":\"x\",\"data\":\"{}\"}}",
        "a".repeat(2 << 20)
    );
    assert_eq!(
        api.post("/_sim/events", &huge).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for body in [
        r#"{"to":"a@x.to"}"#,
        r#"{"from":"nobody","to":"<x"}"#,
        r#"{"from":""}"#,
    ] {
        let (status, _) = api.post("/_sim/inboxes/a@x.to/messages", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(
        api.post("/_sim/chaos", r#"{"duplicate_rate":2}"#).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.post("/_sim/chaos", r#"{"seeed":1}"#).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sim.hub().retained_len(), 0, "nothing was emitted");
}

#[tokio::test]
async fn webhook_filters_pick_types_and_inboxes() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let (url, mut hooks) = capture_server().await;
    sim.register_webhook(
        WebhookSpec::new(url)
            .events([mailwire_proto::EventType::MessageReceived])
            .inbox_ids(["b@x.to"]),
    )
    .await
    .unwrap();
    sim.emit(fixtures::message_received("evt_a", "a@x.to"));
    sim.emit(fixtures::message_bounced("evt_b", "b@x.to"));
    sim.emit(fixtures::message_received("evt_c", "b@x.to"));
    let (_, body) = bounded(hooks.recv()).await.unwrap();
    assert_eq!(Event::parse(body).unwrap().id(), "evt_c");
    let stats = bounded(sim.wait_webhooks(|s| s.pending() == 0)).await;
    assert_eq!(stats.queued, 1);
}

#[tokio::test]
async fn a_410_disables_the_webhook_and_a_500_is_retried() {
    let sim = Simulator::builder()
        .webhook_time_scale(0.00002)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim, None);
    let (gone, mut gone_hits) = capture_server_answering(StatusCode::GONE).await;
    let hook = sim.register_webhook(WebhookSpec::new(gone)).await.unwrap();
    sim.emit(fixtures::message_received("evt_1", "a@x.to"));
    bounded(gone_hits.recv()).await.unwrap();
    let stats = bounded(sim.wait_webhooks(|s| s.pending() == 0)).await;
    assert_eq!(
        (stats.disabled, stats.attempts),
        (1, 1),
        "410 is not retried"
    );
    let (_, view) = api.get(&format!("/v1/webhooks/{}", hook.webhook_id)).await;
    assert_eq!(view["enabled"], false);
    // Later events are not even attempted.
    sim.emit(fixtures::message_received("evt_2", "a@x.to"));
    let stats = bounded(sim.wait_webhooks(|s| s.pending() == 0 && s.queued == 2)).await;
    assert_eq!((stats.disabled, stats.attempts), (2, 1));
    assert!(sim.delete_webhook(&hook.webhook_id));

    let (failing, mut failing_hits) =
        capture_server_answering(StatusCode::INTERNAL_SERVER_ERROR).await;
    sim.register_webhook(WebhookSpec::new(failing))
        .await
        .unwrap();
    sim.emit(fixtures::message_received("evt_3", "a@x.to"));
    // The whole schedule, every attempt with the same id, then given up.
    let mut ids = Vec::new();
    for _ in 0..8 {
        let (headers, _) = bounded(failing_hits.recv()).await.unwrap();
        let id = headers.get("svix-id").or_else(|| headers.get("webhook-id"));
        ids.push(id.expect("a webhook id header").clone());
    }
    // Every retry of one delivery carries the same webhook id.
    assert!(
        !ids[0].is_empty() && ids.iter().all(|id| *id == ids[0]),
        "{ids:?}"
    );
    let stats = bounded(sim.wait_webhooks(|s| s.gave_up == 1)).await;
    assert_eq!(stats.attempts, 1 + 8);
}

#[tokio::test]
async fn each_delivery_is_logged_with_its_attempts_and_can_be_redelivered() {
    let sim = Simulator::builder()
        .webhook_time_scale(0.00002)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim, None);
    let status = Arc::new(AtomicU16::new(500));
    let (url, _hits) = capture_server_switching(status.clone()).await;
    let hook = sim.register_webhook(WebhookSpec::new(url)).await.unwrap();
    let path = format!("/_sim/webhooks/{}/deliveries", hook.webhook_id);
    sim.emit(fixtures::message_received("evt_1", "a@x.to"));
    bounded(sim.wait_webhooks(|s| s.gave_up == 1)).await;
    let (code, log) = api.get(&path).await;
    assert_eq!(code, StatusCode::OK, "{log}");
    let first = &log["deliveries"][0];
    assert_eq!(first["event_id"], "evt_1");
    assert_eq!(first["event_type"], "message.received");
    assert_eq!(first["state"], "gave_up");
    assert_eq!(first["next_attempt_at"], Value::Null);
    let attempts = first["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 8, "{first}");
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["number"], i + 1);
        assert_eq!(a["status"], 500);
        assert_eq!(a["response_body"], "ok");
        assert!(a["latency_ms"].as_f64().unwrap() > 0.0, "{a}");
        assert!(a["error"].as_str().unwrap().contains("500"), "{a}");
    }
    // Redelivered once the endpoint is back: a new delivery of the same event.
    status.store(200, Ordering::SeqCst);
    let id = first["delivery_id"].as_str().unwrap();
    let (code, answer) = api.post(&format!("{path}/{id}/redeliver"), "").await;
    assert_eq!(code, StatusCode::ACCEPTED, "{answer}");
    bounded(sim.wait_webhooks(|s| s.delivered == 1)).await;
    let (_, log) = api.get(&format!("{path}?limit=1")).await;
    let again = &log["deliveries"][0];
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(again["delivery_id"], answer["delivery_id"]);
    assert_eq!(again["redelivery_of"], id);
    assert_eq!(again["event_id"], "evt_1");
    assert_eq!(again["state"], "delivered");
    assert_eq!(again["attempts"][0]["status"], 200);
    assert_eq!(again["attempts"][0]["error"], Value::Null);
    // What does not exist is a 404; a bad limit a 400.
    let missing = format!("{path}/dlv_nothing/redeliver");
    assert_eq!(api.post(&missing, "").await.0, StatusCode::NOT_FOUND);
    let no_hook = "/_sim/webhooks/wh_nothing/deliveries";
    assert_eq!(api.get(no_hook).await.0, StatusCode::NOT_FOUND);
    let bad = format!("{path}?limit=0");
    assert_eq!(api.get(&bad).await.0, StatusCode::BAD_REQUEST);
}
