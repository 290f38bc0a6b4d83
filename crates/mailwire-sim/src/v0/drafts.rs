//! Drafts (`drafts.yml`, `inboxes/drafts.yml`, `pods/drafts.yml`): created, listed,
//! read, edited, deleted and sent under `/v0/inboxes/{inbox_id}/drafts`; listed and
//! read across inboxes under `/v0/drafts` and `/v0/pods/{pod_id}/drafts`.
//!
//! A reply draft (`in_reply_to`) takes its recipients (unless given), subject and
//! threading from the message it answers when it is created; a forward draft
//! (`forward_of`) its subject and threading, the forwarded body and attachments
//! being merged in when it is sent. Sending a draft sends it as the message
//! endpoints do (the same lifecycle events, `Idempotency-Key` honoured) and deletes
//! it. `send_at` schedules the send: `send_status` is `scheduled` until then, an edit
//! of `send_at` reschedules it and `null` cancels it.

use std::sync::{Arc, Weak};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use hyper::{HeaderMap, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::idempotency;
use super::messages::{self, SendBody, base_url};
use super::{Ids, check_labels, only};
use crate::Shared;
use crate::draft::{Draft, File, Kind};
use crate::http::{
    Body, JsonBody, Params, Query, Refusal, Req, no_content, not_found, ok, page, refusal,
    validation,
};
use crate::mail::{Mail, Stored};
use crate::message::{NewAttachment, check_address, decode_attachment, one_or_many};

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default, deserialize_with = "one_or_many")]
    labels: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    reply_to: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    to: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    cc: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    bcc: Vec<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    attachments: Vec<NewAttachment>,
    #[serde(default)]
    in_reply_to: Option<String>,
    #[serde(default)]
    forward_of: Option<String>,
    #[serde(default)]
    reply_all: Option<bool>,
    #[serde(default)]
    send_at: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// A member of an update: absent (`None`), `null` (`Some(None)`), or a value.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
struct UpdateBody {
    #[serde(default, deserialize_with = "nullable")]
    reply_to: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    to: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    cc: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    bcc: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    subject: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    text: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    html: Option<Option<String>>,
    #[serde(default)]
    add_attachments: Vec<NewAttachment>,
    #[serde(default, deserialize_with = "one_or_many")]
    remove_attachments: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    add_labels: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    remove_labels: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    send_at: Option<Option<String>>,
}

/// The members of an update where `null` clears (they are read before nulls are
/// dropped as absent).
const NULLABLE: [&str; 8] = [
    "reply_to", "to", "cc", "bcc", "subject", "text", "html", "send_at",
];

/// The body of a send: labels for the message it becomes.
#[derive(Deserialize, Default)]
struct SendLabels {
    #[serde(default, deserialize_with = "one_or_many")]
    add_labels: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    remove_labels: Vec<String>,
}

/// `/v0/inboxes/{inbox_id}/drafts...` (under a pod too) with `inbox`, the read-only
/// views elsewhere (`/v0`, `/v0/pods/{pod_id}`).
pub(super) fn routes(base: &str, inbox: bool) -> Router<Arc<Shared>> {
    let at = |tail: &str| format!("{base}/drafts{tail}");
    if !inbox {
        return Router::new()
            .route(&at(""), only(get(list)))
            .route(&at("/{draft_id}"), only(get(get_draft)))
            .route(
                &at("/{draft_id}/attachments/{attachment_id}"),
                only(get(attachment)),
            );
    }
    Router::new()
        .route(&at(""), only(get(list).post(create)))
        .route(
            &at("/{draft_id}"),
            only(get(get_draft).patch(update).delete(delete)),
        )
        .route(&at("/{draft_id}/send"), only(post(send)))
        .route(
            &at("/{draft_id}/attachments/{attachment_id}"),
            only(get(attachment)),
        )
}

/// The scope's drafts, filtered and ordered as the query asks.
async fn list(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let labels = query.list("labels")?;
    let before = query.time("before")?;
    let after = query.time("after")?;
    let scope = ids.scope();
    let mail = shared.mail();
    let mut items: Vec<Value> = mail
        .drafts
        .list(|inbox| scope.accepts(&mail, inbox))
        .into_iter()
        .filter(|d| {
            labels
                .as_ref()
                .is_none_or(|ls| ls.iter().all(|l| d.labels.contains(l)))
        })
        .filter(|d| before.is_none_or(|b| d.updated_at < b))
        .filter(|d| after.is_none_or(|a| d.updated_at >= a))
        .map(Draft::item)
        .collect();
    if query.ascending()? {
        items.reverse();
    }
    page("drafts", items, &query)
}

