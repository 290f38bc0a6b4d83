//! The background task of a [`RedisStore`](crate::RedisStore): it keeps alive the
//! claims the store value holds and the lock on its default consumer name.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::watch;

use crate::StoreError;
use crate::redis_store::error::from_redis;
use crate::redis_store::keys::Keys;
use crate::redis_store::naming::Slot;
use crate::redis_store::{lock, scripts};

/// How many claims one renewal script carries.
const BATCH: usize = 256;

/// The ids of the events a store value holds the claim of: shared by the store and
/// its renewal task, which removes an id once it finds the claim lost.
pub(crate) type Held = Arc<Mutex<HashSet<String>>>;

/// What the renewal task needs; it owns its own handle on the connection, so it can
/// release the name lock after the store value is gone.
pub(crate) struct Renewal {
    pub(crate) conn: ConnectionManager,
    pub(crate) keys: Keys,
    pub(crate) group: String,
    pub(crate) consumer: String,
    pub(crate) held: Held,
    pub(crate) slot: Option<Slot>,
    pub(crate) slot_ttl_ms: u64,
    /// Time between rounds: a third of the lease, so a claim held here is renewed
    /// about three times per lease and never looks idle for longer than a third of
    /// one (plus a round trip) to another instance.
    pub(crate) every: Duration,
    /// The last round found the name lock held by another instance (warned once).
    pub(crate) slot_lost: bool,
}

impl Renewal {
    /// Runs a round every `every` until `stop` says so (the store was closed) or its
    /// sender is dropped (the last clone of the store went away); then releases the
    /// name lock. A round that fails (Redis unreachable) is logged and retried at the
    /// next one.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            match tokio::time::timeout(self.every, stop.changed()).await {
                // Closed, or every clone dropped.
                Ok(_) => break,
                Err(_elapsed) => {}
            }
            if let Err(e) = self.round().await {
                tracing::warn!(
                    consumer = %self.consumer,
                    error = %e,
                    "store: could not renew the claims held (retried at the next round)"
                );
            }
        }
        if let Some(slot) = &self.slot
            && let Err(e) = slot.release(&mut self.conn).await
        {
            // It expires by itself after its time to live.
            tracing::debug!(error = %e, "store: could not release the consumer name");
        }
    }

    /// Renews every claim held, marks the ones found lost, and keeps the name lock.
    pub(crate) async fn round(&mut self) -> Result<(), StoreError> {
        let ids: Vec<String> = lock(&self.held).iter().cloned().collect();
        for batch in ids.chunks(BATCH) {
            let mut script = scripts::RENEW.key(&self.keys.stream);
            for id in batch {
                script.key(self.keys.id(id));
            }
            let ours: Vec<i64> = script
                .arg(&self.group)
                .arg(&self.consumer)
                .invoke_async(&mut self.conn)
                .await
                .map_err(from_redis)?;
            let mut held = lock(&self.held);
            for (id, ours) in batch.iter().zip(ours) {
                if ours == 0 && held.remove(id) {
                    tracing::info!(
                        consumer = %self.consumer,
                        id = %id,
                        "store: a claim held here was taken over by another instance"
                    );
                }
            }
        }
        if let Some(slot) = &self.slot {
            let kept = slot.keep(&mut self.conn, self.slot_ttl_ms).await?;
            if !kept && !self.slot_lost {
                tracing::warn!(
                    consumer = %self.consumer,
                    "store: another instance took this consumer name while this one was \
                     cut off from Redis; they now share its pending entries"
                );
            }
            self.slot_lost = !kept;
        }
        Ok(())
    }
}
