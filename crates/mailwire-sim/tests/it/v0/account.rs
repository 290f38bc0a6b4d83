//! The organization, the credential's identity, and an inbox's label changes.

use hyper::{Method, StatusCode};
use serde_json::json;

use super::{Api, sim};

const ADA: &str = "/v0/inboxes/ada@agentmail.to";

#[tokio::test]
async fn the_organization_counts_its_inboxes_and_label_changes_are_inbox_events() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let (_, me) = api.get("/v0/auth/me").await;
    assert_eq!(me["scope_type"], "organization", "{me}");
    let org = me["organization_id"].as_str().unwrap().to_owned();
    assert_eq!(me["scope_id"], org.as_str());
    let (_, before) = api.get("/v0/organizations").await;
    assert_eq!(
        (
            before["organization_id"].as_str(),
            before["inbox_count"].as_u64()
        ),
        (Some(org.as_str()), Some(0))
    );
    assert!(before["created_at"].is_string(), "{before}");

    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let (_, after) = api.get("/v0/organizations").await;
    assert_eq!(after["inbox_count"], 1);

    let got = api
        .post(
            "/_sim/inboxes/ada%40agentmail.to/messages",
            json!({ "from": "bob@example.com", "subject": "s", "text": "t" }),
        )
        .await;
    let id = got["message_id"].as_str().unwrap().to_owned();
    let path = format!(
        "{ADA}/messages/{}",
        form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    let (status, _) = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "add_labels": ["read"], "remove_labels": ["unread"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Adding a label it has already changes nothing, and records nothing.
    api.call(
        Method::PATCH,
        &path,
        Some(json!({ "add_labels": ["read"] })),
    )
    .await;

    let (status, events) = api.get(&format!("{ADA}/events")).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events["count"], 2, "{events}");
    let newest = &events["events"][0];
    assert_eq!(
        (newest["event_type"].as_str(), newest["label"].as_str()),
        (Some("label.added"), Some("read"))
    );
    assert_eq!(newest["message_id"], id.as_str());
    assert_eq!(newest["organization_id"], org.as_str());
    assert!(
        newest["pod_id"].is_string() && newest["event_at"].is_string(),
        "{newest}"
    );
    let oldest = &events["events"][1];
    assert_eq!(
        (oldest["event_type"].as_str(), oldest["label"].as_str()),
        (Some("label.removed"), Some("unread"))
    );
    assert!(
        newest["event_id"].as_str() > oldest["event_id"].as_str(),
        "ordered by event id"
    );
    let (_, ascending) = api.get(&format!("{ADA}/events?ascending=true")).await;
    assert_eq!(ascending["events"][0]["label"], "unread");
    let (status, _) = api.get("/v0/inboxes/nobody@agentmail.to/events").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
