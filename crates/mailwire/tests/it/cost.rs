//! What each event costs in durable writes, counted by the redb store's committer
//! (one commit = one fsync'd transaction), through a real webhook receiver on
//! loopback and a WebSocket-like source, both feeding one merge over one store:
//! a new event costs one write before it is delivered and one at its ack, whichever
//! transport brings it first; a duplicate costs none. And the calls behind them: the
//! receiver's delivery says it logged and claimed the event (`Custody::Claimed`), so
//! the merge neither appends it again nor acks it twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{BoxError, Checkpoints, Custody, Delivery, EventSource, Origin, async_trait};
use mailwire_store::{Appended, DeadLetter, RedbStore, Store, StoreError};
use mailwire_test::{FakeSource, fixtures};
use mailwire_webhook::{Keyring, Signer, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_webhook_sender::{Endpoint, WebhookSender};

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(30);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Calls of `append` and `ack` per id, through to a redb store.
#[derive(Clone)]
struct Counted {
    inner: RedbStore,
    calls: Arc<Mutex<HashMap<String, (u32, u32)>>>,
}

impl Counted {
    /// (appends, acks) of `id` so far.
    fn calls(&self, id: &str) -> (u32, u32) {
        let calls = self.calls.lock().unwrap();
        calls.get(id).copied().unwrap_or_default()
    }

    fn count(&self, id: &str, append: u32, ack: u32) {
        let mut calls = self.calls.lock().unwrap();
        let entry = calls.entry(id.to_owned()).or_default();
        entry.0 += append;
        entry.1 += ack;
    }
}

#[async_trait]
impl Store for Counted {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        self.count(event.dedup_id(), 1, 0);
        self.inner.append(event).await
    }
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.claim(limit).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.count(id, 0, 1);
        self.inner.ack(id).await
    }
    fn release(&self, id: &str) {
        self.inner.release(id);
    }
    fn holds(&self, id: &str) -> bool {
        self.inner.holds(id)
    }
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.unacked(limit).await
    }
    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        Store::contains(&self.inner, id).await
    }
    fn lease(&self) -> Duration {
        self.inner.lease()
    }
    async fn bury(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.inner.bury(letter).await
    }
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
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
impl Checkpoints for Counted {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        self.inner.save(key, value).await
    }
}

