//! AgentMail's REST API under `/v0`: pods, inboxes, messages, threads, webhooks, with
//! the service's shapes, pagination (`limit`, `page_token` -> `next_page_token`,
//! `count`), ordering (newest first unless `ascending=true`) and error bodies
//! (`{name, code, message}`; `errors` too on a 400).
//!
//! | route | methods |
//! | --- | --- |
//! | `/v0/pods`, `/v0/pods/{pod_id}` | `GET`, `POST`; `GET`, `DELETE` |
//! | `/v0/inboxes`, `/v0/pods/{pod_id}/inboxes` | `GET`, `POST` (`username`, `domain`, `display_name`, `client_id`, `metadata`) |
//! | `/v0/inboxes/{inbox_id}` (and under a pod) | `GET`, `PATCH`, `DELETE` |
//! | `/v0/inboxes/{inbox_id}/messages` | `GET` (`limit`, `page_token`, `labels`, `before`, `after`, `ascending`, `include_spam`, `include_blocked`, `include_unauthenticated`, `include_trash`, `from`, `to`, `subject`) |
//! | `.../messages/send`, `.../messages/{id}/reply`, `/reply-all`, `/forward` | `POST`, answering `{message_id, thread_id}` |
//! | `.../messages/{id}` | `GET`, `PATCH` (`add_labels`, `remove_labels`), `DELETE` |
//! | `.../messages/{id}/attachments/{attachment_id}`, `.../messages/{id}/raw` | `GET`: a `download_url` |
//! | `/v0/threads`, `/v0/inboxes/{inbox_id}/threads`, `/v0/pods/{pod_id}/threads` | `GET` (the message filters, `senders`, `recipients`) |
//! | `.../threads/{thread_id}` | `GET` (its messages, paged from the newest), `PATCH`, `DELETE` |
//! | `.../threads/{thread_id}/attachments/{attachment_id}` | `GET` |
//! | `/v0/webhooks`, `/v0/pods/{pod_id}/webhooks`, `/v0/inboxes/{inbox_id}/webhooks` | `GET`, `POST` (`url`, `event_types`, `inbox_ids`, `pod_ids`, `client_id`) |
//! | `.../webhooks/{webhook_id}` | `GET`, `PATCH` (`event_types`, `enabled`, `add_`/`remove_inbox_ids`, `add_`/`remove_pod_ids`), `DELETE` |
//! | `/v0/organizations`, `/v0/auth/me` | `GET`: the simulator's one organization, which every API key belongs to |
//! | `/v0/domains` (and under a pod), `.../domains/{domain_id}`, `/verify`, `/zone-file` | `GET`, `POST`; `GET`, `PATCH`, `DELETE`; `POST` (simulated: verified at once, `domain.verified` published); `GET` (BIND text) |
//! | `/v0/api-keys` (and under a pod or an inbox), `.../api-keys/{api_key_id}` | `GET`, `POST` (`name`, `permissions`: the secret in `api_key`, once); `DELETE`. A created key reaches only its scope and its permissions (403 otherwise) |
//! | `/v0/api-keys/public-keys`, `.../{api_key_id}`, `.../agentid-sign-in/revoke-all` | `GET`, `POST` (a P-256 JWK, checked; its RFC 7638 thumbprint); `PATCH` (`name`), `DELETE`; `POST` with an `Idempotency-Key` UUID |
//! | `/v0/agent/sign-up` (no API key), `/v0/agent/verify` | `POST`: an inbox, a key, a 6-digit code emailed to the human through the simulator; `POST` (`otp_code`) |
//! | `/v0/lists/{direction}/{type}` (and under a pod or an inbox), `.../{entry}` | `GET`, `POST` (`entry`, `reason`); `GET`, `DELETE`: allow and block lists, applied on arrival and on send (see `lists`) |
//! | `/v0/metrics/events`, `/v0/metrics/usage` (and under a pod or an inbox) | `GET`: counts of the events published, cumulative usage (see `metrics`) |
//! | `/v0/inboxes/{inbox_id}/events` | `GET` (`limit`, `page_token`, `ascending`): its messages' label changes, `label.added` and `label.removed` |
//! | `/v0/inboxes/{inbox_id}/messages/search`, `/v0/threads/search` (and under an inbox or a pod) | `GET` (`q`, `limit` at most 100, `page_token`, `before`, `after`): ranked, with `highlights` |
//! | `.../messages/batch-get`, `.../messages/batch-update` | `POST` (`message_ids`; `add_labels`, `remove_labels`) |
//! | `/v0/inboxes/{inbox_id}/drafts` (and under a pod) | `GET` (`limit`, `page_token`, `labels`, `before`, `after`, `ascending`), `POST` (a plain, reply (`in_reply_to`, `reply_all`) or forward (`forward_of`) draft; `send_at`, `client_id`) |
//! | `.../drafts/{draft_id}` | `GET`, `PATCH` (`null` clears a field; `send_at` reschedules), `DELETE` |
//! | `.../drafts/{draft_id}/send` | `POST` (`add_labels`, `remove_labels`), answering `{message_id, thread_id}` |
//! | `/v0/drafts`, `/v0/pods/{pod_id}/drafts`, `.../drafts/{draft_id}`, `.../drafts/{draft_id}/attachments/{attachment_id}` | `GET` |
//!
//! List parameters are read as the SDKs send them, one JSON array (`labels=["a"]`),
//! or repeated. `after` is inclusive and `before` exclusive. A `client_id` already
//! used returns what it created. A webhook's custom delivery headers (`headers` at
//! creation, `.../webhooks/{webhook_id}/headers` after) go out with every delivery;
//! their names are listed, their values never shown. Messages sent to an inbox of the simulator are
//! received there, threaded; see the crate docs for the send lifecycle.
//!
//! As the definition documents:
//!
//! - an explicit `null` member of a request body is the member's absence, except the
//!   inbox update's `metadata`, where `null` clears the metadata;
//! - sends, replies, reply-alls and forwards take an `Idempotency-Key`: a retry
//!   with the same key and request gets the first answer and sends nothing, the key
//!   with another request is a 409 (keys are per API key, kept 24 hours);
//! - the substring filters (`from`, `to`, `subject`; `senders`, `recipients`,
//!   `subject`) match case-insensitively, every value given (`to` and `recipients`
//!   among to, cc and bcc), and a filtered list's `limit` is capped at 100;
//! - updates that add or remove a system label (`received`, `sent`, `delivered`,
//!   `bounced`, `complained`, `delayed`, `rejected`, `opened`) are a 400;
//! - webhooks naming an event type that does not exist are a 400 (the WebSocket
//!   answers such a `subscribe` with an `error` frame);
//! - an inbox on another domain than `agentmail.to` needs a verified domain of the
//!   organization (a pod's only for its inboxes; a subdomain where it allows them);
//! - `extracted_text` and `extracted_html` are the new part of a message, without
//!   its quoted history;
//! - an attachment given by `url` is fetched (http or https, 30 s, 25 MiB at most);
//!   one that cannot be is a 400 naming it.

