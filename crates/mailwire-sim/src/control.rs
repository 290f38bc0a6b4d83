//! The simulator's own controls under `/_sim`: an email arrives, a raw event is
//! published, the retained events are paged, chaos is set, read and cleared; and the
//! download links the API's `download_url`s point at.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{any, get, post};
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use mailwire_proto::Event;

use crate::Shared;
use crate::chaos::Chaos;
use crate::http::{
    Body, Params, Query, Req, error, invalid, json, not_allowed, only, parse, read_body, to_json,
};

/// The routes under `/_sim` that need a key.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sim/inboxes/{inbox_id}/messages",
            only(post(receive), not_allowed),
        )
        .route(
            "/_sim/events",
            only(post(post_event).get(page_events), not_allowed),
        )
        .route(
            "/_sim/chaos",
            only(
                post(post_chaos).get(get_chaos).delete(delete_chaos),
                not_allowed,
            ),
        )
        .route(
            "/_sim/webhooks/{webhook_id}/deliveries",
            only(get(deliveries), not_allowed),
        )
        .route(
            "/_sim/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
            only(post(redeliver), not_allowed),
        )
}

/// The download links, which need no key (they stand for presigned URLs).
pub(crate) fn downloads() -> Router<Arc<Shared>> {
    Router::new().route(
        "/_sim/download/{inbox_id}/{message_id}/{part}",
        any(download),
    )
}

/// The most events one `GET /_sim/events` page holds.
const MAX_PAGE: usize = 1000;

/// `POST /_sim/inboxes/{inbox_id}/messages`: an email arrives.
async fn receive(
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
async fn download(
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

/// `POST /_sim/events`: the body is one event, in either envelope, emitted as given
/// (re-encoded only when the simulator speaks the other envelope), written as
/// JavaScript's `JSON.stringify(JSON.parse(body))` writes it, so that handlers that
/// rebuild the body that way (the article's) see the very bytes that were signed.
async fn post_event(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
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
async fn page_events(State(shared): State<Arc<Shared>>, query: Query) -> Response<Body> {
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

async fn post_chaos(State(shared): State<Arc<Shared>>, req: Req) -> Response<Body> {
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

async fn get_chaos(State(shared): State<Arc<Shared>>) -> Response<Body> {
    chaos_view(&shared)
}

async fn delete_chaos(State(shared): State<Arc<Shared>>) -> Response<Body> {
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

/// `GET /_sim/webhooks/{webhook_id}/deliveries?limit=N`: the webhook's last
/// deliveries (200 kept), newest first, each with its attempts: status, latency,
/// the answer's body (4 KiB), the next attempt's time.
async fn deliveries(
    State(shared): State<Arc<Shared>>,
    Params(webhook): Params<String>,
    query: Query,
) -> Response<Body> {
    let limit = match query.get("limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => return invalid("limit must be a number from 1 to 1000"),
    };
    let Some(route) = shared.rest.webhooks.get(&webhook) else {
        return error(StatusCode::NOT_FOUND, "NotFoundError", "no such webhook");
    };
    to_json(
        StatusCode::OK,
        &serde_json::json!({ "deliveries": route.deliveries(limit) }),
    )
}

/// `POST /_sim/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver`: the
/// delivery's event delivered again, as a new delivery (202 with its id).
async fn redeliver(
    State(shared): State<Arc<Shared>>,
    Params((webhook, delivery)): Params<(String, String)>,
) -> Response<Body> {
    let Some(route) = shared.rest.webhooks.get(&webhook) else {
        return error(StatusCode::NOT_FOUND, "NotFoundError", "no such webhook");
    };
    match shared.rest.dispatcher.redeliver(&route, &delivery) {
        Some(id) => to_json(
            StatusCode::ACCEPTED,
            &serde_json::json!({ "delivery_id": id }),
        ),
        None => error(StatusCode::NOT_FOUND, "NotFoundError", "no such delivery"),
    }
}