fn found(mail: &Mail, ids: &Ids) -> Option<Value> {
    let scope = ids.scope();
    mail.drafts
        .find(|inbox| scope.accepts(mail, inbox), ids.draft())
        .map(Draft::to_json)
}

async fn get_draft(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    match found(&shared.mail(), &ids) {
        Some(draft) => ok(&draft),
        None => not_found("Draft"),
    }
}

async fn attachment(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    headers: HeaderMap,
) -> Response<Body> {
    let base = base_url(&headers, &shared);
    let mail = shared.mail();
    let scope = ids.scope();
    let Some(draft) = mail
        .drafts
        .find(|inbox| scope.accepts(&mail, inbox), ids.draft())
    else {
        return not_found("Draft");
    };
    let file = draft
        .files
        .iter()
        .find(|f| f.meta.attachment_id.as_deref() == Some(ids.attachment()));
    let Some(file) = file else {
        return not_found("Attachment");
    };
    ok(&messages::described(
        &base,
        &draft.inbox_id,
        &draft.draft_id,
        &file.meta,
    ))
}

fn bad(message: &str) -> Refusal {
    refusal(validation(message))
}

fn time_of(field: &str, text: &str) -> Result<OffsetDateTime, Refusal> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| bad(&format!("{field}: not an RFC 3339 date-time ({e})")))
}

fn check_addresses(draft: &Draft) -> Result<(), Refusal> {
    let lists = [
        ("reply_to", &draft.reply_to),
        ("to", &draft.to),
        ("cc", &draft.cc),
        ("bcc", &draft.bcc),
    ];
    for (field, list) in lists {
        for a in list {
            check_address(field, a).map_err(|e| bad(&e.to_string()))?;
        }
    }
    Ok(())
}

fn files(attachments: Vec<NewAttachment>, field: &str) -> Result<Vec<File>, Refusal> {
    attachments
        .into_iter()
        .enumerate()
        .map(|(n, a)| {
            decode_attachment(n, a)
                .map(|(meta, content)| File { meta, content })
                .map_err(|e| bad(&format!("{field}: {e}")))
        })
        .collect()
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: CreateBody = JsonBody::read(req, &[]).await?.parse()?;
    let inbox = ids.inbox();
    let reply_all = body.reply_all.unwrap_or(false);
    let kind = match (body.in_reply_to, body.forward_of) {
        (Some(_), Some(_)) => return Err(bad("in_reply_to and forward_of exclude each other")),
        (Some(message), None) => Kind::Reply {
            message,
            all: reply_all,
        },
        (None, Some(message)) => Kind::Forward { message },
        (None, None) if reply_all => return Err(bad("reply_all: only with in_reply_to")),
        (None, None) => Kind::Plain,
    };
    if reply_all && !(body.to.is_empty() && body.cc.is_empty() && body.bcc.is_empty()) {
        return Err(bad(
            "reply_all: to, cc and bcc come from the thread; give none",
        ));
    }
    let send_at = body
        .send_at
        .as_deref()
        .map(|t| time_of("send_at", t))
        .transpose()?;
    let attachments = crate::message::fetch_urls(body.attachments)
        .await
        .map_err(|e| bad(&e.to_string()))?;
    let files = files(attachments, "attachments")?;
    let now = crate::ids::now();
    let draft = {
        let mut mail = shared.mail();
        if let Some(existing) = body
            .client_id
            .as_deref()
            .and_then(|c| mail.drafts.by_client_id(inbox, c))
        {
            return Ok(ok(&existing.to_json()));
        }
        let Some(owner) = mail.inbox(inbox).map(|i| i.inbox_id.clone()) else {
            return Ok(not_found("Inbox"));
        };
        let mut draft = Draft {
            inbox_id: owner,
            draft_id: crate::ids::new("drf"),
            client_id: body.client_id,
            kind,
            labels: body.labels,
            reply_to: body.reply_to,
            to: body.to,
            cc: body.cc,
            bcc: body.bcc,
            subject: body.subject,
            text: body.text,
            html: body.html,
            files,
            references: Vec::new(),
            send_at,
            version: 0,
            created_at: now,
            updated_at: now,
            changed: crate::draft::change(),
        };
        derive(&mail, &mut draft)?;
        check_addresses(&draft)?;
        mail.drafts.insert(draft.clone());
        draft
    };
    if let Some(at) = draft.send_at {
        schedule(&shared, &draft, at);
    }
    Ok(ok(&draft.to_json()))
}