mod account;
pub(crate) mod agent;
mod api_keys;
pub(crate) mod domains;
mod drafts;
mod idempotency;
mod inboxes;
mod lists;
mod messages;
mod metrics;
mod pods;
mod public_keys;

mod search;
mod threads;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::middleware::{self, Next};
use serde::Deserialize;

use crate::Shared;
use crate::http::{Params, Refusal, Req, method_not_allowed, not_found, refusal, validation};
use crate::mail::Mail;

/// Every route under `/v0`. Those below a pod or an inbox first check that it exists
/// (and that the inbox is in the pod): a 404 for it comes before the 405 of a
/// method the route does not take.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    const POD: &str = "/v0/pods/{pod_id}";
    const INBOX: &str = "/v0/inboxes/{inbox_id}";
    const POD_INBOX: &str = "/v0/pods/{pod_id}/inboxes/{inbox_id}";
    let scoped = Router::new()
        .merge(inboxes::routes("/v0"))
        .merge(inboxes::routes(POD))
        .merge(messages::routes(INBOX))
        .merge(messages::routes(POD_INBOX))
        .merge(account::inbox_routes(INBOX))
        .merge(api_keys::routes("/v0"))
        .merge(api_keys::routes(POD))
        .merge(api_keys::routes(INBOX))
        .merge(domains::routes("/v0"))
        .merge(domains::routes(POD))
        .merge(lists::routes("/v0"))
        .merge(lists::routes(POD))
        .merge(lists::routes(INBOX))
        .merge(metrics::routes("/v0"))
        .merge(metrics::routes(POD))
        .merge(metrics::routes(INBOX))
        .merge(drafts::routes(INBOX, true))
        .merge(drafts::routes(POD_INBOX, true))
        .merge(drafts::routes("/v0", false))
        .merge(drafts::routes(POD, false))
        .merge(threads::routes("/v0"))
        .merge(threads::routes(INBOX))
        .merge(threads::routes(POD))
        .merge(webhooks::routes("/v0"))
        .merge(webhooks::routes(INBOX))
        .merge(webhooks::routes(POD))
        .route_layer(middleware::from_fn_with_state(shared.clone(), check_scope));
    // A pod's own routes and the account's take no existence check (a wrong method
    // is a 405 even for a pod that does not exist), only the created keys' one.
    let keyed = Router::new()
        .merge(pods::routes())
        .merge(account::routes())
        .merge(public_keys::routes())
        .route_layer(middleware::from_fn_with_state(shared.clone(), check_key));
    keyed.merge(scoped)
}

