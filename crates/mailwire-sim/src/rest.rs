//! Routing of everything that is not a WebSocket upgrade: AgentMail's REST API under
//! `/v0` ([`crate::v0`]), the article's webhook registration under `/v1/webhooks`, and
//! the simulator's own controls under `/_sim`. Every route needs an accepted API key
//! (the service's 401 otherwise), except the download links `/_sim/download/...`,
//! which stand for presigned URLs. Request bodies are read up to [`MAX_BODY`] within
//! the body timeout.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use mailwire_proto::Event;
use serde::Serialize;

use crate::Shared;
use crate::chaos::Chaos;
use crate::server::{Body, error};
use crate::webhooks::WebhookSpec;

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

/// Routes a request that is not a WebSocket upgrade.
pub(crate) async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let ["_sim", "download", inbox, message, part] = segments.as_slice() {
        return download(&shared, inbox, message, part);
    }
    if let Err(missing) = shared.keys.check(&req) {
        return unauthorized(missing);
    }
    let method = req.method().clone();
    match (segments.as_slice(), &method) {
        (["v0", ..], _) => crate::v0::route(req, shared).await,
        (["v1", "webhooks"], &Method::POST) => create_webhook(req, &shared).await,
        (["v1", "webhooks"], &Method::GET) => list_webhooks(&shared),
        (["v1", "webhooks", id], &Method::GET) => get_webhook(&shared, id),
        (["v1", "webhooks", id], &Method::DELETE) => delete_webhook(&shared, id),
        (["_sim", "inboxes", inbox, "messages"], &Method::POST) => {
            let inbox = percent_decode(inbox);
            receive(req, &shared, inbox).await
        }
        (["_sim", "events"], &Method::POST) => post_event(req, &shared).await,
        (["_sim", "events"], &Method::GET) => page_events(&req, &shared),
        (["_sim", "chaos"], &Method::POST) => post_chaos(req, &shared).await,
        (["_sim", "chaos"], &Method::GET) => chaos_view(&shared),
        (["_sim", "chaos"], &Method::DELETE) => {
            shared.rest.chaos.set(None);
            chaos_view(&shared)
        }
        (["v1", "webhooks"] | ["v1", "webhooks", _], _)
        | (["_sim", "events"] | ["_sim", "chaos"], _)
        | (["_sim", "inboxes", _, "messages"], _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowedError",
            "method not allowed on this route",
        ),
        _ => error(StatusCode::NOT_FOUND, "NotFoundError", "no such route"),
    }
}

/// `POST /_sim/inboxes/{inbox_id}/messages`: an email arrives.
async fn receive(req: Request<Incoming>, shared: &Arc<Shared>, inbox: String) -> Response<Body> {
    let email: crate::IncomingEmail = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(email) => email,
        Err(answer) => return *answer,
    };
    let event = match crate::message::receive(&mut shared.mail(), &inbox, email) {
        Ok(event) => event,
        Err(e) => return invalid(&e),
    };
    let message = event.payload().message();
    let answer = serde_json::json!({
        "event_id": event.id(),
        "inbox_id": message.and_then(|m| m.inbox_id.clone()),
        "message_id": message.and_then(|m| m.message_id.clone()),
        "thread_id": message.and_then(|m| m.thread_id.clone()),
    });
    crate::publish::publish(shared, [event]);
    to_json(StatusCode::OK, &answer)
}

