//! The article's (myagentmail's) webhook registration, `/v1/webhooks`: `POST`
//! `{url, events, secret}`, `GET`, `GET /{id}`, `DELETE /{id}`, served under both
//! envelopes.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use hyper::{Response, StatusCode};

use crate::Shared;
use crate::http::{
    Body, Params, Req, error, invalid, not_allowed, only, parse, read_body, to_json,
};
use crate::webhooks::WebhookSpec;

/// The routes under `/v1/webhooks`.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/v1/webhooks",
            only(post(create_webhook).get(list_webhooks), not_allowed),
        )
        .route(
            "/v1/webhooks/{webhook_id}",
            only(get(get_webhook).delete(delete_webhook), not_allowed),
        )
}

async fn create_webhook(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
    let spec: WebhookSpec = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(spec) => spec,
        Err(refused) => return refused.answer(),
    };
    match crate::publish::register(&shared, spec).await {
        Ok(webhook) => to_json(StatusCode::OK, &webhook),
        Err(e) => invalid(&e.to_string()),
    }
}

async fn list_webhooks(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let webhooks: Vec<_> = shared
        .rest
        .webhooks
        .all()
        .iter()
        .map(|r| r.view())
        .collect();
    to_json(
        StatusCode::OK,
        &serde_json::json!({ "count": webhooks.len(), "webhooks": webhooks }),
    )
}

async fn get_webhook(
    State(shared): State<Arc<Shared>>,
    Params(id): Params<String>,
) -> Response<Body> {
    match shared.rest.webhooks.get(&id) {
        Some(route) => to_json(StatusCode::OK, &route.view()),
        None => error(StatusCode::NOT_FOUND, "NotFoundError", "no such webhook"),
    }
}

async fn delete_webhook(
    State(shared): State<Arc<Shared>>,
    Params(id): Params<String>,
) -> Response<Body> {
    if crate::publish::unregister(&shared, &id) {
        to_json(
            StatusCode::OK,
            &serde_json::json!({ "webhook_id": id, "deleted": true }),
        )
    } else {
        error(StatusCode::NOT_FOUND, "NotFoundError", "no such webhook")
    }
}
