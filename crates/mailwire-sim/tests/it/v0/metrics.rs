//! Metrics computed from what happened: event counts per type, in points or
//! buckets, per scope; cumulative usage; the documented bounds refused.

use hyper::StatusCode;
use serde_json::json;

use super::{Api, sim};

#[tokio::test]
async fn metrics_count_what_was_published_and_what_exists() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    api.post("/v0/inboxes", json!({ "username": "bea" })).await;
    for n in 0..2 {
        api.post(
            "/v0/inboxes/ada@agentmail.to/messages/send",
            json!({ "to": "ok@example.com", "subject": format!("s{n}"), "text": "t" }),
        )
        .await;
    }
    api.post(
        "/_sim/inboxes/bea%40agentmail.to/messages",
        json!({ "from": "bob@example.com", "subject": "hi", "text": "t" }),
    )
    .await;

    let (status, all) = api
        .get("/v0/metrics/events?event_types=message.sent&event_types=message.received")
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let sent = all["message.sent"].as_array().unwrap();
    assert_eq!(sent.len(), 2, "{all}");
    assert!(
        sent.iter()
            .all(|p| p["count"] == 1 && p["timestamp"].is_string())
    );
    assert_eq!(all["message.received"].as_array().unwrap().len(), 1);
    assert!(
        all.get("message.bounced").is_none(),
        "only the types asked for"
    );
    let (_, hourly) = api
        .get("/v0/metrics/events?event_types=message.sent&period=3600")
        .await;
    let total: u64 = hourly["message.sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2, "{hourly}");
    let (_, limited) = api
        .get("/v0/metrics/events?event_types=message.sent&limit=1")
        .await;
    assert_eq!(limited["message.sent"].as_array().unwrap().len(), 1);
    // Per inbox: Bea sent nothing.
    let (_, bea) = api
        .get("/v0/inboxes/bea@agentmail.to/metrics/events?event_types=message.sent")
        .await;
    assert_eq!(bea["message.sent"], json!([]), "{bea}");

    let (status, usage) = api.get("/v0/inboxes/ada@agentmail.to/metrics/usage").await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let last = |kind: &str| usage[kind].as_array().unwrap().last().unwrap()["value"].as_u64();
    assert_eq!(last("message_count"), Some(2), "{usage}");
    assert_eq!(last("thread_count"), Some(2));
    assert!(last("storage_bytes").unwrap() > 0);
    assert!(
        usage.get("pod_count").is_none(),
        "not an inbox's usage type"
    );
    let (_, org) = api.get("/v0/metrics/usage?usage_types=inbox_count").await;
    assert_eq!(org["inbox_count"][0]["value"], 2, "{org}");

    let old = (time::OffsetDateTime::now_utc() - time::Duration::days(100))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for path in [
        "/v0/metrics/events?period=0".to_owned(),
        "/v0/metrics/events?event_types=message.nope".to_owned(),
        format!("/v0/metrics/events?start={old}"),
        "/v0/metrics/usage?period=1".to_owned(),
        "/v0/inboxes/ada@agentmail.to/metrics/usage?usage_types=pod_count".to_owned(),
    ] {
        let (status, refused) = api.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {refused}");
    }
}
