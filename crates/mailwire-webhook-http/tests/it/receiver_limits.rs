//! Timeouts, the connection caps and graceful shutdown, over real loopback sockets.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::StatusCode;
use mailwire_source::EventSource;
use mailwire_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `prefix`, then `trickle` one byte at a time (a slow client), until the
/// server closes the connection; returns what the server sent. Panics if the
/// server is still listening after the whole trickle (which lasts far beyond the
/// timeouts under test).
async fn trickle(addr: std::net::SocketAddr, prefix: &[u8], trickle: &[u8]) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(prefix).await.unwrap();
    let writer = async {
        for byte in trickle {
            if wr.write_all(&[*byte]).await.is_err() {
                return;
            }
            // tidy: allow(sleep) the client's pace, not a wait for the server: the scenario under test.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server let a trickling client send everything");
    };
    let reader = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&out).into_owned(),
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(HANG, async {
        tokio::select! {
            () = writer => unreachable!(),
            answer = reader => answer,
        }
    })
    .await
    .expect("hang")
}

#[tokio::test]
async fn a_client_trickling_headers_is_cut_off() {
    let (_source, addr) = bind(receiver().header_timeout(Duration::from_millis(200))).await;
    let headers =
        "x-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(20);
    let answer = trickle(addr, b"POST /webhooks HTTP/1.1\r\n", headers.as_bytes()).await;
    // hyper closes without a response, or with a 408: never a 2xx.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_client_trickling_the_body_is_cut_off_with_408() {
    let (mut source, addr) = bind(receiver().body_timeout(Duration::from_millis(200))).await;
    let body = event("evt_slow").raw().clone();
    let mut head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in sign("msg_slow", &body) {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let answer = trickle(addr, head.as_bytes(), &body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The connection slot is free again and the server still serves.
    assert_eq!(post_event(addr, "evt_ok").await.status, StatusCode::OK);
    assert_eq!(next(&mut source).await.event.id(), "evt_ok");
}

/// A raw keep-alive request for `id`, complete.
fn raw_post(id: &str) -> Vec<u8> {
    let body = event(id).raw().clone();
    let mut req = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in sign(&format!("msg_{id}"), &body) {
        req.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&out).contains("\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let (mut source, addr) = bind(receiver().max_connections(1)).await;
    // A takes the only slot and keeps its connection open after its answer.
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(&raw_post("evt_a")).await.unwrap();
    let head = tokio::time::timeout(HANG, read_head(&mut a)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(next(&mut source).await.event.id(), "evt_a");

    // B connects (the kernel's backlog accepts it) and sends, but is not served
    // while A holds the slot.
    let mut b = TcpStream::connect(addr).await.unwrap();
    b.write_all(&raw_post("evt_b")).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(200), read_head(&mut b)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    let queued = tokio::time::timeout(Duration::from_millis(50), source.next()).await;
    assert!(queued.is_err(), "B's event accepted beyond the cap");

    // A leaves: B is accepted and served.
    drop(a);
    let head = tokio::time::timeout(HANG, read_head(&mut b)).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(next(&mut source).await.event.id(), "evt_b");
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_then_ends_the_source() {
    let log = GatedLog::default();
    let (mut source, addr) = bind(receiver().store(Arc::new(log.clone()))).await;
    let handle = source.shutdown_handle().unwrap();

    let in_flight = tokio::spawn(post_event(addr, "evt_1"));
    // The request is verified and its append has started: it is in flight.
    tokio::time::timeout(HANG, log.entered.notified())
        .await
        .unwrap();
    handle.shutdown();
    log.gate.add_permits(1);

    let r = in_flight.await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    tokio::time::timeout(HANG, handle.finished()).await.unwrap();
    assert!(
        log.inner
            .contains(common::event("evt_1").dedup_id())
            .await
            .unwrap()
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );

    // What was accepted is still handed over, then the source ends for good.
    assert_eq!(next(&mut source).await.event.id(), "evt_1");
    assert!(source.next().await.unwrap().is_none());
    assert!(source.next().await.unwrap().is_none());
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let (mut source, addr) = bind(receiver()).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(&raw_post("evt_1")).await.unwrap();
    let head = tokio::time::timeout(HANG, read_head(&mut idle))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"));
    // An idle keep-alive connection does not hold shutdown up.
    tokio::time::timeout(HANG, source.shutdown()).await.unwrap();
    assert_eq!(next(&mut source).await.event.id(), "evt_1");
    assert!(source.next().await.unwrap().is_none());
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let (mut source, addr) = bind(receiver().idle_timeout(Some(Duration::from_millis(200)))).await;
    // Silent from the start, and silent after a first request (keep-alive idle):
    // both are closed, so neither holds a connection slot for long.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(&raw_post("evt_1")).await.unwrap();
    let answer = read_to_close(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "closed for another reason than idleness: {answer}"
    );
    assert_eq!(next(&mut source).await.event.id(), "evt_1");
}

#[tokio::test]
async fn the_idle_timeout_never_cuts_off_a_request_under_way() {
    // Headers and body each take longer than the idle timeout to arrive; the
    // header and body timeouts (10 s) bound them, not the idle timeout.
    let (mut source, addr) = bind(receiver().idle_timeout(Some(Duration::from_millis(100)))).await;
    let request = raw_post("evt_slow");
    let split = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (head, body) = request.split_at(split);
    let (head_a, head_b) = head.split_at(head.len() / 2);
    let (body_a, body_b) = body.split_at(body.len() / 2);
    for part in [head_a, head_b, body_a, body_b] {
        stream.write_all(part).await.unwrap();
        // tidy: allow(sleep) the client's pace, not a wait for the server: the scenario under test.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let head = tokio::time::timeout(HANG, read_head(&mut stream))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(next(&mut source).await.event.id(), "evt_slow");
}

/// Connects from `from` (a loopback address) to `addr`.
async fn connect_from(from: std::net::IpAddr, addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    tokio::time::timeout(HANG, socket.connect(addr))
        .await
        .expect("connect hung")
        .unwrap()
}

/// Sends one signed post on a kept-alive connection and reads its answer head.
async fn keep_alive_post(stream: &mut TcpStream, id: &str) -> String {
    stream.write_all(&raw_post(id)).await.unwrap();
    tokio::time::timeout(HANG, read_head(stream)).await.unwrap()
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let (mut source, addr) = bind(
        receiver()
            .max_connections(3)
            .max_connections_per_address(Some(2)),
    )
    .await;
    let mut rejections = source.rejections().unwrap();
    // 127.0.0.2 holds its two connections, kept alive.
    let mut a = connect_from(ip(2), addr).await;
    let mut b = connect_from(ip(2), addr).await;
    for (stream, id) in [(&mut a, "evt_a"), (&mut b, "evt_b")] {
        let head = keep_alive_post(stream, id).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // Its third, fourth, ... are closed as soon as accepted, told why when the
    // answer gets there first, and take no slot: the receiver's third and last
    // slot stays free for another address.
    for _ in 0..5 {
        let mut over = connect_from(ip(2), addr).await;
        let answer = read_to_close(&mut over).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 429"),
            "{answer}"
        );
    }
    let mut other = connect_from(ip(3), addr).await;
    let head = keep_alive_post(&mut other, "evt_c").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let stats = source.stats();
    assert_eq!(stats.connections_refused, 5);
    assert_eq!(stats.accepted, 3);
    assert_eq!(stats.requests(), 3, "a refused connection is not a request");
    let notice = rejections
        .try_recv()
        .expect("a notice per refused connection");
    assert_eq!(notice.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(notice.peer.map(|p| p.ip()), Some(ip(2)));
    assert!(notice.reason.contains("too many connections"), "{notice}");
    assert_eq!(rejections.count(), 5);

    // Once one of its connections is closed, 127.0.0.2 may open another (the
    // server sees the close a moment later: connect until it is served).
    drop(a);
    let served = tokio::time::timeout(HANG, async {
        loop {
            let mut again = connect_from(ip(2), addr).await;
            let _ = again.write_all(&raw_post("evt_d")).await;
            let answer = read_to_close_or_head(&mut again).await;
            if answer.starts_with("HTTP/1.1 200") {
                return answer;
            }
        }
    })
    .await
    .expect("a freed slot of the address was never given back");
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    for id in ["evt_a", "evt_b", "evt_c", "evt_d"] {
        assert_eq!(next(&mut source).await.event.id(), id);
    }
    drop((b, other));
}

/// Reads an answer's head, or what came before the server closed.
async fn read_to_close_or_head(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&out).contains("\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
