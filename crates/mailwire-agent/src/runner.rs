//! Handlers that take seconds: many deliveries at once, one at a time per
//! conversation, retried with backoff, set aside as dead letters when they keep
//! failing.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin, SourceError, TenantId};
use mailwire_store::{DeadLetter, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Which deliveries must be handled one at a time, in the order they arrived: those
/// with the same key. Deliveries without a key (or with distinct keys) run at once.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OrderBy {
    /// One conversation at a time: the thread id, else the inbox (the default). An
    /// event naming neither (a domain verified) is not ordered.
    #[default]
    Thread,
    /// One inbox at a time.
    Inbox,
    /// No ordering: every delivery may run at once.
    None,
    /// A key of the application's own (`None`: not ordered).
    Key(Arc<dyn Fn(&Event) -> Option<String> + Send + Sync>),
}

impl OrderBy {
    /// Orders by a key of the application's own.
    pub fn key(f: impl Fn(&Event) -> Option<String> + Send + Sync + 'static) -> OrderBy {
        OrderBy::Key(Arc::new(f))
    }

    /// The key of `delivery` (its tenant's, when it has one: tenants never share a
    /// key).
    fn of(&self, delivery: &Delivery) -> Option<Arc<str>> {
        let event = &delivery.event;
        let key = match self {
            OrderBy::Thread => event
                .thread_id()
                .map(|t| format!("thread:{t}"))
                .or_else(|| event.inbox_id().map(|i| format!("inbox:{i}"))),
            OrderBy::Inbox => event.inbox_id().map(|i| format!("inbox:{i}")),
            OrderBy::None => None,
            OrderBy::Key(f) => f(event),
        }?;
        Some(match &delivery.tenant {
            Some(tenant) => format!("{tenant}/{key}").into(),
            None => key.into(),
        })
    }
}

impl fmt::Debug for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderBy::Thread => "Thread",
            OrderBy::Inbox => "Inbox",
            OrderBy::None => "None",
            OrderBy::Key(_) => "Key(..)",
        })
    }
}

impl std::str::FromStr for OrderBy {
    type Err = String;

    /// `thread`, `inbox` or `none`.
    fn from_str(s: &str) -> Result<OrderBy, String> {
        match s {
            "thread" => Ok(OrderBy::Thread),
            "inbox" => Ok(OrderBy::Inbox),
            "none" => Ok(OrderBy::None),
            other => Err(format!("{other:?}: expected thread, inbox or none")),
        }
    }
}

/// How a failed handler is tried again: up to `attempts` runs in all, the n-th
/// retry after a delay drawn between half and all of `min(max, first·2^(n-1))`.
/// After the last attempt the event is set aside as a dead letter in the store.
///
/// ```
/// use std::time::Duration;
/// use mailwire_agent::Retry;
///
/// // 5 runs in all (the default), waiting about 1 s, 2 s, 4 s, 8 s between them.
/// let retry = Retry::attempts(5).delays(Duration::from_secs(1), Duration::from_secs(60));
/// assert_eq!(retry.max_attempts(), 5);
/// assert!(retry.delay_before(2) <= Duration::from_secs(1));
/// assert!(retry.delay_before(5) >= Duration::from_secs(4));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    first: Duration,
    max: Duration,
}

impl Default for Retry {
    /// 5 attempts, the first retry after about 1 s, at most 60 s between two.
    fn default() -> Self {
        Retry {
            attempts: 5,
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// Up to `attempts` runs in all (at least 1: `Retry::attempts(1)` never retries).
    pub fn attempts(attempts: u32) -> Retry {
        Retry {
            attempts: attempts.max(1),
            ..Retry::default()
        }
    }

    /// The delay before the first retry (about), and the most between two.
    pub fn delays(mut self, first: Duration, max: Duration) -> Retry {
        self.first = first;
        self.max = max.max(first);
        self
    }

    /// How many runs in all.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before attempt `attempt` (2 for the first retry): between half and
    /// all of its ceiling, so handlers that failed together do not retry together.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(30);
        let ceiling = self.first.saturating_mul(1u32 << doublings).min(self.max);
        let spread = std::hash::RandomState::new().hash_one(attempt) % 1024;
        ceiling / 2 + (ceiling / 2).mul_f64(spread as f64 / 1024.0)
    }
}

/// One delivery handed to a handler: the event, where it came from, which attempt
/// this is. Settle it with [`ack`](Job::ack) once its side effect is done, or
/// [`fail`](Job::fail) it to have it retried (or set aside as a dead letter after
/// the last attempt). Dropped unsettled (a handler that panicked or was cancelled),
/// it counts as a failed attempt.
pub struct Job {
    pending: Option<Pending>,
    done: mpsc::UnboundedSender<Finished>,
}

impl Job {
    /// The event.
    pub fn event(&self) -> &Event {
        &self.pending().delivery.event
    }

    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.pending().delivery.origin
    }

