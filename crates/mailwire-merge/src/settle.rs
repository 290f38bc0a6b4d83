//! What acking a merged delivery does.

use async_trait::async_trait;
use mailwire_source::{Ack, Settle, SourceError};

use crate::durable::Durable;
use crate::retry::{self, StoreRetry};
use crate::shared::SharedDedup;
use crate::stats::StatsHandle;
use crate::window::IdKey;

/// The merge's part of an ack: ack the event in the store (one write: out of the log,
/// its id remembered as acked), then let the copies suppressed meanwhile settle in
/// their sources. The source's own ack runs after it (see [`Ack::then`]).
///
/// A store ack that fails (the store is down) is retried with the merge's store
/// backoff for up to [`MergeBuilder::ack_retry_for`](crate::MergeBuilder::ack_retry_for)
/// (by default half the store's lease, so the claim does not lapse meanwhile), then
/// its error is returned.
///
/// Dropped without running, or failing, it releases the id and its claim: the event
/// stays unacked in the store, the next copy from any source (or the next claim of
/// the backlog) delivers it again.
pub(crate) struct MergeSettle {
    pub(crate) id: String,
    pub(crate) key: IdKey,
    pub(crate) dedup: SharedDedup,
    pub(crate) stores: Durable,
    pub(crate) retry: StoreRetry,
    pub(crate) stats: StatsHandle,
    pub(crate) settled: bool,
}

#[async_trait]
impl Settle for MergeSettle {
    async fn settle(mut self: Box<Self>) -> Result<(), SourceError> {
        if let Some(store) = &self.stores.store {
            retry::ack(&**store, &self.id, &self.retry, &self.stats)
                .await
                .map_err(SourceError::store)?;
        }
        let held = self
            .dedup
            .settle(self.key, tokio::time::Instant::now().into_std());
        self.settled = true;
        settle_all(held, &self.id).await;
        Ok(())
    }
}

impl Drop for MergeSettle {
    fn drop(&mut self) {
        if !self.settled {
            self.dedup.release(self.key);
            if let Some(store) = &self.stores.store {
                store.release(&self.id);
            }
        }
    }
}

/// Settles suppressed copies in their sources. Their failure does not fail the ack
/// of the delivered copy: that one is settled; a copy whose source could not settle
/// it is redelivered by that source after a restart and suppressed again then.
pub(crate) async fn settle_all(acks: Vec<Ack>, id: &str) {
    for ack in acks {
        if let Err(e) = ack.ack().await {
            tracing::warn!(event_id = id, error = %e, "could not settle a duplicate in its source");
        }
    }
}
