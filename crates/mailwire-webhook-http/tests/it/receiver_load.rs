//! 1,000 concurrent signed posts, one in ten a duplicate: each id is emitted once
//! and every one is logged, with the memory store and with redb. And one
//! address holding more keep-alive connections than the receiver has slots
//! does not keep another address's webhook from being answered.

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use http::StatusCode;
use mailwire_source::EventSource;
use mailwire_store::{MemoryStore, RedbStore, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const POSTS: usize = 1000;
const UNIQUE: usize = 900;

async fn thousand_posts(log: Arc<dyn Store>) {
    // One connection per post, all at once from one address: over the cap per
    // address, which is not what this test is about (deduplication under
    // concurrency), so it is off.
    let (mut source, addr) = bind(
        receiver()
            .store(log.clone())
            .queue_capacity(POSTS)
            .max_connections_per_address(None),
    )
    .await;
    // Every tenth post repeats an id posted just before it, concurrently, so the
    // duplicate may arrive first, last or at the same time.
    let ids: Vec<String> = (0..POSTS)
        .map(|i| {
            if i % 10 == 9 {
                format!("evt_{}", i - 9)
            } else {
                format!("evt_{i}")
            }
        })
        .collect();
    let consumer = tokio::spawn(async move {
        let mut seen = HashSet::new();
        // Held, not acked and not dropped until every post is answered: a dropped
        // delivery gives its claim up, and a copy still in flight would rightly be
        // emitted again.
        let mut held = Vec::new();
        while seen.len() < UNIQUE {
            let d = next(&mut source).await;
            assert!(
                seen.insert(d.event.id().to_owned()),
                "{} emitted twice",
                d.event.id()
            );
            held.push(d);
        }
        (source, seen, held)
    });
    let client = client();
    let posts: Vec<_> = ids
        .iter()
        .map(|id| {
            let (client, body) = (client.clone(), event(id).raw().clone());
            let url = format!("http://{addr}{PATH}");
            let headers = sign(&format!("msg_{id}"), &body);
            tokio::spawn(async move { request(&client, "POST", url, headers, body).await })
        })
        .collect();
    let (mut ok, mut duplicate) = (0, 0);
    for p in posts {
        let r = p.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        match r.text.as_str() {
            "ok" => ok += 1,
            "duplicate" => duplicate += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!((ok, duplicate), (UNIQUE, POSTS - UNIQUE));

    let (mut source, emitted, held) = tokio::time::timeout(HANG, consumer).await.unwrap().unwrap();
    let expected: HashSet<String> = ids.into_iter().collect();
    assert_eq!(emitted, expected);
    let logged: HashSet<String> = log
        .unacked(POSTS * 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    assert_eq!(logged, expected);
    drop(held);
    // Nothing else was emitted: after shutdown the source simply ends.
    tokio::time::timeout(HANG, source.shutdown()).await.unwrap();
    assert!(source.next().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_memory_store() {
    thousand_posts(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("log.redb")).unwrap());
    thousand_posts(store.clone()).await;
    // Group commit: far fewer commits than appends.
    println!("{:?}", store.stats());
    store.close().await.unwrap();
}

/// Keep-alive connections of the one greedy address: more than the receiver's
/// 1,024 slots.
const GREEDY: usize = 1100;

/// One greedy connection's life: connect from 127.0.0.2, send a cheap request
/// (a GET, answered 405 and kept alive) every two seconds for as long as the
/// connection lasts, and connect again a second after it is closed.
async fn greedy_client(addr: SocketAddr) {
    let request = b"GET /webhooks HTTP/1.1\r\nhost: x\r\n\r\n";
    loop {
        if let Some(mut stream) = connect_from(ip(2), addr).await {
            while stream.write_all(request).await.is_ok() && read_answer(&mut stream).await {
                // tidy: allow(sleep) the client's pace, not a wait for the server: the scenario under test.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        // tidy: allow(sleep) the client's pace, not a wait for the server: the scenario under test.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from, 0)).ok()?;
    socket.connect(addr).await.ok()
}

/// Reads one answer whole (head and its content-length body); false once the
/// server has closed the connection or refused it.
async fn read_answer(stream: &mut TcpStream) -> bool {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 405") {
                return false;
            }
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + length {
                return true;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holding_every_connection_does_not_lock_out_another() {
    // The defaults: 1,024 connections, 512 per address.
    let (mut source, addr) = bind(receiver()).await;
    let mut rejections = source.rejections().unwrap();
    let greedy: Vec<_> = (0..GREEDY)
        .map(|_| tokio::spawn(greedy_client(addr)))
        .collect();
    // Every greedy connection has been tried: those over the address's cap
    // were closed at once.
    tokio::time::timeout(HANG, async {
        let mut refused = 0;
        while refused < GREEDY - 512 {
            let notice = rejections.recv().await.expect("receiver gone");
            if notice.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(notice.peer.map(|p| p.ip()), Some(ip(2)), "{notice}");
                refused += 1;
            }
        }
    })
    .await
    .expect("the greedy connections were never refused");
    // Notices no longer read: dropped beyond their bounded backlog.
    drop(rejections);

    // Meanwhile, a signed webhook from 127.0.0.1 is answered and emitted.
    let body = event("evt_fair").raw().clone();
    let reply = tokio::time::timeout(
        HANG,
        post_from(ip(1), addr, PATH, sign("msg_fair", &body), &body),
    )
    .await
    .expect("a webhook from another address was kept waiting");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(next(&mut source).await.event.id(), "evt_fair");

    // The greedy address was served on the connections it may hold.
    let stats = source.stats();
    assert!(stats.rejected > 0, "{stats:?}");
    for task in greedy {
        task.abort();
    }
}
