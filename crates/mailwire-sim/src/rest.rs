//! The handlers of the article's webhook registration under `/v1/webhooks` and of
//! the simulator's own controls under `/_sim`, and what every handler shares: the
//! service's error answers, and request bodies read up to [`MAX_BODY`] within the
//! body timeout.

use std::sync::Arc;

use axum::extract::State;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use mailwire_proto::Event;
use serde::Serialize;

use crate::Shared;
use crate::chaos::Chaos;
use crate::routes::Params;
use crate::server::{Body, error};
use crate::v0::Query;
use crate::webhooks::WebhookSpec;

/// A request as the handlers take it.
pub(crate) type Req = axum::extract::Request;

/// The largest request body read: 1 MiB.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The most events one `GET /_sim/events` page holds.
const MAX_PAGE: usize = 1000;

/// The service's 401, in its error shape.
pub(crate) fn unauthorized(missing: bool) -> Response<Body> {
    let (code, message) = if missing {
        (
            "missing_authorization",
            "Missing API key: send it as Authorization: Bearer <api_key>",
        )
    } else {
        ("unknown_api_key", "Unknown API key")
    };
    let body = serde_json::json!({
        "name": "UnauthorizedError",
        "code": code,
        "message": message,
        "docs": format!("https://docs.agentmail.to/errors#{code}"),
    });
    to_json(StatusCode::UNAUTHORIZED, &body)
}

/// `POST /_sim/inboxes/{inbox_id}/messages`: an email arrives.
pub(crate) async fn receive(
    State(shared): State<Arc<Shared>>,
    Params(inbox): Params<String>,
    req: Req,
) -> Response<Body> {
    let mut email: crate::IncomingEmail = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(email) => email,
        Err(refused) => return refused.answer(),
    };
    email.attachments =
        match crate::message::fetch_urls(std::mem::take(&mut email.attachments)).await {
            Ok(attachments) => attachments,
            Err(e) => return invalid(&e.to_string()),
        };
    let event = match crate::message::receive(&mut shared.mail(), &inbox, email) {
        Ok(event) => event,
        Err(e) => return invalid(&e.to_string()),
    };
    let message = event.payload().message();
    let answer = serde_json::json!({
        "event_id": event.id(),
        "inbox_id": message.and_then(|m| m.inbox_id.clone()),
        "message_id": message.and_then(|m| m.message_id.clone()),
        "thread_id": message.and_then(|m| m.thread_id.clone()),
    });
    crate::publish::publish(&shared, [event]);
    to_json(StatusCode::OK, &answer)
}

/// `GET /_sim/download/{inbox}/{message}/{attachment_id | raw}`: the bytes a
/// download URL of the API points at.
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Params((inbox, message, part)): Params<(String, String, String)>,
) -> Response<Body> {
    let mail = shared.mail();
    let Some(m) = mail.message(&inbox, &message) else {
        // A draft's attachment.
        let file = (mail.drafts.get(&inbox, &message)).and_then(|d| {
            d.files
                .iter()
                .find(|f| f.meta.attachment_id.as_deref() == Some(part.as_str()))
        });
        return match file {
            Some(f) => bytes_of(
                f.content.clone(),
                f.meta
                    .content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
            ),
            None => error(StatusCode::NOT_FOUND, "NotFoundError", "no such message"),
        };
    };
    let (bytes, content_type) = if part == "raw" {
        (m.raw.clone(), "message/rfc822".to_owned())
    } else {
        match m
            .blobs
            .iter()
            .find(|b| b.meta.attachment_id.as_deref() == Some(part.as_str()))
        {
            Some(b) => (
                b.content.clone(),
                b.meta
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
            None => return error(StatusCode::NOT_FOUND, "NotFoundError", "no such attachment"),
        }
    };
    bytes_of(bytes, &content_type)
}

/// A download's answer: the bytes and their type.
fn bytes_of(bytes: Bytes, content_type: &str) -> Response<Body> {
    let mut response = Response::new(Body::new(bytes));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A value as a JSON answer.
pub(crate) fn to_json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => json(status, body),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "could not encode the answer",
        ),
    }
}

pub(crate) fn invalid(message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "ValidationError", message)
}

/// An answer sent instead of going on (boxed: it is the rare path).
#[derive(Debug)]
pub(crate) struct Refusal(Box<Response<Body>>);

impl Refusal {
    pub(crate) fn new(answer: Response<Body>) -> Refusal {
        Refusal(Box::new(answer))
    }

    /// The answer to send.
    pub(crate) fn answer(self) -> Response<Body> {
        *self.0
    }
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        self.answer().into_response()
    }
}

/// Reads the body, at most [`MAX_BODY`]: `Err` is the answer to send instead.
pub(crate) async fn read_body(req: Req) -> Result<Bytes, Refusal> {
    let timeout = req
        .extensions()
        .get::<crate::server::BodyTimeout>()
        .map_or(std::time::Duration::from_secs(30), |t| t.0);
    match tokio::time::timeout(timeout, read_body_now(req)).await {
        Ok(read) => read,
        Err(_) => Err(Refusal::new(error(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutError",
            "the request body did not arrive in time",
        ))),
    }
}

async fn read_body_now(req: Req) -> Result<Bytes, Refusal> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        Refusal::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            "request body over 1 MiB",
        ))
    };
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(Refusal::new(invalid("unreadable request body"))),
    }
}

