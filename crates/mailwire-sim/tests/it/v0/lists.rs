//! Allow and block lists: kept per scope in the definition's shapes, and applied:
//! a blocked sender's mail arrives blocked (`message.received.blocked`), an allow
//! list lets only its entries through, a reply to what an inbox sent is judged by
//! the reply lists alone, and a send to a refused recipient is a 403.

use hyper::{Method, StatusCode};
use mailwire_proto::EventType;
use serde_json::{Value, json};

use super::{Api, event, sim, subscribe};

const INJECT: &str = "/_sim/inboxes/ada%40agentmail.to/messages";

/// Injects an email from `from` and returns (its labels, the type of its event).
async fn arrive(
    api: &Api,
    ws: &mut super::Ws,
    from: &str,
    reply_to: Option<&str>,
) -> (Vec<String>, EventType) {
    let mut body = json!({ "from": from, "subject": "hi", "text": "t" });
    if let Some(parent) = reply_to {
        body["in_reply_to"] = parent.into();
    }
    let got = api.post(INJECT, body).await;
    let e = event(ws).await;
    assert_eq!(e.payload().message_id(), got["message_id"].as_str());
    let id: String =
        form_urlencoded::byte_serialize(got["message_id"].as_str().unwrap().as_bytes()).collect();
    let (_, m) = api
        .get(&format!("/v0/inboxes/ada@agentmail.to/messages/{id}"))
        .await;
    let labels = m["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    (labels, e.event_type().clone())
}

#[tokio::test]
async fn lists_are_kept_per_scope_and_decide_what_passes() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let inbox = api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let pod = inbox["pod_id"].as_str().unwrap().to_owned();
    let mut ws = subscribe(
        &sim,
        json!({ "type": "subscribe", "event_types": [
        "message.received", "message.received.blocked"] }),
    )
    .await;

    // The organization blocks a domain, with a reason.
    let blocked = api
        .post(
            "/v0/lists/receive/block",
            json!({ "entry": "Example.com", "reason": "noise" }),
        )
        .await;
    assert_eq!(blocked["entry"], "example.com", "{blocked}");
    assert_eq!(
        (
            blocked["entry_type"].as_str(),
            blocked["list_type"].as_str()
        ),
        (Some("domain"), Some("block"))
    );
    assert_eq!(blocked["reason"], "noise");
    assert!(blocked["organization_id"].is_string() && blocked.get("pod_id").is_none());
    let (labels, kind) = arrive(&api, &mut ws, "Bob <bob@example.com>", None).await;
    assert_eq!(kind, EventType::MessageReceivedBlocked);
    assert!(labels.contains(&"blocked".to_owned()), "{labels:?}");
    let (_, listed) = api.get("/v0/inboxes/ada@agentmail.to/messages").await;
    assert_eq!(listed["count"], 0, "blocked mail is left out of lists");

    // The inbox allows Bob: the narrower scope decides, and only Bob gets through.
    let allowed = api
        .post(
            "/v0/inboxes/ada@agentmail.to/lists/receive/allow",
            json!({ "entry": "bob@example.com" }),
        )
        .await;
    assert_eq!(
        (allowed["inbox_id"].as_str(), allowed["pod_id"].as_str()),
        (Some("ada@agentmail.to"), Some(pod.as_str()))
    );
    assert_eq!(allowed["entry_type"], "email");
    assert_eq!(
        arrive(&api, &mut ws, "bob@example.com", None).await.1,
        EventType::MessageReceived
    );
    assert_eq!(
        arrive(&api, &mut ws, "carol@example.org", None).await.1,
        EventType::MessageReceivedBlocked
    );

    // A reply to what Ada sent is judged by the reply lists alone (empty: it passes).
    let sent = api
        .post(
            "/v0/inboxes/ada@agentmail.to/messages/send",
            json!({ "to": "dave@example.net", "text": "t" }),
        )
        .await;
    let parent = sent["message_id"].as_str().unwrap();
    assert_eq!(
        arrive(&api, &mut ws, "dave@example.net", Some(parent))
            .await
            .1,
        EventType::MessageReceived
    );
    api.post(
        &format!("/v0/pods/{pod}/lists/reply/block"),
        json!({ "entry": "example.net" }),
    )
    .await;
    assert_eq!(
        arrive(&api, &mut ws, "dave@example.net", Some(parent))
            .await
            .1,
        EventType::MessageReceivedBlocked
    );

    // A send to a refused recipient.
    api.post(
        "/v0/lists/send/block",
        json!({ "entry": "eve@example.net" }),
    )
    .await;
    let (status, refused) = api
        .call(
            Method::POST,
            "/v0/inboxes/ada@agentmail.to/messages/send",
            Some(json!({ "to": ["dave@example.net", "Eve <eve@example.net>"], "text": "t" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["name"], "MessageRejectedError");

    // Read, listed by entry, deleted; what the definition refuses.
    api.post("/v0/lists/receive/block", json!({ "entry": "aaa.example" }))
        .await;
    let (_, org) = api.get("/v0/lists/receive/block").await;
    let entries: Vec<&str> = org["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e: &Value| e["entry"].as_str().unwrap())
        .collect();
    assert_eq!(entries, ["aaa.example", "example.com"]);
    let (status, one) = api.get("/v0/lists/receive/block/example.com").await;
    assert_eq!(
        (status, one["reason"].as_str()),
        (StatusCode::OK, Some("noise"))
    );
    let (status, _) = api
        .call(Method::DELETE, "/v0/lists/receive/block/example.com", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.get("/v0/lists/receive/block/example.com").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (path, body) in [
        ("/v0/lists/sideways/block", json!({ "entry": "a.example" })),
        ("/v0/lists/receive/maybe", json!({ "entry": "a.example" })),
        (
            "/v0/lists/receive/block",
            json!({ "entry": "not an entry" }),
        ),
    ] {
        let (status, answer) = api.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    }
}
