//! Configuring a receiver.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailwire_store::{SeenSet, Store};
use mailwire_webhook::{Clock, Verifier};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::mpsc;

use crate::body::BodyBudget;
use crate::intake::Intake;
use crate::limiter::Limiter;
use crate::limits::RateLimits;
use crate::rejection::RejectionLog;
use crate::server;
use crate::settings::Settings;
use crate::source::WebhookSource;
use crate::stats::Counters;
use crate::tenant::Tenants;
use crate::verify::Verify;

/// Builds a webhook receiver: a [`Verifier`], optionally a durable [`Store`] (or a
/// [`SeenSet`] alone), and limits. [`bind`](Self::bind) serves it over HTTP and returns
/// the [`WebhookSource`] that yields what it accepts.
///
/// Defaults: path `/webhooks`, body limit 4 MiB, 64 MiB of bodies held at once
/// in total, header read timeout 10 s, body read timeout 10 s, 1024 concurrent
/// connections (more wait in the listen backlog), 512 of them per client
/// address (more are closed at once), idle keep-alive connections closed after
/// 30 s, a queue of 1024 events to the consumer, `Retry-After: 5` on a 503,
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
/// # Connections
///
/// The built-in server serves at most [`max_connections`](Self::max_connections)
/// (1024) connections at once, at most
/// [`max_connections_per_address`](Self::max_connections_per_address) (512) of
/// them from one client address, and closes a connection that waits longer
/// than the [`idle_timeout`](Self::idle_timeout) (30 s) for its next request.
/// Why these defaults:
///
/// - **512 per address.** One address can then hold at most half of the
///   slots, so 512 stay for every other sender however many connections it
///   opens (e.g. 1,100 keep-alive connections each sending a request every 5 s
///   leave a signed webhook from elsewhere answered at once). A real sender
///   stays below it: AgentMail's sender (Svix) spreads deliveries over several
///   connections per address and answers here take milliseconds, so even a
///   sender at the default per-address rate budget (1000 requests/s) needs
///   only 1000 × the answer time connections (Little's law: 500 with answers
///   of 500 ms), and a backlog of a few hundred deliveries retried at once
///   after an outage is served, not refused. Several abusive addresses
///   together are bounded by the global cap alone; raise both (and the file
///   descriptor limit) for more headroom.
/// - **30 s idle.** Far longer than the gap between deliveries of a busy
///   sender, whose connections are therefore reused, and short enough that
///   connections left behind (a client gone without a FIN) give their slot
///   back soon. A client sending one request just under every 30 s keeps its
///   connection, which is why the per-address cap, not this timeout, is what
///   keeps one address from holding every slot.
///
/// A request under way is bounded by the header timeout (from its first
/// byte) and the body timeout; the idle timeout never cuts one off.
///
/// # Memory
///
/// A body is read whole before its signature is checked, so memory per request
/// is up to the [body limit](Self::body_limit), and in total up to
/// [`max_buffered_bytes`](Self::max_buffered_bytes): a body that would go over
/// it gets 503 with `Retry-After`, and the sender retries. Rate limits apply
/// before any body is read.
///
/// The default body limit, 4 MiB, is what the email service can send with
/// room to spare: AgentMail caps its webhook payloads at 1 MB, leaving out a
/// `message.received` event's `text` and `html` when the whole would be larger
/// (they are then fetched through the API), and sends attachments as metadata
/// only (id, filename, content type, size), never their contents. A webhook
/// forwarded by `mailwire forward` carries the text and html in full, so an
/// email whose text is over 1 MiB still fits, up to the parser's
/// [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES) (a larger body could
/// not be parsed, so the limit never goes above it). The default bound of
/// 64 MiB in total holds 16 bodies of the largest size, or over 30,000 typical
/// 2 KiB events, at once.
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
    /// The default body limit, 4 MiB: the largest event the parser takes
    /// ([`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES)). See
    /// [Memory](#memory) for why.
    pub const DEFAULT_BODY_LIMIT: usize = mailwire_proto::MAX_EVENT_BYTES;
    /// The default bound on request bodies held at once, all connections
    /// together: 64 MiB. See [Memory](#memory).
    pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 << 20;
    /// The default cap on connections served at once: 1024.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// The default cap on connections from one client address: 512. See
    /// [Connections](#connections) for why.
    pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 512;
    /// The default idle timeout of a keep-alive connection: 30 s. See
    /// [Connections](#connections) for why.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

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
                max_connections: Self::DEFAULT_MAX_CONNECTIONS,
                max_connections_per_address: Some(Self::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
                idle_timeout: Some(Self::DEFAULT_IDLE_TIMEOUT),
                max_buffered_bytes: Self::DEFAULT_MAX_BUFFERED_BYTES,
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
    /// was acked gets 200 `duplicate` and is not emitted. Each delivery emitted says
    /// so ([`Custody::Claimed`](mailwire_source::Custody::Claimed)). Pass the same
    /// store value (a clone) to the merge this receiver feeds: the merge then hands
    /// the event out without a second append, and acks it in the store once.
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
    /// Default [`DEFAULT_BODY_LIMIT`](Self::DEFAULT_BODY_LIMIT) (4 MiB). A limit
    /// above [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES) is lowered to
    /// it: a larger body could never be parsed as an event, so reading it would
    /// only cost memory. See [Memory](#memory).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.body_limit = bytes.min(mailwire_proto::MAX_EVENT_BYTES);
        self
    }

    /// The most bytes of request bodies held at once, every connection
    /// together, from the first byte read until the request is answered. A
    /// request whose body would go over it gets 503 with `Retry-After` (the
    /// sender retries; nothing valid is lost) and its connection closes, so
    /// many connections each sending a body up to the limit cannot exhaust
    /// memory. Never below the [body limit](Self::body_limit): one body of the
    /// largest size always fits when no other is held. Default
    /// [`DEFAULT_MAX_BUFFERED_BYTES`](Self::DEFAULT_MAX_BUFFERED_BYTES) (64 MiB).
    /// See [Memory](#memory).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_buffered_bytes = bytes;
        self
    }

    /// How long a client may take to send the request line and headers, from
    /// the first byte of the request (the wait for that byte is the
    /// [idle timeout](Self::idle_timeout)'s). Past it, the connection is cut
    /// off. Default 10 s.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.settings.header_timeout = timeout;
        self
    }

    /// How long a connection may wait for its next request (after it was
    /// accepted, or after its last answer) before it is closed; `None` never
    /// closes an idle connection. Guards the connection slots against clients
    /// that open connections and send nothing, or leave them behind. Default
    /// [`DEFAULT_IDLE_TIMEOUT`](Self::DEFAULT_IDLE_TIMEOUT) (30 s); see
    /// [Connections](#connections).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.idle_timeout = timeout;
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
    /// Default [`DEFAULT_MAX_CONNECTIONS`](Self::DEFAULT_MAX_CONNECTIONS) (1024;
    /// each takes a file descriptor).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.settings.max_connections = max.max(1);
        self
    }

    /// The most connections served at once from one client address (an IPv6
    /// address counts by its /64, as for the [rate limits](#rate-limits));
    /// `None` for no cap (behind a reverse proxy, where every connection comes
    /// from the proxy's address). A connection over it is closed as soon as it
    /// is accepted, after a best-effort 429 with `Retry-After` (see
    /// [`retry_after`](Self::retry_after)): it takes no
    /// slot of [`max_connections`](Self::max_connections) and does not wait in
    /// the backlog. Each is counted in
    /// [`ReceiverStats::connections_refused`](crate::ReceiverStats::connections_refused),
    /// the `mailwire_webhook_connections_refused_total` metric and a
    /// [`Rejection`](crate::Rejection) notice (status 429). Guards against one
    /// address holding every slot, which would lock every other sender out.
    /// Default [`DEFAULT_MAX_CONNECTIONS_PER_ADDRESS`](Self::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)
    /// (512); see [Connections](#connections). Zero counts as one.
    pub fn max_connections_per_address(mut self, max: Option<usize>) -> Self {
        self.settings.max_connections_per_address = max.map(|max| max.max(1));
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
    /// service is dropped. Connection caps (in total and per address), the idle
    /// timeout and the header timeout are then the router's server's business;
    /// the body limit, the body timeout and the bound on bodies held at once
    /// still apply.
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
            // Never below the body limit: one body of the largest size fits.
            bodies: BodyBudget::new(
                self.settings
                    .max_buffered_bytes
                    .max(self.settings.body_limit),
            ),
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
