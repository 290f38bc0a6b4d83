//! `/v0/inboxes/{inbox_id}/messages`: list, get, update labels, delete, send, reply,
//! reply-all, forward, attachments, raw, search, batch get and batch update.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use hyper::{HeaderMap, Response, StatusCode};
use mailwire_proto::{Address, Message};
use serde::Deserialize;
use time::Duration;

use super::idempotency;
use super::{Ids, check_labels, only};
use crate::Shared;
use crate::http::{
    Body, JsonBody, MESSAGE_FILTERS, Params, Query, Refusal, Req, json_body, no_content, not_found,
    ok, page_of, validation,
};
use crate::mail::{Mail, Stored, message_item};
use crate::message::{Compose, EmailError, NewAttachment, one_or_many};

/// The body of send, reply, reply-all and forward.
#[derive(Deserialize, Default)]
pub(super) struct SendBody {
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) labels: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) reply_to: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) to: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) cc: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) bcc: Vec<String>,
    #[serde(default)]
    pub(super) subject: Option<String>,
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) html: Option<String>,
    #[serde(default)]
    pub(super) attachments: Vec<NewAttachment>,
    #[serde(default)]
    pub(super) headers: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub(super) reply_all: Option<bool>,
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default, deserialize_with = "one_or_many")]
    add_labels: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    remove_labels: Vec<String>,
}

/// `batch-get`: up to 500 ids; `batch-update`: up to 50, with the labels to change.
#[derive(Deserialize)]
struct BatchBody {
    #[serde(default, deserialize_with = "one_or_many")]
    message_ids: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    add_labels: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    remove_labels: Vec<String>,
}

