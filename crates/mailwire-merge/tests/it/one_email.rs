//! One received email is one event, whatever transport brought it and whatever event
//! id each copy carries: a WebSocket's copy and a backfill's (different event ids,
//! the same inbox and message) are delivered once, in either order, within one merge
//! and across a restart on the same store.

use std::sync::Arc;
use std::time::Duration;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, Origin};
use mailwire_store::{MemoryStore, RedbStore, Store};
use mailwire_test::FakeSource;

const HANG: Duration = Duration::from_secs(10);

fn received(event_id: &str, message_id: &str) -> Event {
    Event::parse(
        format!(
            r#"{{"type":"event","event_type":"message.received","event_id":"{event_id}",
            "message":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_1",
            "message_id":"{message_id}","subject":"hello"}}}}"#
        )
        .into_bytes(),
    )
    .unwrap()
}

async fn next(merge: &mut Merge) -> Option<Delivery> {
    tokio::time::timeout(HANG, merge.next())
        .await
        .expect("next() hung")
        .expect("next() failed")
}

async fn drain(merge: &mut Merge) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(d) = next(merge).await {
        out.push(format!("{}:{}", d.event.id(), d.origin));
        d.ack().await.unwrap();
    }
    out
}

fn merge_of(
    store: Arc<dyn Store>,
    first: Vec<(Origin, Event)>,
    second: Vec<(Origin, Event)>,
) -> Merge {
    let (a, fa) = FakeSource::builder().name("a").build();
    let (b, fb) = FakeSource::builder().name("b").build();
    for (origin, e) in first {
        fa.push_from(origin, e);
    }
    for (origin, e) in second {
        fb.push_from(origin, e);
    }
    fa.end();
    fb.end();
    Merge::builder().source(a).source(b).store(store).build()
}

#[tokio::test]
async fn a_websocket_copy_and_a_backfill_copy_are_one_event_in_either_order() {
    for ws_first in [true, false] {
        let ws = (Origin::WebSocket, received("evt_ws_1", "<m1@example.com>"));
        let bf = (Origin::Backfill, received("bf_0123", "<m1@example.com>"));
        let other = (Origin::WebSocket, received("evt_ws_2", "<m2@example.com>"));
        let (first, second) = if ws_first {
            (vec![ws, other], vec![bf])
        } else {
            (vec![bf], vec![ws, other])
        };
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut merge = merge_of(store.clone(), first, second);
        let got = drain(&mut merge).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().any(|g| g.starts_with("evt_ws_2:")), "{got:?}");
        assert_eq!(merge.stats().duplicates(), 1);
        assert!(store.unacked(10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_backfill_after_a_restart_does_not_deliver_what_the_websocket_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        let ws = vec![(Origin::WebSocket, received("evt_ws_1", "<m1@example.com>"))];
        let mut merge = merge_of(Arc::new(store.clone()), ws, vec![]);
        assert_eq!(drain(&mut merge).await, ["evt_ws_1:websocket"]);
        drop(merge);
        store.close().await.unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    let bf = vec![
        (Origin::Backfill, received("bf_0123", "<m1@example.com>")),
        (Origin::Backfill, received("bf_4567", "<m3@example.com>")),
    ];
    let mut merge = merge_of(Arc::new(store.clone()), bf, vec![]);
    assert_eq!(drain(&mut merge).await, ["bf_4567:backfill"]);
    drop(merge);
    store.close().await.unwrap();
}
