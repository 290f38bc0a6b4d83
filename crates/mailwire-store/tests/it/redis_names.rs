//! What the Redis store promises about consumer names: a stable default per host
//! (the lowest slot free among live instances), and stale consumers removed at
//! connect. Needs a Redis server at 127.0.0.1:6379; each test works under a key
//! prefix of its own and deletes it afterwards.
#![cfg(feature = "redis")]

use crate::suite;

use std::time::Duration;

use mailwire_proto::Event;
use mailwire_store::Store;
use redis::AsyncCommands;
use suite::event;
use suite::redis::{Cleanup, builder, claim_n, connect, prefix, raw, until};

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id().to_owned()).collect()
}

/// The consumers of the group, by name, with their pending counts.
async fn consumers(prefix: &str) -> std::collections::HashMap<String, usize> {
    let reply: redis::streams::StreamInfoConsumersReply = raw()
        .await
        .xinfo_consumers(format!("{{{prefix}:events}}:stream"), "mailwire")
        .await
        .unwrap();
    reply
        .consumers
        .into_iter()
        .map(|c| (c.name, c.pending))
        .collect()
}

/// Default names are `<host>-<n>`, the lowest slot free among the live instances:
/// two at once differ; a restart after a close, or after the last clone is dropped,
/// takes the name back, and with it the events left unacked, at once.
#[tokio::test]
async fn default_consumer_names_are_stable_slots() {
    let cleanup = Cleanup { prefix: prefix() };
    let a = connect(builder(&cleanup.prefix)).await;
    let b = connect(builder(&cleanup.prefix)).await;
    let (name_a, name_b) = (a.consumer().to_owned(), b.consumer().to_owned());
    assert_ne!(name_a, name_b);
    assert!(name_a.ends_with("-0"), "{name_a}");
    assert!(name_b.ends_with("-1"), "{name_b}");
    assert_eq!(name_a.trim_end_matches("-0"), name_b.trim_end_matches("-1"));

    assert!(a.append(&event("evt_1", 1)).await.unwrap().is_new());
    a.close().await.unwrap();
    let again = connect(builder(&cleanup.prefix)).await;
    assert_eq!(
        again.consumer(),
        name_a,
        "the name is taken back after a close"
    );
    assert_eq!(
        ids(&again.claim(10).await.unwrap()),
        ["evt_1"],
        "its unacked events with it, without waiting for the lease"
    );

    // Dropped without close: the renewal task releases the name as it ends.
    drop(b);
    let slot = format!("{{{}:events}}:consumer:mailwire:{name_b}", cleanup.prefix);
    until("the dropped store releases its name", async || {
        let exists: bool = raw().await.exists(&slot).await.unwrap();
        !exists
    })
    .await;
    let third = connect(builder(&cleanup.prefix)).await;
    assert_eq!(third.consumer(), name_b);
    // An explicit name takes no slot.
    let named = connect(builder(&cleanup.prefix).consumer("worker-7")).await;
    assert_eq!(named.consumer(), "worker-7");
    let fourth = connect(builder(&cleanup.prefix)).await;
    assert!(fourth.consumer().ends_with("-2"), "{}", fourth.consumer());
}

/// A connect removes the group's consumers with no pending entry idle for longer
/// than the bound; one with pending entries is kept, whatever its idle time.
#[tokio::test]
async fn stale_consumers_are_removed_at_connect() {
    let cleanup = Cleanup { prefix: prefix() };
    let old = connect(builder(&cleanup.prefix).consumer("old")).await;
    assert!(old.claim(10).await.unwrap().is_empty()); // a read: the consumer exists
    drop(old);
    let busy = connect(builder(&cleanup.prefix).consumer("busy")).await;
    assert!(busy.append(&event("evt_1", 1)).await.unwrap().is_new());
    drop(busy); // stopped with an event unacked
    let listed = consumers(&cleanup.prefix).await;
    assert_eq!(listed.get("old"), Some(&0), "{listed:?}");
    assert_eq!(listed.get("busy"), Some(&1), "{listed:?}");

    // Not idle for long enough: kept.
    let _patient = connect(
        builder(&cleanup.prefix)
            .consumer("patient")
            .stale_consumers_after(Duration::from_secs(3600)),
    )
    .await;
    assert!(consumers(&cleanup.prefix).await.contains_key("old"));

    until("a connect removes the stale consumer", async || {
        let _janitor = connect(
            builder(&cleanup.prefix)
                .consumer("janitor")
                .stale_consumers_after(Duration::from_millis(50)),
        )
        .await;
        !consumers(&cleanup.prefix).await.contains_key("old")
    })
    .await;
    let listed = consumers(&cleanup.prefix).await;
    assert_eq!(
        listed.get("busy"),
        Some(&1),
        "pending entries keep their consumer: {listed:?}"
    );
    // Its event is still there to take over.
    let heir = connect(
        builder(&cleanup.prefix)
            .consumer("heir")
            .lease(Duration::from_millis(5)),
    )
    .await;
    assert_eq!(ids(&claim_n(&heir, 1, 10).await.concat()), ["evt_1"]);
}