    /// When its source received it.
    pub fn received_at(&self) -> SystemTime {
        self.pending().delivery.received_at
    }

    /// Its tenant, for a source that serves several.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.pending().delivery.tenant.as_ref()
    }

    /// Which run this is: 1 the first time, 2 for the first retry...
    pub fn attempt(&self) -> u32 {
        self.pending().attempts + 1
    }

    /// The ordering key it was handled under, when it has one.
    pub fn key(&self) -> Option<&str> {
        self.pending().key.as_deref()
    }

    /// What the previous attempt failed with, on a retry.
    pub fn last_error(&self) -> Option<&str> {
        self.pending().last_error.as_deref()
    }

    fn pending(&self) -> &Pending {
        self.pending
            .as_ref()
            .expect("a job is settled once, by value")
    }

    /// Acks the delivery (after its side effect: it is handled exactly once), and
    /// frees its key for the next delivery of its conversation.
    pub async fn ack(mut self) -> Result<(), SourceError> {
        let pending = self.pending.take().expect("a job is settled once");
        // Sent once the ack is done, or if this future is dropped meanwhile.
        let mut guard = KeyGuard {
            key: pending.key.clone(),
            done: self.done.clone(),
            acked: false,
        };
        let acked = pending.delivery.ack().await;
        guard.acked = acked.is_ok();
        acked
    }

    /// Reports a failed attempt: the delivery is retried after a delay (its key
    /// stays busy meanwhile, so its conversation keeps its order), or set aside as
    /// a dead letter after the last attempt.
    pub fn fail(mut self, error: impl fmt::Display) {
        let mut pending = self.pending.take().expect("a job is settled once");
        pending.last_error = Some(error.to_string());
        let _ = self.done.send(Finished::Failed(pending));
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(mut pending) = self.pending.take() {
            pending.last_error =
                Some("dropped unsettled (the handler panicked or was cancelled)".to_owned());
            let _ = self.done.send(Finished::Failed(pending));
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pending {
            Some(p) => f
                .debug_struct("Job")
                .field("id", &p.delivery.event.id())
                .field("key", &p.key)
                .field("attempt", &(p.attempts + 1))
                .finish(),
            None => f.write_str("Job(settled)"),
        }
    }
}

/// Frees a key when dropped.
struct KeyGuard {
    key: Option<Arc<str>>,
    done: mpsc::UnboundedSender<Finished>,
    acked: bool,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let _ = self.done.send(Finished::Acked {
            key: self.key.take(),
            acked: self.acked,
        });
    }
}

/// A delivery held by the runner: waiting for its key, ready, running, or waiting
/// to be retried. Its claim in the store is kept alive while it is held.
struct Pending {
    delivery: Delivery,
    key: Option<Arc<str>>,
    /// Runs so far.
    attempts: u32,
    last_error: Option<String>,
}

/// What a job reports back when it is settled.
enum Finished {
    /// Handled, and acked (or its ack failed: its source delivers it again): its
    /// key is free.
    Acked { key: Option<Arc<str>>, acked: bool },
    /// An attempt failed.
    Failed(Pending),
    /// Set aside as a dead letter (or left for redelivery): its key is free.
    Buried(Option<Arc<str>>),
}

