//! What happens to one request: the rows of the receiver's table, in order.
//!
//! Shared by the hyper server and the tower service, so both answer alike.

use std::net::IpAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use http_body::Body;
use mailwire_proto::Event;
use mailwire_source::{
    Ack, BoxError, Delivery, Origin, Settle, SourceError, TenantId, async_trait,
};
use mailwire_store::{SeenSet, Store};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::body::{BodyError, read_limited};
use crate::limiter::Limiter;
use crate::receiver::Settings;
use crate::reply::{ReplyBody, closing, method_not_allowed, reply, too_many_requests, unavailable};
use crate::stats::{Counters, Outcome};
use crate::tenant::{Entry, Tenants};
use crate::verify::Verify;

/// The receiving side's shared state: checks, store, and the queue to the consumer.
pub(crate) struct Intake {
    /// The receiver's own keyring, for its own path; `None` for a receiver that
    /// serves tenants only.
    pub(crate) verify: Option<Arc<dyn Verify>>,
    pub(crate) store: Option<Arc<dyn Store>>,
    /// Set exactly when `store` is not: the dedup of a receiver without a store.
    pub(crate) seen: Option<Arc<dyn SeenSet>>,
    pub(crate) tx: mpsc::Sender<Delivery>,
    pub(crate) settings: Arc<Settings>,
    /// The one path served, or `None` when a router in front has routed already.
    pub(crate) path: Option<String>,
    /// The receiver's budgets, `None` when off.
    pub(crate) limiter: Option<Limiter>,
    pub(crate) tenants: Option<Tenants>,
    pub(crate) counters: Arc<Counters>,
}

/// Which keyring and budgets a request answers to.
struct Route {
    verify: Arc<dyn Verify>,
    /// The tenant whose path it is; `None` at the receiver's own path.
    tenant: Option<Arc<Entry>>,
}

