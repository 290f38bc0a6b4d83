//! Handlers that take seconds: many deliveries at once, one at a time per
//! conversation, retried with backoff, set aside as dead letters when they keep
//! failing.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mailwire_source::{EventSource, SourceError};
use mailwire_store::Store;
use tokio::task::JoinSet;
use tokio::time::Instant;

mod job;
mod jobs;
mod policy;

pub use job::{Attempt, Job, RunStats, metric};
pub use jobs::Jobs;
pub use policy::{KeyFn, OrderBy, Retry};

/// Runs handlers over a source: up to [`concurrency`](Runner::concurrency) at once,
/// those of one conversation one at a time in arrival order
/// ([`order_by`](Runner::order_by)), each acked as it finishes, a failed one retried
/// ([`retry`](Runner::retry)) and after its last attempt set aside as a dead letter
/// in the store.
///
/// Each delivery the runner holds keeps its claim in the store alive (a Redis store
/// renews it), however long its handler runs or its conversation makes it wait: a
/// handler ten times the lease is never handed to another instance, and a crashed
/// instance's events are taken over one lease after it stopped renewing them.
///
/// ```no_run
/// use std::time::Duration;
/// use mailwire_agent::{Agent, OrderBy, Retry};
///
/// # async fn agent(mut agent: Agent) -> Result<(), Box<dyn std::error::Error>> {
/// // Whatever says "stop" (a signal handler, a shutdown endpoint) sends on this.
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// # drop(stop);
/// let stats = agent
///     .runner()
///     .concurrency(32)
///     .order_by(OrderBy::Thread)
///     .retry(Retry::attempts(5))
///     .stop_on(async move { let _ = stopped.await; })
///     .run(|work| async move {
///         // A model call that takes seconds; an error is a failed attempt.
///         println!("{} (attempt {})", work.event.id(), work.attempt);
///         Ok::<(), std::io::Error>(())
///     })
///     .await?;
/// println!("{} handled, {} dead letters", stats.handled, stats.dead_letters);
/// agent.stop().await;
/// # Ok(()) }
/// ```
pub struct Runner<S> {
    source: S,
    store: Option<Arc<dyn Store>>,
    concurrency: usize,
    max_waiting: Option<usize>,
    order: OrderBy,
    retry: Retry,
    timeout: Option<Duration>,
    drain: Duration,
    stop: Option<futures::future::BoxFuture<'static, ()>>,
}

impl<S: EventSource> Runner<S> {
    /// A runner over `source`, one handler at a time until told otherwise. Without
    /// a [`store`](Runner::dead_letters) for dead letters, an event that fails its
    /// last attempt is left unacked for its source to deliver again.
    pub fn new(source: S) -> Runner<S> {
        Runner {
            source,
            store: None,
            concurrency: 1,
            max_waiting: None,
            order: OrderBy::default(),
            retry: Retry::default(),
            timeout: None,
            drain: Duration::from_secs(30),
            stop: None,
        }
    }

    /// Where dead letters are kept: the store the source delivers from (an
    /// [`Agent`](crate::Agent)'s runner has it already).
    pub fn dead_letters(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Up to `n` handlers at once (default 1; at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Up to `n` deliveries held waiting (behind a busy conversation, or for a
    /// retry) before the runner stops taking more from its source (default: the
    /// concurrency). Each holds a claim no other instance can take.
    pub fn max_waiting(mut self, n: usize) -> Self {
        self.max_waiting = Some(n.max(1));
        self
    }

    /// Which deliveries run one at a time, in arrival order (default: per thread).
    pub fn order_by(mut self, order: OrderBy) -> Self {
        self.order = order;
        self
    }

    /// How failed handlers are retried (default: 5 attempts, 1 s doubling to 60 s).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// A handler running longer than `timeout` is cancelled: a failed attempt
    /// (default: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// At a stop, how long handlers in flight may take to finish before they are
    /// cancelled and their deliveries released (default 30 s).
    pub fn drain_for(mut self, deadline: Duration) -> Self {
        self.drain = deadline;
        self
    }

    /// Stops when `signal` completes: no new work is taken, handlers in flight
    /// finish (within [`drain_for`](Runner::drain_for)), the rest is released for
    /// another instance or the next start.
    pub fn stop_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop = Some(Box::pin(signal));
        self
    }

    /// The deliveries one at a time as [`Job`]s, for an application that runs its
    /// own tasks: [`Jobs::next`] hands out a job only while fewer than the
    /// concurrency are unsettled, and never two of one key at once.
    pub fn jobs(self) -> Jobs<S> {
        Jobs::new(
            self.source,
            self.store,
            self.concurrency,
            self.max_waiting.unwrap_or(self.concurrency),
            self.order,
            self.retry,
        )
    }

    /// Runs `handler` for each delivery until the source ends, a fatal error, or
    /// the [stop signal](Runner::stop_on). `Ok(())` acks; an error (or a panic, or
    /// the [timeout](Runner::timeout)) is a failed attempt. Returns the counters.
    pub async fn run<H, F, E>(mut self, handler: H) -> Result<RunStats, SourceError>
    where
        H: Fn(Attempt) -> F,
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let stop = self
            .stop
            .take()
            .unwrap_or_else(|| Box::pin(std::future::pending()));
        let timeout = self.timeout;
        let drain = self.drain;
        let mut jobs = self.jobs();
        let mut tasks = JoinSet::new();
        let mut stop = stop;
        let result = loop {
            tokio::select! {
                biased;
                () = &mut stop => break Ok(()),
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = joined
                        && e.is_panic()
                    {
                        tracing::warn!("a handler panicked: a failed attempt");
                    }
                }
                next = jobs.next() => match next {
                    Ok(Some(job)) => {
                        let work = handler(job.attempt_info());
                        tasks.spawn(settle(job, work, timeout));
                    }
                    Ok(None) => break Ok(()),
                    Err(e) if e.is_fatal() => break Err(e),
                    Err(e) => tracing::warn!(error = %e, "the source failed (carrying on)"),
                },
            }
        };
        jobs.stopping();
        let deadline = Instant::now() + drain;
        let drained = tokio::time::timeout_at(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                handlers = tasks.len(),
                "handlers still running at the stop's deadline: cancelled, their events released"
            );
            tasks.shutdown().await;
        }
        jobs.finish(deadline).await;
        result.map(|()| jobs.stats())
    }
}

impl<S> fmt::Debug for Runner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("concurrency", &self.concurrency)
            .field("order", &self.order)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Runs one handler and settles its job by what it returned.
async fn settle<F, E>(job: Job, work: F, timeout: Option<Duration>)
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let outcome = match timeout {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(done) => done.map_err(|e| e.to_string()),
            Err(_) => Err(format!("timed out after {:.1} s", limit.as_secs_f64())),
        },
        None => work.await.map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(()) => {
            let id = job.event().id().to_owned();
            if let Err(e) = job.ack().await {
                tracing::warn!(event_id = %id, error = %e, "handled, but the ack failed: it will be delivered again");
            }
        }
        Err(error) => job.fail(error),
    }
}
