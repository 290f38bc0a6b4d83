//! The webhook source passes the shared EventSource conformance suite, fed by
//! signed POSTs over loopback, with acks reaching its log.

use crate::common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use http::StatusCode;
use mailwire_proto::Event;
use mailwire_store::{Appended, MemoryStore, Store, StoreError};
use mailwire_test::conformance::{self, Check, Harness, Outcome};
use mailwire_webhook_http::{Shutdown, WebhookSource};
use tokio::sync::watch;

/// A log that announces every ack (by event id), so the suite can wait for one.
#[derive(Clone)]
struct WatchedLog {
    inner: MemoryStore,
    acked: Arc<watch::Sender<HashSet<String>>>,
    /// The event id of each store id (`Event::dedup_id`) appended.
    ids: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

#[async_trait::async_trait]
impl mailwire_source::Checkpoints for WatchedLog {
    async fn load(&self, key: &str) -> Result<Option<String>, mailwire_source::BoxError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> Result<(), mailwire_source::BoxError> {
        self.inner.save(key, value).await
    }
}

#[async_trait]
impl Store for WatchedLog {
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.claim(limit).await
    }
    fn release(&self, id: &str) {
        self.inner.release(id);
    }
    fn lease(&self) -> std::time::Duration {
        self.inner.lease()
    }
    fn holds(&self, id: &str) -> bool {
        self.inner.holds(id)
    }
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        self.ids
            .lock()
            .unwrap()
            .insert(event.dedup_id().to_owned(), event.id().to_owned());
        self.inner.append(event).await
    }
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.unacked(limit).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.inner.ack(id).await?;
        let event_id = self.ids.lock().unwrap().get(id).cloned();
        self.acked.send_modify(|ids| {
            ids.insert(event_id.unwrap_or_else(|| id.to_owned()));
        });
        Ok(())
    }
    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.contains(id).await
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

struct WebhookHarness {
    log: WatchedLog,
    addr: Option<SocketAddr>,
    handle: Option<Shutdown>,
}

impl WebhookHarness {
    fn new() -> Self {
        WebhookHarness {
            log: WatchedLog {
                inner: MemoryStore::new(),
                acked: Arc::new(watch::channel(HashSet::new()).0),
                ids: Arc::default(),
            },
            addr: None,
            handle: None,
        }
    }
}

#[async_trait]
impl Harness for WebhookHarness {
    type Source = WebhookSource;

    async fn start(&mut self) -> WebhookSource {
        let (source, addr) = bind(receiver().store(Arc::new(self.log.clone()))).await;
        self.addr = Some(addr);
        self.handle = source.shutdown_handle();
        source
    }

    async fn emit(&mut self, events: &[Event]) {
        let addr = self.addr.expect("started");
        // One at a time: the order the receiver accepts them is the order sent.
        for event in events {
            let r = post(addr, &format!("msg_{}", event.id()), event.raw().clone()).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
    }

    async fn end(&mut self) -> bool {
        let handle = self.handle.as_ref().expect("started");
        handle.shutdown();
        handle.finished().await;
        true
    }

    async fn fail(&mut self) -> bool {
        // Nothing the network sends can make this source fail for good: a failing
        // store is a 503 to the sender, who retries; shutdown is an end, not an error.
        false
    }

    async fn ack_reached(&mut self, id: &str) -> bool {
        let mut acked = self.log.acked.subscribe();
        acked.wait_for(|ids| ids.contains(id)).await.is_ok()
    }
}

#[tokio::test]
async fn the_webhook_source_passes_the_conformance_suite() {
    let report = conformance::run_all(WebhookHarness::new).await;
    for (check, outcome) in report.outcomes() {
        match check {
            Check::Fatal => assert!(matches!(outcome, Outcome::NotApplicable(_))),
            _ => assert_eq!(outcome, &Outcome::Passed, "{check:?}"),
        }
    }
}
