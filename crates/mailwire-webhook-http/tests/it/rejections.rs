//! Notices of refused requests, over real loopback sockets: one per non-2xx
//! answer, with the client's address and tenant, a reason that never holds a
//! secret, a signature or the body, and an exact count under a flood nobody
//! reads.

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use common::*;
use http::{HeaderValue, StatusCode};
use mailwire_webhook_http::{Rate, RateLimits, Rejection, Rejections, Tenant, Tenants};

async fn notice(rejections: &mut Rejections) -> Rejection {
    tokio::time::timeout(HANG, rejections.recv())
        .await
        .expect("no notice")
        .expect("notices ended")
}

#[tokio::test]
async fn every_refusal_is_reported_with_its_client_and_tenant() {
    let log = FlakyLog::default();
    let tenants = Tenants::new();
    tenants
        .insert(
            Tenant::new("acme", verifier())
                .limits(RateLimits::off().per_address(Some(Rate::per_hour(1)))),
        )
        .unwrap();
    let (mut source, addr) = bind(
        receiver()
            .store(log.clone())
            .tenants(tenants)
            .body_limit(4096),
    )
    .await;
    let mut rejections = source.rejections().expect("the first time");
    assert!(source.rejections().is_none(), "taken once");
    let before = SystemTime::now();

    // Accepted and duplicate answers are not refusals.
    let body = event("evt_1").raw().clone();
    let headers = sign("msg_1", &body);
    let signature = headers
        .iter()
        .find(|(name, _)| name.as_str().ends_with("-signature"))
        .map(|(_, value)| value.to_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(
        post_from(ip(2), addr, PATH, headers, &body).await.status,
        StatusCode::OK
    );
    next(&mut source).await.ack().await.unwrap();

    // 401: the rule only; not the secret, the signature sent, nor the body.
    let mut forged = bad_signature("msg_2", &body);
    let forged_sig = forged
        .iter()
        .find(|(name, _)| name.as_str().ends_with("-signature"))
        .map(|(_, value)| value.to_str().unwrap().to_owned())
        .unwrap();
    forged.push((
        http::header::USER_AGENT,
        HeaderValue::from_static("sprayer"),
    ));
    let r = post_from(ip(2), addr, PATH, forged, &body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let n = notice(&mut rejections).await;
    assert_eq!(n.status, StatusCode::UNAUTHORIZED);
    assert_eq!(n.reason, "invalid signature: no matching signature");
    assert_eq!(n.peer.map(|p| p.ip()), Some(ip(2)));
    assert_eq!(n.tenant, None);
    assert!(n.at >= before && n.at <= SystemTime::now());
    for secretish in [
        SECRET,
        &SECRET["whsec_".len()..],
        &signature,
        &forged_sig,
        "evt_1",
    ] {
        assert!(!n.reason.contains(secretish), "{n:?}");
    }

    // 400: a signed body that is not JSON; its text is not quoted.
    let junk = br#"{"event_id": "BODY-MARKER-1234"#;
    let r = post_from(ip(3), addr, PATH, sign("msg_3", junk), junk).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let n = notice(&mut rejections).await;
    assert_eq!(n.status, StatusCode::BAD_REQUEST);
    assert!(
        n.reason.starts_with("not an event: malformed JSON"),
        "{n:?}"
    );
    assert!(!n.reason.contains("BODY-MARKER"), "{n:?}");
    assert_eq!(n.peer.map(|p| p.ip()), Some(ip(3)));

    // 404, 405, 413 (declared length over the limit).
    let r = post_from(ip(3), addr, "/elsewhere", sign("msg_4", &body), &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let n = notice(&mut rejections).await;
    assert_eq!(
        (n.status, n.reason.as_str()),
        (StatusCode::NOT_FOUND, "not found")
    );
    let get = raw_exchange(
        addr,
        b"GET /webhooks HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(parse_reply(&get).status, StatusCode::METHOD_NOT_ALLOWED);
    let n = notice(&mut rejections).await;
    assert_eq!(n.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(n.peer.map(|p| p.ip()), Some(ip(1)));
    let big = vec![b' '; 5000];
    let r = post_from(ip(3), addr, PATH, sign("msg_5", &big), &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let n = notice(&mut rejections).await;
    assert_eq!(
        (n.status, n.reason.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit")
    );

    // 429 from the tenant's budget: the notice names the tenant.
    let acme = |id: &str| {
        let body = event(id).raw().clone();
        (sign(&format!("msg_{id}"), &body), body)
    };
    let (h, b) = acme("evt_acme_1");
    assert_eq!(
        post_from(ip(4), addr, "/webhooks/acme", h, &b).await.status,
        StatusCode::OK
    );
    next(&mut source).await.ack().await.unwrap();
    let (h, b) = acme("evt_acme_2");
    let r = post_from(ip(4), addr, "/webhooks/acme", h, &b).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let n = notice(&mut rejections).await;
    assert_eq!(n.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(n.reason, "rate limited: the tenant's budget is spent");
    assert_eq!(n.tenant.as_ref().map(|t| t.as_str()), Some("acme"));
    assert_eq!(n.peer.map(|p| p.ip()), Some(ip(4)));

    // 503: the store is down; reported with its own reason.
    log.failing.store(true, Ordering::SeqCst);
    let body = event("evt_6").raw().clone();
    let r = post_from(ip(3), addr, PATH, sign("msg_6", &body), &body).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let n = notice(&mut rejections).await;
    assert_eq!(
        (n.status, n.reason.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
    );

    // Nothing else was reported, and the count is exact.
    assert!(rejections.try_recv().is_none());
    assert_eq!(rejections.count(), 7);
    assert_eq!(rejections.count(), source.stats().requests() - 2);

    // The notices end with the receiver.
    source.shutdown().await;
    drop(source);
    assert!(
        tokio::time::timeout(HANG, rejections.recv())
            .await
            .expect("notices never ended")
            .is_none()
    );
}

#[tokio::test]
async fn a_flood_nobody_reads_keeps_an_exact_count_and_a_bounded_backlog() {
    const FLOOD: u64 = 1500;
    const BACKLOG: u64 = 1024;
    let (source, addr) = bind(receiver().rate_limits(RateLimits::off())).await;
    let body = event("evt_1").raw().clone();
    for i in 0..FLOOD {
        let r = post_from(
            ip(2),
            addr,
            PATH,
            bad_signature(&format!("msg_{i}"), &body),
            &body,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Read only now: the backlog holds the first notices, the count all.
    let mut rejections = source.rejections().unwrap();
    assert_eq!(rejections.count(), FLOOD);
    let mut held = 0;
    while let Some(n) = rejections.try_recv() {
        assert_eq!(n.status, StatusCode::UNAUTHORIZED);
        held += 1;
    }
    assert_eq!(held, BACKLOG);
    // Room again: the next refusal is reported.
    let r = post_from(ip(2), addr, "/nowhere", Vec::new(), b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(notice(&mut rejections).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rejections.count(), FLOOD + 1);
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn a_service_hands_out_the_notices_once_with_the_address_it_was_given() {
    use bytes::Bytes;
    use http_body_util::Full;
    use tower_service::Service;

    let (mut service, source) = receiver().into_service();
    let mut rejections = service.rejections().expect("the first time");
    assert!(service.rejections().is_none());
    assert!(source.rejections().is_none());

    let peer: SocketAddr = "192.0.2.7:4242".parse().unwrap();
    let mut req = http::Request::post("/hooks")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    req.extensions_mut().insert(peer);
    let res = service.call(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let n = notice(&mut rejections).await;
    assert_eq!(n.peer, Some(peer));
    assert!(n.reason.starts_with("invalid signature: missing"), "{n:?}");
    assert_eq!(rejections.count(), 1);
}
