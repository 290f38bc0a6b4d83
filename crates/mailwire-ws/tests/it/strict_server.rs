//! Against servers written here, not the project's simulator: one as strict as
//! AgentMail's definition (`Authorization: Bearer` or `?api_key=`, nothing but
//! `subscribed`, events and `error`, no resume extension), and one that replays an
//! oversized event on every reconnect.

// tungstenite's handshake callback returns its error response by value.
#![allow(clippy::result_large_err)]

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::{SinkExt, StreamExt};
use mailwire_source::{EventSource, SourceError};
use mailwire_ws::{AuthStyle, GapCause, SkipReason, WsSource};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use common::{bounded, config_for, take};

const KEY: &str = "am_live_strict";

/// What the server saw of one connection.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// Handshakes refused for their credentials.
    refused: usize,
    /// The text frames clients sent, in order, across connections.
    frames: Vec<serde_json::Value>,
}

fn event(id: &str, text_len: usize) -> String {
    serde_json::json!({
        "type": "event", "event_type": "message.received", "event_id": id,
        "message": {"inbox_id": "ada@agentmail.to", "thread_id": "thr_1",
            "message_id": format!("<{id}@example.com>"), "labels": ["received"],
            "timestamp": "2026-11-29T10:00:00Z", "from": "Grace <grace@example.com>",
            "to": ["ada@agentmail.to"], "text": "x".repeat(text_len), "size": text_len,
            "updated_at": "2026-11-29T10:00:00Z", "created_at": "2026-11-29T10:00:00Z"},
        "thread": {"inbox_id": "ada@agentmail.to", "thread_id": "thr_1"}
    })
    .to_string()
}

/// A server that authenticates as AgentMail does: the key as `Authorization: Bearer`
/// or `?api_key=`, and a 401 for anything else (an `X-API-Key` header included).
fn check_auth(request: &Request) -> Result<(), ErrorResponse> {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {KEY}")[..]);
    let query = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == format!("api_key={KEY}")));
    if request.uri().path() == "/v0" && (bearer || query) {
        return Ok(());
    }
    let mut refused = ErrorResponse::new(Some(
        r#"{"name":"UnauthorizedError","message":"invalid API key"}"#.into(),
    ));
    *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
    Err(refused)
}

