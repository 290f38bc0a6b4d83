//! The dispatcher: deliveries from a source handed out as jobs, at most the
//! concurrency at once, one at a time per key, failed ones retried or buried.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mailwire_source::{Delivery, EventSource, SourceError};
use mailwire_store::{DeadLetter, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::job::{Counters, Finished, Job, Pending, RunStats, metric};
use super::policy::{OrderBy, Retry};

/// The deliveries of a source as [`Job`]s, handed out at most
/// [`concurrency`](crate::Runner::concurrency) unsettled at once and never two of one key
/// at once. Built by [`Runner::jobs`](crate::Runner::jobs); [`Runner::run`](crate::Runner::run) is built on it.
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
    pub(super) fn new(
        source: S,
        store: Option<Arc<dyn Store>>,
        concurrency: usize,
        max_waiting: usize,
        order: OrderBy,
        retry: Retry,
    ) -> Jobs<S> {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Jobs {
            source,
            store,
            concurrency,
            max_waiting,
            order,
            retry,
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
                return Ok(Some(Job::new(pending, self.done_tx.clone())));
            }
            if self.source_done
                && self.running == 0
                && self.keys.is_empty()
                && self.ready.is_empty()
                && self.retries.is_empty()
            {
                return Ok(None);
            }
            // Nothing is taken ahead of a free slot: an event claimed here waits for
            // no handler of this instance while another instance is free (taking a
            // quarter of the concurrency ahead measured no faster with handlers of
            // 100 ms: a read from the source takes about a millisecond).
            let pull = !self.source_done
                && !self.stopping
                && self.running < self.concurrency
                && self.ready.is_empty()
                && self.waiting + self.retries.len() < self.max_waiting;
            if pull {
                // No more claimed ahead than the free slots can take.
                self.source.demand(self.concurrency - self.running);
            }
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
            Finished::Failed(pending) => {
                let mut pending = *pending;
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
        // What jobs reported before the stop counts as it would have: a last
        // attempt that failed is still set aside as a dead letter.
        while let Ok(finished) = self.done_rx.try_recv() {
            self.finished(finished);
        }
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
