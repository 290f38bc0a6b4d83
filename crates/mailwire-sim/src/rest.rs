//! The REST API: webhooks, messages, raw events, the retained-event pages, chaos.
//! Every route needs an accepted API key (401 otherwise), answers JSON, and reads at
//! most [`MAX_BODY`] of a request.

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

/// The most events one `GET /v1/events` page holds.
const MAX_PAGE: usize = 1000;

/// Routes a request that is not a WebSocket upgrade.
pub(crate) async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    if !shared.keys.authorize(&req) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationError",
            "missing or invalid API key",
        );
    }
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (segments.as_slice(), &method) {
        (["v1", "webhooks"], &Method::POST) => create_webhook(req, &shared).await,
        (["v1", "webhooks"], &Method::GET) => list_webhooks(&shared),
        (["v1", "webhooks", id], &Method::GET) => get_webhook(&shared, id),
        (["v1", "webhooks", id], &Method::DELETE) => delete_webhook(&shared, id),
        (["v1", "inboxes", inbox, "messages"], &Method::POST) => {
            let inbox = percent_decode(inbox);
            crate::message::receive(req, &shared, inbox).await
        }
        (["v1", "events"], &Method::POST) => post_event(req, &shared).await,
        (["v1", "events"], &Method::GET) => page_events(&req, &shared),
        (["v1", "chaos"], &Method::POST) => post_chaos(req, &shared).await,
        (["v1", "chaos"], &Method::GET) => chaos_view(&shared),
        (["v1", "chaos"], &Method::DELETE) => {
            shared.rest.chaos.set(None);
            chaos_view(&shared)
        }
        (["v1", "webhooks"] | ["v1", "webhooks", _] | ["v1", "events"] | ["v1", "chaos"], _)
        | (["v1", "inboxes", _, "messages"], _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowedError",
            "method not allowed on this route",
        ),
        _ => error(StatusCode::NOT_FOUND, "NotFoundError", "no such route"),
    }
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

/// `POST /v1/events`: the body is one event, in either envelope, emitted as given
/// (re-encoded only when the simulator speaks the other envelope; insignificant
/// whitespace removed, so bodies stay compact JSON).
async fn post_event(req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    let event = match Event::parse(compact(&body)) {
        Ok(event) => event,
        Err(e) => return invalid(&format!("not an event: {e}")),
    };
    let id = event.id().to_owned();
    crate::publish::publish(shared, [event]);
    to_json(StatusCode::OK, &serde_json::json!({ "event_id": id }))
}

/// `GET /v1/events?after=evt_..&limit=N`: retained events after `after` (from the
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

/// JSON without insignificant whitespace; strings (and their escapes) untouched,
/// key order kept. Input that is not JSON comes out with its whitespace removed
/// and fails to parse later, as it would have anyway.
pub(crate) fn compact(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_outside_strings_only() {
        let raw = b"{ \"a\" : \"x  y\\\" z \" ,\n \"b\": [1, 2] }";
        assert_eq!(&compact(raw)[..], b"{\"a\":\"x  y\\\" z \",\"b\":[1,2]}");
        assert_eq!(&compact(b"")[..], b"");
    }

    #[test]
    fn decodes_percent_escapes_leniently() {
        assert_eq!(percent_decode("ada%40agentmail.to"), "ada@agentmail.to");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
