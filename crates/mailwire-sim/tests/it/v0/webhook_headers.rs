//! Custom webhook delivery headers: set at creation or later, sent with every
//! delivery (beside the signature, never replacing it), their names listed and
//! their values never shown, removed; reserved and malformed ones refused.

use hyper::{Method, StatusCode};
use serde_json::json;

use mailwire_sim::Simulator;

use super::{Api, bounded, sim};
use crate::rest::capture_server_answering;

const INJECT: &str = "/_sim/inboxes/ada%40agentmail.to/messages";

/// Deliveries to the capturing endpoint: each one's headers and body.
type Delivered = tokio::sync::mpsc::UnboundedReceiver<(
    std::collections::BTreeMap<String, String>,
    bytes::Bytes,
)>;

/// A simulator with the inbox `ada`, and a webhook of `message.received` (plus
/// `extra` in its creation body) to an endpoint answering 200.
async fn hooked(extra: serde_json::Value) -> (Simulator, Api, serde_json::Value, Delivered) {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let (url, delivered) = capture_server_answering(StatusCode::OK).await;
    let mut body = json!({ "url": url, "event_types": ["message.received"] });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let hook = api.post("/v0/webhooks", body).await;
    (sim, api, hook, delivered)
}

#[tokio::test]
async fn custom_headers_go_out_with_every_delivery_and_are_never_shown() {
    let (_sim, api, hook, mut delivered) =
        hooked(json!({ "headers": { "X-Token": "t0k3n" } })).await;
    assert!(
        !hook.to_string().contains("t0k3n"),
        "values never shown: {hook}"
    );
    let id = hook["webhook_id"].as_str().unwrap().to_owned();
    let path = format!("/v0/webhooks/{id}/headers");
    let (_, names) = api.get(&path).await;
    assert_eq!(names, json!({ "header_names": ["x-token"] }));

    api.post(
        INJECT,
        json!({ "from": "bob@example.com", "subject": "one", "text": "t" }),
    )
    .await;
    let (headers, _) = bounded(delivered.recv()).await.unwrap();
    assert_eq!(
        headers.get("x-token").map(String::as_str),
        Some("t0k3n"),
        "{headers:?}"
    );
    assert!(headers.contains_key("svix-signature"));

    let (status, _) = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "headers": { "X-Other": "2" }, "remove_headers": ["X-TOKEN"] })),
        )
        .await;
    // The definition's bare 204; the names are GET's.
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, names) = api.get(&path).await;
    assert_eq!(names, json!({ "header_names": ["x-other"] }));
    api.post(
        INJECT,
        json!({ "from": "bob@example.com", "subject": "two", "text": "t" }),
    )
    .await;
    let (headers, _) = bounded(delivered.recv()).await.unwrap();
    assert_eq!(headers.get("x-other").map(String::as_str), Some("2"));
    assert!(!headers.contains_key("x-token"), "{headers:?}");

    for body in [
        json!({ "headers": { "svix-signature": "v1,forged" } }),
        json!({ "headers": { "x-a": "1" }, "remove_headers": ["X-A"] }),
        json!({ "headers": {} }),
        json!({}),
        json!({ "headers": { "bad name": "1" } }),
    ] {
        let (status, refused) = api.call(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
    }
}

#[tokio::test]
async fn a_webhook_disabled_by_an_update_says_so_and_gets_nothing_until_enabled() {
    let (sim, api, hook, mut delivered) = hooked(json!({})).await;
    let path = format!("/v0/webhooks/{}", hook["webhook_id"].as_str().unwrap());
    let (status, off) = api
        .call(Method::PATCH, &path, Some(json!({ "enabled": false })))
        .await;
    assert_eq!((status, &off["enabled"]), (StatusCode::OK, &json!(false)));
    assert_eq!(api.get(&path).await.1["enabled"], false);
    api.post(
        INJECT,
        json!({ "from": "bob@example.com", "subject": "while off", "text": "t" }),
    )
    .await;
    let (status, on) = api
        .call(Method::PATCH, &path, Some(json!({ "enabled": true })))
        .await;
    assert_eq!((status, &on["enabled"]), (StatusCode::OK, &json!(true)));
    api.post(
        INJECT,
        json!({ "from": "bob@example.com", "subject": "while on", "text": "t" }),
    )
    .await;
    // The first delivery is the mail sent while it was on.
    let (_, body) = bounded(delivered.recv()).await.unwrap();
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["message"]["subject"], "while on");
    let stats = sim.webhook_stats();
    assert_eq!(stats.queued, 1, "{stats:?}");
}
