//! Counts of a receiver's (or a tenant's) answers.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a receiver, or one of its [tenants](crate::Tenants), answered so far, by
/// kind of answer. Read with [`WebhookSource::stats`](crate::WebhookSource::stats),
/// [`WebhookService::stats`](crate::WebhookService::stats) or
/// [`Tenants::stats`](crate::Tenants::stats); every field only grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// New events kept and emitted (200 `ok`).
    pub accepted: u64,
    /// Events already seen (200 `duplicate`), not emitted again.
    pub duplicates: u64,
    /// Requests over a rate limit, or from an address shut out for its failures
    /// (429): their body was never read.
    pub rate_limited: u64,
    /// Requests whose signature was missing or bad (401).
    pub unauthorized: u64,
    /// Other refusals: unknown path (404), not POST (405), body too large (413),
    /// too slow (408) or unreadable, verified but not an event (400).
    pub rejected: u64,
    /// Valid events that could not be kept now, or bodies over the bound of
    /// bodies held at once (503: store down, queue full, memory bound).
    pub unavailable: u64,
    /// Connections closed as soon as they were accepted because their client
    /// address held its cap of connections already
    /// ([`max_connections_per_address`](crate::WebhookReceiver::max_connections_per_address)).
    /// Not requests: not in [`requests`](Self::requests). Always 0 in a
    /// tenant's stats (a connection is not a tenant's).
    pub connections_refused: u64,
}

impl ReceiverStats {
    /// Every request answered.
    pub fn requests(&self) -> u64 {
        self.accepted
            + self.duplicates
            + self.rate_limited
            + self.unauthorized
            + self.rejected
            + self.unavailable
    }
}

/// How one request ended, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Accepted,
    Duplicate,
    RateLimited,
    Unauthorized,
    Rejected,
    Unavailable,
}

/// The live counters behind a [`ReceiverStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rate_limited: AtomicU64,
    unauthorized: AtomicU64,
    rejected: AtomicU64,
    unavailable: AtomicU64,
    connections_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Accepted => &self.accepted,
            Outcome::Duplicate => &self.duplicates,
            Outcome::RateLimited => &self.rate_limited,
            Outcome::Unauthorized => &self.unauthorized,
            Outcome::Rejected => &self.rejected,
            Outcome::Unavailable => &self.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ReceiverStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReceiverStats {
            accepted: read(&self.accepted),
            duplicates: read(&self.duplicates),
            rate_limited: read(&self.rate_limited),
            unauthorized: read(&self.unauthorized),
            rejected: read(&self.rejected),
            unavailable: read(&self.unavailable),
            connections_refused: read(&self.connections_refused),
        }
    }
}
