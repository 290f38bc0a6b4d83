//! [`Checkpoints`]: where a source keeps how far it got (a WebSocket's resume point,
//! a backfill's time covered), beside the events it describes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::BoxError;

/// Durable, small values under keys: a source's checkpoints.
///
/// A WebSocket keeps the id of the last event it can resume after; a backfill keeps
/// the time it has read each inbox up to. Every store in `mailwire-store` implements
/// it (memory, redb, Redis), so checkpoints live beside the event log they describe
/// and instances sharing a Redis share them too. A value saved must be the one
/// loaded after a restart.
///
/// A checkpoint may lag what was acked, never lead it: resuming from an older point
/// only brings back events the store already knows (duplicates, suppressed), while a
/// point past an unacked event would lose it.
#[async_trait]
pub trait Checkpoints: Send + Sync + 'static {
    /// The value saved under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError>;
    /// Saves `value` under `key`, durably, before returning.
    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError>;
}

/// Checkpoints in memory: for tests, and for agents that keep nothing across
/// restarts. Clones share one map.
#[derive(Clone, Debug, Default)]
pub struct MemoryCheckpoints(Arc<Mutex<HashMap<String, String>>>);

impl MemoryCheckpoints {
    /// An empty map.
    pub fn new() -> MemoryCheckpoints {
        MemoryCheckpoints::default()
    }

    /// A snapshot of what is saved.
    pub fn snapshot(&self) -> HashMap<String, String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Checkpoints for MemoryCheckpoints {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

#[async_trait]
impl<P: Checkpoints + ?Sized> Checkpoints for Arc<P> {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        (**self).load(key).await
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        (**self).save(key, value).await
    }
}