/// What a reply or forward draft takes from its message at creation: recipients
/// (a reply's, unless given), subject and threading.
fn derive(mail: &Mail, draft: &mut Draft) -> Result<(), Refusal> {
    let (parent, kind) = match &draft.kind {
        Kind::Plain => return Ok(()),
        Kind::Reply { message, all } => (
            message.clone(),
            if *all {
                messages::Kind::ReplyAll
            } else {
                messages::Kind::Reply
            },
        ),
        Kind::Forward { message } => (message.clone(), messages::Kind::Forward),
    };
    let Some(parent) = mail.message(&draft.inbox_id, &parent) else {
        return Err(refusal(not_found("Message")));
    };
    let body = SendBody {
        to: draft.to.clone(),
        cc: draft.cc.clone(),
        bcc: draft.bcc.clone(),
        subject: draft.subject.clone(),
        ..SendBody::default()
    };
    let c = messages::compose(mail, &draft.inbox_id, Some(parent), kind, body)
        .map_err(|e| bad(&e.to_string()))?;
    if kind != messages::Kind::Forward {
        draft.to = c.to;
        draft.cc = c.cc;
    }
    draft.subject = c.subject;
    draft.references = c.references;
    Ok(())
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: UpdateBody = JsonBody::read(req, &NULLABLE).await?.parse()?;
    check_labels(&body.add_labels, &body.remove_labels)?;
    let send_at = match &body.send_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(time_of("send_at", t)?)),
    };
    let added = crate::message::fetch_urls(body.add_attachments)
        .await
        .map_err(|e| bad(&format!("add_{e}")))?;
    let added = files(added, "add_attachments")?;
    let draft = {
        let mut mail = shared.mail();
        let Some(draft) = mail.drafts.get_mut(ids.inbox(), ids.draft()) else {
            return Ok(not_found("Draft"));
        };
        let mut next = draft.clone();
        let lists = [
            (&mut next.reply_to, body.reply_to),
            (&mut next.to, body.to),
            (&mut next.cc, body.cc),
            (&mut next.bcc, body.bcc),
        ];
        for (field, value) in lists {
            if let Some(value) = value {
                *field = value.unwrap_or_default();
            }
        }
        let texts = [
            (&mut next.subject, body.subject),
            (&mut next.text, body.text),
            (&mut next.html, body.html),
        ];
        for (field, value) in texts {
            if let Some(value) = value {
                *field = value;
            }
        }
        next.files.retain(|f| {
            !body
                .remove_attachments
                .iter()
                .any(|r| f.meta.attachment_id.as_deref() == Some(r))
        });
        next.files.extend(added);
        next.labels.retain(|l| !body.remove_labels.contains(l));
        for l in body.add_labels {
            if !next.labels.contains(&l) {
                next.labels.push(l);
            }
        }
        if let Some(at) = send_at {
            next.send_at = at;
        }
        check_addresses(&next)?;
        next.touch();
        *draft = next.clone();
        next
    };
    if let Some(at) = draft.send_at {
        schedule(&shared, &draft, at);
    }
    Ok(ok(&draft.to_json()))
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    match shared.mail().drafts.remove(ids.inbox(), ids.draft()) {
        Some(_) => no_content(),
        None => not_found("Draft"),
    }
}

