//! The simulator's WebSocket side over real loopback sockets, with a plain
//! tokio-tungstenite client.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mailwire_proto::ServerFrame;
use mailwire_proto::fixtures;
use mailwire_sim::{Retention, Simulator};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(10);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("timed out")
}

async fn connect(url: &str) -> Ws {
    bounded(tokio_tungstenite::connect_async(url))
        .await
        .expect("handshake")
        .0
}

async fn subscribe(ws: &mut Ws, json: &str) {
    ws.send(Message::text(json)).await.expect("send");
}

/// The next text frame (control frames skipped).
async fn frame(ws: &mut Ws) -> ServerFrame {
    loop {
        let msg = bounded(ws.next()).await.expect("open").expect("frame");
        let Message::Text(text) = msg else { continue };
        return ServerFrame::parse(Vec::from(text.as_bytes())).expect("valid frame");
    }
}

fn event_id(frame: &ServerFrame) -> &str {
    match frame {
        ServerFrame::Event(e) => e.id(),
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn filters_by_type_and_inbox() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(
        &mut ws,
        r#"{"type":"subscribe","event_types":["message.received"],"inbox_ids":["a@x.to"]}"#,
    )
    .await;
    let ServerFrame::Subscribed(confirmed) = frame(&mut ws).await else {
        panic!("subscribed")
    };
    assert_eq!(
        confirmed.inbox_ids.as_deref(),
        Some(&["a@x.to".to_string()][..])
    );
    sim.emit(fixtures::message_received("evt_1", "b@x.to"));
    sim.emit(fixtures::message_bounced("evt_2", "a@x.to"));
    sim.emit(fixtures::message_received("evt_3", "a@x.to"));
    assert_eq!(event_id(&frame(&mut ws).await), "evt_3");
}

#[tokio::test]
async fn after_replays_then_resumed_then_live() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.emit_all((1..=4).map(|i| fixtures::message_received(&format!("evt_{i}"), "a@x.to")));
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe","after":"evt_2"}"#).await;
    assert_eq!(event_id(&frame(&mut ws).await), "evt_3");
    assert_eq!(event_id(&frame(&mut ws).await), "evt_4");
    assert_eq!(frame(&mut ws).await, ServerFrame::Resumed { replayed: 2 });
    assert!(matches!(frame(&mut ws).await, ServerFrame::Subscribed(_)));
    sim.emit(fixtures::message_received("evt_5", "a@x.to"));
    assert_eq!(event_id(&frame(&mut ws).await), "evt_5");
}

#[tokio::test]
async fn replay_honours_filters_and_counts_only_what_was_sent() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.emit(fixtures::message_received("evt_1", "a@x.to"));
    sim.emit(fixtures::message_bounced("evt_2", "a@x.to"));
    sim.emit(fixtures::message_received("evt_3", "b@x.to"));
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(
        &mut ws,
        r#"{"type":"subscribe","after":"evt_1","inbox_ids":["b@x.to"]}"#,
    )
    .await;
    assert_eq!(event_id(&frame(&mut ws).await), "evt_3");
    assert_eq!(frame(&mut ws).await, ServerFrame::Resumed { replayed: 1 });
}

#[tokio::test]
async fn after_an_id_no_longer_retained_is_a_gap() {
    let sim = Simulator::builder()
        .retain(2)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    sim.emit_all((1..=3).map(|i| fixtures::message_received(&format!("evt_{i}"), "a@x.to")));
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe","after":"evt_1"}"#).await;
    assert_eq!(
        frame(&mut ws).await,
        ServerFrame::Gap {
            after: "evt_1".into()
        }
    );
    assert!(matches!(frame(&mut ws).await, ServerFrame::Subscribed(_)));
    sim.emit(fixtures::message_received("evt_4", "a@x.to"));
    assert_eq!(event_id(&frame(&mut ws).await), "evt_4");
}

#[tokio::test]
async fn api_key_by_header_bearer_or_query_and_401_otherwise() {
    let sim = Simulator::builder()
        .api_key("sk_1")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = sim.ws_url();
    for (header, value) in [("x-api-key", "sk_1"), ("authorization", "Bearer sk_1")] {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(header, value.parse().unwrap());
        bounded(tokio_tungstenite::connect_async(req))
            .await
            .expect("accepted");
    }
    connect(&format!("{url}?api_key=sk_1")).await;
    for bad in [url.clone(), format!("{url}?api_key=sk_2")] {
        match bounded(tokio_tungstenite::connect_async(bad.as_str())).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected 401, got {other:?}"),
        }
    }
    let seen = sim.handshakes();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().filter(|h| h.authorized).count(), 3);
}

