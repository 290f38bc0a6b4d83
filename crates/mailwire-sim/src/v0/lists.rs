//! `/v0/lists/{direction}/{type}` (and under a pod or an inbox): allow and block
//! lists of addresses and domains, as `lists.yml` shapes them. What they do is in
//! [`crate::lists`]: a blocked sender's mail arrives labelled `blocked` with
//! `message.received.blocked`; a send to a refused recipient is a 403
//! `MessageRejectedError`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{Ids, only};
use crate::Shared;
use crate::http::{
    Body, Params, Query, Refusal, Req, json_body, no_content, not_found, ok, page, refusal,
    validation,
};
use crate::keys::ORGANIZATION;
use crate::lists::{DIRECTIONS, Entry, ListScope, TYPES};
use crate::mail::Mail;
use crate::message::check_address;

#[derive(Deserialize)]
struct CreateEntry {
    #[serde(default)]
    entry: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `{prefix}/lists/...`: `/v0`, a pod's or an inbox's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    let at = |tail: &str| format!("{prefix}/lists/{{direction}}/{{type}}{tail}");
    Router::new()
        .route(&at(""), only(get(list).post(create)))
        .route(&at("/{entry}"), only(get(get_entry).delete(delete)))
}

/// The list a path names: its scope, direction and type (a 400 for others).
fn named(ids: &Ids, mail: &Mail) -> Result<(ListScope, &'static str, &'static str), Refusal> {
    let pick = |field: &str, value: &str, known: &[&'static str]| {
        known.iter().find(|k| **k == value).copied().ok_or_else(|| {
            refusal(validation(&format!(
                "{field}: {value:?} is not one of {known:?}"
            )))
        })
    };
    let direction = pick("direction", ids.direction(), &DIRECTIONS)?;
    let list_type = pick("type", ids.list_type(), &TYPES)?;
    let scope = match (&ids.inbox_id, &ids.pod_id) {
        (Some(inbox), _) => ListScope::Inbox(
            mail.inbox(inbox)
                .map_or_else(|| inbox.clone(), |i| i.inbox_id.clone()),
        ),
        (None, Some(pod)) => ListScope::Pod(pod.clone()),
        (None, None) => ListScope::Organization,
    };
    Ok((scope, direction, list_type))
}

fn entry_json(e: &Entry) -> Value {
    let mut v = json!({
        "entry": e.entry,
        "organization_id": ORGANIZATION,
        "direction": e.direction,
        "list_type": e.list_type,
        "entry_type": e.entry_type(),
        "created_at": e.created_at.format(&Rfc3339).unwrap_or_default(),
        "read_only": false,
    });
    if let Some(reason) = &e.reason {
        v["reason"] = reason.clone().into();
    }
    match &e.scope {
        ListScope::Organization => {}
        ListScope::Pod(pod) => v["pod_id"] = pod.clone().into(),
        ListScope::Inbox(inbox) => {
            v["inbox_id"] = inbox.clone().into();
            v["pod_id"] = e.pod_id.clone().into();
        }
    }
    v
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let mail = shared.mail();
    let (scope, direction, list_type) = named(&ids, &mail)?;
    let entries: Vec<Value> = (mail.lists.list(&scope, direction, list_type).into_iter())
        .map(entry_json)
        .collect();
    page("entries", entries, &query)
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: CreateEntry = json_body(req).await?;
    let entry = body.entry.unwrap_or_default().trim().to_lowercase();
    let is_domain = !entry.contains('@')
        && entry.contains('.')
        && !entry.starts_with('.')
        && !entry.ends_with('.')
        && entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !is_domain {
        check_address("entry", &entry).map_err(|_| {
            refusal(validation(&format!(
                "entry: {entry:?} is neither an email address nor a domain"
            )))
        })?;
    }
    let mut mail = shared.mail();
    let (scope, direction, list_type) = named(&ids, &mail)?;
    let pod_id = match &scope {
        ListScope::Inbox(inbox) => mail.pod_of(inbox).map(str::to_owned),
        _ => None,
    };
    let added = mail.lists.add(Entry {
        scope,
        pod_id,
        direction,
        list_type,
        entry,
        reason: body.reason,
        created_at: crate::ids::now(),
    });
    Ok(ok(&entry_json(&added)))
}

async fn get_entry(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
) -> Result<Response<Body>, Refusal> {
    let mail = shared.mail();
    let (scope, direction, list_type) = named(&ids, &mail)?;
    Ok(
        match mail.lists.get(&scope, direction, list_type, ids.entry()) {
            Some(e) => ok(&entry_json(e)),
            None => not_found("List entry"),
        },
    )
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
) -> Result<Response<Body>, Refusal> {
    let mut mail = shared.mail();
    let (scope, direction, list_type) = named(&ids, &mail)?;
    Ok(
        if mail.lists.remove(&scope, direction, list_type, ids.entry()) {
            no_content()
        } else {
            not_found("List entry")
        },
    )
}
