//! 1,000 concurrent signed posts, one in ten a duplicate: each id is emitted once
//! and every one is logged, with the memory store and with redb.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use http::StatusCode;
use mailwire_source::EventSource;
use mailwire_store::{MemoryStore, RedbStore, Store};

const POSTS: usize = 1000;
const UNIQUE: usize = 900;

async fn thousand_posts(log: Arc<dyn Store>) {
    let (mut source, addr) = bind(receiver().store(log.clone()).queue_capacity(POSTS)).await;
    // Every tenth post repeats an id posted just before it, concurrently, so the
    // duplicate may arrive first, last or at the same time.
    let ids: Vec<String> = (0..POSTS)
        .map(|i| {
            if i % 10 == 9 {
                format!("evt_{}", i - 9)
            } else {
                format!("evt_{i}")
            }
        })
        .collect();
    let consumer = tokio::spawn(async move {
        let mut seen = HashSet::new();
        // Held, not acked and not dropped until every post is answered: a dropped
        // delivery gives its claim up, and a copy still in flight would rightly be
        // emitted again.
        let mut held = Vec::new();
        while seen.len() < UNIQUE {
            let d = next(&mut source).await;
            assert!(
                seen.insert(d.event.id().to_owned()),
                "{} emitted twice",
                d.event.id()
            );
            held.push(d);
        }
        (source, seen, held)
    });
    let client = client();
    let posts: Vec<_> = ids
        .iter()
        .map(|id| {
            let (client, body) = (client.clone(), event(id).raw().clone());
            let url = format!("http://{addr}{PATH}");
            let headers = sign(&format!("msg_{id}"), &body);
            tokio::spawn(async move { request(&client, "POST", url, headers, body).await })
        })
        .collect();
    let (mut ok, mut duplicate) = (0, 0);
    for p in posts {
        let r = p.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        match r.text.as_str() {
            "ok" => ok += 1,
            "duplicate" => duplicate += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!((ok, duplicate), (UNIQUE, POSTS - UNIQUE));

    let (mut source, emitted, held) = tokio::time::timeout(HANG, consumer).await.unwrap().unwrap();
    let expected: HashSet<String> = ids.into_iter().collect();
    assert_eq!(emitted, expected);
    let logged: HashSet<String> = log
        .unacked(POSTS * 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    assert_eq!(logged, expected);
    drop(held);
    // Nothing else was emitted: after shutdown the source simply ends.
    tokio::time::timeout(HANG, source.shutdown()).await.unwrap();
    assert!(source.next().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_memory_store() {
    thousand_posts(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("log.redb")).unwrap());
    thousand_posts(store.clone()).await;
    // Group commit: far fewer commits than appends.
    println!("{:?}", store.stats());
    store.close().await.unwrap();
}
