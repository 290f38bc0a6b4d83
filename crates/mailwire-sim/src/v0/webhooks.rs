//! `/v0/webhooks`, `/v0/pods/{pod_id}/webhooks` and `/v0/inboxes/{inbox_id}/webhooks`:
//! create, list, get, update, delete. Deliveries are signed as AgentMail signs them
//! (Svix: `svix-id`, `svix-timestamp`, `svix-signature`, a `whsec_` secret).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::Response;
use mailwire_proto::EventType;
use mailwire_webhook::Scheme;
use serde::Deserialize;

use super::{Ids, Scope, only};
use crate::Shared;
use crate::http::{
    Body, Params, Query, Refusal, Req, json_body, no_content, not_found, ok, page, validation,
};
use crate::webhooks::{Webhook, WebhookSpec};

/// The most inbox or pod ids one webhook may filter on (the definition's limit).
const MAX_IDS: usize = 10;

#[derive(Deserialize)]
struct CreateWebhook {
    url: String,
    event_types: Vec<EventType>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    headers: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    inbox_ids: Option<Vec<String>>,
    #[serde(default)]
    pod_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct UpdateWebhook {
    #[serde(default)]
    event_types: Option<Vec<EventType>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    add_inbox_ids: Vec<String>,
    #[serde(default)]
    remove_inbox_ids: Vec<String>,
    #[serde(default)]
    add_pod_ids: Vec<String>,
    #[serde(default)]
    remove_pod_ids: Vec<String>,
}

fn in_scope(webhook: &Webhook, scope: &Scope) -> bool {
    match scope {
        Scope::All => true,
        Scope::Pod(p) => webhook.pod_id.as_deref() == Some(p),
        Scope::Inbox(i) => webhook
            .inbox_id
            .as_deref()
            .is_some_and(|w| w.eq_ignore_ascii_case(i)),
    }
}

fn check_ids(field: &str, ids: Option<&Vec<String>>) -> Result<(), Refusal> {
    match ids {
        Some(ids) if ids.len() > MAX_IDS => Err(crate::http::refusal(validation(&format!(
            "{field}: at most {MAX_IDS} ids"
        )))),
        _ => Ok(()),
    }
}

/// The 400 for an event type the simulator does not know: `EventType` of
/// `events.yml`, and the types AgentMail's SDKs name besides (the simulator's
/// `EventType::KNOWN`), are all there are.
fn check_types(types: &[EventType]) -> Result<(), Refusal> {
    match types.iter().find(|t| matches!(t, EventType::Other(_))) {
        Some(unknown) => Err(crate::http::refusal(validation(&format!(
            "event_types: {:?} is not an event type",
            unknown.as_str()
        )))),
        None => Ok(()),
    }
}

fn edit(list: &mut Option<Vec<String>>, add: Vec<String>, remove: &[String]) {
    if add.is_empty() && remove.is_empty() {
        return;
    }
    let ids = list.get_or_insert_default();
    for id in add {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.retain(|id| !remove.contains(id));
    if ids.is_empty() {
        *list = None;
    }
}

/// `{prefix}/webhooks...`, `prefix` being `/v0`, an inbox's or a pod's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    let at = |tail: &str| format!("{prefix}/webhooks{tail}");
    Router::new()
        .route(&at(""), only(get(list).post(create)))
        .route(
            &at("/{webhook_id}"),
            only(get(get_webhook).patch(update).delete(delete)),
        )
        .route(
            &at("/{webhook_id}/headers"),
            only(get(headers).patch(set_headers)),
        )
}

/// The webhook the path names, if it is in the path's scope.
fn find(shared: &Shared, ids: &Ids) -> Option<Arc<crate::dispatch::Route>> {
    let scope = ids.scope();
    shared
        .rest
        .webhooks
        .get(ids.webhook())
        .filter(|r| in_scope(&r.view(), &scope))
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let scope = ids.scope();
    let mut hooks: Vec<serde_json::Value> = shared
        .rest
        .webhooks
        .all()
        .iter()
        .map(|r| r.view())
        .filter(|w| in_scope(w, &scope))
        .map(|w| w.agentmail_view())
        .collect();
    if !query.ascending()? {
        hooks.reverse();
    }
    page("webhooks", hooks, &query)
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: CreateWebhook = json_body(req).await?;
    if body.event_types.is_empty() {
        return Ok(validation("event_types: at least one event type"));
    }
    check_types(&body.event_types)?;
    let custom = match &body.headers {
        Some(h) => Some(header_map(h, &hyper::HeaderMap::new())?),
        None => None,
    };
    check_ids("inbox_ids", body.inbox_ids.as_ref())?;
    check_ids("pod_ids", body.pod_ids.as_ref())?;
    let mut spec = WebhookSpec::new(body.url).events(body.event_types);
    spec.inbox_ids = body.inbox_ids;
    spec.pod_ids = body.pod_ids;
    spec.client_id = body.client_id;
    let scope = ids.scope();
    let registered =
        crate::publish::register_scoped(&shared, spec, Some(Scheme::Standard), |w| match scope {
            Scope::All => {}
            Scope::Pod(p) => w.pod_id = Some(p),
            Scope::Inbox(i) => w.inbox_id = Some(i),
        })
        .await;
    Ok(match registered {
        Ok(webhook) => {
            if let Some(custom) = custom
                && let Some(route) = shared.rest.webhooks.get(&webhook.webhook_id)
            {
                route.set_headers(custom);
            }
            ok(&webhook.agentmail_view())
        }
        Err(e) => validation(&e.to_string()),
    })
}

async fn get_webhook(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
) -> Response<Body> {
    match find(&shared, &ids) {
        Some(r) => ok(&r.view().agentmail_view()),
        None => not_found("Webhook"),
    }
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let Some(route) = find(&shared, &ids) else {
        return Ok(not_found("Webhook"));
    };
    let body: UpdateWebhook = json_body(req).await?;
    check_types(body.event_types.as_deref().unwrap_or_default())?;
    let enable = body.enabled == Some(true);
    // Checked on the edited copy: an update that breaks a limit changes nothing.
    route.try_update(|w| {
        // An empty list leaves the types as they are (`UpdateWebhookEventTypes`).
        if let Some(types) = body.event_types.filter(|t| !t.is_empty()) {
            w.events = Some(types);
        }
        if let Some(enabled) = body.enabled {
            w.enabled = enabled;
        }
        edit(&mut w.inbox_ids, body.add_inbox_ids, &body.remove_inbox_ids);
        edit(&mut w.pod_ids, body.add_pod_ids, &body.remove_pod_ids);
        check_ids("inbox_ids", w.inbox_ids.as_ref())?;
        check_ids("pod_ids", w.pod_ids.as_ref())
    })?;
    if enable {
        // Enabled again: one that a 410 Gone disabled too.
        route.enable();
    }
    Ok(ok(&route.view().agentmail_view()))
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    match find(&shared, &ids) {
        Some(_) => {
            crate::publish::unregister(&shared, ids.webhook());
            no_content()
        }
        None => not_found("Webhook"),
    }
}

/// Names the sender sets itself, which a custom header may not.
const RESERVED: [&str; 11] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// `headers` (a non-empty map of names to string values) added to `base`.
fn header_map(
    headers: &serde_json::Map<String, serde_json::Value>,
    base: &hyper::HeaderMap,
) -> Result<hyper::HeaderMap, Refusal> {
    let refused = |m: String| crate::http::refusal(validation(&m));
    if headers.is_empty() {
        return Err(refused("headers: at least one header".into()));
    }
    let mut out = base.clone();
    for (name, value) in headers {
        let header = hyper::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| refused(format!("headers: {name:?} is not a header name")))?;
        if RESERVED.contains(&header.as_str()) {
            return Err(refused(format!(
                "headers: {name:?} is set by the delivery itself"
            )));
        }
        let value = value
            .as_str()
            .and_then(|v| hyper::header::HeaderValue::from_str(v).ok())
            .ok_or_else(|| refused(format!("headers.{name}: not a header value")))?;
        out.insert(header, value);
    }
    Ok(out)
}

