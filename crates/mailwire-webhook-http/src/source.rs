//! The consumer's end: an [`EventSource`] over the events the receiver accepted.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mailwire_source::{Delivery, EventSource, Shutdown, SourceError, async_trait};
use tokio::sync::mpsc;

use crate::rejection::{self, Rejections};
use crate::server::Server;
use crate::stats::{Counters, ReceiverStats};

/// The events a webhook receiver accepted, in the order it accepted them, each with
/// [`Origin::Webhook`](mailwire_source::Origin::Webhook).
///
/// Acking a delivery acks it in the receiver's log (when one is configured). The
/// source ends (`Ok(None)`) once the server has shut down and every accepted event
/// has been handed over; dropping it stops the server at once.
pub struct WebhookSource {
    rx: mpsc::Receiver<Delivery>,
    local_addr: Option<SocketAddr>,
    server: Option<Server>,
    counters: Arc<Counters>,
    rejections: Arc<Mutex<Option<Rejections>>>,
}

impl WebhookSource {
    pub(crate) fn new(
        rx: mpsc::Receiver<Delivery>,
        local_addr: Option<SocketAddr>,
        server: Option<Server>,
        counters: Arc<Counters>,
        rejections: Arc<Mutex<Option<Rejections>>>,
    ) -> Self {
        WebhookSource {
            rx,
            local_addr,
            server,
            counters,
            rejections,
        }
    }

    /// The notices of the requests the receiver refused (every 4xx, and 503),
    /// each with its status, reason, client address and tenant: `Some` the
    /// first time only (for a source from
    /// [`into_service`](crate::WebhookReceiver::into_service), the first of
    /// this and [`WebhookService::rejections`](crate::WebhookService::rejections)).
    /// Notices nobody reads are dropped beyond a bounded backlog;
    /// [`Rejections::count`] stays exact.
    pub fn rejections(&self) -> Option<Rejections> {
        rejection::take(&self.rejections)
    }

    /// What the receiver answered so far, every tenant included (each tenant's
    /// own share: [`Tenants::stats`](crate::Tenants::stats)).
    pub fn stats(&self) -> ReceiverStats {
        self.counters.snapshot()
    }

    /// The address the server listens on (with the port picked when bound to port
    /// 0), or `None` for a source fed by a [`WebhookService`](crate::WebhookService).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// A handle that shuts the server down from elsewhere (gracefully: requests in
    /// flight are answered), or `None` for a source fed by a
    /// [`WebhookService`](crate::WebhookService) (its router shuts down).
    pub fn shutdown_handle(&self) -> Option<Shutdown> {
        let handle = self.server.as_ref()?.handle.clone();
        let waited = handle.clone();
        Some(Shutdown::new(
            move || handle.shutdown(),
            move || {
                let waited = waited.clone();
                Box::pin(async move { waited.finished().await })
            },
        ))
    }

    /// Shuts the server down gracefully: stops accepting, lets requests in flight
    /// finish (each new event is logged before its 2xx, so nothing is left to
    /// flush), and returns when it has stopped. Events accepted before are still
    /// yielded by [`next`](EventSource::next), then it returns `Ok(None)`.
    pub async fn shutdown(&self) {
        if let Some(handle) = self.shutdown_handle() {
            handle.shutdown();
            handle.finished().await;
        }
    }
}

#[async_trait]
impl EventSource for WebhookSource {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        // `recv` is cancellation safe: a dropped call loses no event.
        Ok(self.rx.recv().await)
    }

    fn name(&self) -> &str {
        "webhook"
    }
}

impl fmt::Debug for WebhookSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSource")
            .field("local_addr", &self.local_addr)
            .field("queued", &self.rx.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
