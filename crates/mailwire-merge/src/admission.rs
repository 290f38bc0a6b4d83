//! A new event on its way through the store, and the one held at the head of the
//! merge while the store does not answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use mailwire_client::{Backoff, Delays};
use mailwire_source::Delivery;
use mailwire_store::StoreError;
use tokio::time::Sleep;

use crate::durable::{Durable, Verdict};
use crate::stats::StatsHandle;
use crate::window::IdKey;

/// A new event to go through the store.
pub(crate) struct Admission {
    pub(crate) key: IdKey,
    pub(crate) delivery: Delivery,
    /// Claimed from the store's backlog already: nothing to write.
    pub(crate) from_log: bool,
}

/// An admission the store answered.
pub(crate) struct Admitted {
    pub(crate) admission: Admission,
    /// The store's [outage generation](crate::retry::Outage::generation) when the
    /// call started.
    pub(crate) generation: u64,
    pub(crate) verdict: Result<Verdict, StoreError>,
}

/// Asks the store about `admission` (appends it, which claims it).
pub(crate) fn admit(
    stores: Durable,
    admission: Admission,
    generation: u64,
) -> BoxFuture<'static, Admitted> {
    async move {
        let verdict = stores
            .admit(&admission.delivery.event, admission.from_log)
            .await;
        Admitted {
            admission,
            generation,
            verdict,
        }
    }
    .boxed()
}

/// The admission at the head of the merge whose append failed: kept, not dropped,
/// and its append retried with backoff until the store answers. Everything behind it
/// waits, so the order is kept.
pub(crate) struct Held {
    delays: Delays,
    state: HeldState,
}

// At most one per merge: boxing the admission would buy nothing.
#[allow(clippy::large_enum_variant)]
enum HeldState {
    /// Waiting out a backoff delay. The admission is `None` only for the instant it
    /// moves into `Retrying`.
    Waiting(Option<Admission>, Pin<Box<Sleep>>),
    Retrying(BoxFuture<'static, Admitted>),
}

impl Held {
    /// Holds `admission`, its first retry after the first delay of `backoff`.
    pub(crate) fn new(admission: Admission, backoff: &Backoff) -> Held {
        let mut delays = backoff.delays();
        let delay = delays.next().unwrap_or_default();
        Held {
            delays,
            state: HeldState::Waiting(Some(admission), Box::pin(tokio::time::sleep(delay))),
        }
    }

    /// Its retry failed too: wait the next (longer) delay and try again.
    pub(crate) fn again(&mut self, admission: Admission) {
        let delay = self.delays.next().unwrap_or_default();
        self.state = HeldState::Waiting(Some(admission), Box::pin(tokio::time::sleep(delay)));
    }

    /// Waits out the delay, then retries; ready with the store's answer to the retry.
    /// `generation` is the store's outage generation now (recorded by the retry).
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        stores: &Durable,
        generation: u64,
        stats: &StatsHandle,
    ) -> Poll<Admitted> {
        loop {
            match &mut self.state {
                HeldState::Waiting(admission, sleep) => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let Some(admission) = admission.take() else {
                        // Not reachable: `None` is replaced by `Retrying` at once below.
                        return Poll::Pending;
                    };
                    stats.store_retry();
                    tracing::debug!(
                        event_id = admission.delivery.event.id(),
                        "retrying the append of a held event"
                    );
                    self.state = HeldState::Retrying(admit(stores.clone(), admission, generation));
                }
                HeldState::Retrying(retry) => return retry.as_mut().poll(cx),
            }
        }
    }
}
