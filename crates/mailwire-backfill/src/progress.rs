//! Where a backfill keeps the time it has covered, so a restart does not re-read
//! history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mailwire_source::BoxError;
use mailwire_source::async_trait;

/// Durable key-value progress: one value (an RFC 3339 time) per inbox.
///
/// Implement it over whatever the application keeps durably; the command line keeps
/// it in the same redb file or Redis as the event log. A value saved must be the one
/// loaded after a restart.
#[async_trait]
pub trait Progress: Send + Sync + 'static {
    /// The value saved under `key`, if any.
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError>;
    /// Saves `value` under `key`, durably, before returning.
    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError>;
}

/// Progress in memory: for tests and for agents that keep nothing across restarts.
/// Clones share one map.
#[derive(Clone, Debug, Default)]
pub struct MemoryProgress(Arc<Mutex<HashMap<String, String>>>);

impl MemoryProgress {
    /// An empty map.
    pub fn new() -> MemoryProgress {
        MemoryProgress::default()
    }

    /// A snapshot of what is saved.
    pub fn snapshot(&self) -> HashMap<String, String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Progress for MemoryProgress {
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
impl<P: Progress + ?Sized> Progress for Arc<P> {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        (**self).load(key).await
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        (**self).save(key, value).await
    }
}