impl Intake {
    /// Answers one request from `client` (when its address is known). Never
    /// panics on what the client sent.
    pub(crate) async fn handle<B>(
        &self,
        req: Request<B>,
        client: Option<IpAddr>,
    ) -> Response<ReplyBody>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let mut tenant = None;
        let (outcome, response) = self.answer(req, client, &mut tenant).await;
        self.counters.record(outcome);
        if let Some(entry) = tenant {
            entry.counters.record(outcome);
        }
        response
    }

    /// The rows of the table, in order; `tenant` is set as soon as it is known.
    async fn answer<B>(
        &self,
        req: Request<B>,
        client: Option<IpAddr>,
        tenant: &mut Option<Arc<Entry>>,
    ) -> (Outcome, Response<ReplyBody>)
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let settings = &self.settings;
        // Budgets first: a request over one costs no body read, no MAC, no lookup.
        if let Some(limiter) = &self.limiter
            && let Err(wait) = limiter.admit(client)
        {
            return (Outcome::RateLimited, too_many_requests(wait));
        }
        let route = match self.route(req.uri().path()) {
            Some(route) => route,
            None => return (Outcome::Rejected, reply(StatusCode::NOT_FOUND, "not found")),
        };
        if let Some(entry) = &route.tenant {
            *tenant = Some(entry.clone());
            if let Some(limiter) = &entry.limiter
                && let Err(wait) = limiter.admit(client)
            {
                return (Outcome::RateLimited, too_many_requests(wait));
            }
        }
        if req.method() != Method::POST {
            return (Outcome::Rejected, method_not_allowed());
        }
        // A declared length over the limit is refused before a byte of body is read.
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > settings.body_limit as u64) {
            self.failed(client, tenant.as_deref());
            return (
                Outcome::Rejected,
                closing(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit"),
            );
        }
        let hint = declared.map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX));
        let (parts, body) = req.into_parts();
        let body = match read_limited(body, settings.body_limit, settings.body_timeout, hint).await
        {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                self.failed(client, tenant.as_deref());
                return (
                    Outcome::Rejected,
                    closing(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit"),
                );
            }
            Err(BodyError::Timeout) => {
                return (
                    Outcome::Rejected,
                    closing(StatusCode::REQUEST_TIMEOUT, "body not received in time"),
                );
            }
            Err(BodyError::Broken(e)) => {
                tracing::debug!(error = %e, "webhook body could not be read");
                return (
                    Outcome::Rejected,
                    closing(StatusCode::BAD_REQUEST, "body could not be read"),
                );
            }
        };
        // Verify the raw bytes before anything looks inside them.
        if let Err(e) = route.verify.verify(&parts.headers, &body) {
            tracing::debug!(rule = %e, "webhook signature refused");
            self.failed(client, tenant.as_deref());
            return (
                Outcome::Unauthorized,
                reply(StatusCode::UNAUTHORIZED, format!("invalid signature: {e}")),
            );
        }
        let event = match Event::parse(body) {
            Ok(event) => event,
            Err(e) => {
                // Signed by the sender but not an event: retrying will not help.
                tracing::warn!(error = %e, "verified webhook body is not an event");
                return (
                    Outcome::Rejected,
                    reply(StatusCode::BAD_REQUEST, format!("not an event: {e}")),
                );
            }
        };
        if let (None, Some(tenants)) = (&route.tenant, &self.tenants) {
            *tenant = tenants.by_event(&event);
        }
        let tenant_id = tenant.as_ref().map(|entry| entry.tenant.id().clone());
        self.keep(event, tenant_id).await
    }

    /// The keyring a request to `path` answers to, or `None` for a 404.
    fn route(&self, path: &str) -> Option<Route> {
        let own = |verify: &Arc<dyn Verify>| Route {
            verify: verify.clone(),
            tenant: None,
        };
        if self.path.as_deref() == Some(path) {
            return self.verify.as_ref().map(own);
        }
        let tenant = self
            .tenants
            .as_ref()
            .and_then(|tenants| tenants.by_path(self.path.as_deref(), path))
            .and_then(|entry| {
                Some(Route {
                    verify: entry.verify()?,
                    tenant: Some(entry),
                })
            });
        match (tenant, &self.path) {
            (Some(route), _) => Some(route),
            // In a router, every path it is mounted on is the receiver's own.
            (None, None) => self.verify.as_ref().map(own),
            (None, Some(_)) => None,
        }
    }

    /// Counts a failed request against the failure budgets of `client`.
    fn failed(&self, client: Option<IpAddr>, tenant: Option<&Entry>) {
        if let Some(limiter) = &self.limiter {
            limiter.failed(client);
        }
        if let Some(limiter) = tenant.and_then(|entry| entry.limiter.as_deref()) {
            limiter.failed(client);
        }
    }

    /// Dedups, logs and queues a verified event. A 2xx only for what was kept.
    async fn keep(&self, event: Event, tenant: Option<TenantId>) -> (Outcome, Response<ReplyBody>) {
        let retry_after = self.settings.retry_after;
        // Room in the queue first, so an event that is logged is also emitted now.
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(TrySendError::Full(())) => {
                return (
                    Outcome::Unavailable,
                    unavailable("consumer queue full", retry_after),
                );
            }
            Err(TrySendError::Closed(())) => {
                return (
                    Outcome::Unavailable,
                    unavailable("receiver closed", retry_after),
                );
            }
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
        permit.send(
            Delivery::new(event, Origin::Webhook)
                .with_ack(ack)
                .with_tenant(tenant),
        );
        (Outcome::Accepted, reply(StatusCode::OK, "ok"))
    }
}

fn duplicate() -> (Outcome, Response<ReplyBody>) {
    (Outcome::Duplicate, reply(StatusCode::OK, "duplicate"))
}

fn store_down(
    e: &dyn std::error::Error,
    retry_after: std::time::Duration,
) -> (Outcome, Response<ReplyBody>) {
    tracing::warn!(error = %e, "store unavailable: answering 503");
    (
        Outcome::Unavailable,
        unavailable("store unavailable", retry_after),
    )
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
