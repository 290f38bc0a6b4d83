//! The receiver as a tower [`Service`], to mount in a router of your own.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use mailwire_source::BoxError;
use tower_service::Service;

use crate::intake::Intake;
use crate::rejection::{self, Rejections};
use crate::reply::ReplyBody;
use crate::stats::ReceiverStats;

/// Verifies, logs and queues webhooks inside your own router: built by
/// [`WebhookReceiver::into_service`](crate::WebhookReceiver::into_service), which
/// also returns the [`WebhookSource`](crate::WebhookSource) that yields what it
/// accepts. Answers exactly as the built-in server does (429, 405, 413, 401, 400,
/// 503, 200); the client's address, for the budgets per address, is a
/// [`SocketAddr`] in the request's extensions, when there is one. Cheap to clone; never fails (`Error = Infallible`), so it mounts directly,
/// e.g. with axum's `Router::route_service`.
#[derive(Clone)]
pub struct WebhookService {
    intake: Arc<Intake>,
}

impl WebhookService {
    pub(crate) fn new(intake: Arc<Intake>) -> Self {
        WebhookService { intake }
    }

    /// What the service answered so far, every clone and tenant included.
    pub fn stats(&self) -> ReceiverStats {
        self.intake.counters.snapshot()
    }

    /// The notices of the requests it refused (every clone's): `Some` the first
    /// time this or [`WebhookSource::rejections`](crate::WebhookSource::rejections)
    /// is called, `None` after. See [`Rejections`].
    pub fn rejections(&self) -> Option<Rejections> {
        rejection::take(&self.intake.rejections.unread())
    }
}

impl<B> Service<Request<B>> for WebhookService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ReplyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Back-pressure is a 503 per request (queue full), not a pending service:
        // the sender is told to retry instead of the router stalling.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let intake = self.intake.clone();
        let peer = req.extensions().get::<SocketAddr>().copied();
        Box::pin(async move { Ok(intake.handle(req, peer).await) })
    }
}

impl fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService").finish_non_exhaustive()
    }
}