#[tokio::test]
async fn malformed_client_frames_get_an_error_frame_and_the_connection_lives() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    for bad in [
        "{",
        "[]",
        r#"{"type":"subscribe","event_types":7}"#,
        r#"{"type":"dance"}"#,
    ] {
        subscribe(&mut ws, bad).await;
        let ServerFrame::Error(e) = frame(&mut ws).await else {
            panic!("error frame for {bad}")
        };
        assert_eq!(e.name, "ValidationError");
    }
    // No JSON ping exists in the protocol: it is an unknown frame like any other.
    subscribe(&mut ws, r#"{"type":"ping"}"#).await;
    assert!(matches!(frame(&mut ws).await, ServerFrame::Error(_)));
}

#[tokio::test]
async fn a_subscribe_naming_an_unknown_event_type_is_refused_and_changes_nothing() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(
        &mut ws,
        r#"{"type":"subscribe","event_types":["message.received"]}"#,
    )
    .await;
    assert!(matches!(frame(&mut ws).await, ServerFrame::Subscribed(_)));
    subscribe(
        &mut ws,
        r#"{"type":"subscribe","event_types":["message.bounced","message.exploded"]}"#,
    )
    .await;
    let ServerFrame::Error(e) = frame(&mut ws).await else {
        panic!("an error frame")
    };
    assert_eq!(e.name, "ValidationError");
    assert!(e.message.contains("message.exploded"), "{}", e.message);
    assert_eq!(sim.stats().subscribes, 1, "only the first was answered");
    // The first subscription stands: a bounce is still filtered out.
    sim.emit(fixtures::message_bounced("evt_1", "a@x.to"));
    sim.emit(fixtures::message_received("evt_2", "a@x.to"));
    assert_eq!(event_id(&frame(&mut ws).await), "evt_2");
}

