//! `/v0/threads`, `/v0/inboxes/{inbox_id}/threads` and `/v0/pods/{pod_id}/threads`:
//! list, get (with its messages, paged), update labels, delete, attachments.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::{HeaderMap, Response};
use mailwire_proto::Address;
use serde::Deserialize;

use super::{Ids, Scope, check_labels, only};
use crate::Shared;
use crate::http::{
    Body, Params, Query, Refusal, Req, THREAD_FILTERS, json_body, no_content, not_found, ok,
    page_of,
};
use crate::mail::{Mail, Stored, thread_item};

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    add_labels: Vec<String>,
    #[serde(default)]
    remove_labels: Vec<String>,
}

/// The senders and the recipients (to, cc or bcc) of a thread's messages.
fn people<'a>(thread: &[&'a Stored]) -> (Vec<&'a str>, Vec<&'a str>) {
    let senders = thread
        .iter()
        .filter_map(|m| m.message.from.as_ref())
        .map(Address::as_str)
        .collect();
    let recipients = thread
        .iter()
        .flat_map(|m| {
            let msg = &m.message;
            (msg.to.iter())
                .chain(msg.cc.iter().flatten())
                .chain(msg.bcc.iter().flatten())
        })
        .map(Address::as_str)
        .collect();
    (senders, recipients)
}

fn list(mail: &Mail, scope: &Scope, query: &Query) -> Result<Vec<mailwire_proto::Thread>, Refusal> {
    let labels = query.list("labels")?;
    let before = query.time("before")?;
    let after = query.time("after")?;
    let mut shown = Vec::new();
    for label in ["spam", "blocked", "unauthenticated", "trash"] {
        if query.flag(&format!("include_{label}"))? {
            shown.push(label);
        }
    }
    let senders = query.list("senders")?;
    let recipients = query.list("recipients")?;
    let subject = query.list("subject")?;
    // Substrings, every value given found (the definition: "Repeatable; all values
    // must match"), each in one of the strings of `hay`.
    let all_in = |hay: Vec<&str>, needles: &Option<Vec<String>>| {
        needles.as_ref().is_none_or(|n| {
            let hay: Vec<String> = hay.iter().map(|h| h.to_lowercase()).collect();
            n.iter()
                .all(|n| hay.iter().any(|h| h.contains(&n.to_lowercase())))
        })
    };
    let visible = |m: &&Stored| m.hidden_by().is_none_or(|l| shown.contains(&l));
    let mut threads: Vec<_> = mail
        .threads(|i| scope.accepts(mail, i))
        .into_iter()
        .map(|t| t.into_iter().filter(visible).collect::<Vec<_>>())
        .filter(|t| !t.is_empty())
        .filter(|t| {
            let (from, to) = people(t);
            all_in(from, &senders) && all_in(to, &recipients)
        })
        .map(|t| thread_item(&t))
        .filter(|t| {
            labels
                .as_ref()
                .is_none_or(|ls| ls.iter().all(|l| t.labels.contains(l)))
        })
        .filter(|t| before.is_none_or(|b| t.timestamp.is_some_and(|ts| ts < b)))
        .filter(|t| after.is_none_or(|a| t.timestamp.is_some_and(|ts| ts >= a)))
        .filter(|t| all_in(vec![t.subject.as_deref().unwrap_or("")], &subject))
        .collect();
    threads.sort_by_key(|t| t.timestamp);
    if !query.ascending()? {
        threads.reverse();
    }
    Ok(threads)
}

/// `GET .../threads/{id}`: the thread item, `messages` oldest first, paged from the
/// newest (`next_page_token` gives older ones).
fn thread_page(
    mail: &Mail,
    scope: &Scope,
    id: &str,
    query: &Query,
) -> Result<Option<serde_json::Value>, Refusal> {
    let messages = mail.thread(|i| scope.accepts(mail, i), id);
    if messages.is_empty() {
        return Ok(None);
    }
    let limit = query.limit()?;
    let offset = query.page_offset()?;
    let total = messages.len();
    let end = total.saturating_sub(offset);
    let start = end.saturating_sub(limit);
    let mut v = serde_json::to_value(thread_item(&messages)).unwrap_or_default();
    let page: Vec<_> = messages[start..end].iter().map(|m| &m.message).collect();
    v["count"] = page.len().into();
    v["limit"] = limit.into();
    if start > 0 {
        v["next_page_token"] = crate::http::page_token(offset + page.len()).into();
    }
    v["messages"] = serde_json::to_value(page).unwrap_or_default();
    Ok(Some(v))
}

/// `{prefix}/threads...`, `prefix` being `/v0`, an inbox's or a pod's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    let at = |tail: &str| format!("{prefix}/threads{tail}");
    Router::new()
        .route(&at(""), only(get(list_threads)))
        // `search` stands where a thread id would: PATCH and DELETE of it are a
        // thread's, one that never exists.
        .route(
            &at("/search"),
            only(get(search).patch(update).delete(delete)),
        )
        .route(
            &at("/{thread_id}"),
            only(get(get_thread).patch(update).delete(delete)),
        )
        .route(
            &at("/{thread_id}/attachments/{attachment_id}"),
            only(get(attachment)),
        )
}

async fn search(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let scope = ids.scope();
    let mail = shared.mail();
    super::search::threads(mail.threads(|i| scope.accepts(&mail, i)), &query)
}

async fn list_threads(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let threads = list(&shared.mail(), &ids.scope(), &query)?;
    page_of(
        "threads",
        threads,
        &query,
        query.limit_filtered(&THREAD_FILTERS)?,
    )
}

async fn get_thread(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    Ok(
        match thread_page(&shared.mail(), &ids.scope(), ids.thread(), &query)? {
            Some(v) => ok(&v),
            None => not_found("Thread"),
        },
    )
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let (scope, id) = (ids.scope(), ids.thread());
    let body: UpdateBody = json_body(req).await?;
    check_labels(&body.add_labels, &body.remove_labels)?;
    let mut mail = shared.mail();
    let keys: Vec<(String, String)> = mail
        .thread(|i| scope.accepts(&mail, i), id)
        .iter()
        .map(|m| (m.inbox_id().to_owned(), m.id().to_owned()))
        .collect();
    if keys.is_empty() {
        return Ok(not_found("Thread"));
    }
    // `remove_labels` "takes priority over `add_labels`" (the definition).
    for (inbox, message) in &keys {
        mail.relabel(inbox, message, &body.add_labels, &body.remove_labels);
    }
    let labels = thread_item(&mail.thread(|i| scope.accepts(&mail, i), id)).labels;
    Ok(ok(
        &serde_json::json!({ "thread_id": id, "labels": labels }),
    ))
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let scope = ids.scope();
    let mut mail = shared.mail();
    let keys: Vec<(String, String)> = mail
        .thread(|i| scope.accepts(&mail, i), ids.thread())
        .iter()
        .map(|m| (m.inbox_id().to_owned(), m.id().to_owned()))
        .collect();
    if keys.is_empty() {
        return not_found("Thread");
    }
    for (inbox, message) in keys {
        mail.remove_message(&inbox, &message);
    }
    no_content()
}

async fn attachment(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = super::messages::base_url(&headers, &shared);
    let scope = ids.scope();
    let mail = shared.mail();
    let found = mail
        .thread(|i| scope.accepts(&mail, i), ids.thread())
        .into_iter()
        .find_map(|m| super::messages::attachment_response(&base, m, ids.attachment()));
    match found {
        Some(v) => ok(&v),
        None => not_found("Attachment"),
    }
}
