//! What happens to one request: the rows of the receiver's table, in order.
//!
//! Shared by the hyper server and the tower service, so both answer alike.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode, header};
use http_body::Body;
use mailwire_proto::{Event, ParseError};
use mailwire_source::{
    Ack, BoxError, Custody, Delivery, Origin, Settle, SourceError, TenantId, async_trait,
};
use mailwire_store::{SeenSet, Store};
use mailwire_webhook::VerifyError;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::body::{BodyBudget, BodyError, read_limited};
use crate::limiter::Limiter;
use crate::metric::{self, Budget};
use crate::rejection::RejectionLog;
use crate::reply::{
    ReplyBody, closing, method_not_allowed, reply, too_many_requests, unavailable,
    unavailable_closing,
};
use crate::settings::Settings;
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
    pub(crate) rejections: RejectionLog,
    /// The bodies held at once, by every request together.
    pub(crate) bodies: BodyBudget,
}

/// How one request ended: the counters' class, the response, and why.
struct Answer {
    outcome: Outcome,
    response: Response<ReplyBody>,
    why: Why,
}

impl Answer {
    fn new(outcome: Outcome, response: Response<ReplyBody>, why: Why) -> Answer {
        Answer {
            outcome,
            response,
            why,
        }
    }

    /// A fixed reason, which is also the response's text.
    fn fixed(outcome: Outcome, response: Response<ReplyBody>, reason: &'static str) -> Answer {
        Answer::new(outcome, response, Why::Fixed(reason))
    }
}

/// Why a request was refused, kept as a value so the text of a [`Rejection`]
/// notice is only made when someone has room to read it.
///
/// [`Rejection`]: crate::Rejection
enum Why {
    Fixed(&'static str),
    RateLimited(Budget),
    Signature(VerifyError),
    NotAnEvent(ParseError),
}

impl Why {
    /// The notice's reason: never a secret, a signature or part of the body.
    fn reason(&self) -> String {
        match self {
            Why::Fixed(reason) => (*reason).to_owned(),
            Why::RateLimited(budget) => budget.reason().to_owned(),
            // Rule names only: VerifyError never displays a secret or a MAC.
            Why::Signature(e) => format!("invalid signature: {e}"),
            Why::NotAnEvent(e) => not_an_event(e),
        }
    }
}

/// A parse error without the parts of the body that serde may quote (an
/// unexpected string's value, an unknown field's name).
fn not_an_event(e: &ParseError) -> String {
    match e {
        // serde's message may quote the body; its position does not.
        ParseError::Json(json) => format!(
            "not an event: malformed JSON at line {}, column {}",
            json.line(),
            json.column()
        ),
        ParseError::TooLarge { .. } | ParseError::NotAnEvent(_) | ParseError::InvalidId(_) => {
            format!("not an event: {e}")
        }
        _ => "not an event".to_owned(),
    }
}

/// Which keyring and budgets a request answers to.
struct Route {
    verify: Arc<dyn Verify>,
    /// The tenant whose path it is; `None` at the receiver's own path.
    tenant: Option<Arc<Entry>>,
}

impl Intake {
    /// Answers one request from `peer` (when its address is known). Never
    /// panics on what the client sent.
    pub(crate) async fn handle<B>(
        &self,
        req: Request<B>,
        peer: Option<SocketAddr>,
    ) -> Response<ReplyBody>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let mut tenant = None;
        let Answer {
            outcome,
            response,
            why,
        } = self.answer(req, peer.map(|p| p.ip()), &mut tenant).await;
        let status = response.status();
        self.counters.record(outcome);
        if let Some(entry) = &tenant {
            entry.counters.record(outcome);
        }
        metric::request(outcome, status, tenant.as_deref().map(|e| &e.metrics));
        if let Why::RateLimited(budget) = why {
            metric::rate_limited(budget);
        }
        if !status.is_success() {
            self.rejections.record(
                status,
                || why.reason(),
                peer,
                tenant.as_deref().map(|e| e.tenant.id()),
            );
        }
        response
    }

