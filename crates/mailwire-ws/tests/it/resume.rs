//! Drops, restarts and retention over real loopback sockets: every event exactly
//! once and in order, or a gap notice.

use crate::common;

use common::*;
use mailwire_proto::EventType;
use mailwire_proto::fixtures;
use mailwire_sim::{Retention, Simulator};
use mailwire_source::EventSource;
use mailwire_ws::{GapCause, Status, WsSource};

#[tokio::test]
async fn a_drop_mid_stream_resumes_every_event_exactly_once_in_order() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    // A small channel keeps most events on the wire when the connection dies.
    let mut source = WsSource::spawn(config(&sim).channel_capacity(4)).unwrap();
    let mut gaps = source.gaps().unwrap();
    subscribed(&source).await;

    emit(&sim, 1..=200);
    let mut got = take(&mut source, 50).await;
    sim.faults().drop_connections();
    emit(&sim, 201..=300); // while the client is away or reconnecting
    got.extend(take(&mut source, 250).await);
    assert_eq!(got, ids(1..=300));

    // Nothing twice: the next event after the resume is the new one.
    emit(&sim, 301..=301);
    assert_eq!(take(&mut source, 1).await, ids(301..=301));
    assert!(sim.stats().subscribes >= 2, "it did reconnect");
    assert!(gaps.try_recv().is_none(), "resume closed the gap");
}

#[tokio::test]
async fn a_restart_on_the_same_port_is_reconnected_and_resumed() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    let mut gaps = source.gaps().unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=10);
    assert_eq!(take(&mut source, 10).await, ids(1..=10));

    sim.stop().await;
    emit(&sim, 11..=20); // retained while the server is down
    // It keeps trying while the port is closed.
    wait_status(
        &source,
        "a refused reconnect",
        |s| matches!(s, Status::Connecting { attempt } if *attempt >= 2),
    )
    .await;
    sim.start().await.unwrap();
    assert_eq!(take(&mut source, 10).await, ids(11..=20));
    subscribed(&source).await;
    assert!(gaps.try_recv().is_none());
}

#[tokio::test]
async fn retention_exceeded_is_a_gap_notice_not_a_silent_loss() {
    let sim = Simulator::builder()
        .retain(5)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    let mut gaps = source.gaps().unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=1);
    assert_eq!(take(&mut source, 1).await, ids(1..=1));

    sim.stop().await;
    emit(&sim, 2..=20); // evt_1 falls out of the 5 retained
    sim.start().await.unwrap();
    let gap = bounded("a gap notice", gaps.recv()).await.expect("a gap");
    assert_eq!(gap.cause, GapCause::NotRetained);
    assert_eq!(gap.last_event_id.as_deref(), Some("evt_1"));
    assert!(gap.from <= gap.to);

    // Live events flow again after the gap.
    subscribed(&source).await;
    bounded("re-subscribe", sim.wait_subscribers(1)).await;
    emit(&sim, 21..=21);
    assert_eq!(take(&mut source, 1).await, ids(21..=21));
}

#[tokio::test]
async fn a_restart_that_lost_retention_is_a_gap() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    let mut gaps = source.gaps().unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=3);
    assert_eq!(take(&mut source, 3).await, ids(1..=3));
    sim.restart(Retention::Clear).await.unwrap();
    let gap = bounded("a gap notice", gaps.recv()).await.expect("a gap");
    assert_eq!(gap.last_event_id.as_deref(), Some("evt_3"));
}

#[tokio::test]
async fn a_configured_resume_point_replays_on_the_first_connection() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    emit(&sim, 1..=5);
    let mut source = WsSource::spawn(config(&sim).resume_after("evt_2")).unwrap();
    let mut gaps = source.gaps().unwrap();
    assert_eq!(take(&mut source, 3).await, ids(3..=5));
    subscribed(&source).await;
    assert!(gaps.try_recv().is_none());
}

#[tokio::test]
async fn filters_deliver_only_what_was_asked() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let config = config(&sim)
        .event_types([EventType::MessageReceived, EventType::MessageBounced])
        .inbox_ids(["a@x.to"]);
    let mut source = WsSource::spawn(config).unwrap();
    subscribed(&source).await;
    sim.emit(fixtures::message_received("evt_1", "b@x.to"));
    sim.emit(fixtures::message_bounced("evt_2", "a@x.to"));
    sim.emit(fixtures::message_bounced("evt_3", "b@x.to"));
    sim.emit(fixtures::message_received("evt_4", "a@x.to"));
    let other = mailwire_proto::Event::parse(
        &br#"{"id":"evt_5","type":"domain.verified","data":{"inbox_id":"a@x.to"}}"#[..],
    )
    .unwrap();
    sim.emit(other);
    sim.emit(fixtures::message_received("evt_6", "a@x.to"));
    assert_eq!(take(&mut source, 3).await, ["evt_2", "evt_4", "evt_6"]);
}

#[tokio::test]
async fn shutdown_delivers_what_was_received_then_ends() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=3);
    assert_eq!(take(&mut source, 3).await, ids(1..=3));
    source.shutdown_handle().shutdown();
    assert!(bounded("end", source.next()).await.unwrap().is_none());
    assert!(source.next().await.unwrap().is_none());
    wait_status(&source, "closed", |s| matches!(s, Status::Closed)).await;
    bounded("the socket to close", sim.wait_until(|s| s.subscribed == 0)).await;
}

#[tokio::test]
async fn the_simple_envelope_and_the_myagentmail_path_work_too() {
    let sim = Simulator::builder()
        .envelope(mailwire_proto::Envelope::Simple)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("ws://{}/v1/ws", sim.addr());
    let mut source = WsSource::spawn(config_for(url)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=1);
    let d = bounded("event", source.next()).await.unwrap().unwrap();
    assert_eq!(d.event.envelope(), mailwire_proto::Envelope::Simple);
    assert_eq!(d.origin, mailwire_source::Origin::WebSocket);
}
