//! The session logic over in-memory channels, with tokio's paused clock: exact and
//! instant, no sockets, no sleeps.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc as chan;
use futures::{Sink, Stream, StreamExt};
use mailwire_proto::{ClientFrame, Subscribe};
use mailwire_source::SourceError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::*;

const HEARTBEAT: Duration = Duration::from_secs(1);

/// A WebSocket made of two channels: frames the "server" sends, frames the session
/// wrote.
struct Duplex {
    incoming: chan::UnboundedReceiver<Result<Message, WsError>>,
    outgoing: chan::UnboundedSender<Message>,
}

impl Stream for Duplex {
    type Item = Result<Message, WsError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_next_unpin(cx)
    }
}

impl Sink<Message> for Duplex {
    type Error = WsError;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        self.outgoing
            .unbounded_send(item)
            .map_err(|_| WsError::ConnectionClosed)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }
}

/// The server's side of a [`Duplex`], and the consumer's channels.
struct Peer {
    server: chan::UnboundedSender<Result<Message, WsError>>,
    written: chan::UnboundedReceiver<Message>,
    rx: mpsc::Receiver<Batch>,
    gaps: mpsc::UnboundedReceiver<Gap>,
    skipped: crate::status::SkippedFrames,
}

struct Rig {
    ws: Duplex,
    batch: usize,
    tx: mpsc::Sender<Batch>,
    spares: Spares,
    status: watch::Sender<Status>,
    gaps: mpsc::UnboundedSender<Gap>,
    skipped: SkippedLog,
    max_message_size: usize,
    subscribe: Subscribe,
}

/// A rig whose channel holds one batch of up to `batch` events.
fn new_rig(batch: usize) -> (Rig, Peer) {
    let (server, incoming) = chan::unbounded();
    let (outgoing, written) = chan::unbounded();
    let (tx, rx) = mpsc::channel(1);
    let (gaps_tx, gaps) = mpsc::unbounded_channel();
    let (skipped_log, skipped) = SkippedLog::new();
    let rig = Rig {
        ws: Duplex { incoming, outgoing },
        batch,
        tx,
        spares: Spares::default(),
        status: watch::channel(Status::Connected).0,
        gaps: gaps_tx,
        skipped: skipped_log,
        max_message_size: mailwire_proto::MAX_EVENT_BYTES,
        subscribe: Subscribe::default(),
    };
    (
        rig,
        Peer {
            server,
            written,
            rx,
            gaps,
            skipped,
        },
    )
}

impl Rig {
    async fn run(&mut self, resume: &mut Resume) -> Outcome {
        let session = Session {
            subscribe: &self.subscribe,
            heartbeat: HEARTBEAT,
            batch: self.batch,
            tx: &self.tx,
            spares: &self.spares,
            status: &self.status,
            gaps: &self.gaps,
            skipped: &self.skipped,
            max_message_size: self.max_message_size,
        };
        run(&mut self.ws, session, resume).await
    }
}

impl Peer {
    fn say(&self, text: &str) {
        self.server
            .unbounded_send(Ok(Message::text(text)))
            .expect("session alive");
    }

    fn event(&self, id: &str) {
        self.say(&format!(
            r#"{{"id":"{id}","type":"message.received","data":{{"inbox_id":"a@x.to","thread_id":"t","message_id":"m"}}}}"#
        ));
    }

    /// Ends the stream, as a dropped socket does.
    fn hang_up(&mut self) {
        self.server.close_channel();
    }

    fn delivered(&mut self) -> Vec<String> {
        let mut ids = Vec::new();
        while let Ok(batch) = self.rx.try_recv() {
            for item in batch {
                ids.extend(delivered_id(item));
            }
        }
        ids
    }

    fn written(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        while let Ok(m) = self.written.try_recv() {
            out.push(m);
        }
        out
    }
}

/// The id of a delivered event; `None` for the marker of a skipped one.
fn delivered_id(item: Item) -> Option<String> {
    match item {
        Item::Event(received) => Some(received.event.id().to_owned()),
        Item::Skipped(_) => None,
        Item::Failed(e) => panic!("an event, got {e}"),
    }
}