    /// The rows of the table, in order; `tenant` is set as soon as it is known.
    async fn answer<B>(
        &self,
        req: Request<B>,
        client: Option<IpAddr>,
        tenant: &mut Option<Arc<Entry>>,
    ) -> Answer
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let settings = &self.settings;
        // Budgets first: a request over one costs no body read, no MAC, no lookup.
        if let Some(limiter) = &self.limiter
            && let Err((budget, wait)) = limiter.admit(client)
        {
            return rate_limited(budget, wait);
        }
        let route = match self.route(req.uri().path()) {
            Some(route) => route,
            None => return fixed(Outcome::Rejected, StatusCode::NOT_FOUND, "not found"),
        };
        if let Some(entry) = &route.tenant {
            *tenant = Some(entry.clone());
            if let Some(limiter) = &entry.limiter
                && let Err((_, wait)) = limiter.admit(client)
            {
                return rate_limited(Budget::Tenant, wait);
            }
        }
        if req.method() != Method::POST {
            return Answer::fixed(
                Outcome::Rejected,
                method_not_allowed(),
                "method not allowed",
            );
        }
        // A declared length over the limit is refused before a byte of body is read.
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > settings.body_limit as u64) {
            self.failed(client, tenant.as_deref());
            return closed(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit");
        }
        let hint = declared.map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX));
        let (parts, body) = req.into_parts();
        // Held until the request is answered: the body, then the event made of it.
        let mut held = self.bodies.reservation();
        let read = read_limited(
            body,
            settings.body_limit,
            settings.body_timeout,
            hint,
            &mut held,
        );
        let body = match read.await {
            Ok(body) => body,
            Err(BodyError::Busy) => {
                return Answer::fixed(
                    Outcome::Unavailable,
                    unavailable_closing(BODIES_BUSY, settings.retry_after),
                    BODIES_BUSY,
                );
            }
            Err(BodyError::TooLarge) => {
                self.failed(client, tenant.as_deref());
                return closed(StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit");
            }
            Err(BodyError::Timeout) => {
                return closed(StatusCode::REQUEST_TIMEOUT, "body not received in time");
            }
            Err(BodyError::Broken(e)) => {
                tracing::debug!(error = %e, "webhook body could not be read");
                return closed(StatusCode::BAD_REQUEST, "body could not be read");
            }
        };
        // Verify the raw bytes before anything looks inside them.
        if let Err(e) = route.verify.verify(&parts.headers, &body) {
            tracing::debug!(rule = %e, "webhook signature refused");
            self.failed(client, tenant.as_deref());
            return Answer::new(
                Outcome::Unauthorized,
                reply(StatusCode::UNAUTHORIZED, format!("invalid signature: {e}")),
                Why::Signature(e),
            );
        }
        let event = match Event::parse(body) {
            Ok(event) => event,
            Err(e) => {
                // Signed by the sender but not an event: retrying will not help.
                tracing::warn!(error = %e, "verified webhook body is not an event");
                return Answer::new(
                    Outcome::Rejected,
                    reply(StatusCode::BAD_REQUEST, format!("not an event: {e}")),
                    Why::NotAnEvent(e),
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
    async fn keep(&self, event: Event, tenant: Option<TenantId>) -> Answer {
        let retry_after = self.settings.retry_after;
        // Room in the queue first, so an event that is logged is also emitted now.
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(TrySendError::Full(())) => {
                return not_kept("consumer queue full", retry_after);
            }
            Err(TrySendError::Closed(())) => {
                return not_kept("receiver closed", retry_after);
            }
        };
        let (ack, custody) = match (&self.store, &self.seen) {
            // Exactly one of concurrent deliveries of one id claims it: the store's
            // append is atomic per id, across instances sharing it. The delivery
            // says so (`Custody::Claimed`): a merge sharing the store hands it out
            // without a second append and acks it once.
            (Some(store), _) => match timed_append(store.as_ref(), &event).await {
                Ok(appended) if appended.is_claimed() => (
                    Ack::new(StoreAck {
                        store: store.clone(),
                        id: event.dedup_id().to_owned(),
                        settled: false,
                    }),
                    Custody::Claimed,
                ),
                Ok(_) => return duplicate(),
                Err(e) => return store_down(&e, retry_after),
            },
            (None, Some(seen)) => match seen.insert(event.dedup_id(), self.settings.seen_ttl).await
            {
                Ok(true) => (Ack::none(), Custody::Source),
                Ok(false) => return duplicate(),
                Err(e) => return store_down(&e, retry_after),
            },
            (None, None) => (Ack::none(), Custody::Source),
        };
        permit.send(
            Delivery::new(event, Origin::Webhook)
                .with_ack(ack)
                .with_custody(custody)
                .with_tenant(tenant),
        );
        fixed(Outcome::Accepted, StatusCode::OK, "ok")
    }
}

/// The store's append, its latency recorded.
async fn timed_append(
    store: &dyn Store,
    event: &Event,
) -> Result<mailwire_store::Appended, mailwire_store::StoreError> {
    let start = Instant::now();
    let appended = store.append(event).await;
    metric::store_append(start.elapsed(), appended.is_ok());
    appended
}

/// Why a body was refused for the bound on bodies held at once.
const BODIES_BUSY: &str = "too many request bodies held at once";

/// A plain answer whose text is its reason.
fn fixed(outcome: Outcome, status: StatusCode, reason: &'static str) -> Answer {
    Answer::fixed(outcome, reply(status, reason), reason)
}

/// A refusal after which the connection closes.
fn closed(status: StatusCode, reason: &'static str) -> Answer {
    Answer::fixed(Outcome::Rejected, closing(status, reason), reason)
}

fn rate_limited(budget: Budget, wait: std::time::Duration) -> Answer {
    Answer::new(
        Outcome::RateLimited,
        too_many_requests(wait),
        Why::RateLimited(budget),
    )
}

/// 503: a valid event that could not be kept now.
fn not_kept(reason: &'static str, retry_after: std::time::Duration) -> Answer {
    Answer::fixed(
        Outcome::Unavailable,
        unavailable(reason, retry_after),
        reason,
    )
}

fn duplicate() -> Answer {
    fixed(Outcome::Duplicate, StatusCode::OK, "duplicate")
}

fn store_down(e: &dyn std::error::Error, retry_after: std::time::Duration) -> Answer {
    tracing::warn!(error = %e, "store unavailable: answering 503");
    not_kept("store unavailable", retry_after)
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