/// Parses a JSON body (an explicit `null` member being the member's absence, see
/// [`absent_nulls`]): `Err` is the 400 to send.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let refuse = |e: serde_json::Error| Refusal::new(invalid(&format!("invalid JSON body: {e}")));
    let value = serde_json::from_slice(body).map_err(refuse)?;
    serde_json::from_value(absent_nulls(value, &[])).map_err(refuse)
}

/// A request body with every `null` member of its object left out: the fields of the
/// service's request bodies are `optional<...>`, and an explicit `null` is their
/// absence, whatever their type. The members named in `nullable` keep their `null`:
/// those the definition makes `nullable<...>`, where it says something (clear this).
pub(crate) fn absent_nulls(mut body: serde_json::Value, nullable: &[&str]) -> serde_json::Value {
    if let serde_json::Value::Object(members) = &mut body {
        members.retain(|name, value| !value.is_null() || nullable.contains(&name.as_str()));
    }
    body
}

pub(crate) async fn create_webhook(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
    let spec: WebhookSpec = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(spec) => spec,
        Err(refused) => return refused.answer(),
    };
    match crate::publish::register(&shared, spec).await {
        Ok(webhook) => to_json(StatusCode::OK, &webhook),
        Err(e) => invalid(&e.to_string()),
    }
}

pub(crate) async fn list_webhooks(State(shared): State<Arc<Shared>>) -> Response<Body> {
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

pub(crate) async fn get_webhook(
    State(shared): State<Arc<Shared>>,
    Params(id): Params<String>,
) -> Response<Body> {
    match shared.rest.webhooks.get(&id) {
        Some(route) => to_json(StatusCode::OK, &route.view()),
        None => error(StatusCode::NOT_FOUND, "NotFoundError", "no such webhook"),
    }
}

pub(crate) async fn delete_webhook(
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

/// `POST /_sim/events`: the body is one event, in either envelope, emitted as given
/// (re-encoded only when the simulator speaks the other envelope), written as
/// JavaScript's `JSON.stringify(JSON.parse(body))` writes it, so that handlers that
/// rebuild the body that way (the article's) see the very bytes that were signed.
pub(crate) async fn post_event(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(refused) => return refused.answer(),
    };
    let body = match crate::jsonify::stringify(&body) {
        Ok(body) => body,
        Err(e) => return invalid(&format!("not an event: {e}")),
    };
    let event = match Event::parse(body) {
        Ok(event) => event,
        Err(e) => return invalid(&format!("not an event: {e}")),
    };
    let id = event.id().to_owned();
    crate::publish::publish(&shared, [event]);
    to_json(StatusCode::OK, &serde_json::json!({ "event_id": id }))
}

/// `GET /_sim/events?after=evt_..&limit=N`: retained events after `after` (from the
/// oldest retained without it), oldest first. 410 when `after` is not retained.
pub(crate) async fn page_events(State(shared): State<Arc<Shared>>, query: Query) -> Response<Body> {
    let mut after = None;
    let mut limit = 100;
    for (key, value) in query.pairs() {
        match key {
            "after" if !value.is_empty() => after = Some(value),
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => return invalid("limit must be a number from 1 to 1000"),
            },
            _ => {}
        }
    }
    let Some(events) = shared.hub.retained_after(after, limit + 1) else {
        return error(
            StatusCode::GONE,
            "GapError",
            "the `after` event is not (or no longer) retained",
        );
    };
    let has_more = events.len() > limit;
    let events = &events[..events.len().min(limit)];
    // Events are embedded as their raw bytes: exactly what the WebSocket sends.
    let mut out = Vec::with_capacity(64 + events.iter().map(|e| e.raw().len() + 1).sum::<usize>());
    out.extend_from_slice(b"{\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(event.raw());
    }
    let next = events.last().map(|e| e.id().to_owned());
    let tail =
        serde_json::json!({ "count": events.len(), "has_more": has_more, "next_after": next });
    out.extend_from_slice(b"],");
    // `tail` is an object: splice its fields after the list.
    let tail = tail.to_string();
    out.extend_from_slice(&tail.as_bytes()[1..]);
    json(StatusCode::OK, out)
}

pub(crate) async fn post_chaos(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
    let chaos: Chaos = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(chaos) => chaos,
        Err(refused) => return refused.answer(),
    };
    if let Err(e) = chaos.validate() {
        return invalid(&e.to_string());
    }
    let drop_now = chaos.drop_now;
    shared.rest.chaos.set(Some(chaos));
    if drop_now {
        crate::chaos::bump(&shared.rest.chaos.ws_drops);
        // Dropping kills every connection, this request's included: drop shortly
        // after, so that the answer gets out first.
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if let Some(shared) = weak.upgrade() {
                shared.conns.signal_all(crate::faults::Control::Kill);
            }
        });
    }
    chaos_view(&shared)
}

pub(crate) async fn get_chaos(State(shared): State<Arc<Shared>>) -> Response<Body> {
    chaos_view(&shared)
}

pub(crate) async fn delete_chaos(State(shared): State<Arc<Shared>>) -> Response<Body> {
    shared.rest.chaos.set(None);
    chaos_view(&shared)
}

fn chaos_view(shared: &Shared) -> Response<Body> {
    let chaos = shared.rest.chaos.current();
    to_json(
        StatusCode::OK,
        &serde_json::json!({ "chaos": chaos.as_deref(), "stats": shared.rest.chaos.stats() }),
    )
}
