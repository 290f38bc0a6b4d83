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
use crate::seen::MemorySeen;
use crate::server;
use crate::source::WebhookSource;
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
}

/// Builds a webhook receiver: a [`Verifier`], optionally a durable [`Store`] (or a
/// [`SeenSet`] alone), and limits. [`bind`](Self::bind) serves it over HTTP and returns
/// the [`WebhookSource`] that yields what it accepts.
///
/// Defaults: path `/webhooks`, body limit 1 MiB, header read timeout 10 s, body
/// read timeout 10 s, 1024 concurrent connections (more wait in the listen
/// backlog), a queue of 1024 events to the consumer, `Retry-After: 5` on a 503,
/// duplicate memory of 3 days (longer than the Standard Webhooks retry schedule,
/// about 28 hours), 30 s for in-flight requests at shutdown.
pub struct WebhookReceiver {
    verify: Arc<dyn Verify>,
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
        WebhookReceiver {
            verify: Arc::new(verifier),
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

    /// The path webhooks are POSTed to; other paths get 404.
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
        let server = server::spawn(listener, intake, settings);
        WebhookSource::new(rx, local_addr, Some(server))
    }

    /// Mounts the receiver in your own router instead of serving it: the service
    /// verifies, logs and queues exactly as the built-in server does (every route
    /// it is mounted on is served; the configured path is not checked), and the
    /// source yields what it accepted. The source ends once every clone of the
    /// service is dropped. Connection limits and the header timeout are then the
    /// router's server's business; the body limit and body timeout still apply.
    #[cfg(feature = "tower")]
    pub fn into_service(self) -> (crate::WebhookService, WebhookSource) {
        let (intake, rx) = self.into_intake(false);
        (
            crate::WebhookService::new(intake),
            WebhookSource::new(rx, None, None),
        )
    }

    fn into_intake(self, route: bool) -> (Arc<Intake>, mpsc::Receiver<crate::Delivery>) {
        let (tx, rx) = mpsc::channel(self.settings.queue_capacity);
        let seen = match (self.seen, &self.store) {
            (_, Some(_)) => None,
            (Some(seen), None) => Some(seen),
            (None, None) => Some(Arc::new(MemorySeen::default()) as Arc<dyn SeenSet>),
        };
        let path = route.then(|| self.settings.path.clone());
        let intake = Intake {
            path,
            verify: self.verify,
            store: self.store,
            seen,
            tx,
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
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
