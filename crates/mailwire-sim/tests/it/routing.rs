//! The route table over real loopback sockets: what a client gets for a path no
//! route has, a method a route does not take, a pod or inbox that does not exist,
//! extra slashes, escapes that are not escapes, and no key.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailwire_sim::Simulator;
use serde_json::{Value, json};

const HANG: Duration = Duration::from_secs(10);

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(sim: &Simulator, method: Method, path: &str, key: Option<&str>) -> Answer {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", sim.http_url()));
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let res = tokio::time::timeout(HANG, client.request(req))
        .await
        .expect("timed out")
        .expect("an answer");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }
}

async fn sim() -> Simulator {
    Simulator::builder()
        .api_key("k")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_shape_of_their_prefix() {
    let sim = sim().await;
    let top = call(&sim, Method::GET, "/v1/nothing", Some("k")).await;
    assert_eq!(top.status, StatusCode::NOT_FOUND);
    assert_eq!(
        top.body,
        json!({ "name": "NotFoundError", "message": "no such route" })
    );
    assert_eq!(top.headers["content-type"], "application/json");
    let v0 = call(&sim, Method::PUT, "/v0/garbage", Some("k")).await;
    assert_eq!(v0.status, StatusCode::NOT_FOUND);
    assert_eq!(
        v0.body,
        json!({ "name": "NotFoundError", "code": "not_found", "message": "no route PUT /v0/garbage" })
    );
    // `/v0/` is not the WebSocket path `/v0`: it names no route.
    let slash = call(&sim, Method::GET, "/v0/", Some("k")).await;
    assert_eq!(slash.body["message"], "no route GET /v0/");
    let upgrade = call(&sim, Method::GET, "/v0", Some("k")).await;
    assert_eq!(
        (upgrade.status, upgrade.body["name"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ValidationError"))
    );
}

#[tokio::test]
async fn other_methods_are_405_without_an_allow_header_head_included() {
    let sim = sim().await;
    for (path, body) in [
        (
            "/v1/webhooks",
            json!({ "name": "MethodNotAllowedError", "message": "method not allowed on this route" }),
        ),
        (
            "/v0/pods",
            json!({ "name": "MethodNotAllowedError", "code": "method_not_allowed", "message": "method not allowed on this route" }),
        ),
    ] {
        let put = call(&sim, Method::PUT, path, Some("k")).await;
        assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(put.body, body, "{path}");
        assert!(!put.headers.contains_key("allow"), "{path}");
        let head = call(&sim, Method::HEAD, path, Some("k")).await;
        assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(!head.headers.contains_key("allow"), "{path}");
    }
}

#[tokio::test]
async fn a_missing_pod_or_inbox_is_404_before_any_405() {
    let sim = sim().await;
    for (method, path, what) in [
        (Method::PUT, "/v0/pods/pod_nope/inboxes", "Pod not found"),
        (Method::GET, "/v0/pods/pod_nope/threads", "Pod not found"),
        (Method::PUT, "/v0/inboxes/nope@x.to", "Inbox not found"),
        (
            Method::GET,
            "/v0/inboxes/nope@x.to/messages",
            "Inbox not found",
        ),
        (
            Method::PUT,
            "/v0/inboxes/nope@x.to/webhooks",
            "Inbox not found",
        ),
        // The pod exists, the inbox does not.
        (
            Method::GET,
            "/v0/pods/pod_default/inboxes/nope@x.to/messages",
            "Inbox not found",
        ),
    ] {
        let answer = call(&sim, method.clone(), path, Some("k")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(answer.body["message"], what, "{method} {path}");
        assert_eq!(answer.body["code"], "not_found", "{method} {path}");
    }
    // A pod's own route takes no such check: a wrong method is a 405 even for none.
    let put = call(&sim, Method::PUT, "/v0/pods/pod_nope", Some("k")).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn leading_and_trailing_slashes_are_folded() {
    let sim = sim().await;
    for path in ["/v1/webhooks/", "//v0/pods//", "/_sim/events/"] {
        assert_eq!(
            call(&sim, Method::GET, path, Some("k")).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let answer = call(&sim, Method::GET, "//v0/nothing/", Some("k")).await;
    assert_eq!(
        answer.body["message"], "no route GET //v0/nothing/",
        "the 404 names the path as sent"
    );
}

#[tokio::test]
async fn the_key_is_checked_before_the_route_but_not_for_downloads() {
    let sim = sim().await;
    for path in ["/v0/garbage", "/v1/nothing", "/_sim/download/x"] {
        let answer = call(&sim, Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer.body["code"], "missing_authorization", "{path}");
    }
    let download = call(&sim, Method::GET, "/_sim/download/a@x.to/m/raw", None).await;
    assert_eq!(
        (download.status, download.body["message"].as_str()),
        (StatusCode::NOT_FOUND, Some("no such message"))
    );
    let query = call(&sim, Method::GET, "/v0/pods?api_key=k", None).await;
    assert_eq!(query.status, StatusCode::OK);
    // A malformed escape is kept: a key was presented, one that is not known.
    let malformed = call(&sim, Method::GET, "/v0/pods?api_key=k%2", None).await;
    assert_eq!(malformed.body["code"], "unknown_api_key");
}

#[tokio::test]
async fn escapes_that_are_not_escapes_are_kept_and_bytes_that_are_not_utf8_are_400() {
    let sim = sim().await;
    // Lenient: `%zz`, `%4` and a lone `%` stay as they are, and are ids like any.
    for path in ["/v0/pods/%zz%4", "/v0/pods/100%"] {
        let answer = call(&sim, Method::GET, path, Some("k")).await;
        assert_eq!(
            (answer.status, answer.body["message"].as_str()),
            (StatusCode::NOT_FOUND, Some("Pod not found")),
            "{path}"
        );
    }
    let inbox = call(&sim, Method::GET, "/v0/inboxes/pod%5Fdefault", Some("k")).await;
    assert_eq!(inbox.body["message"], "Inbox not found");
    // `%ff` decodes to a byte that is no UTF-8: the route's 400.
    let v0 = call(&sim, Method::GET, "/v0/pods/%ff", Some("k")).await;
    assert_eq!(v0.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (v0.body["name"].as_str(), v0.body["code"].as_str()),
        (Some("ValidationError"), Some("validation_error"))
    );
    let top = call(&sim, Method::GET, "/v1/webhooks/%ff", Some("k")).await;
    assert_eq!(top.status, StatusCode::BAD_REQUEST);
    assert_eq!(top.body["name"], "ValidationError");
    assert!(top.body.get("code").is_none(), "{}", top.body);
}