/// The counters of a runner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunStats {
    /// Handlers that succeeded (their delivery acked).
    pub handled: u64,
    /// Attempts that failed (each retry counts).
    pub failed: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Events set aside as dead letters.
    pub dead_letters: u64,
    /// Deliveries given back unsettled at a stop (or that could not be set aside),
    /// for another instance or the next start.
    pub released: u64,
    /// Handlers running now.
    pub in_flight: u64,
    /// Deliveries held and not running: waiting for their conversation's key, or
    /// for a retry.
    pub waiting: u64,
}

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dead_letters: AtomicU64,
    released: AtomicU64,
    in_flight: AtomicU64,
    waiting: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> RunStats {
        RunStats {
            handled: self.handled.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead_letters: self.dead_letters.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

/// The metric names a runner records (with the `metrics` crate).
pub mod metric {
    /// Counter: handlers that succeeded.
    pub const HANDLED: &str = "mailwire_handled_total";
    /// Counter: attempts that failed.
    pub const HANDLER_FAILURES: &str = "mailwire_handler_failures_total";
    /// Counter: events set aside as dead letters.
    pub const DEAD_LETTERS: &str = "mailwire_dead_letters_total";
    /// Gauge: handlers running.
    pub const IN_FLIGHT: &str = "mailwire_handlers_in_flight";
}

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
/// let stats = agent
///     .runner()
///     .concurrency(32)
///     .order_by(OrderBy::Thread)
///     .retry(Retry::attempts(5))
///     .stop_on(async { let _ = tokio::signal::ctrl_c().await; })
///     .run(|job| async move {
///         // A model call that takes seconds; an error is a failed attempt.
///         println!("{} (attempt {})", job.event().id(), job.attempt());
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
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Jobs {
            max_waiting: self.max_waiting.unwrap_or(self.concurrency),
            source: self.source,
            store: self.store,
            concurrency: self.concurrency,
            order: self.order,
            retry: self.retry,
            keys: HashMap::new(),
            ready: VecDeque::new(),
            retries: BTreeMap::new(),
            retry_seq: 0,
            running: 0,
            waiting: 0,
            done_tx,
            done_rx,
            burials: JoinSet::new(),
            source_done: false,
            stopping: false,
            counters: Arc::default(),
        }
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

/// What a handler is given: the event and where this attempt stands.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The event.
    pub event: Event,
    /// Where it came from.
    pub origin: Origin,
    /// When its source received it.
    pub received_at: SystemTime,
    /// Its tenant, for a source that serves several.
    pub tenant: Option<TenantId>,
    /// Which run this is: 1 the first time, 2 for the first retry...
    pub attempt: u32,
    /// The ordering key it runs under, when it has one.
    pub key: Option<Arc<str>>,
    /// What the previous attempt failed with, on a retry.
    pub last_error: Option<String>,
}

impl Job {
    /// A copy of what the handler needs, the job itself kept to settle it.
    pub fn attempt_info(&self) -> Attempt {
        let p = self.pending();
        Attempt {
            event: p.delivery.event.clone(),
            origin: p.delivery.origin.clone(),
            received_at: p.delivery.received_at,
            tenant: p.delivery.tenant.clone(),
            attempt: p.attempts + 1,
            key: p.key.clone(),
            last_error: p.last_error.clone(),
        }
    }
}

/// The deliveries of a source as [`Job`]s, handed out at most
/// [`concurrency`](Runner::concurrency) unsettled at once and never two of one key
/// at once. Built by [`Runner::jobs`]; [`Runner::run`] is built on it.
pub struct Jobs<S> {
    source: S,
    store: Option<Arc<dyn Store>>,
    concurrency: usize,
    max_waiting: usize,
    order: OrderBy,
    retry: Retry,
    /// Keys with a delivery handed out (running, retrying or being set aside), each
    /// with the deliveries of its key waiting behind it, in arrival order.
    keys: HashMap<Arc<str>, VecDeque<Pending>>,
    /// Deliveries whose key is theirs: handed out next.
    ready: VecDeque<Pending>,
    /// Failed deliveries waiting for their retry, by when.
    retries: BTreeMap<(Instant, u64), Pending>,
    retry_seq: u64,
    /// Jobs handed out and not settled.
    running: usize,
    /// Deliveries waiting behind a busy key.
    waiting: usize,
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
    /// Dead letters being set aside.
    burials: JoinSet<()>,
    source_done: bool,
    stopping: bool,
    counters: Arc<Counters>,
}

impl<S: EventSource> Jobs<S> {
    /// The next job: waits while `concurrency` jobs are unsettled, or while every
    /// delivery held belongs to a busy conversation. `Ok(None)` once the source has
    /// ended and every job is settled. Cancellation safe.
    pub async fn next(&mut self) -> Result<Option<Job>, SourceError> {
        loop {
            while let Ok(finished) = self.done_rx.try_recv() {
                self.finished(finished);
            }
            self.due_retries();
            if self.running < self.concurrency
                && let Some(pending) = self.ready.pop_front()
            {
                self.running += 1;
                self.publish();
                return Ok(Some(Job {
                    pending: Some(pending),
                    done: self.done_tx.clone(),
                }));
            }
            if self.source_done
                && self.running == 0
                && self.keys.is_empty()
                && self.ready.is_empty()
                && self.retries.is_empty()
            {
                return Ok(None);
            }
            // A few deliveries are taken ahead of a free slot (a quarter of the
            // concurrency), so a slot that frees starts the next handler at once
            // rather than after a read from the source.
            let pull = !self.source_done
                && !self.stopping
                && self.running + self.ready.len() < self.concurrency + self.concurrency.div_ceil(4)
                && self.waiting + self.retries.len() < self.max_waiting;
            let next_retry = self.retries.first_key_value().map(|((at, _), _)| *at);
            tokio::select! {
                Some(finished) = self.done_rx.recv() => self.finished(finished),
                () = sleep_until(next_retry), if next_retry.is_some() => {}
                Some(_) = self.burials.join_next(), if !self.burials.is_empty() => {}
                next = self.source.next(), if pull => match next? {
                    Some(delivery) => self.admit(delivery),
                    None => self.source_done = true,
                },
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> RunStats {
        self.counters.snapshot()
    }

    /// The source (to stop it, or read its own counters).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// A delivery the source handed over: ready if its key is free, else behind it.
    fn admit(&mut self, delivery: Delivery) {
        let key = self.order.of(&delivery);
        let pending = Pending {
            delivery,
            key: key.clone(),
            attempts: 0,
            last_error: None,
        };
        match key {
            None => self.ready.push_back(pending),
            Some(key) => match self.keys.get_mut(&key) {
                Some(behind) => {
                    behind.push_back(pending);
                    self.waiting += 1;
                }
                None => {
                    self.keys.insert(key, VecDeque::new());
                    self.ready.push_back(pending);
                }
            },
        }
        self.publish();
    }

    /// The next delivery of `key`, if one waits, is ready now; else the key is free.
    fn free(&mut self, key: Option<Arc<str>>) {
        let Some(key) = key else { return };
        match self.keys.get_mut(&key).map(VecDeque::pop_front) {
            Some(Some(next)) => {
                self.waiting -= 1;
                self.ready.push_back(next);
            }
            Some(None) => {
                self.keys.remove(&key);
            }
            None => {}
        }
    }

    fn finished(&mut self, finished: Finished) {
        match finished {
            Finished::Acked { key, acked } => {
                self.running -= 1;
                if acked {
                    self.counters.handled.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(metric::HANDLED).increment(1);
                } else {
                    self.counters.released.fetch_add(1, Ordering::Relaxed);
                }
                self.free(key);
            }
            Finished::Buried(key) => self.free(key),
            Finished::Failed(mut pending) => {
                self.running -= 1;
                pending.attempts += 1;
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(metric::HANDLER_FAILURES).increment(1);
                let error = pending.last_error.as_deref().unwrap_or("failed");
                if self.stopping {
                    // Released: another instance, or the next start, delivers it.
                    tracing::info!(event_id = %pending.delivery.event.id(), error, "released at the stop");
                    self.counters.released.fetch_add(1, Ordering::Relaxed);
                    self.free(pending.key.take());
                } else if pending.attempts < self.retry.max_attempts() {
                    let delay = self.retry.delay_before(pending.attempts + 1);
                    tracing::info!(
                        event_id = %pending.delivery.event.id(),
                        attempt = pending.attempts,
                        error,
                        retry_in_ms = delay.as_millis() as u64,
                        "handler failed: retried"
                    );
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                    self.retry_seq += 1;
                    self.retries
                        .insert((Instant::now() + delay, self.retry_seq), pending);
                } else {
                    tracing::warn!(
                        event_id = %pending.delivery.event.id(),
                        attempts = pending.attempts,
                        error,
                        "handler failed its last attempt: set aside as a dead letter"
                    );
                    self.bury(pending);
                }
            }
        }
        self.publish();
    }

    /// Retries whose time has come are ready (their key is still theirs).
    fn due_retries(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.retries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.ready.push_back(entry.remove());
        }
    }

    /// Sets a delivery aside as a dead letter in the store, then settles it in its
    /// source, in a task of its own; its key is freed once that is done. A store
    /// that cannot keep it now is tried again; without one, it is released.
    fn bury(&mut self, pending: Pending) {
        let done = self.done_tx.clone();
        let counters = self.counters.clone();
        let Some(store) = self.store.clone() else {
            tracing::error!(
                event_id = %pending.delivery.event.id(),
                "no store for dead letters: left unacked, delivered again by its source"
            );
            counters.released.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(Finished::Buried(pending.key));
            return;
        };
        self.burials.spawn(async move {
            let Pending {
                delivery,
                key,
                attempts,
                last_error,
            } = pending;
            let letter = DeadLetter::new(
                delivery.event.clone(),
                attempts,
                last_error.unwrap_or_else(|| "failed".to_owned()),
            );
            let mut wait = Duration::from_millis(100);
            loop {
                match store.bury(&letter).await {
                    Ok(()) => break,
                    Err(StoreError::Unavailable(e)) => {
                        tracing::warn!(event_id = %letter.id(), error = %e, "could not set a dead letter aside yet: trying again");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(3));
                    }
                    Err(e) => {
                        tracing::error!(event_id = %letter.id(), error = %e, "could not set a dead letter aside: left unacked, delivered again");
                        counters.released.fetch_add(1, Ordering::Relaxed);
                        let _ = done.send(Finished::Buried(key));
                        return;
                    }
                }
            }
            // Acked in the store by `bury`; this settles its source (a WebSocket's
            // resume point moves past it, a webhook copy settles).
            if let Err(e) = delivery.ack().await {
                tracing::warn!(event_id = %letter.id(), error = %e, "a dead letter's source could not settle it");
            }
            counters.dead_letters.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(metric::DEAD_LETTERS).increment(1);
            let _ = done.send(Finished::Buried(key));
        });
    }

    fn publish(&self) {
        let waiting = (self.waiting + self.retries.len() + self.ready.len()) as u64;
        self.counters
            .in_flight
            .store(self.running as u64, Ordering::Relaxed);
        self.counters.waiting.store(waiting, Ordering::Relaxed);
        metrics::gauge!(metric::IN_FLIGHT).set(self.running as f64);
    }

    /// Stops taking work: what waits (for its key, for a retry, to be handed out) is
    /// released now, for another instance or the next start; a job that fails from
    /// now on is released rather than retried.
    pub fn stopping(&mut self) {
        self.stopping = true;
        let mut released = self.ready.len() + self.retries.len();
        self.ready.clear();
        self.retries.clear();
        for (_, behind) in self.keys.drain() {
            released += behind.len();
        }
        self.waiting = 0;
        self.counters
            .released
            .fetch_add(released as u64, Ordering::Relaxed);
        self.publish();
    }

    /// After [`stopping`](Jobs::stopping) and once the jobs handed out are settled:
    /// waits (until `deadline`) for the dead letters being set aside.
    pub async fn finish(&mut self, deadline: Instant) {
        while let Ok(finished) = self.done_rx.try_recv() {
            self.finished(finished);
        }
        let buried = tokio::time::timeout_at(deadline, async {
            while self.burials.join_next().await.is_some() {}
        })
        .await;
        if buried.is_err() {
            self.burials.shutdown().await;
        }
        while let Ok(finished) = self.done_rx.try_recv() {
            self.finished(finished);
        }
    }
}

impl<S> fmt::Debug for Jobs<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jobs")
            .field("running", &self.running)
            .field("ready", &self.ready.len())
            .field("waiting", &self.waiting)
            .field("retries", &self.retries.len())
            .finish_non_exhaustive()
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
