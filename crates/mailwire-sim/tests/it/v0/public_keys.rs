//! AgentID public keys: a real P-256 key registered as a JWK (private material,
//! other curves and points off the curve refused), its RFC 7638 thumbprint, renamed,
//! revoked one by one or all at once per idempotency key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::{Method, StatusCode};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::{Api, sim};

const AT: &str = "/v0/api-keys/public-keys";

/// A fresh P-256 public key as a JWK's x and y.
fn p256() -> (String, String) {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
}

fn jwk(x: &str, y: &str) -> Value {
    json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y })
}

#[tokio::test]
async fn public_keys_are_checked_registered_and_revoked() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let (x, y) = p256();
    let key = api.post(AT, json!({ "public_key": jwk(&x, &y) })).await;
    assert_eq!(key["type"], "public_key", "{key}");
    assert_eq!(key["scope"], json!({ "organization": {} }));
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let thumbprint = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ));
    assert_eq!(key["public_key"]["fingerprint"], thumbprint.as_str());
    assert_eq!(key["name"], format!("AgentID key {}", &thumbprint[..8]));
    let id = key["api_key_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID");

    // Refused: private material, another curve, a point off the curve, a dead scope.
    let mut off = URL_SAFE_NO_PAD.decode(&y).unwrap();
    off[31] ^= 1;
    let off = URL_SAFE_NO_PAD.encode(off);
    let mut private = jwk(&x, &y);
    private["d"] = json!("secret");
    for (body, mentions) in [
        (json!({ "public_key": private }), "public_key.d"),
        (
            json!({ "public_key": { "kty": "EC", "crv": "P-384", "x": x, "y": y } }),
            "P-256",
        ),
        (json!({ "public_key": jwk(&x, &off) }), "not a point"),
        (json!({ "public_key": jwk("short", &y) }), "public_key.x"),
        (
            json!({ "public_key": jwk(&x, &y), "scope": { "pod": { "id": "nope" } } }),
            "scope",
        ),
    ] {
        let (status, refused) = api.call(Method::POST, AT, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(
            refused["message"].as_str().unwrap().contains(mentions),
            "{mentions}: {refused}"
        );
    }
    let scoped = api
        .post(AT, json!({ "public_key": jwk(&x, &y), "scope": { "inbox": { "id": "ada@agentmail.to" } } }))
        .await;
    assert_eq!(scoped["scope"]["inbox"]["id"], "ada@agentmail.to");
    assert_ne!(
        scoped["api_key_id"], key["api_key_id"],
        "the same JWK again: a new credential"
    );

    let (status, renamed) = api
        .call(
            Method::PATCH,
            &format!("{AT}/{id}"),
            Some(json!({ "name": "laptop" })),
        )
        .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (StatusCode::OK, Some("laptop"))
    );

    // Revoke-all: an idempotency key (a UUID) required; the same key, the same receipt.
    let revoke_all = format!("{AT}/agentid-sign-in/revoke-all");
    let (status, _) = api.call(Method::POST, &revoke_all, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let uuid = "6f1c1a52-2a6e-4c65-9d1f-0c7a4c1e9b10";
    let headers = [("Idempotency-Key", uuid)];
    let (_, first) = api
        .request("am_k", Method::POST, &revoke_all, &headers, &Value::Null)
        .await;
    assert_eq!(
        (
            first["previous_generation"].as_u64(),
            first["current_generation"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let (_, again) = api
        .request("am_k", Method::POST, &revoke_all, &headers, &Value::Null)
        .await;
    assert_eq!(again, first);
    let (_, listed) = api.get(AT).await;
    assert_eq!(listed["count"], 2);
    assert!(
        listed["public_keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["revoked_at"].is_string()),
        "{listed}"
    );

    let (status, _) = api.call(Method::DELETE, &format!("{AT}/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call(Method::DELETE, &format!("{AT}/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
