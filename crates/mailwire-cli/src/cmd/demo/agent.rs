//! The agent side of the demo: what it received, from where, and a log wrapper that
//! counts the copies the webhook receiver absorbed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{EventSource as _, async_trait};
use mailwire_store::{Appended, Store, StoreError};
use tokio::sync::watch;

use super::emails::{CODE_SUBJECT, find_code};

/// A [`Store`] that counts appends of ids already logged: for the webhook
/// receiver, each is a copy it answered 200 and did not pass on.
pub(crate) struct CountingLog {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) duplicates: Arc<AtomicU64>,
}

#[async_trait]
impl Store for CountingLog {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        let appended = self.inner.append(event).await?;
        if !appended.is_claimed() {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        Ok(appended)
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.claim(limit).await
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.inner.ack(id).await
    }

    fn release(&self, id: &str) {
        self.inner.release(id);
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.unacked(limit).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.contains(id).await
    }

    fn lease(&self) -> Duration {
        self.inner.lease()
    }
    fn holds(&self, id: &str) -> bool {
        self.inner.holds(id)
    }
    async fn bury(&self, letter: &mailwire_store::DeadLetter) -> Result<(), StoreError> {
        self.inner.bury(letter).await
    }
    async fn dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<mailwire_store::DeadLetter>, StoreError> {
        self.inner.dead_letters(limit).await
    }
    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.revive(id).await
    }
    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.discard(id).await
    }
}

#[async_trait]
impl mailwire_source::Checkpoints for CountingLog {
    async fn load(&self, key: &str) -> Result<Option<String>, mailwire_source::BoxError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> Result<(), mailwire_source::BoxError> {
        self.inner.save(key, value).await
    }
}

/// What the agent has seen, shared with the orchestration.
#[derive(Default)]
pub(crate) struct Journal {
    /// Times each id was handed to the agent.
    pub(crate) delivered: HashMap<String, u32>,
    /// When each email was sent (by event id).
    pub(crate) sent_at: HashMap<String, Instant>,
    /// The code, how long after its email was sent it was extracted, and the origin.
    pub(crate) code: Option<(String, Duration, String)>,
}

pub(crate) type SharedJournal = Arc<Mutex<Journal>>;

pub(crate) fn lock(journal: &SharedJournal) -> std::sync::MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|p| p.into_inner())
}

/// Handles events until told to stop, then takes what is already queued, and gives
/// the merge back for its counters.
pub(crate) async fn run(
    mut merge: Merge,
    journal: SharedJournal,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Merge> {
    loop {
        let next = tokio::select! {
            next = merge.next() => next,
            _ = stop.wait_for(|s| *s) => break,
        };
        match next? {
            Some(delivery) => {
                handle(&delivery, &journal, start);
                delivery.ack().await?;
            }
            None => return Ok(merge),
        }
    }
    // Copies still queued are counted as duplicates as they are taken.
    while let Some(next) = merge.next().now_or_never() {
        match next? {
            Some(delivery) => {
                handle(&delivery, &journal, start);
                delivery.ack().await?;
            }
            None => break,
        }
    }
    Ok(merge)
}

fn handle(delivery: &mailwire_source::Delivery, journal: &SharedJournal, start: Instant) {
    let event = &delivery.event;
    let message = event.payload().message();
    let subject = message.and_then(|m| m.subject.as_deref()).unwrap_or("");
    let inbox = event.inbox_id().unwrap_or("-");
    println!(
        "[{:>5.2}s] {:<9}  {:<22} {}",
        start.elapsed().as_secs_f64(),
        delivery.origin.as_str(),
        inbox,
        subject
    );
    let mut j = lock(journal);
    *j.delivered.entry(event.id().to_owned()).or_insert(0) += 1;
    if subject == CODE_SUBJECT
        && let Some(code) = message.and_then(|m| m.text.as_deref()).and_then(find_code)
    {
        let after = j
            .sent_at
            .get(event.id())
            .map_or(Duration::ZERO, Instant::elapsed);
        println!(
            "          >> 2FA code {code} extracted, {} ms after the email was sent",
            after.as_millis()
        );
        j.code = Some((code.to_owned(), after, delivery.origin.as_str().to_owned()));
    }
}
