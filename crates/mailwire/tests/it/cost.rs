//! What each event costs in durable writes, counted by the redb store's committer
//! (one commit = one fsync'd transaction), through a real webhook receiver on
//! loopback and a WebSocket-like source, both feeding one merge over one store:
//! a new event costs one write before it is delivered and one at its ack, whichever
//! transport brings it first; a duplicate costs none.

use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin};
use mailwire_store::RedbStore;
use mailwire_test::{FakeSource, fixtures};
use mailwire_webhook::{Keyring, Signer, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_webhook_sender::{Endpoint, WebhookSender};

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(30);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

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
    let store = RedbStore::open(dir.path().join("events.redb")).unwrap();
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
    let commits = || store.stats().commits;

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
        assert_eq!(
            commits(),
            before + 1,
            "the merge trusts the receiver's append"
        );
        ws_feed.push(hooked.clone()); // the WebSocket's copy, suppressed
        d.ack().await.unwrap();
        assert_eq!(commits(), before + 2, "the ack: one write");
        post(hooked).await; // a redelivery of an acked event: 200, nothing written
        assert_eq!(commits(), before + 2);

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
    }
    let stats = store.stats();
    assert_eq!(stats.appended, 2 * ROUNDS);
    assert_eq!(stats.acked, 2 * ROUNDS);
    assert_eq!(stats.commits, 4 * ROUNDS, "{stats:?}");
    ws_feed.end();
    drop(merge);
    store.close().await.unwrap();
}
