//! The in-memory seen-set used when no durable one is configured.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mailwire_store::{SeenSet, StoreError};

/// Ids seen recently, with an expiry each. Expired entries are swept when the map
/// has doubled since the last sweep, so memory follows the live set, not history.
#[derive(Debug, Default)]
pub(crate) struct MemorySeen {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashMap<String, Instant>,
    sweep_at: usize,
}

impl MemorySeen {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave the map half-updated (every
        // update is one insert), so a poisoned lock is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner)
    }
}

impl Inner {
    fn sweep(&mut self, now: Instant) {
        if self.ids.len() >= self.sweep_at {
            self.ids.retain(|_, expires| *expires > now);
            self.sweep_at = (self.ids.len() * 2).max(1024);
        }
    }
}

#[async_trait]
impl SeenSet for MemorySeen {
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let expires = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(u32::MAX.into()));
        Ok(self.with(|inner| {
            inner.sweep(now);
            match inner.ids.get_mut(id) {
                Some(at) if *at > now => false,
                Some(at) => {
                    *at = expires;
                    true
                }
                None => {
                    inner.ids.insert(id.to_owned(), expires);
                    true
                }
            }
        }))
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.with(|inner| inner.ids.get(id).is_some_and(|at| *at > now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inserts_once_until_expiry() {
        let seen = MemorySeen::default();
        assert!(seen.insert("evt_1", Duration::from_secs(60)).await.unwrap());
        assert!(!seen.insert("evt_1", Duration::from_secs(60)).await.unwrap());
        assert!(seen.contains("evt_1").await.unwrap());
        assert!(seen.insert("evt_2", Duration::ZERO).await.unwrap());
        // A zero TTL expires at once: the id may be inserted again.
        assert!(!seen.contains("evt_2").await.unwrap());
        assert!(seen.insert("evt_2", Duration::ZERO).await.unwrap());
    }

    #[tokio::test]
    async fn sweeps_expired_ids() {
        let seen = MemorySeen::default();
        for i in 0..3000 {
            seen.insert(&format!("evt_{i}"), Duration::ZERO)
                .await
                .unwrap();
        }
        assert!(seen.with(|inner| inner.ids.len()) < 3000);
    }
}
