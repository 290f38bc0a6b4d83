//! Large emails over real loopback sockets: delivered whole while running, up to
//! what the envelope parser reads; past it, skipped with their id and reported.

use crate::common;

use common::*;
use mailwire_proto::MAX_EVENT_BYTES;
use mailwire_sim::{IncomingEmail, Simulator};
use mailwire_source::{EventSource, MemoryCheckpoints};
use mailwire_ws::{GapCause, SkipReason, WsSource};

/// A text body of `len` bytes that is not one repeated byte.
fn text_of(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn sent_raw(sim: &Simulator, id: &str) -> bytes::Bytes {
    sim.hub()
        .retained_after(None, usize::MAX)
        .expect("retained")
        .into_iter()
        .find(|e| e.id() == id)
        .expect("the event sent")
        .raw()
        .clone()
}

#[tokio::test]
async fn an_email_with_over_1_mib_of_text_arrives_intact_while_running() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    // The default configuration: no limit raised by hand.
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    let mut skipped = source.skipped().unwrap();
    subscribed(&source).await;

    let text = text_of(3 << 19); // 1.5 MiB; the event carries it twice (text, extracted_text)
    let email = IncomingEmail::new("Bob <bob@example.com>", "the report", text.clone());
    let id = sim.receive_email("ada@agentmail.to", email).unwrap();
    let delivery = bounded("the large event", source.next())
        .await
        .expect("no error")
        .expect("not ended");
    assert_eq!(delivery.event.id(), id);
    let sent = sent_raw(&sim, &id);
    assert!(sent.len() > 3 << 20, "a {}-byte frame", sent.len());
    assert_eq!(delivery.event.raw(), &sent, "the exact bytes sent");
    let message = delivery.event.payload().message().expect("a message");
    assert_eq!(message.text.as_deref(), Some(text.as_str()));
    assert!(delivery.event.payload_error().is_none());

    // Events after it flow on the same connection, nothing skipped.
    emit(&sim, 1..=1);
    assert_eq!(take(&mut source, 1).await, ids(1..=1));
    assert!(skipped.try_recv().is_none());
    assert_eq!(skipped.count(), 0);
    assert_eq!(sim.stats().subscribes, 1, "no reconnect");
}

#[tokio::test]
async fn an_event_past_what_the_parser_reads_is_reported_with_its_id_and_passed() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let checkpoints = MemoryCheckpoints::new();
    let mut source =
        WsSource::spawn(config(&sim).checkpoints(checkpoints.clone(), "ws:large")).unwrap();
    let mut skipped = source.skipped().unwrap();
    let mut gaps = source.gaps().unwrap();
    subscribed(&source).await;

    emit(&sim, 1..=1);
    let email = IncomingEmail::new("bob@example.com", "huge", text_of(MAX_EVENT_BYTES));
    let huge = sim.receive_email("ada@agentmail.to", email).unwrap();
    emit(&sim, 2..=2);
    let first = bounded("evt_1", source.next()).await.unwrap().unwrap();
    let second = bounded("evt_2", source.next()).await.unwrap().unwrap();
    assert_eq!(second.event.id(), "evt_2");

    let notice = bounded("the notice", skipped.recv())
        .await
        .expect("a notice");
    assert_eq!(notice.id.as_deref(), Some(huge.as_str()));
    assert_eq!(notice.len, sent_raw(&sim, &huge).len());
    assert!(
        matches!(notice.reason, SkipReason::TooLarge { limit } if limit == MAX_EVENT_BYTES),
        "{:?}",
        notice.reason
    );
    assert_eq!(sim.stats().subscribes, 1, "no reconnect");
    // A gap, for whoever fills gaps from the REST API.
    let gap = bounded("the gap", gaps.recv()).await.expect("a gap");
    assert_eq!(gap.cause, GapCause::TooLarge);
    assert_eq!(gap.last_event_id.as_deref(), Some("evt_1"));
    assert!(gaps.try_recv().is_none(), "one gap");

    // The watermark passes the skipped event with the events around it.
    second.ack().await.unwrap();
    source.flush().await.unwrap();
    assert!(checkpoints.snapshot().is_empty(), "evt_1 is not acked");
    first.ack().await.unwrap();
    source.flush().await.unwrap();
    assert_eq!(checkpoints.snapshot()["ws:large"], "evt_2");
}