/// `GET /_sim/download/{inbox}/{message}/{attachment_id | raw}`: the bytes a
/// download URL of the API points at.
fn download(shared: &Shared, inbox: &str, message: &str, part: &str) -> Response<Body> {
    let (inbox, message, part) = (
        percent_decode(inbox),
        percent_decode(message),
        percent_decode(part),
    );
    let mail = shared.mail();
    let Some(m) = mail.message(&inbox, &message) else {
        return error(StatusCode::NOT_FOUND, "NotFoundError", "no such message");
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
    let mut response = Response::new(Body::new(bytes));
    if let Ok(v) = HeaderValue::from_str(&content_type) {
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
pub(crate) type Refusal = Box<Response<Body>>;

/// Reads the body, at most [`MAX_BODY`]: `Err` is the answer to send instead.
pub(crate) async fn read_body(req: Request<Incoming>) -> Result<Bytes, Refusal> {
    let timeout = req
        .extensions()
        .get::<crate::server::BodyTimeout>()
        .map_or(std::time::Duration::from_secs(30), |t| t.0);
    match tokio::time::timeout(timeout, read_body_now(req)).await {
        Ok(read) => read,
        Err(_) => Err(Box::new(error(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutError",
            "the request body did not arrive in time",
        ))),
    }
}

async fn read_body_now(req: Request<Incoming>) -> Result<Bytes, Refusal> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        Box::new(error(
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
        Err(_) => Err(Box::new(invalid("unreadable request body"))),
    }
}

/// Parses a JSON body: `Err` is the 400 to send.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Box::new(invalid(&format!("invalid JSON body: {e}"))))
}

async fn create_webhook(req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Body> {
    let spec: WebhookSpec = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(spec) => spec,
        Err(answer) => return *answer,
    };
    match crate::publish::register(shared, spec).await {
        Ok(webhook) => to_json(StatusCode::OK, &webhook),
        Err(e) => invalid(&e.to_string()),
    }
}

fn list_webhooks(shared: &Shared) -> Response<Body> {
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

fn get_webhook(shared: &Shared, id: &str) -> Response<Body> {
    match shared.rest.webhooks.get(id) {
        Some(route) => to_json(StatusCode::OK, &route.view()),
        None => error(StatusCode::NOT_FOUND, "NotFoundError", "no such webhook"),
    }
}

fn delete_webhook(shared: &Shared, id: &str) -> Response<Body> {
    if crate::publish::unregister(shared, id) {
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
async fn post_event(req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(answer) => return *answer,
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
    crate::publish::publish(shared, [event]);
    to_json(StatusCode::OK, &serde_json::json!({ "event_id": id }))
}

/// `GET /_sim/events?after=evt_..&limit=N`: retained events after `after` (from the
/// oldest retained without it), oldest first. 410 when `after` is not retained.
fn page_events<B>(req: &Request<B>, shared: &Shared) -> Response<Body> {
    let mut after = None;
    let mut limit = 100;
    for (key, value) in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
    {
        match key {
            "after" if !value.is_empty() => after = Some(percent_decode(value)),
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => return invalid("limit must be a number from 1 to 1000"),
            },
            _ => {}
        }
    }
    let Some(events) = shared.hub.retained_after(after.as_deref(), limit + 1) else {
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

async fn post_chaos(req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Body> {
    let chaos: Chaos = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(chaos) => chaos,
        Err(answer) => return *answer,
    };
    if let Err(e) = chaos.validate() {
        return invalid(&e);
    }
    let drop_now = chaos.drop_now;
    shared.rest.chaos.set(Some(chaos));
    if drop_now {
        crate::chaos::bump(&shared.rest.chaos.ws_drops);
        // Dropping kills every connection, this request's included: drop shortly
        // after, so that the answer gets out first.
        let weak = Arc::downgrade(shared);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if let Some(shared) = weak.upgrade() {
                shared.conns.signal_all(crate::faults::Control::Kill);
            }
        });
    }
    chaos_view(shared)
}

fn chaos_view(shared: &Shared) -> Response<Body> {
    let chaos = shared.rest.chaos.current();
    to_json(
        StatusCode::OK,
        &serde_json::json!({ "chaos": chaos.as_deref(), "stats": shared.rest.chaos.stats() }),
    )
}

/// Decodes `%XX` escapes (and `+` as a space is *not* applied: ids never hold one).
/// Invalid escapes are kept as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_leniently() {
        assert_eq!(percent_decode("ada%40agentmail.to"), "ada@agentmail.to");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
