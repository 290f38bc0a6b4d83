//! Faults over real loopback sockets: handshakes that never finish, silent peers,
//! refused keys, hostile frames.

use crate::common;

use std::time::Duration;

use common::*;
use mailwire_sim::Simulator;
use mailwire_source::{EventSource, SourceError};
use mailwire_ws::{AuthStyle, DisconnectReason, Status, WsConfig, WsSource};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_peer_that_never_completes_the_handshake_hits_the_connect_timeout() {
    // Accepts TCP connections and holds them without a byte in answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v0", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let source =
        WsSource::spawn(config_for(url).connect_timeout(Duration::from_millis(100))).unwrap();
    let status = wait_status(&source, "a connect timeout", |s| {
        matches!(s, Status::Disconnected { .. })
    })
    .await;
    let Status::Disconnected { reason, .. } = status else {
        unreachable!()
    };
    assert_eq!(reason, DisconnectReason::ConnectTimeout);
    // And it keeps trying.
    wait_status(
        &source,
        "a second attempt",
        |s| matches!(s, Status::Connecting { attempt } if *attempt >= 2),
    )
    .await;
    held.abort();
}

#[tokio::test]
async fn a_stalled_simulator_handshake_times_out_too() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    sim.faults().stall_handshakes(true);
    let source = WsSource::spawn(config(&sim).connect_timeout(Duration::from_millis(100))).unwrap();
    wait_status(&source, "a connect timeout", |s| {
        matches!(
            s,
            Status::Disconnected {
                reason: DisconnectReason::ConnectTimeout,
                ..
            }
        )
    })
    .await;
    sim.faults().stall_handshakes(false);
    subscribed(&source).await;
}

#[tokio::test]
async fn a_silent_peer_is_detected_and_replaced() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim).heartbeat(Duration::from_millis(100))).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=1);
    assert_eq!(take(&mut source, 1).await, ids(1..=1));

    sim.faults().silence_connections();
    emit(&sim, 2..=3); // never sent on the silent connection
    wait_status(&source, "dead-peer detection", |s| {
        matches!(
            s,
            Status::Disconnected {
                reason: DisconnectReason::DeadPeer,
                ..
            }
        )
    })
    .await;
    assert_eq!(
        take(&mut source, 2).await,
        ids(2..=3),
        "resumed on a new connection"
    );
    assert!(sim.stats().subscribes >= 2);
}

#[tokio::test]
async fn a_healthy_idle_connection_is_not_mistaken_for_a_dead_one() {
    let sim = Simulator::builder()
        .ping_interval(None)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // A heartbeat a busy two-core machine keeps (a pong late by more than two
    // intervals is a dead peer): 250 ms, so a scheduling stall of the test run is
    // not taken for one.
    let mut source = WsSource::spawn(config(&sim).heartbeat(Duration::from_millis(250))).unwrap();
    subscribed(&source).await;
    // Idle for eight heartbeats: the pongs keep it alive (the server sends nothing
    // else). Waiting on a later handshake would be a failure.
    let mut status = source.status();
    let idle = tokio::time::timeout(
        Duration::from_secs(2),
        status.wait_for(|s| !matches!(s, Status::Subscribed)),
    )
    .await
    .map(|changed| changed.map(|s| s.clone()));
    assert!(idle.is_err(), "the connection was dropped: {idle:?}");
    assert_eq!(sim.stats().handshakes, 1);
    emit(&sim, 1..=1);
    assert_eq!(take(&mut source, 1).await, ids(1..=1));
}

