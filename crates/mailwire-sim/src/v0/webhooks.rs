//! `/v0/webhooks`, `/v0/pods/{pod_id}/webhooks` and `/v0/inboxes/{inbox_id}/webhooks`:
//! create, list, get, update, delete. Deliveries are signed as AgentMail signs them
//! (Svix: `svix-id`, `svix-timestamp`, `svix-signature`, a `whsec_` secret).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};
use mailwire_proto::EventType;
use mailwire_webhook::Scheme;
use serde::Deserialize;

use super::{Query, Routed, Scope, done, json_body, no_content, not_found, ok, page, validation};
use crate::Shared;
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

fn check_ids(field: &str, ids: Option<&Vec<String>>) -> Result<(), crate::rest::Refusal> {
    match ids {
        Some(ids) if ids.len() > MAX_IDS => Err(super::refusal(validation(&format!(
            "{field}: at most {MAX_IDS} ids"
        )))),
        _ => Ok(()),
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

pub(super) async fn route(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
    scope: Scope,
    rest: &[&str],
) -> Routed {
    if let Err(r) = scope.check(&shared.mail()) {
        return Some(Err(*r));
    }
    let method = req.method().clone();
    let find = |id: &str| {
        shared
            .rest
            .webhooks
            .get(id)
            .filter(|r| in_scope(&r.view(), &scope))
    };
    match (rest, method) {
        ([], Method::GET) => {
            let query = Query::of(req.uri());
            let mut hooks: Vec<serde_json::Value> = shared
                .rest
                .webhooks
                .all()
                .iter()
                .map(|r| r.view())
                .filter(|w| in_scope(w, &scope))
                .map(|w| w.agentmail_view())
                .collect();
            match query.ascending() {
                Ok(false) => hooks.reverse(),
                Ok(true) => {}
                Err(e) => return Some(Err(*e)),
            }
            done(page("webhooks", hooks, &query))
        }
        ([], Method::POST) => done(
            async {
                let body: CreateWebhook = json_body(req).await?;
                if body.event_types.is_empty() {
                    return Ok(validation("event_types: at least one event type"));
                }
                if body.headers.as_ref().is_some_and(|h| !h.is_empty()) {
                    return Ok(validation(
                        "headers: custom delivery headers are not supported by the simulator",
                    ));
                }
                check_ids("inbox_ids", body.inbox_ids.as_ref())?;
                check_ids("pod_ids", body.pod_ids.as_ref())?;
                let mut spec = WebhookSpec::new(body.url).events(body.event_types);
                spec.inbox_ids = body.inbox_ids;
                spec.pod_ids = body.pod_ids;
                spec.client_id = body.client_id;
                let scoped = scope.clone();
                let registered =
                    crate::publish::register_scoped(shared, spec, Some(Scheme::Standard), |w| {
                        match scoped {
                            Scope::All => {}
                            Scope::Pod(p) => w.pod_id = Some(p),
                            Scope::Inbox(i) => w.inbox_id = Some(i),
                        }
                    })
                    .await;
                Ok(match registered {
                    Ok(webhook) => ok(&webhook.agentmail_view()),
                    Err(e) => validation(&e.to_string()),
                })
            }
            .await,
        ),
        ([id], Method::GET) => done(Ok(match find(id) {
            Some(r) => ok(&r.view().agentmail_view()),
            None => not_found("Webhook"),
        })),
        ([id], Method::PATCH) => done(
            async {
                let Some(route) = find(id) else {
                    return Ok(not_found("Webhook"));
                };
                let body: UpdateWebhook = json_body(req).await?;
                if body.event_types.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(validation("event_types: at least one event type"));
                }
                let updated = route.update(|w| {
                    if let Some(types) = body.event_types {
                        w.events = Some(types);
                    }
                    if let Some(enabled) = body.enabled {
                        w.enabled = enabled;
                    }
                    edit(&mut w.inbox_ids, body.add_inbox_ids, &body.remove_inbox_ids);
                    edit(&mut w.pod_ids, body.add_pod_ids, &body.remove_pod_ids);
                });
                check_ids("inbox_ids", updated.inbox_ids.as_ref())?;
                check_ids("pod_ids", updated.pod_ids.as_ref())?;
                Ok(ok(&updated.agentmail_view()))
            }
            .await,
        ),
        ([id], Method::DELETE) => done(Ok(match find(id) {
            Some(_) => {
                crate::publish::unregister(shared, id);
                no_content()
            }
            None => not_found("Webhook"),
        })),
        ([id, "headers"], Method::GET) => done(Ok(match find(id) {
            Some(_) => ok(&serde_json::json!({ "header_names": [] })),
            None => not_found("Webhook"),
        })),
        ([_, "headers"], Method::PATCH) => done(Ok(validation(
            "headers: custom delivery headers are not supported by the simulator",
        ))),
        ([] | [_] | [_, "headers"], _) => done(Ok(super::method_not_allowed())),
        _ => None,
    }
}
