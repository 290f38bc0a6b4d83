//! API keys created through the API: listed without their secret, accepted beside
//! the simulator's own, each reaching only its scope and its permissions.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, sim};

/// A GET with `key`.
async fn get_with(api: &Api, key: &str, path: &str) -> (StatusCode, Value) {
    api.request(key, Method::GET, path, &[], &Value::Null).await
}

#[tokio::test]
async fn a_created_key_reaches_its_scope_and_its_permissions_only() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let pod = api.post("/v0/pods", json!({ "name": "team" })).await;
    let pod_id = pod["pod_id"].as_str().unwrap().to_owned();
    api.post(
        &format!("/v0/pods/{pod_id}/inboxes"),
        json!({ "username": "ada" }),
    )
    .await;
    api.post("/v0/inboxes", json!({ "username": "bea" })).await;

    // Scoped to Ada's inbox.
    let ada_key = api
        .post(
            "/v0/inboxes/ada@agentmail.to/api-keys",
            json!({ "name": "ada's agent" }),
        )
        .await;
    let secret = ada_key["api_key"].as_str().unwrap().to_owned();
    assert_eq!(ada_key["inbox_id"], "ada@agentmail.to");
    assert_eq!(ada_key["pod_id"], pod_id.as_str());
    assert!(secret.starts_with(ada_key["prefix"].as_str().unwrap()));
    let (status, _) = get_with(&api, &secret, "/v0/inboxes/ada@agentmail.to/messages").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v0/inboxes/bea@agentmail.to/messages",
        "/v0/inboxes",
        "/v0/threads",
    ] {
        let (status, refused) = get_with(&api, &secret, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {refused}");
        assert_eq!(refused["name"], "ForbiddenError");
    }
    let (_, me) = get_with(&api, &secret, "/v0/auth/me").await;
    assert_eq!(
        (me["scope_type"].as_str(), me["scope_id"].as_str()),
        (Some("inbox"), Some("ada@agentmail.to"))
    );
    assert_eq!(me["api_key_id"], ada_key["api_key_id"]);

    // Scoped to the pod: its inboxes, not the others.
    let pod_key = api
        .post(&format!("/v0/pods/{pod_id}/api-keys"), json!({}))
        .await;
    let pod_secret = pod_key["api_key"].as_str().unwrap();
    let (status, _) = get_with(&api, pod_secret, "/v0/inboxes/ada@agentmail.to").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get_with(&api, pod_secret, &format!("/v0/pods/{pod_id}/threads")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get_with(&api, pod_secret, "/v0/inboxes/bea@agentmail.to").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The organization's, reading only.
    let reader = api
        .post(
            "/v0/api-keys",
            json!({ "name": "reader", "permissions": { "message_read": true } }),
        )
        .await;
    let reader_secret = reader["api_key"].as_str().unwrap();
    let (status, _) = get_with(&api, reader_secret, "/v0/inboxes/bea@agentmail.to/messages").await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = api
        .request(
            reader_secret,
            Method::POST,
            "/v0/inboxes/bea@agentmail.to/messages/send",
            &[],
            &json!({ "to": "x@example.com", "text": "t" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("message_send"),
        "{refused}"
    );

    // Listed without secrets, per scope; deleted, a key is refused.
    let (_, all) = api.get("/v0/api-keys").await;
    assert_eq!(all["count"], 3, "{all}");
    assert!(
        all["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("api_key").is_none())
    );
    let (_, mine) = api.get("/v0/inboxes/ada@agentmail.to/api-keys").await;
    assert_eq!(mine["count"], 1);
    assert!(mine["api_keys"][0]["used_at"].is_string(), "{mine}");
    let id = ada_key["api_key_id"].as_str().unwrap();
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/v0/inboxes/bea@agentmail.to/api-keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not Bea's key");
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/v0/inboxes/ada@agentmail.to/api-keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = get_with(&api, &secret, "/v0/inboxes/ada@agentmail.to/messages").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_agent_signs_up_without_a_key_and_verifies_with_the_code_its_human_got() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let body = json!({ "human_email": "human@example.com", "username": "my-agent" });
    let (status, signed) = api
        .request("", Method::POST, "/v0/agent/sign-up", &[], &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["inbox_id"], "my-agent@agentmail.to");
    let key = signed["api_key"].as_str().unwrap().to_owned();
    let (status, _) = get_with(&api, &key, "/v0/inboxes/my-agent@agentmail.to").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new key works, the inbox exists"
    );

    // The code went to the human, as an email the simulator delivered.
    let (_, mail) = api.get("/v0/inboxes/human@example.com/messages").await;
    assert_eq!(mail["count"], 1, "{mail}");
    let preview = mail["messages"][0]["preview"].as_str().unwrap();
    let code: String = preview
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("a code in {preview:?}"))
        .to_owned();

    let verify = |code: &str| json!({ "otp_code": code });
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (_, no) = api
        .request(&key, Method::POST, "/v0/agent/verify", &[], &verify(wrong))
        .await;
    assert_eq!(no["verified"], false);
    let (_, yes) = api
        .request(&key, Method::POST, "/v0/agent/verify", &[], &verify(&code))
        .await;
    assert_eq!(yes["verified"], true);
    let (status, _) = api
        .request(
            "am_k",
            Method::POST,
            "/v0/agent/verify",
            &[],
            &verify(&code),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a sign-up's key");

    // Again for the same human: a new key, the old one refused.
    let (_, again) = api
        .request("", Method::POST, "/v0/agent/sign-up", &[], &body)
        .await;
    let (status, _) = get_with(&api, &key, "/v0/inboxes/my-agent@agentmail.to").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get_with(&api, again["api_key"].as_str().unwrap(), "/v0/inboxes").await;
    assert_eq!(status, StatusCode::OK);
    // Another human cannot take the username.
    let (status, _) = api
        .request(
            "",
            Method::POST,
            "/v0/agent/sign-up",
            &[],
            &json!({ "human_email": "other@example.com", "username": "my-agent" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
