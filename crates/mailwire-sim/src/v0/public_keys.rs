//! `/v0/api-keys/public-keys` (`api-keys.yml`): AgentID sign-in credentials, public
//! P-256 keys registered as JWKs. The JWK is checked as the definition says
//! (exactly `kty`, `crv`, `x`, `y`; coordinates of 43 base64url characters; a
//! point on P-256), its RFC 7638 thumbprint computed, its scope the caller's or
//! one below it. `revoke-all` advances the organization's key generation once per
//! `Idempotency-Key` (a UUID), revoking every credential registered before.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{patch, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::{Response, StatusCode};
use ring::{agreement, digest, rand};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Ids, only};
use crate::Shared;
use crate::http::{
    Body, Params, Query, Refusal, Req, api_error, no_content, not_found, ok, page, refusal,
    validation,
};
use crate::keys::{KeyScope, PublicKey};
use crate::mail::Mail;

pub(super) fn routes() -> Router<Arc<Shared>> {
    const AT: &str = "/v0/api-keys/public-keys";
    Router::new()
        .route(AT, only(post(create).get(list)))
        .route(
            &format!("{AT}/{{api_key_id}}"),
            only(patch(rename).delete(revoke)),
        )
        .route(
            &format!("{AT}/agentid-sign-in/revoke-all"),
            only(post(revoke_all)),
        )
}

fn bad(message: String) -> Refusal {
    refusal(validation(&message))
}

fn at(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

/// A random version 4 UUID.
pub(crate) fn uuid() -> String {
    let b = fastrand::u128(..);
    let hex = format!("{b:032x}");
    let variant = ["8", "9", "a", "b"][fastrand::usize(..4)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A coordinate: 43 base64url characters, 32 bytes.
fn coordinate(name: &str, v: Option<&Value>) -> Result<(String, Vec<u8>), Refusal> {
    let text = v.and_then(Value::as_str).unwrap_or_default();
    let valid = text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let bytes = valid.then(|| URL_SAFE_NO_PAD.decode(text).ok()).flatten();
    match bytes {
        Some(bytes) if bytes.len() == 32 => Ok((text.to_owned(), bytes)),
        _ => Err(bad(format!(
            "public_key.{name}: 43 characters of unpadded base64url (a 32-byte P-256 coordinate)"
        ))),
    }
}

/// The JWK's coordinates, checked, and its RFC 7638 thumbprint.
fn check_jwk(jwk: Option<&Value>) -> Result<(String, String, String), Refusal> {
    let Some(jwk) = jwk.and_then(Value::as_object) else {
        return Err(bad("public_key: a P-256 JWK object is required".into()));
    };
    if let Some(extra) = jwk
        .keys()
        .find(|k| !["kty", "crv", "x", "y"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "public_key.{extra}: only kty, crv, x and y are accepted (never private key material)"
        )));
    }
    if jwk.get("kty") != Some(&json!("EC")) || jwk.get("crv") != Some(&json!("P-256")) {
        return Err(bad(
            "public_key: kty must be \"EC\" and crv \"P-256\"".into()
        ));
    }
    let (x, xb) = coordinate("x", jwk.get("x"))?;
    let (y, yb) = coordinate("y", jwk.get("y"))?;
    // On the curve: ring validates a peer's public key before agreeing with it.
    let mut point = vec![4u8];
    point.extend_from_slice(&xb);
    point.extend_from_slice(&yb);
    let on_curve =
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rand::SystemRandom::new())
            .ok()
            .is_some_and(|mine| {
                let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point);
                agreement::agree_ephemeral(mine, &peer, |_| ()).is_ok()
            });
    if !on_curve {
        return Err(bad("public_key: (x, y) is not a point on P-256".into()));
    }
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let fingerprint = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
    Ok((x, y, fingerprint))
}

fn key_json(k: &PublicKey, generation: u64) -> Value {
    let mut v = json!({
        "api_key_id": k.api_key_id,
        "type": "public_key",
        "name": k.name,
        "public_key": {
            "jwk": { "kty": "EC", "crv": "P-256", "x": k.x, "y": k.y },
            "fingerprint": k.fingerprint,
        },
        "scope": k.scope,
        "created_at": at(k.created_at),
        "updated_at": at(k.updated_at),
    });
    if let Some(e) = k.expires_at {
        v["expires_at"] = at(e);
    }
    if k.generation < generation {
        v["revoked_at"] = k.revoked_at.map_or(Value::Null, at);
    }
    v
}

/// The caller's scope as a credential scope.
fn caller_scope(key: Option<&KeyScope>) -> Value {
    match key {
        Some(KeyScope {
            inbox_id: Some(i), ..
        }) => json!({ "inbox": { "id": i } }),
        Some(KeyScope {
            pod_id: Some(p), ..
        }) => json!({ "pod": { "id": p } }),
        _ => json!({ "organization": {} }),
    }
}