/// `{ header_names }`, never the values.
fn names(route: &crate::dispatch::Route) -> serde_json::Value {
    let names: Vec<String> = route
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    serde_json::json!({ "header_names": names })
}

async fn headers(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    match find(&shared, &ids) {
        Some(route) => ok(&names(&route)),
        None => not_found("Webhook"),
    }
}

#[derive(Deserialize)]
struct UpdateHeaders {
    #[serde(default)]
    headers: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    remove_headers: Vec<String>,
}

/// Sets, replaces or removes custom delivery headers.
async fn set_headers(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let Some(route) = find(&shared, &ids) else {
        return Ok(not_found("Webhook"));
    };
    let body: UpdateHeaders = json_body(req).await?;
    if body.headers.is_none() && body.remove_headers.is_empty() {
        return Ok(validation("headers or remove_headers: at least one"));
    }
    if let Some(both) = body.headers.iter().flat_map(|h| h.keys()).find(|k| {
        body.remove_headers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(k))
    }) {
        return Ok(validation(&format!(
            "headers: {both:?} cannot be set and removed at once"
        )));
    }
    let mut next = route.headers();
    for name in &body.remove_headers {
        next.remove(name.to_ascii_lowercase().as_str());
    }
    if let Some(h) = &body.headers {
        next = header_map(h, &next)?;
    }
    route.set_headers(next);
    // The definition's answer: a bare 204 (the names are `GET .../headers`'s).
    Ok(no_content())
}
