//! Domains: created pending with the records to publish, verified (simulated) with
//! `domain.verified`, edited, listed per scope, their zone file, deleted.

use hyper::{Method, StatusCode};
use mailwire_proto::{EventType, Payload};
use serde_json::json;

use super::{Api, event, sim, subscribe};

#[tokio::test]
async fn a_domain_is_pending_until_verified_then_announced() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let mut ws = subscribe(
        &sim,
        json!({ "type": "subscribe", "event_types": ["domain.verified"] }),
    )
    .await;
    let d = api
        .post("/v0/domains", json!({ "domain": "Mail.Example.com" }))
        .await;
    assert_eq!(
        (d["domain_id"].as_str(), d["status"].as_str()),
        (Some("mail.example.com"), Some("PENDING")),
        "{d}"
    );
    let records = d["records"].as_array().unwrap();
    assert!(
        records.iter().any(|r| r["type"] == "MX")
            && records.iter().all(|r| r["status"] == "MISSING"),
        "{d}"
    );
    assert_eq!(d["feedback_enabled"], true);

    let (status, edited) = api
        .call(
            Method::PATCH,
            "/v0/domains/mail.example.com",
            Some(json!({ "subdomains_enabled": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert!(
        edited["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "*.mail.example.com"),
        "{edited}"
    );
    let (status, _) = api
        .call(
            Method::PATCH,
            "/v0/domains/mail.example.com",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty update");

    // An inbox on it waits for its verification.
    let on_it = json!({ "username": "ada", "domain": "mail.example.com" });
    let (status, refused) = api
        .call(Method::POST, "/v0/inboxes", Some(on_it.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("verified"),
        "{refused}"
    );
    let (status, _) = api
        .call(Method::POST, "/v0/domains/mail.example.com/verify", None)
        .await;
    assert!(status.is_success(), "{status}");
    let e = event(&mut ws).await;
    assert_eq!(e.event_type(), &EventType::DomainVerified);
    let Payload::Domain(payload) = e.payload() else {
        panic!("{e:?}")
    };
    assert_eq!(
        (payload.domain.as_deref(), payload.status.as_deref()),
        (Some("mail.example.com"), Some("VERIFIED"))
    );
    let inbox = api.post("/v0/inboxes", on_it).await;
    assert_eq!(inbox["inbox_id"], "ada@mail.example.com");
    // With subdomains enabled, any subdomain of it.
    api.post(
        "/v0/inboxes",
        json!({ "username": "bo", "domain": "eu.mail.example.com" }),
    )
    .await;
    let (_, got) = api.get("/v0/domains/mail.example.com").await;
    assert!(
        got["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "VALID"),
        "{got}"
    );

    let pod = api.post("/v0/pods", json!({ "name": "p" })).await;
    let pod_id = pod["pod_id"].as_str().unwrap();
    let theirs = api
        .post(
            &format!("/v0/pods/{pod_id}/domains"),
            json!({ "domain": "pod.example" }),
        )
        .await;
    assert_eq!(theirs["pod_id"], pod_id);
    let (_, all) = api.get("/v0/domains").await;
    assert_eq!(all["count"], 2, "{all}");
    assert!(all["domains"][0].get("records").is_none(), "items");
    let (_, in_pod) = api.get(&format!("/v0/pods/{pod_id}/domains")).await;
    assert_eq!(in_pod["count"], 1);
    let (status, _) = api
        .get(&format!("/v0/pods/{pod_id}/domains/mail.example.com"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not the pod's");
    let (_, org) = api.get("/v0/organizations").await;
    assert_eq!(org["domain_count"], 2);
    assert_eq!(org["inbox_count"], 2, "{org}");

    let (status, zone) = api.get("/v0/domains/mail.example.com/zone-file").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(zone, serde_json::Value::Null, "plain text, not JSON");
    for (path, body, expected) in [
        (
            "/v0/domains",
            json!({ "domain": "not a domain" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/v0/domains",
            json!({ "domain": "mail.example.com" }),
            StatusCode::CONFLICT,
        ),
    ] {
        let (status, answer) = api.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/v0/pods/{pod_id}/domains/pod.example/verify"),
            None,
        )
        .await;
    assert!(status.is_success());
    let mine = json!({ "username": "x", "domain": "pod.example" });
    api.post(&format!("/v0/pods/{pod_id}/inboxes"), mine).await;
    let other_pod = json!({ "username": "y", "domain": "pod.example" });
    let (status, _) = api.call(Method::POST, "/v0/inboxes", Some(other_pod)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a pod's domain is not for other pods' inboxes"
    );
    let (status, _) = api
        .call(Method::DELETE, "/v0/domains/mail.example.com", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.get("/v0/domains/mail.example.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
