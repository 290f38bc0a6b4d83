//! The organization the simulator is (`organizations.yml`), who a credential is
//! (`auth.yml`), and an inbox's label changes (`inboxes/events.yml`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::Response;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{Ids, only};
use crate::Shared;
use crate::http::{Body, Params, Query, Refusal, ok, page};
use crate::keys::ORGANIZATION;
use crate::mail::InboxEvent;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v0/organizations", only(get(organization)))
        .route("/v0/auth/me", only(get(me)))
        .route(
            "/v0/agent/verify",
            only(axum::routing::post(super::agent::verify)),
        )
        .route(
            "/v0/agent/human",
            only(axum::routing::post(super::agent::attach_human)),
        )
}

/// Below an inbox (its existence checked by the scope layer).
pub(super) fn inbox_routes(inbox: &str) -> Router<Arc<Shared>> {
    Router::new().route(&format!("{inbox}/events"), only(get(events)))
}

fn rfc3339(at: time::OffsetDateTime) -> Value {
    at.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

async fn organization(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let mail = shared.mail();
    // Created with the simulator, as its default pod.
    let created = mail.pods.first().map(|p| p.created_at);
    ok(&json!({
        "organization_id": ORGANIZATION,
        "inbox_count": mail.inboxes.len(),
        "domain_count": mail.domains.len(),
        "updated_at": created.map(rfc3339),
        "created_at": created.map(rfc3339),
    }))
}

/// The credential's scope: a key created through the API says its own.
async fn me(req: crate::http::Req) -> Response<Body> {
    let mut v = json!({
        "scope_type": "organization",
        "scope_id": ORGANIZATION,
        "organization_id": ORGANIZATION,
    });
    if let Some(key) = req.extensions().get::<crate::keys::KeyScope>() {
        v["api_key_id"] = key.api_key_id.clone().into();
        if let Some(pod) = &key.pod_id {
            v["pod_id"] = pod.clone().into();
            v["scope_type"] = "pod".into();
            v["scope_id"] = pod.clone().into();
        }
        if let Some(inbox) = &key.inbox_id {
            v["inbox_id"] = inbox.clone().into();
            v["scope_type"] = "inbox".into();
            v["scope_id"] = inbox.clone().into();
        }
    }
    ok(&v)
}

fn event_json(e: &InboxEvent) -> Value {
    json!({
        "organization_id": ORGANIZATION,
        "pod_id": e.pod_id,
        "inbox_id": e.inbox_id,
        "event_id": format!("iev_{:016x}", e.seq),
        "event_type": if e.added { "label.added" } else { "label.removed" },
        "message_id": e.message_id,
        "label": e.label,
        "event_at": rfc3339(e.at),
        "created_at": rfc3339(e.at),
    })
}

/// The inbox's label changes, newest first unless `ascending`.
async fn events(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let mail = shared.mail();
    let inbox = ids.inbox();
    let mut events: Vec<Value> = (mail.inbox_events.iter())
        .filter(|e| e.inbox_id.eq_ignore_ascii_case(inbox))
        .map(event_json)
        .collect();
    if !query.ascending()? {
        events.reverse();
    }
    page("events", events, &query)
}
