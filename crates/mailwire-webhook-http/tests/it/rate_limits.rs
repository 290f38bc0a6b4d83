//! Rate limits over real loopback sockets, each client on its own source address
//! (127.0.0.2, 127.0.0.3, ...), so the receiver sees distinct clients.
//!
//! Budgets under test refill per hour, so none refills while a test runs and
//! every count is exact, whatever the machine's speed.

use crate::common;

use std::collections::HashSet;

use common::*;
use http::StatusCode;
use mailwire_webhook_http::{Rate, RateLimits};

fn retry_after(r: &Reply) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {r:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A valid, signed event from `from`.
async fn valid_from(from: u8, addr: std::net::SocketAddr, id: &str) -> Reply {
    let body = event(id).raw().clone();
    post_from(
        ip(from),
        addr,
        PATH,
        sign(&format!("msg_{id}"), &body),
        &body,
    )
    .await
}

/// An event signed with the wrong secret, from `from`.
async fn forged_from(from: u8, addr: std::net::SocketAddr, id: &str) -> Reply {
    let body = event(id).raw().clone();
    post_from(
        ip(from),
        addr,
        PATH,
        bad_signature(&format!("msg_{id}"), &body),
        &body,
    )
    .await
}

#[tokio::test]
async fn a_sprayer_of_bad_signatures_is_shut_out_while_another_address_gets_200() {
    const FORGED: usize = 200;
    const VALID: usize = 100;
    const FAILURES: u32 = 5;
    let limits = RateLimits::default().failures_per_address(Some(Rate::per_hour(FAILURES)));
    let (mut source, addr) = bind(receiver().rate_limits(limits)).await;

    let sprayer = tokio::spawn(async move {
        let mut statuses = Vec::new();
        for i in 0..FORGED {
            let r = forged_from(2, addr, &format!("evt_forged_{i}")).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                assert!(retry_after(&r) >= 1);
            }
            statuses.push(r.status);
        }
        statuses
    });
    let sender = tokio::spawn(async move {
        let mut statuses = Vec::new();
        for i in 0..VALID {
            statuses.push(valid_from(3, addr, &format!("evt_valid_{i}")).await.status);
        }
        statuses
    });
    let (sprayed, sent) = (sprayer.await.unwrap(), sender.await.unwrap());

    // The budget's failures get 401, and the one beyond it too (its MAC was
    // computed before the budget was found spent); from then on, 429 before the
    // body is read.
    let refused = FAILURES as usize + 1;
    assert!(
        sprayed[..refused]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{sprayed:?}"
    );
    assert!(
        sprayed[refused..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{sprayed:?}"
    );
    assert!(sent.iter().all(|s| *s == StatusCode::OK), "{sent:?}");

    // Every valid event was emitted, once.
    let mut ids = HashSet::new();
    for _ in 0..VALID {
        let delivery = next(&mut source).await;
        assert!(delivery.tenant.is_none());
        assert!(ids.insert(delivery.event.id().to_owned()));
    }
    // The shut-out address is refused even with a valid signature; others are not.
    let r = valid_from(2, addr, "evt_late").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        valid_from(4, addr, "evt_other").await.status,
        StatusCode::OK
    );

    let stats = source.stats();
    assert_eq!(stats.accepted, VALID as u64 + 1);
    assert_eq!(stats.unauthorized, refused as u64);
    assert_eq!(stats.rate_limited, (FORGED - refused) as u64 + 1);
    assert_eq!(stats.requests(), (FORGED + VALID + 2) as u64);
}

#[tokio::test]
async fn over_its_budget_an_address_gets_429_with_retry_after_before_its_body_is_read() {
    let limits = RateLimits::off().per_address(Some(Rate::per_hour(2)));
    let (mut source, addr) = bind(receiver().rate_limits(limits)).await;
    for i in 0..2 {
        let r = valid_from(2, addr, &format!("evt_{i}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drop(next(&mut source).await);
    }
    let r = valid_from(2, addr, "evt_2").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // One request per half hour: the budget has room again in at most 1800 s.
    assert!((1..=1800).contains(&retry_after(&r)), "{r:?}");
    assert_eq!(r.headers["connection"], "close");

    // Headers alone, announcing a body that never comes: the answer does not
    // wait for it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((ip(2), 0).into()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        format!("POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");

    // Another address has its own budget.
    assert_eq!(valid_from(3, addr, "evt_3").await.status, StatusCode::OK);
    assert_eq!(source.stats().rate_limited, 2);
}

#[tokio::test]
async fn the_total_budget_is_shared_by_every_address() {
    let limits = RateLimits::off().total(Some(Rate::per_hour(3)));
    let (_source, addr) = bind(receiver().rate_limits(limits)).await;
    assert_eq!(valid_from(2, addr, "evt_a").await.status, StatusCode::OK);
    assert_eq!(valid_from(2, addr, "evt_b").await.status, StatusCode::OK);
    assert_eq!(valid_from(3, addr, "evt_c").await.status, StatusCode::OK);
    let r = valid_from(4, addr, "evt_d").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) >= 1);
}

#[tokio::test]
async fn the_defaults_let_a_burst_of_a_legitimate_sender_through() {
    // Defaults: far above a sender's pace, Svix retries after an outage included.
    const BURST: usize = 600;
    let (mut source, addr) = bind(receiver()).await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in (worker..BURST).step_by(8) {
                statuses.push(valid_from(2, addr, &format!("evt_{i}")).await.status);
            }
            statuses
        }));
    }
    for task in tasks {
        let statuses = task.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
    }
    for _ in 0..BURST {
        drop(next(&mut source).await);
    }
    assert_eq!(source.stats().accepted, BURST as u64);
    assert_eq!(source.stats().rate_limited, 0);
}

#[tokio::test]
async fn with_rate_limits_off_bad_signatures_keep_getting_401() {
    let (_source, addr) = bind(receiver().rate_limits(RateLimits::off())).await;
    for i in 0..50 {
        let r = forged_from(2, addr, &format!("evt_{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "request {i}");
    }
}

#[tokio::test]
async fn oversized_bodies_spend_the_failure_budget() {
    let limits = RateLimits::off().failures_per_address(Some(Rate::per_hour(1)));
    let (_source, addr) = bind(receiver().body_limit(64).rate_limits(limits)).await;
    let big = vec![b' '; 65];
    for _ in 0..2 {
        let r = post_from(ip(2), addr, PATH, vec![], &big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    }
    let r = post_from(ip(2), addr, PATH, vec![], &big).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}
