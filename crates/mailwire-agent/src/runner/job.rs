//! A delivery handed to a handler, and what it reports back.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use mailwire_proto::Event;
use mailwire_source::{Delivery, Origin, SourceError, TenantId};
use tokio::sync::mpsc;

/// One delivery handed to a handler: the event, where it came from, which attempt
/// this is. Settle it with [`ack`](Job::ack) once its side effect is done, or
/// [`fail`](Job::fail) it to have it retried (or set aside as a dead letter after
/// the last attempt). Dropped unsettled (a handler that panicked or was cancelled),
/// it counts as a failed attempt.
pub struct Job {
    /// What the handler is told: read by the accessors.
    view: Attempt,
    /// `None` once settled (by value: only `Drop` sees it so).
    pending: Option<Pending>,
    done: mpsc::UnboundedSender<Finished>,
}

impl Job {
    pub(super) fn new(pending: Pending, done: mpsc::UnboundedSender<Finished>) -> Job {
        let d = &pending.delivery;
        let view = Attempt {
            event: d.event.clone(),
            origin: d.origin.clone(),
            received_at: d.received_at,
            tenant: d.tenant.clone(),
            attempt: pending.attempts + 1,
            key: pending.key.clone(),
            last_error: pending.last_error.clone(),
        };
        Job {
            view,
            pending: Some(pending),
            done,
        }
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.view.event
    }

    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.view.origin
    }

    /// When its source received it.
    pub fn received_at(&self) -> SystemTime {
        self.view.received_at
    }

    /// Its tenant, for a source that serves several.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.view.tenant.as_ref()
    }

    /// Which run this is: 1 the first time, 2 for the first retry...
    pub fn attempt(&self) -> u32 {
        self.view.attempt
    }

    /// The ordering key it was handled under, when it has one.
    pub fn key(&self) -> Option<&str> {
        self.view.key.as_deref()
    }

    /// What the previous attempt failed with, on a retry.
    pub fn last_error(&self) -> Option<&str> {
        self.view.last_error.as_deref()
    }

    /// What a handler is given: the event and where this attempt stands.
    pub fn attempt_info(&self) -> Attempt {
        self.view.clone()
    }

    /// Acks the delivery (after its side effect: it is handled exactly once), and
    /// frees its key for the next delivery of its conversation.
    pub async fn ack(mut self) -> Result<(), SourceError> {
        let Some(pending) = self.pending.take() else {
            return Ok(()); // settled already: `self` is taken by value, so never
        };
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
        if let Some(mut pending) = self.pending.take() {
            pending.last_error = Some(error.to_string());
            let _ = self.done.send(Finished::Failed(Box::new(pending)));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(mut pending) = self.pending.take() {
            pending.last_error =
                Some("dropped unsettled (the handler panicked or was cancelled)".to_owned());
            let _ = self.done.send(Finished::Failed(Box::new(pending)));
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.view.event.id())
            .field("key", &self.view.key)
            .field("attempt", &self.view.attempt)
            .field("settled", &self.pending.is_none())
            .finish()
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
pub(super) struct Pending {
    pub(super) delivery: Delivery,
    pub(super) key: Option<Arc<str>>,
    /// Runs so far.
    pub(super) attempts: u32,
    pub(super) last_error: Option<String>,
}

/// What a job reports back when it is settled.
pub(super) enum Finished {
    /// Handled, and acked (or its ack failed: its source delivers it again): its
    /// key is free.
    Acked { key: Option<Arc<str>>, acked: bool },
    /// An attempt failed.
    Failed(Box<Pending>),
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
pub(super) struct Counters {
    pub(super) handled: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) dead_letters: AtomicU64,
    pub(super) released: AtomicU64,
    pub(super) in_flight: AtomicU64,
    pub(super) waiting: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> RunStats {
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