impl BatchBody {
    /// At least one id, at most `max`, none twice.
    fn check(&self, max: usize) -> Result<(), Refusal> {
        let ids = &self.message_ids;
        let refused = |m: String| Err(crate::http::refusal(validation(&m)));
        if ids.is_empty() {
            return refused("message_ids: at least one id".into());
        }
        if ids.len() > max {
            return refused(format!(
                "message_ids: at most {max} at once, got {}",
                ids.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = ids.iter().find(|id| !seen.insert(id.as_str())) {
            return refused(format!("message_ids: {twice:?} is given twice"));
        }
        Ok(())
    }
}

/// Which way a new message relates to an existing one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Send,
    Reply,
    ReplyAll,
    Forward,
}

impl Kind {
    /// The endpoint's name, which an idempotency key is bound to.
    fn endpoint(self) -> &'static str {
        match self {
            Kind::Send => "send",
            Kind::Reply => "reply",
            Kind::ReplyAll => "reply-all",
            Kind::Forward => "forward",
        }
    }
}

/// The base URL the client reached us by, for download links.
pub(super) fn base_url(headers: &HeaderMap, shared: &Shared) -> String {
    let scheme = if shared.settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where `.../attachments/{id}` and `.../raw` point: a link that needs no API key,
/// as a presigned URL does.
pub(super) fn download_url(base: &str, inbox: &str, message: &str, part: &str) -> String {
    format!(
        "{base}/_sim/download/{}/{}/{}",
        enc(inbox),
        enc(message),
        enc(part)
    )
}

pub(super) fn expires_at() -> String {
    let at = crate::ids::now() + Duration::hours(1);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The answer to `GET .../attachments/{id}`.
pub(super) fn attachment_response(
    base: &str,
    m: &Stored,
    attachment: &str,
) -> Option<serde_json::Value> {
    let blob = m
        .blobs
        .iter()
        .find(|b| b.meta.attachment_id.as_deref() == Some(attachment))?;
    Some(described(base, m.inbox_id(), m.id(), &blob.meta))
}

/// An attachment (of a message, or of a draft: `owner`) described, with the link
/// its bytes are downloaded from.
pub(super) fn described(
    base: &str,
    inbox: &str,
    owner: &str,
    meta: &mailwire_proto::Attachment,
) -> serde_json::Value {
    let mut v = serde_json::to_value(meta).unwrap_or_default();
    let id = meta.attachment_id.as_deref().unwrap_or_default();
    v["download_url"] = download_url(base, inbox, owner, id).into();
    v["expires_at"] = expires_at().into();
    v
}

fn list(mail: &Mail, inbox: &str, query: &Query) -> Result<Vec<Message>, Refusal> {
    let labels = query.list("labels")?;
    let before = query.time("before")?;
    let after = query.time("after")?;
    let include = |label: &str| query.flag(&format!("include_{label}"));
    let shown = [
        ("spam", include("spam")?),
        ("blocked", include("blocked")?),
        ("unauthenticated", include("unauthenticated")?),
        ("trash", include("trash")?),
    ];
    let from = query.list("from")?;
    let to = query.list("to")?;
    let subject = query.list("subject")?;
    // Substrings, every value given found (the definition: "Repeatable; all values
    // must match"), each in one of the strings of `hay`.
    let contains = |hay: &[&str], needles: &Option<Vec<String>>| {
        needles.as_ref().is_none_or(|n| {
            let hay: Vec<String> = hay.iter().map(|h| h.to_lowercase()).collect();
            n.iter()
                .all(|n| hay.iter().any(|h| h.contains(&n.to_lowercase())))
        })
    };
    let mut out: Vec<Message> = mail
        .messages(|i| i.eq_ignore_ascii_case(inbox))
        .into_iter()
        .filter(|m| {
            m.message
                .labels
                .iter()
                .all(|l| shown.iter().all(|(hidden, on)| l != hidden || *on))
        })
        .filter(|m| {
            labels
                .as_ref()
                .is_none_or(|ls| ls.iter().all(|l| m.has_label(l)))
        })
        .filter(|m| before.is_none_or(|b| m.time() < b))
        .filter(|m| after.is_none_or(|a| m.time() >= a))
        .filter(|m| {
            contains(
                &[m.message.from.as_ref().map_or("", Address::as_str)],
                &from,
            )
        })
        .filter(|m| {
            // `to` is any recipient: to, cc or bcc.
            let msg = &m.message;
            let all: Vec<&str> = (msg.to.iter())
                .chain(msg.cc.iter().flatten())
                .chain(msg.bcc.iter().flatten())
                .map(Address::as_str)
                .collect();
            contains(&all, &to)
        })
        .filter(|m| contains(&[m.message.subject.as_deref().unwrap_or("")], &subject))
        .map(|m| message_item(&m.message))
        .collect();
    if !query.ascending()? {
        out.reverse();
    }
    Ok(out)
}

fn prefixed(prefix: &str, subject: Option<&str>) -> String {
    let subject = subject.unwrap_or("");
    if subject
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    {
        subject.to_owned()
    } else {
        format!("{prefix} {subject}")
    }
}

/// 403 `MessageRejectedError` when the send lists refuse a recipient.
pub(super) fn check_send_lists(mail: &Mail, c: &Compose) -> Result<(), Refusal> {
    let refused = (c.to.iter())
        .chain(c.cc.iter())
        .chain(c.bcc.iter())
        .find(|r| !mail.listed_ok("send", &c.inbox, r));
    match refused {
        Some(r) => Err(crate::http::refusal(crate::http::api_error(
            StatusCode::FORBIDDEN,
            "MessageRejectedError",
            "message_rejected",
            &format!("{r} is refused by the send lists"),
        ))),
        None => Ok(()),
    }
}

/// Builds what to store for a send, reply, reply-all or forward.
pub(super) fn compose(
    mail: &Mail,
    inbox: &str,
    parent: Option<&Stored>,
    kind: Kind,
    body: SendBody,
) -> Result<Compose, EmailError> {
    let me = mail
        .inbox(inbox)
        .ok_or_else(|| EmailError::NoInbox(inbox.to_owned()))?;
    let from = match &me.display_name {
        Some(name) if !name.is_empty() => Address::named(name, &me.email).as_str().to_owned(),
        _ => me.email.clone(),
    };
    let reply_all = kind == Kind::ReplyAll || body.reply_all.unwrap_or(false);
    let mut labels = vec!["sent".to_owned()];
    labels.extend(body.labels);
    let mut c = Compose {
        inbox: me.inbox_id.clone(),
        from,
        to: body.to,
        cc: body.cc,
        bcc: body.bcc,
        reply_to: body.reply_to,
        subject: body.subject,
        text: body.text,
        html: body.html,
        labels,
        attachments: body.attachments,
        headers: body.headers,
        ..Compose::default()
    };
    let Some(parent) = parent else {
        return Ok(c);
    };
    let p = &parent.message;
    let own = |a: &Address| a.email().is_some_and(|e| e.eq_ignore_ascii_case(&me.email));
    let mut refs = p.references.clone().unwrap_or_default();
    refs.extend(p.message_id.clone());
    match kind {
        Kind::Send => {}
        Kind::Reply | Kind::ReplyAll => {
            if c.to.is_empty() {
                // To the sender (its Reply-To if any); a reply to our own sent
                // message goes to its recipients.
                let targets: Vec<Address> = if parent.has_label("sent") {
                    p.to.clone()
                } else {
                    p.reply_to
                        .clone()
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| p.from.clone().into_iter().collect())
                };
                c.to = targets.iter().map(|a| a.as_str().to_owned()).collect();
                if reply_all {
                    let more = p.to.iter().chain(p.cc.iter().flatten()).filter(|a| !own(a));
                    for a in more {
                        if !c.to.iter().any(|t| t == a.as_str()) {
                            c.cc.push(a.as_str().to_owned());
                        }
                    }
                }
            }
            c.subject = Some(prefixed("Re:", p.subject.as_deref()));
            c.in_reply_to = p.message_id.clone();
            c.references = refs;
        }
        Kind::Forward => {
            if c.subject.is_none() {
                c.subject = Some(prefixed("Fwd:", p.subject.as_deref()));
            }
            let quoted = format!(
                "\n\n---------- Forwarded message ---------\nFrom: {}\nSubject: {}\n\n{}",
                p.from.as_ref().map_or("", Address::as_str),
                p.subject.as_deref().unwrap_or(""),
                p.text.as_deref().unwrap_or("")
            );
            c.text = Some(format!("{}{quoted}", c.text.unwrap_or_default()));
            for blob in &parent.blobs {
                c.attachments
                    .push(crate::message::resend_attachment(&blob.meta, &blob.content));
            }
            c.references = refs;
        }
    }
    Ok(c)
}

async fn send(
    req: Req,
    shared: &Arc<Shared>,
    inbox: &str,
    parent_id: Option<&str>,
    kind: Kind,
) -> Result<Response<Body>, Refusal> {
    let key = idempotency::key_of(req.headers(), shared.keys.owner(&req))?;
    let body = JsonBody::read(req, &[]).await?;
    let request = crate::idempotency::Request {
        endpoint: kind.endpoint(),
        inbox: inbox.to_ascii_lowercase(),
        parent: parent_id.map(str::to_owned),
        body: body.value().clone(),
    };
    let mut body: SendBody = body.parse()?;
    body.attachments = crate::message::fetch_urls(body.attachments)
        .await
        .map_err(|e| crate::http::refusal(validation(&e.to_string())))?;
    let (stored, answer) = {
        let mut mail = shared.mail();
        // A retry gets the first answer (and sends nothing), a key reused for another
        // request a 409: checked and kept under the lock the send stores under.
        if let Some(key) = &key
            && let Some(replay) = mail.idempotency.answer(key, &request)
        {
            return Ok(idempotency::replay(replay));
        }
        let parent = match parent_id {
            Some(id) => match mail.message(inbox, id) {
                Some(m) => Some(m.clone()),
                None => return Ok(not_found("Message")),
            },
            None => None,
        };
        let c = compose(&mail, inbox, parent.as_ref(), kind, body)
            .map_err(|e| crate::http::refusal(validation(&e.to_string())))?;
        if c.to.is_empty() && c.cc.is_empty() && c.bcc.is_empty() {
            return Ok(validation("to: at least one recipient (to, cc or bcc)"));
        }
        check_send_lists(&mail, &c)?;
        let stored = crate::message::store(&mut mail, c)
            .map_err(|e| crate::http::refusal(validation(&e.to_string())))?;
        let answer =
            serde_json::json!({ "message_id": stored.id(), "thread_id": stored.thread_id() });
        if let Some(key) = key {
            mail.idempotency
                .keep(key, request, StatusCode::OK, answer.clone());
        }
        (stored, answer)
    };
    crate::lifecycle::sent(shared, &stored);
    Ok(ok(&answer))
}

/// `{inbox}/messages...`, `inbox` being an inbox's path (under a pod or not).
pub(super) fn routes(inbox: &str) -> Router<Arc<Shared>> {
    let at = |tail: &str| format!("{inbox}/messages{tail}");
    Router::new()
        .route(&at(""), only(get(list_messages)))
        // `send` stands where a message id would: GET, PATCH and DELETE of it are
        // those of a message, one that never exists (ids are `<...@...>`).
        .route(
            &at("/send"),
            only(post(send_new).get(get_message).patch(update).delete(delete)),
        )
        // `search` stands where a message id would, as `send` does.
        .route(
            &at("/search"),
            only(get(search).patch(update).delete(delete)),
        )
        .route(
            &at("/{message_id}"),
            only(get(get_message).patch(update).delete(delete)),
        )
        // So do `batch-get` and `batch-update`.
        .route(
            &at("/batch-get"),
            only(
                post(batch_get)
                    .get(get_message)
                    .patch(update)
                    .delete(delete),
            ),
        )
        .route(
            &at("/batch-update"),
            only(
                post(batch_update)
                    .get(get_message)
                    .patch(update)
                    .delete(delete),
            ),
        )
        .route(&at("/{message_id}/reply"), only(answer(Kind::Reply)))
        .route(&at("/{message_id}/reply-all"), only(answer(Kind::ReplyAll)))
        .route(&at("/{message_id}/forward"), only(answer(Kind::Forward)))
        .route(
            &at("/{message_id}/attachments/{attachment_id}"),
            only(get(attachment)),
        )
        .route(&at("/{message_id}/raw"), only(get(raw)))
}

async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let items = list(&shared.mail(), ids.inbox(), &query)?;
    page_of(
        "messages",
        items,
        &query,
        query.limit_filtered(&MESSAGE_FILTERS)?,
    )
}

async fn search(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let mail = shared.mail();
    let inbox = ids.inbox();
    super::search::messages(mail.messages(|i| i.eq_ignore_ascii_case(inbox)), &query)
}

/// The messages named that exist, in the order named, without their bodies (the
/// definition: use the single-message endpoint for those).
async fn batch_get(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: BatchBody = json_body(req).await?;
    body.check(500)?;
    let mail = shared.mail();
    let messages: Vec<Message> = (body.message_ids.iter())
        .filter_map(|id| mail.message(ids.inbox(), id))
        .map(|m| {
            let mut m = m.message.clone();
            (m.text, m.html, m.extracted_text, m.extracted_html) = (None, None, None, None);
            m
        })
        .collect();
    Ok(ok(&serde_json::json!({
        "limit": body.message_ids.len(),
        "count": messages.len(),
        "messages": messages,
    })))
}

/// One label change to every message named that exists, all at once (under one
/// lock: every one or none).
async fn batch_update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: BatchBody = json_body(req).await?;
    body.check(50)?;
    if body.add_labels.is_empty() && body.remove_labels.is_empty() {
        return Ok(validation("add_labels or remove_labels: at least one"));
    }
    check_labels(&body.add_labels, &body.remove_labels)?;
    let mut mail = shared.mail();
    let mut updates = Vec::new();
    for id in &body.message_ids {
        if let Some(labels) = mail.relabel(ids.inbox(), id, &body.add_labels, &body.remove_labels) {
            updates.push(serde_json::json!({ "message_id": id, "labels": labels }));
        }
    }
    Ok(ok(&serde_json::json!({
        "limit": body.message_ids.len(),
        "count": updates.len(),
        "updates": updates,
    })))
}

