//! `/v0/api-keys` (and under a pod or an inbox): API keys created through the API,
//! and what a request made with one may reach. A key scoped to a pod reaches that
//! pod and its inboxes; one scoped to an inbox, that inbox; anything else is a 403,
//! as is an action its `permissions` do not grant (when it has any: only those
//! set to `true`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get};
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

use super::{Ids, only};
use crate::Shared;
use crate::http::{
    Body, Params, Query, Refusal, Req, api_error, json_body, no_content, not_found, ok, page,
    refusal,
};
use crate::keys::{Created, KeyScope};
use crate::mail::Mail;

#[derive(Deserialize)]
struct CreateKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    permissions: Option<Map<String, Value>>,
}

/// `{prefix}/api-keys...`: `/v0`, a pod's or an inbox's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{prefix}/api-keys"), only(get(list).post(create)))
        .route(
            &format!("{prefix}/api-keys/{{api_key_id}}"),
            only(delete(remove)),
        )
}

fn key_json(k: &Created) -> Value {
    let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    // `type` and `updated_at` are not in the published definition; the TypeScript
    // SDK (0.5.27) reads a listed key as its `BearerApiKey`, which needs both.
    let mut v = json!({
        "type": "bearer",
        "api_key_id": k.api_key_id,
        "prefix": k.prefix(),
        "name": k.name,
        "created_at": at(k.created_at),
        "updated_at": at(k.created_at),
    });
    if let Some(p) = &k.pod_id {
        v["pod_id"] = p.clone().into();
    }
    if let Some(i) = &k.inbox_id {
        v["inbox_id"] = i.clone().into();
    }
    if let Some(u) = k.used_at {
        v["used_at"] = at(u).into();
    }
    if let Some(p) = &k.permissions {
        v["permissions"] = Value::Object(p.clone());
    }
    v
}

/// The scope a path names: (pod, inbox), the inbox's pod filled in.
fn scope_of(ids: &Ids, mail: &Mail) -> (Option<String>, Option<String>) {
    match &ids.inbox_id {
        Some(inbox) => {
            let inbox = mail
                .inbox(inbox)
                .map_or(inbox.clone(), |i| i.inbox_id.clone());
            (mail.pod_of(&inbox).map(str::to_owned), Some(inbox))
        }
        None => (ids.pod_id.clone(), None),
    }
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let mail = shared.mail();
    let (pod, inbox) = scope_of(&ids, &mail);
    let pod = if inbox.is_some() { None } else { pod };
    let mut keys: Vec<Value> = (mail
        .api_keys
        .list(pod.as_deref(), inbox.as_deref())
        .into_iter())
    .map(key_json)
    .collect();
    if query.ascending()? {
        keys.reverse();
    }
    page("api_keys", keys, &query)
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: CreateKey = json_body(req).await?;
    let mut mail = shared.mail();
    let (pod, inbox) = scope_of(&ids, &mail);
    let key = mail
        .api_keys
        .create(body.name, pod, inbox, body.permissions);
    let mut v = key_json(&key);
    v["api_key"] = key.secret.clone().into();
    Ok(ok(&v))
}

async fn remove(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let mut mail = shared.mail();
    let (pod, inbox) = scope_of(&ids, &mail);
    let pod = if inbox.is_some() { None } else { pod };
    let id = ids.api_key_id.as_deref().unwrap_or_default();
    if mail.api_keys.delete(id, pod.as_deref(), inbox.as_deref()) {
        no_content()
    } else {
        not_found("API key")
    }
}

fn forbidden(message: &str) -> Response<Body> {
    api_error(
        StatusCode::FORBIDDEN,
        "ForbiddenError",
        "forbidden",
        message,
    )
}

