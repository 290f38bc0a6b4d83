//! `/v0/pods`: create, list, get, delete, and the pod-scoped inboxes, threads and
//! webhooks.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::{Response, StatusCode};
use serde::Deserialize;

use super::{Ids, only};
use crate::Shared;
use crate::http::{
    Body, Params, Query, Refusal, Req, api_error, json_body, no_content, not_found, ok, page,
};
use crate::mail::Pod;

#[derive(Deserialize)]
struct CreatePod {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v0/pods", only(get(list).post(create)))
        .route("/v0/pods/{pod_id}", only(get(get_pod).delete(delete)))
}

async fn list(State(shared): State<Arc<Shared>>, query: Query) -> Result<Response<Body>, Refusal> {
    let mut pods: Vec<Pod> = shared.mail().pods.clone();
    if !query.ascending()? {
        pods.reverse();
    }
    page("pods", pods, &query)
}

async fn create(State(shared): State<Arc<Shared>>, req: Req) -> Result<Response<Body>, Refusal> {
    let body: CreatePod = json_body(req).await?;
    let mut mail = shared.mail();
    if let Some(existing) = body
        .client_id
        .as_deref()
        .and_then(|c| mail.pods.iter().find(|p| p.client_id.as_deref() == Some(c)))
    {
        return Ok(ok(existing));
    }
    let now = crate::ids::now();
    let pod_id = crate::ids::new("pod");
    let pod = Pod {
        name: body.name.unwrap_or_else(|| pod_id.clone()),
        pod_id,
        updated_at: now,
        created_at: now,
        client_id: body.client_id,
    };
    mail.pods.push(pod.clone());
    Ok(ok(&pod))
}

async fn get_pod(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    match shared.mail().pod(ids.pod()) {
        Some(pod) => ok(pod),
        None => not_found("Pod"),
    }
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let id = ids.pod();
    let mut mail = shared.mail();
    if mail.pod(id).is_none() {
        return not_found("Pod");
    }
    if mail.inboxes.iter().any(|i| i.pod_id == id) {
        return api_error(
            StatusCode::CONFLICT,
            "ConflictError",
            "cannot_delete",
            "the pod still has inboxes: delete them first",
        );
    }
    mail.pods.retain(|p| p.pod_id != id);
    no_content()
}