async fn send(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let key = idempotency::key_of(req.headers(), shared.keys.owner(&req))?;
    let body = JsonBody::read(req, &[]).await?;
    let request = crate::idempotency::Request {
        endpoint: "drafts/send",
        inbox: ids.inbox().to_ascii_lowercase(),
        parent: Some(ids.draft().to_owned()),
        body: body.value().clone(),
    };
    let labels: SendLabels = body.parse()?;
    check_labels(&labels.add_labels, &labels.remove_labels)?;
    let (stored, answer) = {
        let mut mail = shared.mail();
        // A retry gets the first answer: the draft is gone by then.
        if let Some(key) = &key
            && let Some(replay) = mail.idempotency.answer(key, &request)
        {
            return Ok(idempotency::replay(replay));
        }
        let stored = send_draft(&mut mail, ids.inbox(), ids.draft(), &labels)?;
        let answer =
            serde_json::json!({ "message_id": stored.id(), "thread_id": stored.thread_id() });
        if let Some(key) = key {
            mail.idempotency
                .keep(key, request, StatusCode::OK, answer.clone());
        }
        (stored, answer)
    };
    crate::lifecycle::sent(&shared, &stored);
    Ok(ok(&answer))
}

/// Turns the draft into a sent message, under the lock the message is stored under,
/// and deletes it.
fn send_draft(
    mail: &mut Mail,
    inbox: &str,
    id: &str,
    labels: &SendLabels,
) -> Result<Stored, Refusal> {
    let Some(draft) = mail.drafts.get(inbox, id).cloned() else {
        return Err(refusal(not_found("Draft")));
    };
    let (parent, kind) = match &draft.kind {
        Kind::Plain => (None, messages::Kind::Send),
        Kind::Reply { message, all } => (
            Some(message),
            if *all {
                messages::Kind::ReplyAll
            } else {
                messages::Kind::Reply
            },
        ),
        Kind::Forward { message } => (Some(message), messages::Kind::Forward),
    };
    let parent = match parent {
        Some(message) => match mail.message(inbox, message) {
            Some(m) => Some(m.clone()),
            None => return Err(refusal(not_found("Message"))),
        },
        None => None,
    };
    let mut with_labels = draft.labels.clone();
    with_labels.extend(labels.add_labels.iter().cloned());
    let body = SendBody {
        labels: with_labels,
        reply_to: draft.reply_to.clone(),
        to: draft.to.clone(),
        cc: draft.cc.clone(),
        bcc: draft.bcc.clone(),
        subject: draft.subject.clone(),
        text: draft.text.clone(),
        html: draft.html.clone(),
        attachments: draft
            .files
            .iter()
            .map(|f| crate::message::resend_attachment(&f.meta, &f.content))
            .collect(),
        headers: None,
        reply_all: None,
    };
    let mut c = messages::compose(mail, inbox, parent.as_ref(), kind, body)
        .map_err(|e| bad(&e.to_string()))?;
    c.labels.retain(|l| !labels.remove_labels.contains(l));
    if c.to.is_empty() && c.cc.is_empty() && c.bcc.is_empty() {
        return Err(bad("to: at least one recipient (to, cc or bcc)"));
    }
    messages::check_send_lists(mail, &c)?;
    let stored = crate::message::store(mail, c).map_err(|e| bad(&e.to_string()))?;
    mail.drafts.remove(inbox, id);
    Ok(stored)
}

/// Sends `draft` at `at`, unless it was edited, sent or deleted before then.
fn schedule(shared: &Arc<Shared>, draft: &Draft, at: OffsetDateTime) {
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let (inbox, id, version) = (
        draft.inbox_id.clone(),
        draft.draft_id.clone(),
        draft.version,
    );
    let wait = (at - crate::ids::now()).max(time::Duration::ZERO);
    let wait = std::time::Duration::try_from(wait).unwrap_or_default();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let stored = {
            let mut mail = shared.mail();
            let due = mail
                .drafts
                .get(&inbox, &id)
                .is_some_and(|d| d.version == version && d.send_at.is_some());
            if !due {
                return;
            }
            match send_draft(&mut mail, &inbox, &id, &SendLabels::default()) {
                Ok(stored) => stored,
                Err(_) => {
                    // Not sendable (its message deleted, no recipient): it stays a
                    // draft, no longer scheduled.
                    if let Some(d) = mail.drafts.get_mut(&inbox, &id) {
                        d.send_at = None;
                        d.touch();
                    }
                    return;
                }
            }
        };
        crate::lifecycle::sent(&shared, &stored);
    });
}
