//! A store that does not answer (Redis down, a full disk): how the merge retries its
//! writes, and how it tells an outage from the next one.

use std::time::Duration;

use mailwire_client::Backoff;
use mailwire_store::{Store, StoreError};

use crate::stats::StatsHandle;

/// How the merge retries a store write that failed. Shared by the merge and its acks.
#[derive(Clone, Debug)]
pub(crate) struct StoreRetry {
    /// Delays between retries: of the held admission (for as long as it takes), and
    /// of an ack (within `ack_for`).
    pub(crate) backoff: Backoff,
    /// How long an ack is retried before its error is returned.
    pub(crate) ack_for: Duration,
}

/// The default delays between retries of a store write: a first retry within 100 ms
/// (a blip costs little), growing to at most 3 s (a store that comes back is used
/// within seconds), full jitter.
pub(crate) fn default_backoff() -> Backoff {
    Backoff::default()
        .base(Duration::from_millis(100))
        .cap(Duration::from_secs(3))
}

/// Whether the store is down, as the merge saw it, and how many outages ended.
///
/// A store call records the generation (outages ended so far) when it starts. A call
/// that fails after the store answered again, but started before, belongs to the
/// outage that ended: it is retried without being reported as a new one.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    down: bool,
    recoveries: u64,
}

impl Outage {
    /// The generation a store call starting now records.
    pub(crate) fn generation(&self) -> u64 {
        self.recoveries
    }

    /// A store call that started at `generation` failed. True when this begins an
    /// outage (to be reported once); false during one, or for a call that belongs to
    /// one that already ended.
    pub(crate) fn failed(&mut self, generation: u64) -> bool {
        if self.down || generation < self.recoveries {
            return false;
        }
        self.down = true;
        true
    }

    /// The store answered. True when this ends an outage.
    pub(crate) fn answered(&mut self) -> bool {
        if !self.down {
            return false;
        }
        self.down = false;
        self.recoveries += 1;
        true
    }
}

/// Acks `id` in `store`, retrying a failure with `retry.backoff` for up to
/// `retry.ack_for` (an attempt in progress at the bound is let finish; one last
/// attempt is made at the bound). A closed store is not retried.
pub(crate) async fn ack(
    store: &dyn Store,
    id: &str,
    retry: &StoreRetry,
    stats: &StatsHandle,
) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + retry.ack_for;
    let mut delays = retry.backoff.delays();
    loop {
        let error = match store.ack(id).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Closed) => return Err(StoreError::Closed),
            Err(e) => e,
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            tracing::warn!(
                event_id = id,
                %error,
                "ack failed and retried for {:?}: given up; the event stays in the store's log and comes back from its backlog",
                retry.ack_for
            );
            return Err(error);
        }
        let delay = delays.next().unwrap_or(retry.ack_for).min(deadline - now);
        tracing::debug!(event_id = id, %error, ?delay, "ack failed; retrying");
        stats.store_retry();
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_and_stale_failures_do_not_start_another() {
        let mut outage = Outage::default();
        let before = outage.generation();
        assert!(outage.failed(before), "the first failure starts an outage");
        assert!(!outage.failed(before), "a second one is the same outage");
        assert!(outage.answered());
        assert!(!outage.answered(), "it ended once");
        // A call that started before the store answered and failed after: the old one.
        assert!(!outage.failed(before));
        // A call that started after: a new outage.
        assert!(outage.failed(outage.generation()));
    }
}