#[tokio::test]
async fn liveness_is_websocket_control_pings_and_nothing_comes_before_subscribed() {
    let sim = Simulator::builder()
        .ping_interval(Some(Duration::from_millis(20)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    // No greeting: the first thing the server sends is a control ping.
    let msg = bounded(ws.next()).await.unwrap().unwrap();
    assert!(matches!(msg, Message::Ping(_)), "{msg:?}");
    subscribe(&mut ws, r#"{"type":"subscribe"}"#).await;
    loop {
        match bounded(ws.next()).await.unwrap().unwrap() {
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Text(t) => {
                assert!(t.starts_with(r#"{"type":"subscribed""#), "{t}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_peer_that_answers_no_ping_is_dropped() {
    let sim = Simulator::builder()
        .ping_interval(Some(Duration::from_millis(20)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe"}"#).await;
    bounded(sim.wait_subscribers(1)).await;
    // Not reading means not answering pings (tungstenite answers them on read).
    bounded(sim.wait_until(|s| s.subscribed == 0)).await;
    drop(ws);
}

#[tokio::test]
async fn drop_connections_closes_every_socket() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut a = connect(&sim.ws_url()).await;
    let mut b = connect(&sim.ws_url()).await;
    subscribe(&mut a, r#"{"type":"subscribe"}"#).await;
    subscribe(&mut b, r#"{"type":"subscribe"}"#).await;
    bounded(sim.wait_subscribers(2)).await;
    sim.faults().drop_connections();
    for ws in [&mut a, &mut b] {
        while let Some(Ok(_)) = bounded(ws.next()).await {}
    }
    bounded(sim.wait_until(|s| s.subscribed == 0)).await;
    // New connections are still welcome.
    connect(&sim.ws_url()).await;
}

#[tokio::test]
async fn silenced_connections_send_nothing_but_stay_open() {
    let sim = Simulator::builder()
        .ping_interval(Some(Duration::from_millis(10)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe"}"#).await;
    assert!(matches!(frame(&mut ws).await, ServerFrame::Subscribed(_)));
    sim.faults().silence_connections();
    // Drain what was in flight before the silence, then expect nothing at all for
    // many ping intervals, and no close either.
    let quiet = Duration::from_millis(200);
    loop {
        match tokio::time::timeout(quiet, ws.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("connection ended: {other:?}"),
            Err(_) => break,
        }
    }
    sim.emit(fixtures::message_received("evt_1", "a@x.to"));
    assert!(tokio::time::timeout(quiet, ws.next()).await.is_err());
    assert_eq!(sim.open_connections(), 1);
}

#[tokio::test]
async fn refused_connections_fail_until_lifted() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.faults().refuse_connections(None);
    assert!(
        bounded(tokio_tungstenite::connect_async(sim.ws_url()))
            .await
            .is_err()
    );
    sim.faults().accept_connections();
    connect(&sim.ws_url()).await;
}

#[tokio::test]
async fn restart_listens_on_the_same_port_and_keeps_or_clears_retention() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let port = sim.addr().port();
    sim.emit(fixtures::message_received("evt_1", "a@x.to"));
    let mut old = connect(&sim.ws_url()).await;
    sim.stop().await;
    assert!(
        bounded(TcpStream::connect(sim.addr())).await.is_err(),
        "refused while stopped"
    );
    while let Some(Ok(_)) = bounded(old.next()).await {}

    sim.start().await.unwrap();
    assert_eq!(sim.addr().port(), port);
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe","after":"evt_1"}"#).await;
    assert_eq!(frame(&mut ws).await, ServerFrame::Resumed { replayed: 0 });

    sim.restart(Retention::Clear).await.unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe","after":"evt_1"}"#).await;
    assert_eq!(
        frame(&mut ws).await,
        ServerFrame::Gap {
            after: "evt_1".into()
        }
    );
}

#[tokio::test]
async fn stalled_handshakes_never_answer() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.faults().stall_handshakes(true);
    let attempt = tokio_tungstenite::connect_async(sim.ws_url());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), attempt)
            .await
            .is_err()
    );
    assert_eq!(sim.stats().handshakes, 0);
}

#[tokio::test]
async fn raw_frames_reach_subscribers_unfiltered_and_unretained() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(
        &mut ws,
        r#"{"type":"subscribe","event_types":["message.bounced"]}"#,
    )
    .await;
    assert!(matches!(frame(&mut ws).await, ServerFrame::Subscribed(_)));
    sim.faults().send_raw(&b"not json"[..]);
    let msg = bounded(ws.next()).await.unwrap().unwrap();
    assert_eq!(msg, Message::text("not json"));
    assert_eq!(sim.hub().retained_len(), 0);
}

#[tokio::test]
async fn a_drop_that_lands_while_a_frame_is_handled_still_closes_the_socket() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.emit_all((1..=200).map(|i| fixtures::message_received(&format!("evt_{i}"), "a@x.to")));
    // The kill races with the replay of 200 events: wherever it lands, the
    // connection must close.
    for _ in 0..20 {
        let mut ws = connect(&sim.ws_url()).await;
        subscribe(&mut ws, r#"{"type":"subscribe","after":"evt_1"}"#).await;
        bounded(sim.wait_handshakes(1)).await;
        sim.faults().drop_connections();
        while let Some(Ok(_)) = bounded(ws.next()).await {}
    }
}

// On a current-thread runtime the connection task cannot run while `emit_all`
// does: the whole burst waits in the connection's queue, several write batches
// deep, before the first is sent. Every event must come out, in order.
#[tokio::test(flavor = "current_thread")]
async fn a_burst_queued_deeper_than_a_write_batch_arrives_whole_and_in_order() {
    const BURST: usize = 1000;
    let sim = Simulator::builder()
        .live_buffer(2 * BURST)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut ws = connect(&sim.ws_url()).await;
    subscribe(&mut ws, r#"{"type":"subscribe"}"#).await;
    let ServerFrame::Subscribed(_) = frame(&mut ws).await else {
        panic!("subscribed")
    };
    sim.emit_all((0..BURST).map(|i| fixtures::message_received(&format!("evt_{i}"), "a@x.to")));
    for i in 0..BURST {
        assert_eq!(event_id(&frame(&mut ws).await), format!("evt_{i}"));
    }
}
