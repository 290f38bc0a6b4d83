//! `/v0/inboxes` (and `/v0/pods/{pod_id}/inboxes`): create, list, get, update,
//! delete; an inbox's messages, threads and webhooks below it.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;

use super::{Query, Routed, Scope, api_error, done, json_body, no_content, not_found, ok, page};
use crate::Shared;
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
    #[serde(default)]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

fn valid_local_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
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
    match (rest, method) {
        ([], Method::GET) => {
            let query = Query::of(req.uri());
            let mail = shared.mail();
            let mut inboxes: Vec<Inbox> = mail
                .inboxes
                .iter()
                .filter(|i| scope.accepts(&mail, &i.inbox_id))
                .cloned()
                .collect();
            match query.ascending() {
                Ok(false) => inboxes.reverse(),
                Ok(true) => {}
                Err(e) => return Some(Err(*e)),
            }
            done(page("inboxes", inboxes, &query))
        }
        ([], Method::POST) => done(
            async {
                let body: CreateInbox = json_body(req).await?;
                let username = body
                    .username
                    .unwrap_or_else(|| crate::ids::new("inbox").replace('_', "-")[..18].to_owned());
                let domain = body.domain.unwrap_or_else(|| DEFAULT_DOMAIN.to_owned());
                if !valid_local_part(&username) {
                    return Ok(super::validation(&format!(
                        "username: {username:?} is not a valid local part"
                    )));
                }
                if domain.is_empty() || !domain.contains('.') || domain.contains(['@', ' ', '/']) {
                    return Ok(super::validation(&format!(
                        "domain: {domain:?} is not a domain"
                    )));
                }
                let email = format!("{username}@{domain}").to_ascii_lowercase();
                let mut mail = shared.mail();
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
                let pod_id = match &scope {
                    Scope::Pod(p) => p.clone(),
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
            .await,
        ),
        ([id], method) => {
            {
                let mail = shared.mail();
                if mail.inbox(id).is_none() || !scope.accepts(&mail, id) {
                    return done(Ok(not_found("Inbox")));
                }
            }
            match method {
                Method::GET => done(Ok(match shared.mail().inbox(id) {
                    Some(inbox) => ok(inbox),
                    None => not_found("Inbox"),
                })),
                Method::PATCH => done(
                    async {
                        let body: UpdateInbox = json_body(req).await?;
                        let mut mail = shared.mail();
                        let Some(inbox) = mail.inbox_mut(id) else {
                            return Ok(not_found("Inbox"));
                        };
                        if let Some(name) = body.display_name {
                            inbox.display_name = Some(name);
                        }
                        if let Some(metadata) = body.metadata {
                            let current = inbox.metadata.get_or_insert_default();
                            for (k, v) in metadata {
                                if v.is_null() {
                                    current.remove(&k);
                                } else {
                                    current.insert(k, v);
                                }
                            }
                        }
                        inbox.updated_at = crate::ids::now();
                        Ok(ok(&*inbox))
                    }
                    .await,
                ),
                Method::DELETE => {
                    shared.mail().delete_inbox(id);
                    done(Ok(no_content()))
                }
                _ => done(Ok(super::method_not_allowed())),
            }
        }
        ([], _) => done(Ok(super::method_not_allowed())),
        ([id, "messages", rest @ ..], _) => {
            {
                let mail = shared.mail();
                if mail.inbox(id).is_none() || !scope.accepts(&mail, id) {
                    return done(Ok(not_found("Inbox")));
                }
            }
            super::messages::route(req, shared, id, rest).await
        }
        ([id, "threads", rest @ ..], _) if matches!(scope, Scope::All) => {
            super::threads::route(req, shared, Scope::Inbox((*id).to_owned()), rest).await
        }
        ([id, "webhooks", rest @ ..], _) if matches!(scope, Scope::All) => {
            super::webhooks::route(req, shared, Scope::Inbox((*id).to_owned()), rest).await
        }
        _ => None,
    }
}
