//! Configuring a receiver.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailwire_store::{SeenSet, Store};
use mailwire_webhook::{Clock, Verifier};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::mpsc;

use crate::intake::Intake;
use crate::limiter::Limiter;
use crate::limits::RateLimits;
use crate::rejection::RejectionLog;
use crate::server;
use crate::source::WebhookSource;
use crate::stats::Counters;
use crate::tenant::Tenants;
use crate::verify::Verify;

/// The receiver's limits and timings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) path: String,
    pub(crate) body_limit: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) retry_after: Duration,
    pub(crate) seen_ttl: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) rate_limits: RateLimits,
}

/// Builds a webhook receiver: a [`Verifier`], optionally a durable [`Store`] (or a
/// [`SeenSet`] alone), and limits. [`bind`](Self::bind) serves it over HTTP and returns
/// the [`WebhookSource`] that yields what it accepts.
///
/// Defaults: path `/webhooks`, body limit 1 MiB, header read timeout 10 s, body
/// read timeout 10 s, 1024 concurrent connections (more wait in the listen
/// backlog), a queue of 1024 events to the consumer, `Retry-After: 5` on a 503,
/// duplicate memory of 3 days (longer than the Standard Webhooks retry schedule,
/// about 28 hours), 30 s for in-flight requests at shutdown, the
/// [default rate limits](RateLimits::default) (`1000/s burst 5000` per client
/// address, `20000/s burst 40000` in total, `10/min burst 20` failures per
/// client address), no tenants.
///
/// # Rate limits
///
/// Every request is first checked against the receiver's [`RateLimits`] (per
/// client address, in total, and the stricter budget of an address whose
/// requests failed verification), then against its tenant's: over any of them,
/// it gets 429 with `Retry-After` before its body is read or a MAC computed.
///
/// ```
/// use mailwire_webhook::{Keyring, Verifier};
/// use mailwire_webhook_http::{Rate, RateLimits, WebhookReceiver};
///
/// let verifier = || Verifier::new(Keyring::hex("s3cret").unwrap());
/// // Tighter than the defaults for one sender's address; no total.
/// let limits = RateLimits::default()
///     .per_address(Some(Rate::per_second(100).with_burst(500)))
///     .total(None);
/// let receiver = WebhookReceiver::new(verifier()).rate_limits(limits);
/// // Behind a proxy that limits already (every request from its address):
/// let unlimited = WebhookReceiver::new(verifier()).rate_limits(RateLimits::off());
/// # drop((receiver, unlimited));
/// ```
///
/// # Tenants
///
/// With [`tenants`](Self::tenants), the receiver also serves each tenant of a
/// [`Tenants`] table at `<path>/<tenant id>` (or the tenant's own path) with the
/// tenant's keyring and budgets, and routes events verified at its own path to a
/// tenant by their pod or inbox id; see [`Tenant`](crate::Tenant). Each delivery
/// says its tenant in [`Delivery::tenant`](mailwire_source::Delivery::tenant).
/// The table can change while the receiver serves. Without tenants the receiver
/// behaves exactly as it would without this option.
pub struct WebhookReceiver {
    verify: Option<Arc<dyn Verify>>,
    tenants: Option<Tenants>,
    store: Option<Arc<dyn Store>>,
    seen: Option<Arc<dyn SeenSet>>,
    settings: Settings,
}

impl WebhookReceiver {
    /// The default body limit: 1 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

