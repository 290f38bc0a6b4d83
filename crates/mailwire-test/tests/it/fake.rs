//! FakeSource: scripted, strict, cancellation safe.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use futures::FutureExt;
use mailwire_source::{EventSource, Origin, SourceError};
use mailwire_test::{FakeSource, fixtures};

const HANG: Duration = Duration::from_secs(10);

fn ev(id: &str) -> mailwire_proto::Event {
    fixtures::message_received(id, fixtures::INBOX)
}

async fn next_id(source: &mut FakeSource) -> Option<String> {
    tokio::time::timeout(HANG, source.next())
        .await
        .expect("next() hung")
        .expect("next() failed")
        .map(|d| d.event.id().to_owned())
}

#[tokio::test]
async fn yields_pushed_events_in_order_then_ends_for_good() {
    let (mut source, handle) = FakeSource::new();
    handle.push(ev("evt_1")).push(ev("evt_2")).end();
    assert_eq!(source.pending(), 3);
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_1"));
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_2"));
    for _ in 0..3 {
        assert_eq!(next_id(&mut source).await, None);
    }
    assert_eq!(handle.taken(), ["evt_1", "evt_2"]);
    assert!(handle.acked().is_empty());
}

#[tokio::test]
async fn origins_come_from_the_builder_or_the_push() {
    let (mut source, handle) = FakeSource::builder()
        .origin(Origin::Webhook)
        .name("webhook")
        .build();
    assert_eq!(source.name(), "webhook");
    handle
        .push(ev("evt_1"))
        .push_from(Origin::Backfill, ev("evt_2"));
    let a = source.next().await.unwrap().unwrap();
    let b = source.next().await.unwrap().unwrap();
    assert_eq!((a.origin, b.origin), (Origin::Webhook, Origin::Backfill));

    let (mut plain, handle) = FakeSource::new();
    handle.push(ev("evt_3"));
    assert_eq!(
        plain.next().await.unwrap().unwrap().origin,
        Origin::custom("fake")
    );
    assert_eq!(plain.name(), "fake");
}

#[tokio::test]
async fn a_fatal_error_comes_after_the_events_before_it_then_closed() {
    let (mut source, handle) = FakeSource::new();
    handle
        .push(ev("evt_1"))
        .fail(SourceError::auth("API key revoked"));
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_1"));
    let err = source.next().await.unwrap_err();
    assert!(
        matches!(err, SourceError::Auth(ref m) if m.to_string() == "API key revoked"),
        "{err:?}"
    );
    assert!(matches!(source.next().await, Err(SourceError::Closed)));
}

#[tokio::test]
async fn acks_are_recorded_in_the_order_they_run_and_can_be_awaited() {
    let (mut source, handle) = FakeSource::new();
    handle.push_all([ev("evt_1"), ev("evt_2")]);
    let first = source.next().await.unwrap().unwrap();
    let second = source.next().await.unwrap().unwrap();

    let waiter = {
        let handle = handle.clone();
        tokio::spawn(async move { handle.wait_for_ack("evt_1").await })
    };
    second.ack().await.unwrap();
    assert!(!waiter.is_finished(), "evt_1 is not acked yet");
    first.ack().await.unwrap();
    tokio::time::timeout(HANG, waiter).await.unwrap().unwrap();
    assert_eq!(handle.acked(), ["evt_2", "evt_1"]);
}

#[tokio::test]
async fn wait_for_ack_does_not_complete_before_the_ack() {
    let (mut source, handle) = FakeSource::new();
    handle.push(ev("evt_1"));
    let delivery = source.next().await.unwrap().unwrap();
    let mut wait = Box::pin(handle.wait_for_ack("evt_1"));
    assert!((&mut wait).now_or_never().is_none());
    delivery.ack().await.unwrap();
    tokio::time::timeout(HANG, wait).await.unwrap();
}

#[tokio::test]
async fn dropping_a_pending_next_loses_nothing() {
    let (mut source, handle) = FakeSource::new();
    for _ in 0..3 {
        assert!(source.next().now_or_never().is_none());
    }
    handle.push(ev("evt_1"));
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_1"));
}

#[tokio::test]
async fn the_stream_ends_when_every_handle_is_gone_and_the_script_is_used_up() {
    let (mut source, handle) = FakeSource::new();
    let other = handle.clone();
    handle.push(ev("evt_1"));
    drop(handle);
    drop(other);
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_1"));
    assert_eq!(next_id(&mut source).await, None);
}

#[tokio::test]
async fn from_events_scripts_events_then_the_end() {
    let mut source = FakeSource::from_events([ev("evt_1"), ev("evt_2")]);
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_1"));
    assert_eq!(next_id(&mut source).await.as_deref(), Some("evt_2"));
    assert_eq!(next_id(&mut source).await, None);
}

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    match e.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e
            .downcast::<&str>()
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
    }
}

#[test]
fn strict_panics_on_drop_naming_what_was_never_taken() {
    let (source, handle) = FakeSource::builder().name("ws").build();
    handle
        .push(ev("evt_1"))
        .push(ev("evt_2"))
        .fail(SourceError::Closed);
    let err = catch_unwind(AssertUnwindSafe(|| drop(source))).unwrap_err();
    let message = panic_message(err);
    assert!(message.contains("FakeSource `ws`"), "{message}");
    assert!(
        message.contains("3 pushed item(s) never taken"),
        "{message}"
    );
    assert!(
        message.contains("evt_1, evt_2, error (source closed)"),
        "{message}"
    );
}

#[tokio::test]
async fn strict_accepts_a_trailing_end_never_reached() {
    let (mut source, handle) = FakeSource::new();
    handle.push(ev("evt_1")).end();
    let _ = source.next().await.unwrap();
    drop(source); // no panic: only the end was left
}

#[test]
fn strict_does_not_panic_again_while_panicking() {
    let err = catch_unwind(|| {
        let (_source, handle) = FakeSource::new();
        handle.push(ev("evt_1"));
        panic!("the test's own failure");
    })
    .unwrap_err();
    assert_eq!(panic_message(err), "the test's own failure");
}

#[test]
fn lenient_does_not_panic() {
    let (source, handle) = FakeSource::builder().lenient().build();
    handle.push(ev("evt_1"));
    drop(source);
    handle.push(ev("evt_2")); // pushing to a dropped lenient source is ignored
    assert!(handle.is_closed());
}

#[test]
fn strict_panics_when_pushing_to_a_dropped_source() {
    let (source, handle) = FakeSource::new();
    drop(source);
    assert!(handle.is_closed());
    let err = catch_unwind(AssertUnwindSafe(|| {
        handle.push(ev("evt_1"));
    }))
    .unwrap_err();
    assert!(panic_message(err).contains("already dropped"));
}

#[tokio::test]
async fn acks_can_be_made_to_fail() {
    let (mut source, handle) = FakeSource::new();
    handle.push_all([ev("evt_1"), ev("evt_2")]).fail_acks(true);
    let first = source.next().await.unwrap().unwrap();
    let err = first.ack().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("evt_1"), "{err}");
    assert!(handle.acked().is_empty());
    handle.fail_acks(false);
    source.next().await.unwrap().unwrap().ack().await.unwrap();
    assert_eq!(handle.acked(), ["evt_2"]);
}