fn subscribe_sent(msg: &Message) -> Subscribe {
    let Message::Text(text) = msg else {
        panic!("a text frame, got {msg:?}")
    };
    match ClientFrame::parse(text.as_bytes()) {
        Ok(ClientFrame::Subscribe(s)) => s,
        other => panic!("a subscribe, got {other:?}"),
    }
}

fn lost() -> Resume {
    Resume {
        last_event_id: Some("evt_0".into()),
        lost_at: Some(SystemTime::now()),
    }
}

#[tokio::test(start_paused = true)]
async fn subscribes_with_after_and_delivers_events_in_order() {
    let (mut rig, mut peer) = new_rig(8);
    rig.subscribe.inbox_ids = Some(vec!["a@x.to".into()]);
    let mut resume = lost();
    peer.event("evt_1");
    peer.say(r#"{"type":"resumed","replayed":1}"#);
    peer.say(r#"{"type":"subscribed"}"#);
    peer.event("evt_2");
    peer.hang_up();
    let outcome = rig.run(&mut resume).await;
    assert!(
        matches!(outcome.end, End::Retry(DisconnectReason::Io(_))),
        "{outcome:?}"
    );
    assert!(outcome.was_live);
    let sent = subscribe_sent(&peer.written()[0]);
    assert_eq!(sent.after.as_deref(), Some("evt_0"));
    assert_eq!(sent.inbox_ids, rig.subscribe.inbox_ids);
    assert_eq!(peer.delivered(), ["evt_1", "evt_2"]);
    assert_eq!(resume.last_event_id.as_deref(), Some("evt_2"));
    assert!(resume.lost_at.is_none());
    assert!(peer.gaps.try_recv().is_err(), "resumed: no gap");
    assert!(matches!(*rig.status.borrow(), Status::Subscribed));
}

#[tokio::test(start_paused = true)]
async fn a_gap_frame_is_a_not_retained_gap() {
    let (mut rig, mut peer) = new_rig(8);
    let mut resume = lost();
    peer.say(r#"{"type":"gap","after":"evt_0"}"#);
    peer.say(r#"{"type":"subscribed"}"#);
    peer.hang_up();
    rig.run(&mut resume).await;
    let gap = peer.gaps.try_recv().expect("a gap");
    assert_eq!(gap.cause, GapCause::NotRetained);
    assert_eq!(gap.last_event_id.as_deref(), Some("evt_0"));
    assert!(gap.from <= gap.to);
    assert!(peer.gaps.try_recv().is_err(), "exactly one gap");
}

#[tokio::test(start_paused = true)]
async fn subscribed_without_resumed_means_the_server_ignored_after() {
    let (mut rig, mut peer) = new_rig(8);
    let mut resume = lost();
    peer.say(r#"{"type":"subscribed"}"#);
    peer.hang_up();
    rig.run(&mut resume).await;
    assert_eq!(
        peer.gaps.try_recv().expect("a gap").cause,
        GapCause::NotSupported
    );
}

#[tokio::test(start_paused = true)]
async fn a_reconnect_without_an_event_id_is_a_gap_but_a_first_connect_is_not() {
    let (mut rig, mut peer) = new_rig(8);
    let mut resume = Resume {
        last_event_id: None,
        lost_at: Some(SystemTime::now()),
    };
    peer.say(r#"{"type":"subscribed"}"#);
    peer.hang_up();
    rig.run(&mut resume).await;
    assert!(subscribe_sent(&peer.written()[0]).after.is_none());
    assert_eq!(
        peer.gaps.try_recv().expect("a gap").cause,
        GapCause::NoEventId
    );

    let (mut rig, mut peer) = new_rig(8);
    peer.say(r#"{"type":"subscribed"}"#);
    peer.hang_up();
    rig.run(&mut Resume::default()).await;
    assert!(peer.gaps.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn an_auth_error_frame_is_fatal() {
    let (mut rig, peer) = new_rig(8);
    peer.say(r#"{"type":"error","name":"AuthenticationError","message":"API key revoked"}"#);
    let outcome = rig.run(&mut Resume::default()).await;
    assert!(
        matches!(outcome.end, End::Fatal(SourceError::Auth(_))),
        "{outcome:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn other_error_frames_are_logged_and_the_session_goes_on() {
    let (mut rig, mut peer) = new_rig(8);
    peer.say(r#"{"type":"error","name":"ValidationError","message":"bad filter"}"#);
    peer.event("evt_1");
    peer.hang_up();
    rig.run(&mut Resume::default()).await;
    assert_eq!(peer.delivered(), ["evt_1"]);
}

#[tokio::test(start_paused = true)]
async fn auth_close_codes_are_fatal_and_others_retry() {
    for (code, reason, fatal) in [
        (4001, "", true),
        (4403, "", true),
        (1008, "invalid API key", true),
        (1008, "too many subscriptions", false),
        (1000, "bye", false),
        (1001, "going away", false),
    ] {
        let (mut rig, peer) = new_rig(8);
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        peer.server
            .unbounded_send(Ok(Message::Close(Some(frame))))
            .unwrap();
        let end = rig.run(&mut Resume::default()).await.end;
        match end {
            End::Fatal(SourceError::Auth(_)) if fatal => {}
            End::Retry(DisconnectReason::ClosedByServer { code: Some(c), .. }) if !fatal => {
                assert_eq!(c, code);
            }
            other => panic!("close {code} {reason:?}: got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_frames_are_skipped_without_losing_what_follows() {
    let (mut rig, mut peer) = new_rig(8);
    for bad in [
        "{",
        "not json",
        "[1,2]",
        r#"{"type":"event"}"#,
        r#"{"type":"event","event_type":"message.received","event_id":"evt_x","message":7}"#,
        r#"{"type":"gap"}"#,
        "\u{0}",
    ] {
        peer.say(bad);
    }
    peer.server
        .unbounded_send(Ok(Message::binary(&b"\xff\xfe"[..])))
        .unwrap();
    peer.event("evt_1");
    peer.hang_up();
    rig.run(&mut Resume::default()).await;
    // An envelope with an id and a type is an event, whatever its payload.
    assert_eq!(peer.delivered(), ["evt_x", "evt_1"]);
    assert_eq!(
        peer.skipped.count(),
        7,
        "each of the others skipped and counted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_dead_after_two_heartbeats_and_was_pinged() {
    let (mut rig, mut peer) = new_rig(8);
    let started = Instant::now();
    let outcome = rig.run(&mut Resume::default()).await;
    assert!(
        matches!(outcome.end, End::Retry(DisconnectReason::DeadPeer)),
        "{outcome:?}"
    );
    // The paused clock makes this exact: not before two intervals, and not later.
    assert_eq!(started.elapsed(), HEARTBEAT * 2);
    let pings = peer
        .written()
        .iter()
        .filter(|m| matches!(m, Message::Ping(_)))
        .count();
    assert_eq!(pings, 2);
    assert!(!outcome.was_live);
}

#[tokio::test(start_paused = true)]
async fn any_frame_keeps_the_connection_alive() {
    let (mut rig, peer) = new_rig(8);
    let session = async {
        let outcome = rig.run(&mut Resume::default()).await;
        (outcome, Instant::now())
    };
    let started = Instant::now();
    let server = async {
        for _ in 0..10 {
            // tidy: allow(sleep) the server's pace on the paused clock: a pong every 1.5 heartbeats
            tokio::time::sleep(HEARTBEAT * 3 / 2).await;
            peer.server
                .unbounded_send(Ok(Message::Pong(Bytes::new())))
                .unwrap();
        }
        peer
    };
    let ((outcome, ended), _peer) = tokio::join!(session, server);
    assert!(matches!(
        outcome.end,
        End::Retry(DisconnectReason::DeadPeer)
    ));
    // Alive through the ten pongs, dead two intervals after the last one.
    assert_eq!(ended - started, HEARTBEAT * 15 + HEARTBEAT * 2);
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_is_not_a_dead_peer() {
    let (mut rig, mut peer) = new_rig(1);
    for i in 1..=3 {
        peer.event(&format!("evt_{i}"));
    }
    let mut resume = Resume::default();
    let session = rig.run(&mut resume);
    let consumer = async {
        // Ten heartbeats without reading: the session must wait, not give up.
        // tidy: allow(sleep) the consumer's pace, on the paused clock
        tokio::time::sleep(HEARTBEAT * 10).await;
        let mut got = Vec::new();
        while got.len() < 3 {
            for item in peer.rx.recv().await.expect("open") {
                got.extend(delivered_id(item));
            }
        }
        peer.hang_up();
        got
    };
    let (outcome, got) = tokio::join!(session, consumer);
    assert!(
        matches!(outcome.end, End::Retry(DisconnectReason::Io(_))),
        "ended by the hang-up, not as dead: {outcome:?}"
    );
    assert_eq!(got, ["evt_1", "evt_2", "evt_3"]);
    // It kept pinging while it waited.
    let pings = peer
        .written()
        .iter()
        .filter(|m| matches!(m, Message::Ping(_)))
        .count();
    assert!(pings >= 9, "{pings} pings");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_consumer_ends_the_session() {
    let (mut rig, peer) = new_rig(1);
    drop(peer.rx);
    let outcome = rig.run(&mut Resume::default()).await;
    assert!(matches!(outcome.end, End::ConsumerGone));
}

#[tokio::test(start_paused = true)]
async fn messages_over_the_hard_bound_drop_the_connection() {
    use tokio_tungstenite::tungstenite::error::CapacityError;
    let (mut rig, peer) = new_rig(1);
    let too_long = CapacityError::MessageTooLong {
        size: 2 << 20,
        max_size: 1 << 20,
    };
    peer.server
        .unbounded_send(Err(WsError::Capacity(too_long)))
        .unwrap();
    let outcome = rig.run(&mut Resume::default()).await;
    assert!(matches!(
        outcome.end,
        End::Retry(DisconnectReason::MessageTooLarge)
    ));
}

#[tokio::test(start_paused = true)]
async fn json_pings_are_not_frames_of_the_protocol_and_get_no_answer() {
    let (mut rig, mut peer) = new_rig(8);
    peer.say(r#"{"type":"ping"}"#);
    peer.say(r#"{"type":"connected"}"#);
    peer.event("evt_1");
    peer.hang_up();
    rig.run(&mut Resume::default()).await;
    // Only the subscribe was written: no JSON pong, ever.
    let written = peer.written();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(matches!(&written[0], Message::Text(t) if t.contains("subscribe")));
    assert_eq!(peer.delivered(), ["evt_1"]);
    assert_eq!(peer.skipped.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_oversized_event_is_skipped_reported_and_resumed_past() {
    let (mut rig, mut peer) = new_rig(8);
    rig.max_message_size = 4096;
    peer.event("evt_1");
    let big = format!(
        r#"{{"type":"event","event_type":"message.received","event_id":"evt_big","message":{{"text":"{}"}}}}"#,
        "x".repeat(8192)
    );
    peer.say(&big);
    peer.say("{not json");
    peer.event("evt_3");
    peer.hang_up();
    let mut resume = Resume::default();
    rig.run(&mut resume).await;
    assert_eq!(peer.delivered(), ["evt_1", "evt_3"]);
    let first = peer.skipped.try_recv().expect("a notice");
    assert_eq!(first.id.as_deref(), Some("evt_big"));
    assert_eq!(first.len, big.len());
    assert!(matches!(first.reason, SkipReason::TooLarge { limit: 4096 }));
    let second = peer.skipped.try_recv().expect("a notice");
    assert_eq!(second.id, None);
    assert!(matches!(second.reason, SkipReason::Unreadable(_)));
    assert_eq!(peer.skipped.count(), 2);
    assert_eq!(resume.last_event_id.as_deref(), Some("evt_3"));
    let gap = peer.gaps.try_recv().expect("a gap for the oversized one");
    assert_eq!(gap.cause, GapCause::TooLarge);
    assert_eq!(gap.last_event_id.as_deref(), Some("evt_1"));
    assert!(peer.gaps.try_recv().is_err(), "none for the unreadable one");

    // Ending on the oversized one, the resume point is past it all the same.
    let (mut rig, mut peer) = new_rig(8);
    rig.max_message_size = 4096;
    peer.event("evt_1");
    peer.say(&big);
    peer.hang_up();
    let mut resume = Resume::default();
    rig.run(&mut resume).await;
    assert_eq!(resume.last_event_id.as_deref(), Some("evt_big"));
}

#[tokio::test(start_paused = true)]
async fn a_skipped_event_is_handed_over_in_its_place_for_the_watermark() {
    let (mut rig, mut peer) = new_rig(8);
    rig.max_message_size = 4096;
    peer.event("evt_1");
    peer.say(&format!(
        r#"{{"id":"evt_big","type":"message.received","data":{{"text":"{}"}}}}"#,
        "x".repeat(8192)
    ));
    peer.say("{not json"); // no id: nothing to pass
    peer.event("evt_3");
    peer.hang_up();
    rig.run(&mut Resume::default()).await;
    let mut items = Vec::new();
    while let Ok(batch) = peer.rx.try_recv() {
        items.extend(batch.into_iter().map(|item| match item {
            Item::Event(r) => format!("event {}", r.event.id()),
            Item::Skipped(id) => format!("skipped {id}"),
            Item::Failed(e) => panic!("{e}"),
        }));
    }
    assert_eq!(items, ["event evt_1", "skipped evt_big", "event evt_3"]);
}

#[tokio::test(start_paused = true)]
async fn an_event_up_to_the_parsers_limit_is_delivered_by_default() {
    let (mut rig, mut peer) = new_rig(8);
    let big = format!(
        r#"{{"id":"evt_big","type":"message.received","data":{{"text":"{}"}}}}"#,
        "x".repeat(3 << 20)
    );
    peer.say(&big);
    peer.hang_up();
    rig.run(&mut Resume::default()).await;
    assert_eq!(peer.delivered(), ["evt_big"]);
    assert_eq!(peer.skipped.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_one_batch_and_a_lone_event_is_not_held_back() {
    let (mut rig, mut peer) = new_rig(8);
    for i in 1..=3 {
        peer.event(&format!("evt_{i}"));
    }
    let mut resume = Resume::default();
    let session = rig.run(&mut resume);
    let consumer = async {
        let ids =
            |batch: Batch| -> Vec<String> { batch.into_iter().filter_map(delivered_id).collect() };
        let first = ids(peer.rx.recv().await.expect("a batch"));
        // tidy: allow(sleep) a pause on the paused clock between the burst and the lone event
        tokio::time::sleep(HEARTBEAT / 4).await;
        peer.event("evt_4");
        // Delivered alone, at once: not held back to fill a batch.
        let second = ids(peer.rx.recv().await.expect("a batch"));
        peer.hang_up();
        (first, second)
    };
    let (_, (first, second)) = tokio::join!(session, consumer);
    assert_eq!(first, ["evt_1", "evt_2", "evt_3"]);
    assert_eq!(second, ["evt_4"]);
}

#[tokio::test(start_paused = true)]
async fn events_read_before_a_fatal_error_are_still_delivered() {
    let (mut rig, mut peer) = new_rig(8);
    peer.event("evt_1");
    peer.say(r#"{"type":"error","name":"AuthenticationError","message":"revoked"}"#);
    let outcome = rig.run(&mut Resume::default()).await;
    assert!(matches!(outcome.end, End::Fatal(_)));
    assert_eq!(peer.delivered(), ["evt_1"]);
}
