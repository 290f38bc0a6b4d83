//! The simulator survives its users, as a real server does: requests that never
//! finish arriving are cut off, and a WebSocket peer that does not read is dropped
//! instead of being buffered for without bound.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mailwire_proto::fixtures;
use mailwire_sim::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Bounds a hang; every wait below ends on an event well before it.
const HANG: Duration = Duration::from_secs(20);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("timed out")
}

/// Reads until the server closes the connection; what it sent before.
async fn until_closed(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match bounded(tcp.read(&mut buf)).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn sim(timeout: Duration) -> Simulator {
    Simulator::builder()
        .header_timeout(timeout)
        .body_timeout(timeout)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn half_sent_headers_and_idle_connections_are_closed() {
    let sim = sim(Duration::from_millis(200)).await;
    let mut half = TcpStream::connect(sim.addr()).await.unwrap();
    half.write_all(b"GET /v0/inboxes HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut half).await;
    assert!(!answer.contains(" 200 "), "{answer}");

    let mut idle = TcpStream::connect(sim.addr()).await.unwrap();
    assert!(!until_closed(&mut idle).await.contains(" 200 "));

    // A kept-alive connection is closed once it idles past the timeout too.
    let mut kept = TcpStream::connect(sim.addr()).await.unwrap();
    kept.write_all(b"GET /v0/pods HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_half_sent_body_gets_408() {
    let sim = sim(Duration::from_millis(200)).await;
    let mut tcp = TcpStream::connect(sim.addr()).await.unwrap();
    tcp.write_all(
        b"POST /v0/pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":",
    )
    .await
    .unwrap();
    let answer = until_closed(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeoutError"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_peer_that_does_not_read_is_dropped() {
    let sim = Simulator::builder()
        .write_timeout(Duration::from_millis(200))
        .live_buffer(4096)
        .retain(16)
        .ping_interval(None)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (mut reader, _) = tokio_tungstenite::connect_async(sim.ws_url())
        .await
        .unwrap();
    let (mut stuck, _) = tokio_tungstenite::connect_async(sim.ws_url())
        .await
        .unwrap();
    for ws in [&mut reader, &mut stuck] {
        ws.send(Message::text(r#"{"type":"subscribe"}"#))
            .await
            .unwrap();
    }
    bounded(sim.wait_subscribers(2)).await;
    // `stuck` never reads again. Emit until the simulator gives up on it; the reader
    // keeps up all along.
    let reading = tokio::spawn(async move {
        let mut events = 0u64;
        while let Some(Ok(msg)) = reader.next().await {
            if matches!(msg, Message::Text(ref t) if t.contains("\"event_id\"")) {
                events += 1;
            }
        }
        events
    });
    let dropped = sim.wait_until(|s| s.slow_dropped >= 1);
    tokio::pin!(dropped);
    let mut sent = 0u64;
    let stats = bounded(async {
        loop {
            tokio::select! {
                stats = &mut dropped => break stats,
                () = tokio::task::yield_now() => {
                    sent += 1;
                    sim.emit(fixtures::message_of_size(&format!("evt_{sent}"), "a@x.to", 16 << 10));
                }
            }
        }
    })
    .await;
    assert_eq!(stats.slow_dropped, 1, "{stats:?}");
    assert_eq!(
        stats.subscribed, 1,
        "the reader is still subscribed: {stats:?}"
    );
    drop(stuck);
    sim.faults().drop_connections();
    let received = bounded(reading).await.unwrap();
    assert!(received > 0 && received <= sent, "{received} of {sent}");
}