/// The handler of a reply, a reply-all or a forward of the message the path names.
fn answer(kind: Kind) -> axum::routing::MethodRouter<Arc<Shared>> {
    post(
        move |State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>, req: Req| async move {
            send(req, &shared, ids.inbox(), Some(ids.message()), kind).await
        },
    )
}

async fn send_new(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    send(req, &shared, ids.inbox(), None, Kind::Send).await
}

async fn get_message(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
) -> Response<Body> {
    match shared.mail().message(ids.inbox(), ids.message()) {
        Some(m) => ok(&m.message),
        None => not_found("Message"),
    }
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let (inbox, id) = (ids.inbox(), ids.message());
    if shared.mail().message(inbox, id).is_none() {
        return Ok(not_found("Message"));
    }
    let body: UpdateBody = json_body(req).await?;
    check_labels(&body.add_labels, &body.remove_labels)?;
    let mut mail = shared.mail();
    let Some(labels) = mail.relabel(inbox, id, &body.add_labels, &body.remove_labels) else {
        return Ok(not_found("Message"));
    };
    Ok(ok(
        &serde_json::json!({ "message_id": id, "labels": labels }),
    ))
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    if shared.mail().remove_message(ids.inbox(), ids.message()) {
        no_content()
    } else {
        not_found("Message")
    }
}

async fn attachment(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(&headers, &shared);
    let mail = shared.mail();
    match mail.message(ids.inbox(), ids.message()) {
        None => not_found("Message"),
        Some(m) => match attachment_response(&base, m, ids.attachment()) {
            Some(v) => ok(&v),
            None => not_found("Attachment"),
        },
    }
}

async fn raw(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(&headers, &shared);
    let mail = shared.mail();
    match mail.message(ids.inbox(), ids.message()) {
        None => not_found("Message"),
        Some(m) => ok(&serde_json::json!({
            "message_id": m.id(),
            "size": m.raw.len(),
            "download_url": download_url(&base, m.inbox_id(), m.id(), "raw"),
            "expires_at": expires_at(),
        })),
    }
}
