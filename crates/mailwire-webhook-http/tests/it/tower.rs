//! The receiver mounted as a tower service in an axum router, served on loopback.
#![cfg(feature = "tower")]

use crate::common;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use common::*;
use http::StatusCode;
use mailwire_store::{MemoryStore, Store};

#[tokio::test]
async fn mounted_in_an_axum_router() {
    let log = Arc::new(MemoryStore::new());
    let (service, mut source) = receiver()
        .store(log.clone())
        .body_limit(4096)
        .into_service();
    assert!(source.local_addr().is_none());
    let app = Router::new()
        .route("/health", get(|| async { "healthy" }))
        .route_service("/hooks/mail", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/hooks/mail");
    let client = client();

    // Valid: logged before the 200, then emitted; ack reaches the log.
    let body = event("evt_1").raw().clone();
    let r = request(
        &client,
        "POST",
        url.clone(),
        sign("msg_1", &body),
        body.clone(),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "ok"));
    assert!(
        log.contains(common::event("evt_1").dedup_id())
            .await
            .unwrap()
    );
    let delivery = next(&mut source).await;
    assert_eq!(delivery.event.id(), "evt_1");
    delivery.ack().await.unwrap();
    assert!(log.unacked(10).await.unwrap().is_empty());

    // The same answers as the built-in server.
    let r = request(
        &client,
        "POST",
        url.clone(),
        sign("msg_1", &body),
        body.clone(),
    )
    .await;
    assert_eq!(r.text, "duplicate");
    let r = request(&client, "POST", url.clone(), vec![], body.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = request(&client, "GET", url.clone(), vec![], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let big = Bytes::from(vec![b'x'; 5000]);
    let r = request(&client, "POST", url.clone(), sign("msg_big", &big), big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let junk = Bytes::from_static(b"{\"not\":\"an event\"}");
    let r = request(&client, "POST", url, sign("msg_j", &junk), junk).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The router's other routes are untouched.
    let r = request(
        &client,
        "GET",
        format!("http://{addr}/health"),
        vec![],
        Bytes::new(),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "healthy"));
}

#[tokio::test]
async fn the_source_ends_when_the_service_is_dropped() {
    use mailwire_source::EventSource;
    let (service, mut source) = receiver().into_service();
    let clone = service.clone();
    drop(service);
    drop(clone);
    assert!(source.next().await.unwrap().is_none());
}

#[tokio::test]
async fn tenants_and_per_address_limits_in_an_axum_router() {
    use std::net::SocketAddr;

    use axum::extract::{ConnectInfo, Request};
    use mailwire_webhook_http::{Rate, RateLimits, Tenant, Tenants};

    const ACME: &str = "whsec_dGVuYW50LWFjbWUtc2VjcmV0LTAwMDAx";
    let tenants = Tenants::new();
    let verifier =
        mailwire_webhook::Verifier::new(mailwire_webhook::Keyring::standard(ACME).unwrap());
    tenants.insert(Tenant::new("acme", verifier)).unwrap();
    let limits = RateLimits::off().per_address(Some(Rate::per_hour(1)));
    let (service, mut source) = receiver()
        .rate_limits(limits)
        .tenants(tenants.clone())
        .into_service();
    // The service reads the client's address from a `SocketAddr` extension:
    // copied there from axum's `ConnectInfo`.
    let app = Router::new()
        .route_service("/webhooks/{tenant}", service.clone())
        .layer(axum::middleware::map_request(
            |ConnectInfo(client): ConnectInfo<SocketAddr>, mut req: Request| async move {
                req.extensions_mut().insert(client);
                req
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let post = |from: u8, id: &'static str| async move {
        let body = event(id).raw().clone();
        post_from(
            ip(from),
            addr,
            "/webhooks/acme",
            sign_with(ACME, id, &body),
            &body,
        )
        .await
    };
    assert_eq!(post(2, "evt_1").await.status, StatusCode::OK);
    assert_eq!(next(&mut source).await.tenant.unwrap(), "acme");
    let r = post(2, "evt_2").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(post(3, "evt_3").await.status, StatusCode::OK);
    assert_eq!(service.stats().rate_limited, 1);
    assert_eq!(tenants.stats("acme").unwrap().accepted, 2);
}
