//! `/v0/pods`: create, list, get, delete, and the pod-scoped inboxes, threads and
//! webhooks.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;

use super::{Query, Routed, Scope, api_error, done, json_body, no_content, not_found, ok, page};
use crate::Shared;
use crate::mail::Pod;

#[derive(Deserialize)]
struct CreatePod {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

pub(super) async fn route(req: Request<Incoming>, shared: &Arc<Shared>, rest: &[&str]) -> Routed {
    let method = req.method().clone();
    match (rest, method) {
        ([], Method::GET) => {
            let query = Query::of(req.uri());
            let mail = shared.mail();
            let mut pods: Vec<Pod> = mail.pods.clone();
            match query.ascending() {
                Ok(false) => pods.reverse(),
                Ok(true) => {}
                Err(e) => return Some(Err(*e)),
            }
            done(page("pods", pods, &query))
        }
        ([], Method::POST) => done(
            async {
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
            .await,
        ),
        ([id], Method::GET) => done(match shared.mail().pod(id) {
            Some(pod) => Ok(ok(pod)),
            None => Ok(not_found("Pod")),
        }),
        ([id], Method::DELETE) => {
            let mut mail = shared.mail();
            if mail.pod(id).is_none() {
                return done(Ok(not_found("Pod")));
            }
            if mail.inboxes.iter().any(|i| i.pod_id == *id) {
                return done(Ok(api_error(
                    StatusCode::CONFLICT,
                    "ConflictError",
                    "cannot_delete",
                    "the pod still has inboxes: delete them first",
                )));
            }
            mail.pods.retain(|p| p.pod_id != *id);
            done(Ok(no_content()))
        }
        ([_], _) | ([], _) => done(Ok(super::method_not_allowed())),
        ([id, "inboxes", rest @ ..], _) => {
            let scope = Scope::Pod((*id).to_owned());
            super::inboxes::route(req, shared, scope, rest).await
        }
        ([id, "threads", rest @ ..], _) => {
            let scope = Scope::Pod((*id).to_owned());
            super::threads::route(req, shared, scope, rest).await
        }
        ([id, "webhooks", rest @ ..], _) => {
            let scope = Scope::Pod((*id).to_owned());
            super::webhooks::route(req, shared, scope, rest).await
        }
        _ => None,
    }
}
