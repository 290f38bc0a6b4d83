//! AgentMail's REST API under `/v0`, from Rust over loopback: list pages and order,
//! error bodies, filters, thread pages, drafts, and the send lifecycle on the
//! WebSocket.
//! (the `sdk` module runs the official SDKs over the same routes.)

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailwire_proto::{EventType, Payload, ServerFrame};
use mailwire_sim::Simulator;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod account;
mod api_keys;
mod batch;
mod coverage;
mod documented;
mod domains;
mod drafts;
mod lists;
mod metrics;
mod public_keys;
mod search;
mod webhook_headers;

const HANG: Duration = Duration::from_secs(10);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("timed out")
}

struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    fn new(sim: &Simulator) -> Api {
        Api {
            base: sim.http_url(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", "Bearer am_k")
            .body(Full::new(body))
            .unwrap();
        let res = bounded(self.client.request(req)).await.expect("answer");
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {answer}");
        answer
    }
}

async fn sim() -> Simulator {
    Simulator::builder()
        .api_key("am_k")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(sim: &Simulator, frame: Value) -> Ws {
    let url = format!("{}?api_key=am_k", sim.ws_url());
    let (mut ws, _) = bounded(tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    ws.send(Message::text(frame.to_string())).await.unwrap();
    assert!(matches!(next(&mut ws).await, ServerFrame::Subscribed(_)));
    ws
}

async fn next(ws: &mut Ws) -> ServerFrame {
    loop {
        if let Message::Text(t) = bounded(ws.next()).await.unwrap().unwrap() {
            return ServerFrame::parse(Bytes::from(t)).unwrap();
        }
    }
}

async fn event(ws: &mut Ws) -> mailwire_proto::Event {
    match next(ws).await {
        ServerFrame::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn lists_are_pages_newest_first_and_errors_have_the_services_shape() {
    let sim = sim().await;
    let api = Api::new(&sim);
    for name in ["a", "b", "c"] {
        api.post("/v0/pods", json!({ "name": name })).await;
    }
    let (status, page) = api.get("/v0/pods?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (page["count"].as_u64(), page["limit"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["pods"][0]["name"], "c");
    let token = page["next_page_token"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/v0/pods?limit=2&page_token={token}"))
        .await;
    // The default pod, oldest, comes last.
    assert_eq!(rest["pods"][0]["name"], "a");
    assert_eq!(rest["pods"][1]["name"], "default");
    assert!(rest.get("next_page_token").is_none());
    let (_, up) = api.get("/v0/pods?ascending=true").await;
    assert_eq!(up["pods"][0]["name"], "default");

    for bad in [
        "/v0/pods?limit=0",
        "/v0/pods?page_token=nope",
        "/v0/pods?ascending=maybe",
    ] {
        let (status, body) = api.get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["name"], "ValidationError");
        assert_eq!(body["code"], "validation_error");
        assert!(
            body["errors"].is_array() && body["message"].is_string(),
            "{body}"
        );
    }
    let (status, body) = api.get("/v0/inboxes/nobody@agentmail.to").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        (body["name"].as_str(), body["code"].as_str()),
        (Some("NotFoundError"), Some("not_found"))
    );
    assert_eq!(api.get("/v0/nothing").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::PUT, "/v0/pods", None).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (status, _) = api
        .call(
            Method::POST,
            "/v0/webhooks",
            Some(json!({ "url": "http://127.0.0.1:9/h" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "event_types is required");
}

#[tokio::test]
async fn a_send_has_the_lifecycle_its_recipients_designate() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let mut ws = subscribe(&sim, json!({ "type": "subscribe" })).await;
    let send = "/v0/inboxes/ada@agentmail.to/messages/send";

    let sent = api
        .post(
            send,
            json!({ "to": "complaint@simulator.mailwire.dev", "subject": "s", "text": "t" }),
        )
        .await;
    let types: Vec<EventType> = [
        event(&mut ws).await,
        event(&mut ws).await,
        event(&mut ws).await,
    ]
    .iter()
    .map(|e| {
        assert_eq!(e.payload().message_id(), sent["message_id"].as_str());
        assert!(e.payload_error().is_none(), "{:?}", e.payload_error());
        if let Payload::Complained(c) = e.payload() {
            assert_eq!(c.complaint_type.as_deref(), Some("abuse"));
            assert_eq!(c.recipients, ["complaint@simulator.mailwire.dev"]);
        }
        e.event_type().clone()
    })
    .collect();
    assert_eq!(
        types,
        [
            EventType::MessageSent,
            EventType::MessageDelivered,
            EventType::MessageComplained
        ]
    );

    // One rejected recipient refuses the whole message: no sent, no delivered.
    api.post(
        send,
        json!({ "to": ["ok@example.com", "reject@simulator.amazonses.com"], "text": "t" }),
    )
    .await;
    let rejected = event(&mut ws).await;
    assert_eq!(rejected.event_type(), &EventType::MessageRejected);
    let Payload::Rejected(r) = rejected.payload() else {
        panic!("a reject payload")
    };
    assert!(r.reason.is_some() && r.timestamp.is_some());

    // A bounce among delivered recipients: both outcomes, each with its recipients.
    api.post(
        send,
        json!({ "to": "ok@example.com", "cc": "bounce@simulator.amazonses.com" }),
    )
    .await;
    assert_eq!(event(&mut ws).await.event_type(), &EventType::MessageSent);
    let delivered = event(&mut ws).await;
    let Payload::Delivered(d) = delivered.payload() else {
        panic!("{delivered:?}")
    };
    assert_eq!(d.recipients, ["ok@example.com"]);
    let bounced = event(&mut ws).await;
    let Payload::Bounced(b) = bounced.payload() else {
        panic!("{bounced:?}")
    };
    assert!(b.is_permanent());
    assert_eq!(
        b.recipients[0].address.as_deref(),
        Some("bounce@simulator.amazonses.com")
    );

    // A send with no recipient is the service's 400.
    let (status, body) = api
        .call(Method::POST, send, Some(json!({ "text": "t" })))
        .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ValidationError"))
    );
    // What was sent is listed, newest first.
    let (_, list) = api.get("/v0/inboxes/ada@agentmail.to/messages").await;
    assert_eq!(list["count"], 3);
    assert_eq!(
        list["messages"][0]["cc"][0],
        "bounce@simulator.amazonses.com"
    );
    assert!(
        list["messages"][0].get("text").is_none(),
        "list items leave out the body"
    );
}

#[tokio::test]
async fn spam_is_listed_and_streamed_only_when_asked_for() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let mut default = subscribe(&sim, json!({ "type": "subscribe" })).await;
    let mut spam = subscribe(
        &sim,
        json!({ "type": "subscribe", "event_types": ["message.received.spam"] }),
    )
    .await;
    let inject = "/_sim/inboxes/ada%40agentmail.to/messages";
    api.post(
        inject,
        json!({ "from": "x@spam.example", "text": "$$$", "verdict": "spam" }),
    )
    .await;
    api.post(
        inject,
        json!({ "from": "bob@example.com", "subject": "hi", "text": "hello" }),
    )
    .await;
    let first = event(&mut default).await;
    assert_eq!(
        first.event_type(),
        &EventType::MessageReceived,
        "spam left out by default"
    );
    assert_eq!(
        event(&mut spam).await.event_type(),
        &EventType::MessageReceivedSpam
    );

    let path = "/v0/inboxes/ada@agentmail.to";
    assert_eq!(api.get(&format!("{path}/messages")).await.1["count"], 1);
    assert_eq!(
        api.get(&format!("{path}/messages?include_spam=true"))
            .await
            .1["count"],
        2
    );
    assert_eq!(api.get(&format!("{path}/threads")).await.1["count"], 1);
    assert_eq!(
        api.get(&format!("{path}/threads?include_spam=true"))
            .await
            .1["count"],
        2
    );
    let (_, labelled) = api
        .get(&format!(
            "{path}/messages?include_spam=true&labels=%5B%22spam%22%5D"
        ))
        .await;
    assert_eq!(
        labelled["messages"][0]["labels"],
        json!(["received", "unread", "spam"])
    );
}

#[tokio::test]
async fn threads_are_paged_from_their_newest_message() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let inject = "/_sim/inboxes/ada%40agentmail.to/messages";
    let first = api
        .post(
            inject,
            json!({ "from": "bob@example.com", "subject": "plan", "text": "1" }),
        )
        .await;
    let mut previous = first["message_id"].as_str().unwrap().to_owned();
    for text in ["2", "3"] {
        let next = api
            .post(
                inject,
                json!({ "from": "bob@example.com", "text": text, "in_reply_to": previous }),
            )
            .await;
        assert_eq!(next["thread_id"], first["thread_id"]);
        previous = next["message_id"].as_str().unwrap().to_owned();
    }
    let thread = format!("/v0/threads/{}", first["thread_id"].as_str().unwrap());
    let (_, page) = api.get(&format!("{thread}?limit=2")).await;
    assert_eq!(page["message_count"], 3);
    let texts = |p: &Value| -> Vec<String> {
        p["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(&page), ["2", "3"], "the newest page, oldest first");
    let token = page["next_page_token"].as_str().unwrap();
    let (_, older) = api
        .get(&format!("{thread}?limit=2&page_token={token}"))
        .await;
    assert_eq!(texts(&older), ["1"]);
    assert!(older.get("next_page_token").is_none());

    // `after` and `before` bound the message list.
    let (_, all) = api
        .get("/v0/inboxes/ada@agentmail.to/messages?ascending=true")
        .await;
    let second = all["messages"][1]["timestamp"].as_str().unwrap().to_owned();
    let enc = |s: &str| s.replace(':', "%3A").replace('+', "%2B");
    let (_, after) = api
        .get(&format!(
            "/v0/inboxes/ada@agentmail.to/messages?after={}",
            enc(&second)
        ))
        .await;
    assert!(after["count"].as_u64().unwrap() >= 2, "{after}");
    let (_, before) = api
        .get(&format!(
            "/v0/inboxes/ada@agentmail.to/messages?before={}",
            enc(&second)
        ))
        .await;
    assert!(before["count"].as_u64().unwrap() <= 1, "{before}");
}