async fn next(merge: &mut Merge) -> Delivery {
    tokio::time::timeout(HANG, merge.next())
        .await
        .expect("next() hung")
        .expect("next() failed")
        .expect("the merge ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_event_costs_one_write_before_delivery_and_one_at_ack_a_duplicate_none() {
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbStore::open(dir.path().join("events.redb")).unwrap();
    let store = Counted {
        inner: redb.clone(),
        calls: Arc::default(),
    };
    let receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(SECRET).unwrap()))
        .store(store.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}/webhooks", receiver.local_addr().unwrap());
    let endpoint = Endpoint::new(&url, Signer::new(Keyring::standard(SECRET).unwrap())).unwrap();
    let sender = WebhookSender::new().unwrap();
    let post = |event: Event| {
        let (sender, endpoint) = (sender.clone(), endpoint.clone());
        async move {
            let outcome = tokio::time::timeout(
                HANG,
                sender.send(
                    &endpoint,
                    &format!("msg_{}", event.id()),
                    event.raw().clone(),
                ),
            )
            .await
            .expect("the post hung");
            assert!(outcome.is_delivered(), "{outcome:?}");
        }
    };
    let (ws, ws_feed) = FakeSource::builder()
        .name("websocket")
        .origin(Origin::WebSocket)
        .build();
    let mut merge = Merge::builder()
        .source(ws)
        .source(receiver)
        .store(store.clone())
        .build();
    let commits = || redb.stats().commits;

    const ROUNDS: u64 = 20;
    for i in 0..ROUNDS {
        // The webhook first: the receiver's append is the one write before delivery.
        let hooked = fixtures::message_received(&format!("evt_hook_{i}"), fixtures::INBOX);
        let before = commits();
        post(hooked.clone()).await;
        assert_eq!(
            commits(),
            before + 1,
            "the receiver's append, before its 200"
        );
        let d = next(&mut merge).await;
        assert_eq!((d.event.id(), &d.origin), (hooked.id(), &Origin::Webhook));
        assert_eq!(d.custody(), Custody::Source, "the merge's own to settle");
        assert_eq!(
            commits(),
            before + 1,
            "the merge trusts the receiver's append"
        );
        assert_eq!(
            store.calls(hooked.dedup_id()),
            (1, 0),
            "one append: the receiver's"
        );
        ws_feed.push(hooked.clone()); // the WebSocket's copy, suppressed
        d.ack().await.unwrap();
        assert_eq!(commits(), before + 2, "the ack: one write");
        assert_eq!(store.calls(hooked.dedup_id()), (1, 1), "one ack");
        post(hooked.clone()).await; // a redelivery of an acked event: 200, nothing written
        assert_eq!(commits(), before + 2);
        assert_eq!(
            store.calls(hooked.dedup_id()),
            (2, 1),
            "the redelivery's append"
        );

        // The WebSocket first: the merge's append is the one write before delivery.
        let live = fixtures::message_received(&format!("evt_ws_{i}"), fixtures::INBOX);
        let before = commits();
        ws_feed.push(live.clone());
        let d = next(&mut merge).await;
        assert_eq!((d.event.id(), &d.origin), (live.id(), &Origin::WebSocket));
        assert_eq!(commits(), before + 1, "the merge's append, before delivery");
        post(live.clone()).await; // the webhook copy while held: 200, nothing written
        assert_eq!(commits(), before + 1, "a held duplicate writes nothing");
        d.ack().await.unwrap();
        assert_eq!(commits(), before + 2, "the ack: one write");
        assert_eq!(
            store.calls(live.dedup_id()),
            (2, 1),
            "the merge's append and the webhook copy's; one ack"
        );
    }
    let stats = redb.stats();
    assert_eq!(stats.appended, 2 * ROUNDS);
    assert_eq!(stats.acked, 2 * ROUNDS);
    assert_eq!(stats.commits, 4 * ROUNDS, "{stats:?}");
    ws_feed.end();
    drop(merge);
    redb.close().await.unwrap();
}

/// A receiver given a store of its own (not the merge's): its deliveries say they
/// are claimed, but not in the merge's store, so the merge logs them in its own;
/// each event is delivered once and acked in both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_with_a_store_of_its_own_still_delivers_every_event() {
    let (theirs, ours) = (
        mailwire_store::MemoryStore::new(),
        mailwire_store::MemoryStore::new(),
    );
    let receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(SECRET).unwrap()))
        .store(theirs.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}/webhooks", receiver.local_addr().unwrap());
    let endpoint = Endpoint::new(&url, Signer::new(Keyring::standard(SECRET).unwrap())).unwrap();
    let mut merge = Merge::builder()
        .source(receiver)
        .store(ours.clone())
        .build();
    let event = fixtures::message_received("evt_own_store", fixtures::INBOX);
    let outcome = WebhookSender::new()
        .unwrap()
        .send(&endpoint, "msg_own_store", event.raw().clone())
        .await;
    assert!(outcome.is_delivered(), "{outcome:?}");
    let d = next(&mut merge).await;
    assert_eq!(d.event.id(), event.id());
    d.ack().await.unwrap();
    assert!(
        theirs.unacked(10).await.unwrap().is_empty(),
        "acked in the receiver's store"
    );
    assert!(
        Store::contains(&ours, event.dedup_id()).await.unwrap(),
        "logged in the merge's"
    );
    assert!(
        ours.unacked(10).await.unwrap().is_empty(),
        "and acked there"
    );
}