#[tokio::test]
async fn a_wrong_key_fails_with_auth_after_exactly_one_attempt() {
    let sim = Simulator::builder()
        .api_key("sk_right")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    for style in [AuthStyle::Bearer, AuthStyle::Query, AuthStyle::XApiKey] {
        let before = sim.stats().handshakes;
        let mut source =
            WsSource::spawn(config(&sim).api_key("sk_wrong").auth_style(style)).unwrap();
        match bounded("the auth error", source.next()).await {
            Err(SourceError::Auth(message)) => {
                assert!(message.to_string().contains("401"), "{message}");
            }
            other => panic!("{style:?}: expected an auth error, got {other:?}"),
        }
        assert!(matches!(*source.status().borrow(), Status::Failed(_)));
        assert!(
            source.next().await.unwrap().is_none(),
            "ended after the error"
        );
        assert_eq!(
            sim.stats().handshakes,
            before + 1,
            "{style:?}: one attempt, no retry loop"
        );
    }
}

#[tokio::test]
async fn the_right_key_by_each_style_is_accepted() {
    let sim = Simulator::builder()
        .api_key("sk/right+1")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    for style in [AuthStyle::Bearer, AuthStyle::Query, AuthStyle::XApiKey] {
        let source = WsSource::spawn(config(&sim).api_key("sk/right+1").auth_style(style)).unwrap();
        subscribed(&source).await;
    }
    assert!(sim.handshakes().iter().all(|h| h.authorized));
}

#[tokio::test]
async fn an_auth_error_frame_mid_stream_is_fatal() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=2);
    sim.faults()
        .send_raw(r#"{"type":"error","name":"AuthenticationError","message":"API key revoked"}"#);
    assert_eq!(
        take(&mut source, 2).await,
        ids(1..=2),
        "events before the error first"
    );
    assert!(matches!(
        bounded("error", source.next()).await,
        Err(SourceError::Auth(_))
    ));
    assert_eq!(sim.stats().subscribes, 1);
}

#[tokio::test]
async fn an_oversized_message_is_skipped_and_reported_on_the_same_connection() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim).max_message_size(4096)).unwrap();
    let mut skipped = source.skipped().unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=1);
    assert_eq!(take(&mut source, 1).await, ids(1..=1));
    let huge = format!(
        r#"{{"type":"event","event_type":"x.y","event_id":"evt_huge","pad":"{}"}}"#,
        "x".repeat(64 << 10)
    );
    sim.faults().send_raw(huge);
    emit(&sim, 2..=2);
    assert_eq!(take(&mut source, 1).await, ids(2..=2));
    let notice = bounded("the notice", skipped.recv()).await.unwrap();
    assert_eq!(notice.id.as_deref(), Some("evt_huge"));
    assert_eq!(sim.stats().subscribes, 1, "no reconnect");
}

#[tokio::test]
async fn malformed_frames_are_skipped_and_counted_and_odd_payloads_delivered() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let mut source = WsSource::spawn(config(&sim)).unwrap();
    let skipped = source.skipped().unwrap();
    subscribed(&source).await;
    let faults = sim.faults();
    faults.send_raw("{");
    faults.send_raw(&b"\xff\x00binary"[..]);
    faults.send_raw(format!(r#"{{"id":"{}","type":"x"}}"#, "i".repeat(600)));
    faults.send_raw("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    // An envelope with an id and a type is an event, whatever its payload holds.
    faults.send_raw(
        r#"{"type":"event","event_type":"message.received","event_id":"evt_x","message":[]}"#,
    );
    emit(&sim, 1..=1);
    let got = take(&mut source, 2).await;
    assert_eq!(got[0], "evt_x");
    assert_eq!(got[1..], ids(1..=1)[..]);
    assert_eq!(skipped.count(), 4);
    assert_eq!(sim.stats().subscribes, 1, "no reconnect");
}

#[tokio::test]
async fn configuration_errors_are_reported_at_spawn() {
    for url in ["http://example.com/v0", "not a url", "ws:///v0"] {
        match WsSource::spawn(WsConfig::new(url)) {
            Err(SourceError::Config(_)) => {}
            other => panic!("{url}: expected a configuration error, got {other:?}"),
        }
    }
    let bad_key = WsConfig::new("ws://127.0.0.1:1/v0").api_key("line\nbreak");
    assert!(matches!(
        WsSource::spawn(bad_key),
        Err(SourceError::Config(_))
    ));
}
