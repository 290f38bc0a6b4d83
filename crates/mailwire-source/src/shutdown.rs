//! One handle shape for ending a source from another task.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

type Stop = Arc<dyn Fn() + Send + Sync>;
type Finished = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Ends a source that runs its own task or server (the WebSocket's connection, the
/// webhook receiver's server) from any other task: every mailwire source hands out
/// this one shape (`shutdown_handle()`). Cheap to clone.
///
/// [`shutdown`](Shutdown::shutdown) starts a graceful stop and returns at once:
/// what the source received before is still delivered by `next()`, which then
/// returns `Ok(None)`. [`finished`](Shutdown::finished) waits until the source's
/// task or server has stopped.
///
/// A source of your own builds one over its own mechanism:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// use mailwire_source::Shutdown;
///
/// let stopped = Arc::new(AtomicBool::new(false));
/// let flag = stopped.clone();
/// let handle = Shutdown::new(
///     move || flag.store(true, Ordering::SeqCst),
///     || Box::pin(async {}), // nothing to wait for: it stops at once
/// );
/// handle.clone().shutdown();
/// assert!(stopped.load(Ordering::SeqCst));
/// # futures::executor::block_on(handle.finished());
/// ```
#[derive(Clone)]
pub struct Shutdown {
    stop: Stop,
    finished: Finished,
}

impl Shutdown {
    /// A handle over a source's own mechanism: `stop` starts the graceful stop and
    /// returns at once; `finished` gives a future that resolves once the source has
    /// stopped (at once if it already has).
    pub fn new(
        stop: impl Fn() + Send + Sync + 'static,
        finished: impl Fn() -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Shutdown {
        Shutdown {
            stop: Arc::new(stop),
            finished: Arc::new(finished),
        }
    }

    /// Starts a graceful stop; returns at once. Calling it again does nothing more.
    pub fn shutdown(&self) {
        (self.stop)();
    }

    /// Waits until the source has stopped. Cancellation safe.
    pub async fn finished(&self) {
        (self.finished)().await;
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown").finish_non_exhaustive()
    }
}
