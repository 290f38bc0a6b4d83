//! `/v0/inboxes` (and `/v0/pods/{pod_id}/inboxes`): create, list, get, update,
//! delete. An inbox's messages, threads and webhooks have their own modules.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::{Response, StatusCode};
use serde::Deserialize;

use super::{Ids, Scope, only};
use crate::Shared;
use crate::http::{
    Body, JsonBody, Params, Query, Refusal, Req, api_error, json_body, no_content, not_found, ok,
    page,
};
use crate::mail::{DEFAULT_DOMAIN, DEFAULT_POD, Inbox};

#[derive(Deserialize)]
struct CreateInbox {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct UpdateInbox {
    #[serde(default)]
    display_name: Option<String>,
    /// Absent: unchanged; `null`: cleared (`optional<nullable<UpdateMetadata>>`, the
    /// one member of a request body whose `null` is not its absence); an object:
    /// merged, a key set to `null` removed.
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Option<serde_json::Map<String, serde_json::Value>>>,
}

/// A member that is present, `null` or not.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn valid_local_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

/// `{prefix}/inboxes` and `{prefix}/inboxes/{inbox_id}`, `prefix` being `/v0` or a
/// pod's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{prefix}/inboxes"), only(get(list).post(create)))
        .route(
            &format!("{prefix}/inboxes/{{inbox_id}}"),
            only(get(get_inbox).patch(update).delete(delete)),
        )
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let scope = ids.pod_scope();
    let mut inboxes: Vec<Inbox> = {
        let mail = shared.mail();
        mail.inboxes
            .iter()
            .filter(|i| scope.accepts(&mail, &i.inbox_id))
            .cloned()
            .collect()
    };
    if !query.ascending()? {
        inboxes.reverse();
    }
    page("inboxes", inboxes, &query)
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: CreateInbox = json_body(req).await?;
    let username = body
        .username
        .unwrap_or_else(|| crate::ids::new("inbox").replace('_', "-")[..18].to_owned());
    let domain = body.domain.unwrap_or_else(|| DEFAULT_DOMAIN.to_owned());
    if !valid_local_part(&username) {
        return Ok(crate::http::validation(&format!(
            "username: {username:?} is not a valid local part"
        )));
    }
    if domain.is_empty() || !domain.contains('.') || domain.contains(['@', ' ', '/']) {
        return Ok(crate::http::validation(&format!(
            "domain: {domain:?} is not a domain"
        )));
    }
    let email = format!("{username}@{domain}").to_ascii_lowercase();
    let mut mail = shared.mail();
    // Another domain than the service's must be one of the organization's, verified
    // (a pod's only for that pod's inboxes; a subdomain where it allows them).
    let domain = domain.to_ascii_lowercase();
    let pod = ids
        .pod_id
        .clone()
        .unwrap_or_else(|| crate::mail::DEFAULT_POD.to_owned());
    let ours = |d: &crate::domain::Domain| {
        d.verified
            && d.pod_id.as_ref().is_none_or(|p| *p == pod)
            && (d.domain == domain
                || (d.subdomains_enabled && domain.ends_with(&format!(".{}", d.domain))))
    };
    if domain != DEFAULT_DOMAIN && !mail.domains.iter().any(ours) {
        return Ok(crate::http::validation(&format!(
            "domain: {domain:?} is not a verified domain of the organization (add it with POST /v0/domains, then verify it)"
        )));
    }
    if let Some(existing) = body.client_id.as_deref().and_then(|c| {
        mail.inboxes
            .iter()
            .find(|i| i.client_id.as_deref() == Some(c))
    }) {
        return Ok(ok(existing));
    }
    if mail.inbox(&email).is_some() {
        return Ok(api_error(
            StatusCode::FORBIDDEN,
            "IsTakenError",
            "already_exists",
            &format!("{email} is taken"),
        ));
    }
    let pod_id = match ids.pod_scope() {
        Scope::Pod(p) => p,
        _ => DEFAULT_POD.to_owned(),
    };
    let now = crate::ids::now();
    let inbox = Inbox {
        pod_id,
        inbox_id: email.clone(),
        email,
        display_name: body.display_name,
        client_id: body.client_id,
        metadata: body.metadata,
        updated_at: now,
        created_at: now,
    };
    mail.inboxes.push(inbox.clone());
    Ok(ok(&inbox))
}

async fn get_inbox(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    match shared.mail().inbox(ids.inbox()) {
        Some(inbox) => ok(inbox),
        None => not_found("Inbox"),
    }
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: UpdateInbox = JsonBody::read(req, &["metadata"]).await?.parse()?;
    if body
        .metadata
        .as_ref()
        .is_some_and(|m| m.as_ref().is_some_and(|m| m.is_empty()))
    {
        return Ok(crate::http::validation(
            "metadata: an empty object is refused: send null to clear the metadata",
        ));
    }
    let mut mail = shared.mail();
    let Some(inbox) = mail.inbox_mut(ids.inbox()) else {
        return Ok(not_found("Inbox"));
    };
    if let Some(name) = body.display_name {
        inbox.display_name = Some(name);
    }
    match body.metadata {
        None => {}
        Some(None) => inbox.metadata = None,
        Some(Some(metadata)) => {
            let current = inbox.metadata.get_or_insert_default();
            for (k, v) in metadata {
                if v.is_null() {
                    current.remove(&k);
                } else {
                    current.insert(k, v);
                }
            }
        }
    }
    inbox.updated_at = crate::ids::now();
    Ok(ok(&*inbox))
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    shared.mail().delete_inbox(ids.inbox());
    no_content()
}