/// Serves connections: checks auth, waits for a `subscribe`, answers `subscribed`
/// (never `resumed` or `gap`: AgentMail does not know `after`), then sends what
/// `script` gives for that connection (the subscribe's `after`, the connection's
/// number) and closes with a normal close.
async fn serve(
    script: impl Fn(Option<&str>, usize) -> Vec<String> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v0", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let script = Arc::new(script);
    let state = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            n += 1;
            let (seen, script) = (state.clone(), script.clone());
            tokio::spawn(async move {
                let refused = Arc::new(Mutex::new(false));
                let flag = refused.clone();
                let callback = move |req: &Request, resp: Response| match check_auth(req) {
                    Ok(()) => Ok(resp),
                    Err(e) => {
                        *flag.lock().unwrap() = true;
                        Err(e)
                    }
                };
                let ws = tokio_tungstenite::accept_hdr_async(tcp, callback).await;
                if *refused.lock().unwrap() {
                    seen.lock().unwrap().refused += 1;
                }
                let Ok(mut ws) = ws else { return };
                let mut after = None;
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(text) = msg {
                        let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                        seen.lock().unwrap().frames.push(frame.clone());
                        if frame["type"] == "subscribe" {
                            after = frame["after"].as_str().map(str::to_owned);
                            break;
                        }
                    }
                }
                let subscribed = r#"{"type":"subscribed"}"#;
                if ws.send(Message::text(subscribed)).await.is_err() {
                    return;
                }
                for frame in script(after.as_deref(), n) {
                    if ws.send(Message::text(frame)).await.is_err() {
                        return;
                    }
                }
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "bye".into(),
                };
                let _ = ws.send(Message::Close(Some(close))).await;
                // Keep reading so the close handshake completes.
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn bearer_is_the_default_query_works_and_x_api_key_is_refused() {
    let (url, seen) = serve(|_, n| vec![event(&format!("evt_{n}"), 10)]).await;

    let mut bearer = WsSource::spawn(config_for(&url).api_key(KEY)).unwrap();
    assert_eq!(take(&mut bearer, 1).await.len(), 1);
    drop(bearer);

    let query = config_for(&url).api_key(KEY).auth_style(AuthStyle::Query);
    let mut query = WsSource::spawn(query).unwrap();
    assert_eq!(take(&mut query, 1).await.len(), 1);
    drop(query);
    assert_eq!(seen.lock().unwrap().refused, 0);

    let header = config_for(&url).api_key(KEY).auth_style(AuthStyle::XApiKey);
    let mut header = WsSource::spawn(header).unwrap();
    match bounded("the refusal", header.next()).await {
        Err(SourceError::Auth(_)) => {}
        other => panic!("expected an auth error, got {other:?}"),
    }
    // Fatal at once: no retry loop against a server that said no.
    assert_eq!(seen.lock().unwrap().refused, 1);
}

#[tokio::test]
async fn the_client_sends_nothing_but_subscribe() {
    let (url, seen) =
        serve(|_, n| (0..3).map(|i| event(&format!("evt_{n}_{i}"), 10)).collect()).await;
    let mut source = WsSource::spawn(config_for(&url).api_key(KEY).pod_ids(["pod_1"])).unwrap();
    // Three connections' worth: every one subscribes, none sends anything else.
    assert_eq!(take(&mut source, 9).await.len(), 9);
    drop(source);
    let frames = seen.lock().unwrap().frames.clone();
    assert!(frames.len() >= 3, "{frames:?}");
    for frame in &frames {
        assert_eq!(frame["type"], "subscribe", "{frame}");
        assert_eq!(frame["pod_ids"], serde_json::json!(["pod_1"]), "{frame}");
    }
}

#[tokio::test]
async fn a_server_that_ignores_after_gets_a_gap_covering_the_disconnection() {
    let (url, seen) = serve(|_, n| vec![event(&format!("evt_{n}"), 10)]).await;
    let mut source = WsSource::spawn(config_for(&url).api_key(KEY)).unwrap();
    let mut gaps = source.gaps().unwrap();
    let before = SystemTime::now();
    assert_eq!(take(&mut source, 2).await, ["evt_1", "evt_2"]);
    let gap = bounded("a gap", gaps.recv()).await.unwrap();
    // The second subscribe asked to resume after evt_1; the server answered
    // `subscribed` alone: not resumed, and said so.
    assert_eq!(gap.cause, GapCause::NotSupported);
    assert_eq!(gap.last_event_id.as_deref(), Some("evt_1"));
    assert!(before <= gap.from && gap.from <= gap.to, "{gap:?}");
    let frames = seen.lock().unwrap().frames.clone();
    assert_eq!(frames[1]["after"], "evt_1");
}

#[tokio::test]
async fn an_oversized_event_replayed_on_every_reconnect_does_not_wedge_the_stream() {
    // A server that replays everything after `after` (one event per connection,
    // then a close), with an email past what the envelope parser reads among them
    // (smaller ones are delivered).
    let retained: Vec<(String, String)> = [
        ("evt_1", 10),
        ("evt_big", mailwire_proto::MAX_EVENT_BYTES),
        ("evt_3", 10),
        ("evt_4", 10),
    ]
    .into_iter()
    .map(|(id, len)| (id.to_owned(), event(id, len)))
    .collect();
    let (url, seen) = serve(move |after, _| {
        let from = match after {
            None => 0,
            Some(after) => retained
                .iter()
                .position(|(id, _)| id == after)
                .map_or(0, |i| i + 1),
        };
        retained[from..]
            .iter()
            .take(1)
            .map(|(_, frame)| frame.clone())
            .collect()
    })
    .await;
    let mut source = WsSource::spawn(config_for(&url).api_key(KEY)).unwrap();
    let mut skipped = source.skipped().unwrap();
    assert_eq!(take(&mut source, 3).await, ["evt_1", "evt_3", "evt_4"]);
    let notice = bounded("the skipped notice", skipped.recv()).await.unwrap();
    assert_eq!(notice.id.as_deref(), Some("evt_big"));
    assert!(matches!(
        notice.reason,
        SkipReason::TooLarge { limit } if limit == mailwire_proto::MAX_EVENT_BYTES
    ));
    assert!(notice.len > mailwire_proto::MAX_EVENT_BYTES);
    // Met once: the next subscribe resumed after it.
    assert_eq!(skipped.count(), 1);
    let afters: Vec<serde_json::Value> = seen
        .lock()
        .unwrap()
        .frames
        .iter()
        .map(|f| f["after"].clone())
        .collect();
    assert_eq!(
        afters[..3],
        [serde_json::Value::Null, "evt_1".into(), "evt_big".into()]
    );
}

/// Every fixture: each event type in the definition's shape (both envelopes) and
/// the odd-but-real ones.
fn fixtures() -> Vec<(String, String)> {
    mailwire_proto::fixtures::ALL
        .iter()
        .map(|f| {
            let text = std::str::from_utf8(f.bytes).unwrap().to_owned();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let id = value["event_id"]
                .as_str()
                .or(value["id"].as_str())
                .unwrap()
                .to_owned();
            (id, text)
        })
        .collect()
}

#[tokio::test]
async fn every_event_type_and_every_odd_payload_is_delivered_once() {
    let all = fixtures();
    assert!(all.len() >= 48, "{} fixtures", all.len());
    let frames: Vec<String> = all.iter().map(|(_, f)| f.clone()).collect();
    // All of them on the first connection, nothing on later ones.
    let (url, _) = serve(move |_, n| if n == 1 { frames.clone() } else { vec![] }).await;
    let mut source = WsSource::spawn(config_for(&url).api_key(KEY)).unwrap();
    let mut skipped = source.skipped().unwrap();
    let got = take(&mut source, all.len()).await;
    let want: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got, want);
    assert_eq!(skipped.count(), 0, "{:?}", skipped.try_recv());
}