/// Whether a credential of `scope` is visible to (or may be made by) the caller.
fn below(mail: &Mail, caller: Option<&KeyScope>, scope: &Value) -> bool {
    let inbox = scope.pointer("/inbox/id").and_then(Value::as_str);
    let pod = scope.pointer("/pod/id").and_then(Value::as_str);
    match caller {
        Some(KeyScope {
            inbox_id: Some(mine),
            ..
        }) => inbox.is_some_and(|i| i.eq_ignore_ascii_case(mine)),
        Some(KeyScope {
            pod_id: Some(mine), ..
        }) => {
            pod == Some(mine.as_str())
                || inbox.is_some_and(|i| mail.pod_of(i) == Some(mine.as_str()))
        }
        _ => true,
    }
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    public_key: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scope: Option<Map<String, Value>>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn check_name(name: &str) -> Result<(), Refusal> {
    if name.is_empty() || name.chars().count() > 256 {
        return Err(bad("name: 1 to 256 characters".into()));
    }
    Ok(())
}

async fn create(State(shared): State<Arc<Shared>>, req: Req) -> Result<Response<Body>, Refusal> {
    let caller = req.extensions().get::<KeyScope>().cloned();
    let body: CreateBody = crate::http::json_body(req).await?;
    let (x, y, fingerprint) = check_jwk(body.public_key.as_ref())?;
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    let expires_at = match &body.expires_at {
        None => None,
        Some(t) => {
            let t =
                OffsetDateTime::parse(t, &Rfc3339).map_err(|e| bad(format!("expires_at: {e}")))?;
            if t <= crate::ids::now() {
                return Err(bad("expires_at: must be in the future".into()));
            }
            Some(t)
        }
    };
    let mut mail = shared.mail();
    let scope = match body.scope {
        None => caller_scope(caller.as_ref()),
        Some(s) => {
            let scope = Value::Object(s);
            let live = match (
                scope.pointer("/inbox/id"),
                scope.pointer("/pod/id"),
                scope.get("organization"),
            ) {
                (Some(Value::String(i)), None, None) => mail.inbox(i).is_some(),
                (None, Some(Value::String(p)), None) => mail.pod(p).is_some(),
                (None, None, Some(Value::Object(_))) => true,
                _ => false,
            };
            if !live || scope.as_object().is_some_and(|o| o.len() != 1) {
                return Err(bad("scope: one of organization, pod (a live pod's id) or inbox (a live inbox's id)".into()));
            }
            if !below(&mail, caller.as_ref(), &scope) {
                return Err(bad("scope: not the caller's scope nor below it".into()));
            }
            scope
        }
    };
    let now = crate::ids::now();
    let key = PublicKey {
        api_key_id: uuid(),
        name: body
            .name
            .unwrap_or_else(|| format!("AgentID key {}", &fingerprint[..8])),
        x,
        y,
        fingerprint,
        scope,
        expires_at,
        generation: mail.public_keys.generation,
        revoked_at: None,
        created_at: now,
        updated_at: now,
    };
    mail.public_keys.keys.push(key.clone());
    Ok(ok(&key_json(&key, mail.public_keys.generation)))
}

async fn list(
    State(shared): State<Arc<Shared>>,
    query: Query,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let caller = req.extensions().get::<KeyScope>().cloned();
    let mail = shared.mail();
    let generation = mail.public_keys.generation;
    let mut keys: Vec<Value> = (mail.public_keys.keys.iter().rev())
        .filter(|k| below(&mail, caller.as_ref(), &k.scope))
        .map(|k| key_json(k, generation))
        .collect();
    if query.ascending()? {
        keys.reverse();
    }
    let response = page("public_keys", keys, &query)?;
    Ok(response)
}

#[derive(Deserialize)]
struct RenameBody {
    #[serde(default)]
    name: Option<String>,
}

async fn rename(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let caller = req.extensions().get::<KeyScope>().cloned();
    let body: RenameBody = crate::http::json_body(req).await?;
    let name = body.name.unwrap_or_default();
    check_name(&name)?;
    let mut mail = shared.mail();
    let id = ids.api_key_id.clone().unwrap_or_default();
    let visible = (mail.public_keys.keys.iter())
        .position(|k| k.api_key_id == id && below(&mail, caller.as_ref(), &k.scope));
    let Some(at) = visible else {
        return Ok(not_found("Public key"));
    };
    let generation = mail.public_keys.generation;
    let key = &mut mail.public_keys.keys[at];
    key.name = name;
    key.updated_at = crate::ids::now();
    Ok(ok(&key_json(key, generation)))
}

async fn revoke(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Response<Body> {
    let caller = req.extensions().get::<KeyScope>().cloned();
    let mut mail = shared.mail();
    let id = ids.api_key_id.clone().unwrap_or_default();
    let visible = (mail.public_keys.keys.iter())
        .position(|k| k.api_key_id == id && below(&mail, caller.as_ref(), &k.scope));
    match visible {
        Some(at) => {
            mail.public_keys.keys.remove(at);
            no_content()
        }
        None => not_found("Public key"),
    }
}

async fn revoke_all(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
    let caller = req.extensions().get::<KeyScope>().cloned();
    if caller
        .as_ref()
        .is_some_and(|k| k.pod_id.is_some() || k.inbox_id.is_some())
    {
        return api_error(
            StatusCode::FORBIDDEN,
            "ForbiddenError",
            "forbidden",
            "revoke-all needs an organization-scoped key",
        );
    }
    let key = (req.headers().get("idempotency-key"))
        .and_then(|v| v.to_str().ok())
        .filter(|k| is_uuid(k))
        .map(str::to_ascii_lowercase);
    let Some(key) = key else {
        return validation("Idempotency-Key: a UUID is required");
    };
    let mut mail = shared.mail();
    if let Some(receipt) = mail.public_keys.receipts.get(&key) {
        return ok(receipt);
    }
    let now = crate::ids::now();
    let previous = mail.public_keys.generation;
    mail.public_keys.generation += 1;
    for k in mail
        .public_keys
        .keys
        .iter_mut()
        .filter(|k| k.revoked_at.is_none())
    {
        k.revoked_at = Some(now);
    }
    let receipt = json!({
        "previous_generation": previous,
        "current_generation": previous + 1,
        "revoked_at": at(now),
    });
    mail.public_keys.receipts.insert(key, receipt.clone());
    ok(&receipt)
}