    /// A receiver that checks signatures with `verifier`, keeps nothing on disk and
    /// remembers ids in memory.
    pub fn new<C: Clock + Send + Sync + 'static>(verifier: Verifier<C>) -> Self {
        WebhookReceiver::with_verify(Some(Arc::new(verifier)))
    }

    /// A receiver for `tenants` only: each is served at `<path>/<tenant id>` (or
    /// its own path) with its own keyring, and the receiver's own path answers
    /// 404 (there is no keyring to verify it with, so no tenant is routed by pod
    /// or inbox either).
    pub fn for_tenants(tenants: Tenants) -> Self {
        WebhookReceiver::with_verify(None).tenants(tenants)
    }

    fn with_verify(verify: Option<Arc<dyn Verify>>) -> Self {
        WebhookReceiver {
            verify,
            tenants: None,
            store: None,
            seen: None,
            settings: Settings {
                path: "/webhooks".to_owned(),
                body_limit: Self::DEFAULT_BODY_LIMIT,
                header_timeout: Duration::from_secs(10),
                body_timeout: Duration::from_secs(10),
                max_connections: 1024,
                queue_capacity: 1024,
                retry_after: Duration::from_secs(5),
                seen_ttl: Duration::from_secs(3 * 24 * 3600),
                shutdown_grace: Duration::from_secs(30),
                rate_limits: RateLimits::default(),
            },
        }
    }

    /// Appends every new event to `store` before answering 2xx, which claims it for
    /// this instance; acking a delivery acks it in the store. The store's append is
    /// what deduplicates: a copy this instance holds, another instance holds, or that
    /// was acked gets 200 `duplicate` and is not emitted. Pass the same store value
    /// (a clone) to the merge this receiver feeds: the merge then trusts this append
    /// and writes nothing more for the event until its ack.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Without a store: remembers ids in `seen` (e.g. one shared by several
    /// processes) instead of in memory. Ignored when a store is set: the store's
    /// append is the authority.
    pub fn seen(mut self, seen: impl SeenSet) -> Self {
        self.seen = Some(Arc::new(seen));
        self
    }

    /// The request budgets checked before any body is read; [`RateLimits::off`]
    /// turns them off. See [Rate limits](#rate-limits).
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.settings.rate_limits = limits;
        self
    }

    /// Serves these tenants too, each at `<path>/<tenant id>` or its own path.
    /// Keep a clone of `tenants` to add, rotate and remove tenants while the
    /// receiver runs, and to read their stats. See [Tenants](#tenants).
    pub fn tenants(mut self, tenants: Tenants) -> Self {
        self.tenants = Some(tenants);
        self
    }

    /// The path webhooks are POSTed to; other paths (but its tenants') get 404.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.settings.path = path.into();
        self
    }

    /// The largest body accepted; larger ones get 413 without being read.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.body_limit = bytes;
        self
    }

    /// How long a client may take to send the request line and headers.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.settings.header_timeout = timeout;
        self
    }

    /// How long a client may take to send the body, once the headers are in.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.settings.body_timeout = timeout;
        self
    }

    /// The most connections served at once. Further connections wait, unaccepted,
    /// in the listen backlog until one closes: a burst is served late rather than
    /// refused, and the timeouts bound how long a slow client holds a slot.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.settings.max_connections = max.max(1);
        self
    }

    /// How many accepted events may wait for the consumer. When full, requests get
    /// 503 with `Retry-After` and the sender retries later.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.settings.queue_capacity = capacity.max(1);
        self
    }

    /// The `Retry-After` sent with a 503.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.settings.retry_after = after;
        self
    }

    /// How long an id is remembered as seen.
    pub fn seen_ttl(mut self, ttl: Duration) -> Self {
        self.settings.seen_ttl = ttl;
        self
    }

    /// How long shutdown waits for in-flight requests before cutting them off.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.settings.shutdown_grace = grace;
        self
    }

    /// Binds `addr` (port 0 picks a free port, see
    /// [`WebhookSource::local_addr`]) and serves webhooks until the source is
    /// shut down or dropped.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<WebhookSource> {
        let listener = TcpListener::bind(addr).await?;
        Ok(self.serve(listener))
    }

    /// Serves webhooks on a listener you bound yourself.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn serve(self, listener: TcpListener) -> WebhookSource {
        let local_addr: Option<SocketAddr> = listener.local_addr().ok();
        let settings = self.settings.clone();
        let (intake, rx) = self.into_intake(true);
        let counters = intake.counters.clone();
        let rejections = intake.rejections.unread();
        let server = server::spawn(listener, intake, settings);
        WebhookSource::new(rx, local_addr, Some(server), counters, rejections)
    }

    /// Mounts the receiver in your own router instead of serving it: the service
    /// verifies, logs and queues exactly as the built-in server does (every route
    /// it is mounted on is served; the configured path is not checked), and the
    /// source yields what it accepted. The source ends once every clone of the
    /// service is dropped. Connection limits and the header timeout are then the
    /// router's server's business; the body limit and body timeout still apply.
    ///
    /// Rate limits per client address need the address: the service reads it
    /// from a [`SocketAddr`] in the request's extensions (with axum, copy it there
    /// from `ConnectInfo`; behind a reverse proxy, put the client's address from
    /// the proxy's header there instead); without one, only the total budgets
    /// apply. A tenant
    /// is found by its own path, or else by the last segment of the request's
    /// path (mount the service on e.g. `/webhooks/{tenant}`); any other path is
    /// the receiver's own.
    #[cfg(feature = "tower")]
    pub fn into_service(self) -> (crate::WebhookService, WebhookSource) {
        let (intake, rx) = self.into_intake(false);
        let counters = intake.counters.clone();
        let rejections = intake.rejections.unread();
        (
            crate::WebhookService::new(intake),
            WebhookSource::new(rx, None, None, counters, rejections),
        )
    }

    fn into_intake(self, route: bool) -> (Arc<Intake>, mpsc::Receiver<crate::Delivery>) {
        let (tx, rx) = mpsc::channel(self.settings.queue_capacity);
        let seen = match (self.seen, &self.store) {
            (_, Some(_)) => None,
            (Some(seen), None) => Some(seen),
            // The store crate's memory seen-set: one implementation of the rule.
            (None, None) => Some(Arc::new(mailwire_store::MemoryStore::new()) as Arc<dyn SeenSet>),
        };
        let path = route.then(|| self.settings.path.clone());
        let intake = Intake {
            path,
            verify: self.verify,
            store: self.store,
            seen,
            tx,
            limiter: Limiter::new(&self.settings.rate_limits),
            tenants: self.tenants,
            counters: Arc::new(Counters::default()),
            rejections: RejectionLog::new(),
            settings: Arc::new(self.settings),
        };
        (Arc::new(intake), rx)
    }
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("store", &self.store.is_some())
            .field("seen", &self.seen.is_some())
            .field("tenants", &self.tenants)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
