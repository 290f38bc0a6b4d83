//! What happens to one request: the rows of the receiver's table, in order.
//!
//! Shared by the hyper server and the tower service, so both answer alike.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use http_body::Body;
use mailwire_proto::Event;
use mailwire_source::{Ack, BoxError, Delivery, Origin, Settle, SourceError, async_trait};
use mailwire_store::{SeenSet, Store};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::body::{BodyError, read_limited};
use crate::receiver::Settings;
use crate::reply::{ReplyBody, closing, method_not_allowed, reply, unavailable};
use crate::verify::Verify;

/// The receiving side's shared state: checks, store, and the queue to the consumer.
pub(crate) struct Intake {
    pub(crate) verify: Arc<dyn Verify>,
    pub(crate) store: Option<Arc<dyn Store>>,
    /// Set exactly when `store` is not: the dedup of a receiver without a store.
    pub(crate) seen: Option<Arc<dyn SeenSet>>,
    pub(crate) tx: mpsc::Sender<Delivery>,
    pub(crate) settings: Arc<Settings>,
    /// The one path served, or `None` when a router in front has routed already.
    pub(crate) path: Option<String>,
}

impl Intake {
    /// Answers one request. Never panics on what the client sent.
    pub(crate) async fn handle<B>(&self, req: Request<B>) -> Response<ReplyBody>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let settings = &self.settings;
        if self
            .path
            .as_deref()
            .is_some_and(|path| req.uri().path() != path)
        {
            return reply(StatusCode::NOT_FOUND, "not found");
        }
        if req.method() != Method::POST {
            return method_not_allowed();
        }
        // A declared length over the limit is refused before a byte of body is read.
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > settings.body_limit as u64) {
            return closing(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit");
        }
        let hint = declared.map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX));
        let (parts, body) = req.into_parts();
        let body = match read_limited(body, settings.body_limit, settings.body_timeout, hint).await
        {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return closing(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit");
            }
            Err(BodyError::Timeout) => {
                return closing(StatusCode::REQUEST_TIMEOUT, "body not received in time");
            }
            Err(BodyError::Broken(e)) => {
                tracing::debug!(error = %e, "webhook body could not be read");
                return closing(StatusCode::BAD_REQUEST, "body could not be read");
            }
        };
        // Verify the raw bytes before anything looks inside them.
        if let Err(e) = self.verify.verify(&parts.headers, &body) {
            tracing::debug!(rule = %e, "webhook signature refused");
            return reply(StatusCode::UNAUTHORIZED, format!("invalid signature: {e}"));
        }
        let event = match Event::parse(body) {
            Ok(event) => event,
            Err(e) => {
                // Signed by the sender but not an event: retrying will not help.
                tracing::warn!(error = %e, "verified webhook body is not an event");
                return reply(StatusCode::BAD_REQUEST, format!("not an event: {e}"));
            }
        };
        self.keep(event).await
    }

    /// Dedups, logs and queues a verified event. A 2xx only for what was kept.
    async fn keep(&self, event: Event) -> Response<ReplyBody> {
        let retry_after = self.settings.retry_after;
        // Room in the queue first, so an event that is logged is also emitted now.
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(TrySendError::Full(())) => return unavailable("consumer queue full", retry_after),
            Err(TrySendError::Closed(())) => return unavailable("receiver closed", retry_after),
        };
        let ack = match (&self.store, &self.seen) {
            // Exactly one of concurrent deliveries of one id claims it: the store's
            // append is atomic per id, across instances sharing it.
            (Some(store), _) => match store.append(&event).await {
                Ok(appended) if appended.is_claimed() => Ack::new(StoreAck {
                    store: store.clone(),
                    id: event.dedup_id().to_owned(),
                    settled: false,
                }),
                Ok(_) => return duplicate(),
                Err(e) => return store_down(&e, retry_after),
            },
            (None, Some(seen)) => match seen.insert(event.dedup_id(), self.settings.seen_ttl).await
            {
                Ok(true) => Ack::none(),
                Ok(false) => return duplicate(),
                Err(e) => return store_down(&e, retry_after),
            },
            (None, None) => Ack::none(),
        };
        permit.send(Delivery::new(event, Origin::Webhook).with_ack(ack));
        reply(StatusCode::OK, "ok")
    }
}

fn duplicate() -> Response<ReplyBody> {
    reply(StatusCode::OK, "duplicate")
}

fn store_down(e: &dyn std::error::Error, retry_after: std::time::Duration) -> Response<ReplyBody> {
    tracing::warn!(error = %e, "store unavailable: answering 503");
    unavailable("store unavailable", retry_after)
}

/// Acks a delivery in the store; dropped unacked, gives up its claim so the next
/// copy (the sender retries) or claim of the backlog delivers it again. One
/// allocation per event, where a boxed closure future would take two.
struct StoreAck {
    store: Arc<dyn Store>,
    id: String,
    settled: bool,
}

#[async_trait]
impl Settle for StoreAck {
    async fn settle(mut self: Box<Self>) -> Result<(), SourceError> {
        self.store.ack(&self.id).await.map_err(SourceError::store)?;
        self.settled = true;
        Ok(())
    }
}

impl Drop for StoreAck {
    fn drop(&mut self) {
        if !self.settled {
            self.store.release(&self.id);
        }
    }
}