/// For a key created through the API: 403 when the path is outside its scope or
/// the action outside its permissions.
async fn check_key(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
    next: Next,
) -> axum::response::Response {
    let refused = req
        .extensions()
        .get::<crate::keys::KeyScope>()
        .and_then(|key| {
            api_keys::check(key, &ids, &shared.mail(), req.method(), req.uri().path()).err()
        });
    match refused {
        Some(answer) => axum::response::IntoResponse::into_response(answer),
        None => next.run(req).await,
    }
}

/// `methods`, with `/v0`'s 405 for the others.
fn only(
    methods: axum::routing::MethodRouter<Arc<Shared>>,
) -> axum::routing::MethodRouter<Arc<Shared>> {
    crate::http::only(methods, method_not_allowed)
}

/// The ids a `/v0` path names.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Ids {
    pod_id: Option<String>,
    inbox_id: Option<String>,
    message_id: Option<String>,
    thread_id: Option<String>,
    webhook_id: Option<String>,
    attachment_id: Option<String>,
    draft_id: Option<String>,
    domain_id: Option<String>,
    api_key_id: Option<String>,
    direction: Option<String>,
    #[serde(rename = "type")]
    list_type: Option<String>,
    entry: Option<String>,
}

impl Ids {
    fn pod(&self) -> &str {
        self.pod_id.as_deref().unwrap_or_default()
    }

    fn inbox(&self) -> &str {
        self.inbox_id.as_deref().unwrap_or_default()
    }

    fn message(&self) -> &str {
        self.message_id.as_deref().unwrap_or_default()
    }

    fn thread(&self) -> &str {
        self.thread_id.as_deref().unwrap_or_default()
    }

    fn domain(&self) -> &str {
        self.domain_id.as_deref().unwrap_or_default()
    }

    fn direction(&self) -> &str {
        self.direction.as_deref().unwrap_or_default()
    }

    fn list_type(&self) -> &str {
        self.list_type.as_deref().unwrap_or_default()
    }

