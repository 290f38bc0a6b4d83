//! What each pass did, and what it could not do: [`Report`], [`InboxFailure`],
//! [`FillError`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailwire_source::BoxError;

use crate::RestError;

/// What one pass did: reported on [`Backfill::reports`](crate::Backfill::reports).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// Why it ran.
    pub trigger: Trigger,
    /// The earliest time it read from.
    pub from: SystemTime,
    /// The inboxes it read, or tried to read.
    pub inboxes: usize,
    /// The pages it read.
    pub pages: usize,
    /// The received messages it found and handed over (some may be duplicates of
    /// what another transport delivered: the merge drops those).
    pub found: usize,
    /// The inboxes it could not read, each with its cause. Their progress stays
    /// where it was; each is tried again after its own backoff.
    pub failures: Vec<InboxFailure>,
    /// Inboxes in scope it did not try because an earlier error's backoff has not
    /// elapsed: they are owed from where they stopped, and read when it has.
    pub deferred: Vec<String>,
    /// Why the pass read no inbox at all: the API could not be reached, the inbox
    /// list could not be read, or the checkpoints could not be loaded. Tried again
    /// after [`retry_in`](Report::retry_in).
    pub error: Option<Arc<FillError>>,
    /// When the backfill tries again by itself what failed (the earliest retry due),
    /// if anything did.
    pub retry_in: Option<Duration>,
}

impl Report {
    pub(crate) fn new(trigger: Trigger, at: SystemTime) -> Report {
        Report {
            trigger,
            from: at,
            inboxes: 0,
            pages: 0,
            found: 0,
            failures: Vec::new(),
            deferred: Vec::new(),
            error: None,
            retry_in: None,
        }
    }

    /// True when every inbox in scope was read: no failure, nothing deferred.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.deferred.is_empty() && self.error.is_none()
    }
}

/// An inbox a pass could not read.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InboxFailure {
    /// The inbox.
    pub inbox: String,
    /// Why, with its typed cause.
    pub error: Arc<FillError>,
    /// How many passes in a row failed on it.
    pub attempts: u32,
    /// When it is tried again.
    pub retry_in: Duration,
}

impl fmt::Display for InboxFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "inbox {}: {} ({} in a row; tried again in {:.1} s)",
            self.inbox,
            self.error,
            self.attempts,
            self.retry_in.as_secs_f64()
        )
    }
}

impl std::error::Error for InboxFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// Why an inbox, or a whole pass, was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FillError {
    /// The API answered 404 for the inbox: it does not exist for this key (a typo
    /// in the configuration, a deleted inbox, another organization's). Tried again
    /// at [`not_found_retry`](crate::BackfillConfig::not_found_retry), not hammered.
    #[error("the inbox does not exist for this API key (HTTP 404)")]
    InboxNotFound(#[source] RestError),
    /// A REST call failed: a 5xx, a timeout, a refused connection, an answer that is
    /// not the API's. Tried again with backoff.
    #[error("a REST call failed")]
    Rest(#[source] RestError),
    /// A delivery was dropped without an ack: the inbox is read again from its
    /// progress, after a backoff.
    #[error("a delivery was dropped unacknowledged")]
    Unacked,
    /// The checkpoints could not be loaded: nothing is read until they can be, as
    /// reading from a guess could skip what the last run owed.
    #[error("the checkpoints could not be loaded")]
    Checkpoints(#[source] BoxError),
}

/// Why a pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// At start-up: whatever arrived since the checkpoints saved by the last run.
    Startup,
    /// A WebSocket reported a gap: events from `from` on may be missing.
    Gap {
        /// When the gap began (the lost subscription).
        from: SystemTime,
        /// When it ended (the new subscription).
        to: SystemTime,
    },
    /// The safety-net interval elapsed.
    Interval,
    /// Asked for through [`BackfillHandle::fill`](crate::BackfillHandle::fill).
    Manual,
    /// What failed earlier (an inbox, the API itself) is tried again, its backoff
    /// elapsed. Only what failed is read.
    Retry,
}