/// The permission an action needs, from the collection the path ends in and the
/// method (`None`: no permission guards it).
fn permission(method: &Method, path: &str) -> Option<String> {
    const COLLECTIONS: [(&str, &str); 13] = [
        ("public-keys", "api_key"),
        ("inboxes", "inbox"),
        ("messages", "message"),
        ("threads", "message"),
        ("drafts", "draft"),
        ("webhooks", "webhook"),
        ("domains", "domain"),
        ("lists", "list_entry"),
        ("metrics", "metrics"),
        ("api-keys", "api_key"),
        ("pods", "pod"),
        ("events", "inbox"),
        ("search", "message"),
    ];
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.contains(&"metrics") {
        return Some("metrics_read".into());
    }
    let (at, resource) = segments.iter().enumerate().rev().find_map(|(i, s)| {
        COLLECTIONS
            .iter()
            .find(|(c, _)| c == s)
            .map(|(_, r)| (i, *r))
    })?;
    let last = segments.last().copied().unwrap_or_default();
    let named = segments.len() > at + 1;
    let action = match (resource, method.as_str(), last) {
        ("metrics", ..) => "read",
        ("message", "POST", "send" | "reply" | "reply-all" | "forward") => "send",
        ("message", "POST", "batch-get") => "read",
        ("message", "POST", "batch-update") => "update",
        ("draft", "POST", "send") => "send",
        ("domain", "POST", "verify") => "update",
        ("api_key", "POST", "revoke-all") => "delete",
        (_, "GET", _) => "read",
        (_, "POST", _) if !named || resource == "list_entry" => "create",
        (_, "PATCH" | "PUT" | "POST", _) => "update",
        (_, "DELETE", _) => "delete",
        _ => return None,
    };
    Some(format!("{resource}_{action}"))
}

/// `Err` with the 403 when a request made with `key` may not do this: the path
/// outside its scope, or an action its permissions do not grant.
pub(super) fn check(
    key: &KeyScope,
    ids: &Ids,
    mail: &Mail,
    method: &Method,
    path: &str,
) -> Result<(), Refusal> {
    let anywhere = ["/v0/auth/me", "/v0/organizations"].contains(&path.trim_end_matches('/'));
    if !anywhere {
        let (pod, inbox) = scope_of(ids, mail);
        let within = match (&key.inbox_id, &key.pod_id) {
            (Some(mine), _) => inbox
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(mine)),
            (None, Some(mine)) => pod.as_deref() == Some(mine.as_str()),
            (None, None) => true,
        };
        if !within {
            let scope = key
                .inbox_id
                .as_deref()
                .or(key.pod_id.as_deref())
                .unwrap_or_default();
            return Err(refusal(forbidden(&format!(
                "this API key is scoped to {scope} and cannot reach {path}"
            ))));
        }
    }
    if let Some(needed) = permission(method, path)
        && !key.grants(&needed)
    {
        return Err(refusal(forbidden(&format!(
            "this API key lacks the {needed} permission"
        ))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_needs_its_permission() {
        let p = |m: Method, path: &str| permission(&m, path);
        let x = "/v0/inboxes/a@b.c";
        assert_eq!(
            p(Method::GET, &format!("{x}/messages")).as_deref(),
            Some("message_read")
        );
        assert_eq!(
            p(Method::POST, &format!("{x}/messages/send")).as_deref(),
            Some("message_send")
        );
        assert_eq!(
            p(Method::POST, &format!("{x}/messages/%3Cm%3E/reply")).as_deref(),
            Some("message_send")
        );
        assert_eq!(
            p(Method::PATCH, &format!("{x}/threads/t")).as_deref(),
            Some("message_update")
        );
        assert_eq!(
            p(Method::POST, &format!("{x}/drafts")).as_deref(),
            Some("draft_create")
        );
        assert_eq!(
            p(Method::POST, &format!("{x}/drafts/d/send")).as_deref(),
            Some("draft_send")
        );
        assert_eq!(
            p(Method::POST, "/v0/inboxes").as_deref(),
            Some("inbox_create")
        );
        assert_eq!(p(Method::DELETE, x).as_deref(), Some("inbox_delete"));
        assert_eq!(
            p(Method::POST, "/v0/lists/receive/allow").as_deref(),
            Some("list_entry_create")
        );
        assert_eq!(
            p(Method::POST, "/v0/domains/d.com/verify").as_deref(),
            Some("domain_update")
        );
        assert_eq!(
            p(Method::GET, "/v0/metrics/events").as_deref(),
            Some("metrics_read")
        );
        assert_eq!(p(Method::GET, "/v0/auth/me"), None);
    }
}