    fn entry(&self) -> &str {
        self.entry.as_deref().unwrap_or_default()
    }

    fn draft(&self) -> &str {
        self.draft_id.as_deref().unwrap_or_default()
    }

    fn webhook(&self) -> &str {
        self.webhook_id.as_deref().unwrap_or_default()
    }

    fn attachment(&self) -> &str {
        self.attachment_id.as_deref().unwrap_or_default()
    }

    /// The inboxes below the pod named, or every inbox.
    fn pod_scope(&self) -> Scope {
        match &self.pod_id {
            Some(pod) => Scope::Pod(pod.clone()),
            None => Scope::All,
        }
    }

    /// The inbox named, else the pod named, else everything.
    fn scope(&self) -> Scope {
        match &self.inbox_id {
            Some(inbox) => Scope::Inbox(inbox.clone()),
            None => self.pod_scope(),
        }
    }
}

/// 404 when the pod or the inbox the path names does not exist (or the inbox is
/// not in the pod); then, for a key created through the API, 403 when the path is
/// outside its scope or the action outside its permissions.
async fn check_scope(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
    next: Next,
) -> axum::response::Response {
    let missing = {
        let mail = shared.mail();
        match (ids.pod_scope().check(&mail), &ids.inbox_id) {
            (Err(refused), _) => Some(refused.answer()),
            (Ok(()), Some(inbox))
                if mail.inbox(inbox).is_none() || !ids.pod_scope().accepts(&mail, inbox) =>
            {
                Some(not_found("Inbox"))
            }
            _ => req
                .extensions()
                .get::<crate::keys::KeyScope>()
                .and_then(|key| {
                    api_keys::check(key, &ids, &mail, req.method(), req.uri().path())
                        .err()
                        .map(Refusal::answer)
                }),
        }
    };
    match missing {
        Some(answer) => axum::response::IntoResponse::into_response(answer),
        None => next.run(req).await,
    }
}

/// The labels the service sets on a message's lifecycle, which nobody else may add or
/// remove: "Cannot add or remove system labels (sent, received, bounced, etc.)"
/// (`threads.yml`, update), and the labels guide names them and the answer ("a request
/// that tries is rejected with a `400`"). `unread`, `trash` and user labels are free.
pub(crate) const SYSTEM_LABELS: [&str; 8] = [
    "received",
    "sent",
    "delivered",
    "bounced",
    "complained",
    "delayed",
    "rejected",
    "opened",
];

/// The 400 of an update that adds or removes a system label.
pub(crate) fn check_labels(add: &[String], remove: &[String]) -> Result<(), Refusal> {
    for (field, labels) in [("add_labels", add), ("remove_labels", remove)] {
        let system = labels.iter().find(|label| {
            SYSTEM_LABELS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(label.trim()))
        });
        if let Some(label) = system {
            return Err(refusal(validation(&format!(
                "{field}: {label:?} is a system label, which cannot be added or removed"
            ))));
        }
    }
    Ok(())
}

/// Which inboxes a route covers.
#[derive(Clone, Debug)]
pub(crate) enum Scope {
    All,
    Pod(String),
    Inbox(String),
}

impl Scope {
    /// 404 when the pod or inbox named does not exist.
    pub(crate) fn check(&self, mail: &Mail) -> Result<(), Refusal> {
        match self {
            Scope::All => Ok(()),
            Scope::Pod(p) if mail.pod(p).is_some() => Ok(()),
            Scope::Pod(_) => Err(refusal(not_found("Pod"))),
            Scope::Inbox(i) if mail.inbox(i).is_some() => Ok(()),
            Scope::Inbox(_) => Err(refusal(not_found("Inbox"))),
        }
    }

    pub(crate) fn accepts(&self, mail: &Mail, inbox: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Pod(p) => mail.pod_of(inbox) == Some(p.as_str()),
            Scope::Inbox(i) => i.eq_ignore_ascii_case(inbox),
        }
    }
}
