//! Every row of the receiver's table, over real loopback connections.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{HeaderName, HeaderValue, StatusCode};
use mailwire_proto::EventType;
use mailwire_source::Origin;
use mailwire_store::{MemoryStore, Store};
use mailwire_webhook_http::WebhookReceiver;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn not_post_is_405() {
    let (_source, addr) = bind(receiver()).await;
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let r = request(
            &client(),
            method,
            format!("http://{addr}{PATH}"),
            vec![],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.headers["allow"], "POST");
    }
}

#[tokio::test]
async fn wrong_path_is_404() {
    let (_source, addr) = bind(receiver()).await;
    let body = event("evt_1").raw().clone();
    let r = request(
        &client(),
        "POST",
        format!("http://{addr}/other"),
        sign("m", &body),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn declared_length_over_the_limit_is_413_before_the_body() {
    let (_source, addr) = bind(receiver()).await;
    // Headers only: the server must answer without waiting for the 4 MiB + 1 body.
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        WebhookReceiver::DEFAULT_BODY_LIMIT + 1
    );
    let answer = raw_exchange(addr, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn declared_length_at_the_limit_is_read() {
    let (_source, addr) = bind(receiver().body_limit(64)).await;
    let body = Bytes::from(vec![b' '; 64]);
    let r = post(addr, "m", body).await;
    // Read in full, verified, then refused as not an event: not a 413.
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413_and_the_rest_is_not_read() {
    let limit = 64 * 1024;
    let (_source, addr) = bind(receiver().body_limit(limit)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("POST {PATH} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    // Chunks totalling one byte over the limit, and no terminating chunk: a server
    // that buffered "the rest" would wait forever instead of answering.
    let chunk = vec![b'a'; 8 * 1024];
    for _ in 0..8 {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"1\r\nb\r\n").await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn each_signature_failure_is_401_with_its_reason() {
    let (mut source, addr) = bind(receiver()).await;
    let body = event("evt_1").raw().clone();
    let url = format!("http://{addr}{PATH}");
    let good = sign("msg_1", &body);
    let without =
        |name: &str| -> Vec<_> { good.iter().filter(|(n, _)| n != name).cloned().collect() };
    let with = |name: &'static str, value: &str| -> Vec<_> {
        let mut h = without(name);
        h.push((
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        ));
        h
    };
    let stale = now() - 3600;
    let future = now() + 3600;
    type Case<'a> = (&'a str, Vec<(HeaderName, HeaderValue)>, &'a [u8], &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("no headers", vec![], &body, "missing id header"),
        (
            "no signature",
            without("webhook-signature"),
            &body,
            "missing signature header",
        ),
        (
            "no timestamp",
            without("webhook-timestamp"),
            &body,
            "missing timestamp header",
        ),
        (
            "altered body",
            good.clone(),
            b"{\"id\":\"evt_1\",\"type\":\"domain.verified\",\"data\":{}}",
            "no matching signature",
        ),
        (
            "wrong secret",
            with(
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
            &body,
            "no matching signature",
        ),
        (
            "malformed signature",
            with("webhook-signature", "v1,not base64!"),
            &body,
            "malformed signature",
        ),
        (
            "stale timestamp",
            sign_at("msg_1", stale, &body),
            &body,
            "timestamp too old",
        ),
        (
            "future timestamp",
            sign_at("msg_1", future, &body),
            &body,
            "timestamp in the future",
        ),
        (
            "malformed timestamp",
            with("webhook-timestamp", "12e3"),
            &body,
            "malformed timestamp",
        ),
        (
            "duplicate signature",
            {
                let mut h = good.clone();
                h.push((HeaderName::from_static("svix-signature"), h[2].1.clone()));
                h
            },
            &body,
            "duplicate signature header",
        ),
    ];
    for (name, headers, body, reason) in cases {
        let r = request(
            &client(),
            "POST",
            url.clone(),
            headers,
            Bytes::copy_from_slice(body),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.text);
        assert!(
            r.text.contains(reason),
            "{name}: {:?} lacks {reason:?}",
            r.text
        );
        assert!(!r.text.contains("MfKQ9r8G"), "{name}: secret echoed");
    }
    // Nothing unverified got in: the next event out is the one posted validly now.
    assert_eq!(post_event(addr, "evt_ok").await.status, StatusCode::OK);
    assert_eq!(next(&mut source).await.event.id(), "evt_ok");
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_is_400() {
    let (mut source, addr) = bind(receiver()).await;
    for body in [
        &b"not json"[..],
        b"{\"hello\":1}",
        b"[]",
        b"{\"type\":\"event\",\"event_type\":\"message.received\"}",
    ] {
        let r = post(addr, "msg_x", Bytes::copy_from_slice(body)).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.text
        );
        assert!(r.text.starts_with("not an event"), "{}", r.text);
    }
    assert_eq!(post_event(addr, "evt_ok").await.status, StatusCode::OK);
    assert_eq!(next(&mut source).await.event.id(), "evt_ok");
}

#[tokio::test]
async fn a_duplicate_is_200_and_not_emitted_again() {
    let (mut source, addr) = bind(receiver()).await;
    assert_eq!(post_event(addr, "evt_1").await.text, "ok");
    let again = post_event(addr, "evt_1").await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (StatusCode::OK, "duplicate")
    );
    assert_eq!(post_event(addr, "evt_2").await.text, "ok");
    let first = next(&mut source).await;
    assert_eq!(
        (first.event.id(), &first.origin),
        ("evt_1", &Origin::Webhook)
    );
    // Had the duplicate been emitted, it would come before evt_2.
    assert_eq!(next(&mut source).await.event.id(), "evt_2");
}

#[tokio::test]
async fn a_new_event_is_logged_before_the_200_then_emitted_and_acked() {
    let log = Arc::new(MemoryStore::new());
    let (mut source, addr) = bind(receiver().store(log.clone())).await;
    let r = post_event(addr, "evt_1").await;
    assert_eq!(r.status, StatusCode::OK);
    // The 200 is out: the event must be in the log already.
    assert!(
        log.contains(common::event("evt_1").dedup_id())
            .await
            .unwrap()
    );
    assert_eq!(log.unacked(10).await.unwrap().len(), 1);
    let delivery = next(&mut source).await;
    assert_eq!(delivery.event, event("evt_1"));
    delivery.ack().await.unwrap();
    assert!(log.unacked(10).await.unwrap().is_empty());
    // Acked and retained: a late retry of the same event is still a duplicate.
    assert_eq!(post_event(addr, "evt_1").await.text, "duplicate");
}

#[tokio::test]
async fn a_store_failure_is_503_with_retry_after_and_nothing_emitted() {
    let log = FlakyLog::default();
    log.failing.store(true, Ordering::SeqCst);
    let (mut source, addr) = bind(
        receiver()
            .store(Arc::new(log.clone()))
            .retry_after(Duration::from_secs(7)),
    )
    .await;
    let r = post_event(addr, "evt_1").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["retry-after"], "7");
    assert!(!log.inner.contains("evt_1").await.unwrap());
    // The sender's retry, once the store is back, is kept and emitted once.
    log.failing.store(false, Ordering::SeqCst);
    assert_eq!(post_event(addr, "evt_1").await.text, "ok");
    assert_eq!(next(&mut source).await.event.id(), "evt_1");
    assert_eq!(post_event(addr, "evt_2").await.text, "ok");
    assert_eq!(next(&mut source).await.event.id(), "evt_2");
}

#[tokio::test]
async fn a_full_queue_is_503_and_the_event_is_not_marked_seen() {
    let log = Arc::new(MemoryStore::new());
    let (mut source, addr) = bind(receiver().store(log.clone()).queue_capacity(1)).await;
    assert_eq!(post_event(addr, "evt_1").await.status, StatusCode::OK);
    let r = post_event(addr, "evt_2").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["retry-after"], "5");
    assert!(
        !log.contains("evt_2").await.unwrap(),
        "logged without a 2xx"
    );
    assert_eq!(next(&mut source).await.event.id(), "evt_1");
    // Room again: the retry is accepted, not mistaken for a duplicate.
    assert_eq!(post_event(addr, "evt_2").await.text, "ok");
    assert_eq!(next(&mut source).await.event.id(), "evt_2");
}

#[tokio::test]
async fn a_full_queue_without_a_log_is_503_too() {
    let (mut source, addr) = bind(receiver().queue_capacity(1)).await;
    assert_eq!(post_event(addr, "evt_1").await.status, StatusCode::OK);
    assert_eq!(
        post_event(addr, "evt_2").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(next(&mut source).await.event.id(), "evt_1");
    assert_eq!(post_event(addr, "evt_2").await.text, "ok");
    assert_eq!(next(&mut source).await.event.id(), "evt_2");
}

#[tokio::test]
async fn an_unknown_event_type_is_200_and_emitted_as_other() {
    let (mut source, addr) = bind(receiver()).await;
    let body = Bytes::from_static(
        br#"{"id":"evt_new","type":"inbox.renamed","data":{"inbox_id":"a@b.c","x":[1]}}"#,
    );
    let r = post(addr, "msg_new", body.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = next(&mut source).await;
    assert_eq!(
        d.event.event_type(),
        &EventType::Other("inbox.renamed".into())
    );
    assert_eq!(d.event.raw(), &body);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_id_emit_it_once() {
    for log in [None, Some(Arc::new(MemoryStore::new()))] {
        let mut r = receiver();
        if let Some(log) = log {
            r = r.store(log);
        }
        let (mut source, addr) = bind(r).await;
        let posts: Vec<_> = (0..32)
            .map(|_| tokio::spawn(post_event(addr, "evt_same")))
            .collect();
        let mut oks = 0;
        for p in posts {
            let r = p.await.unwrap();
            assert_eq!(r.status, StatusCode::OK);
            oks += usize::from(r.text == "ok");
        }
        assert_eq!(oks, 1, "exactly one request is the first");
        assert_eq!(post_event(addr, "evt_after").await.text, "ok");
        assert_eq!(next(&mut source).await.event.id(), "evt_same");
        assert_eq!(next(&mut source).await.event.id(), "evt_after");
    }
}

/// A `message.received` event whose text is `text_bytes` long, with an html
/// part and attachments as AgentMail sends them (metadata only).
fn email_with_text(id: &str, text_bytes: usize) -> Bytes {
    let mut json: serde_json::Value = serde_json::from_slice(event(id).raw()).unwrap();
    // Quotes, newlines and non-ASCII, escaped or not in JSON, as mail text has.
    let line = "Ligne \"citée\" — été, 日本語, tab\tend\n";
    let text: String = line.repeat(text_bytes / line.len() + 1);
    let message = json["message"].as_object_mut().unwrap();
    message.insert("text".into(), text.into());
    let html = "<p>long mail</p>".repeat(text_bytes / 160 + 1);
    message.insert("html".into(), html.into());
    message.insert(
        "attachments".into(),
        serde_json::json!([{
            "attachment_id": "att_1", "filename": "report.pdf",
            "content_type": "application/pdf", "size": 9_000_000, "inline": false
        }]),
    );
    Bytes::from(serde_json::to_vec(&json).unwrap())
}

#[tokio::test]
async fn an_email_over_one_mib_is_accepted_and_emitted_intact() {
    // The defaults: what AgentMail sends (payloads capped at 1 MB) and what a
    // forwarder sends with the text in full both fit.
    let (mut source, addr) = bind(receiver()).await;
    let body = email_with_text("evt_big", 3 << 20 >> 1);
    assert!(body.len() > 1 << 20, "{}", body.len());
    let r = post(addr, "msg_big", body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let delivery = next(&mut source).await;
    assert_eq!(delivery.event.id(), "evt_big");
    assert_eq!(
        delivery.event.raw(),
        &body,
        "the body was not emitted intact"
    );
}

#[tokio::test]
async fn bodies_over_the_bound_held_at_once_get_503_then_go_through() {
    let (mut source, addr) = bind(
        receiver()
            .body_limit(16 * 1024)
            .max_buffered_bytes(16 * 1024),
    )
    .await;
    let mut rejections = source.rejections().unwrap();
    // A holds most of the bound: its declared body is under way, not all sent.
    let big = email_with_text("evt_held", 10 * 1024);
    assert!(big.len() < 16 * 1024);
    let mut head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n",
        big.len()
    );
    for (name, value) in sign("msg_held", &big) {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(head.as_bytes()).await.unwrap();
    a.write_all(&big[..100]).await.unwrap();

    // B's body would go over the bound: 503 with Retry-After, connection
    // closed. (A's body is reserved as soon as its headers are read: post
    // until it is.)
    let mut n = 0;
    let refused = tokio::time::timeout(HANG, async {
        loop {
            n += 1;
            let body = email_with_text(&format!("evt_b{n}"), 6 * 1024);
            let r = post(addr, &format!("msg_b{n}"), body).await;
            if r.status == StatusCode::SERVICE_UNAVAILABLE {
                return r;
            }
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    })
    .await
    .expect("never over the bound");
    assert_eq!(
        refused.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    assert_eq!(
        refused.headers.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    assert!(source.stats().unavailable >= 1);
    let notice = tokio::time::timeout(HANG, async {
        loop {
            let notice = rejections.recv().await.unwrap();
            if notice.status == StatusCode::SERVICE_UNAVAILABLE {
                return notice;
            }
        }
    })
    .await
    .unwrap();
    assert!(notice.reason.contains("held at once"), "{notice}");

    // A finishes and is accepted; its bytes are given back, and B's retry
    // goes through.
    a.write_all(&big[100..]).await.unwrap();
    let answer = read_head_of(&mut a).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = email_with_text(&format!("evt_b{n}"), 6 * 1024);
    let r = post(addr, &format!("msg_b{n}"), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..n + 1 {
        ids.push(next(&mut source).await.event.id().to_owned());
    }
    assert!(ids.contains(&"evt_held".to_owned()), "{ids:?}");
    assert!(ids.contains(&format!("evt_b{n}")), "{ids:?}");
}

/// Reads an answer's head off a kept-alive connection.
async fn read_head_of(stream: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(HANG, async {
        while !String::from_utf8_lossy(&out).contains("\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before answering");
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("hang");
    String::from_utf8_lossy(&out).into_owned()
}
