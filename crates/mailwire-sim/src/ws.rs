//! One WebSocket connection, as `websockets.yml` defines it: the client sends
//! `subscribe`; the server answers `subscribed` (echoing the filters), then sends the
//! events that pass them, and `error` frames for requests it cannot take. Nothing
//! else: no greeting, no JSON ping. Liveness is RFC 6455 control pings, which every
//! client library answers by itself; a peer that answers nothing for two intervals is
//! dropped, as is one that does not read what it is sent (see
//! [`SimulatorBuilder::write_timeout`](crate::SimulatorBuilder::write_timeout) and
//! [`SimulatorBuilder::live_buffer`](crate::SimulatorBuilder::live_buffer)).
//!
//! Filters: absent `event_types` means every type except `message.received.spam`,
//! `.blocked` and `.unauthenticated` (the definition's rule); `inbox_ids` and
//! `pod_ids` narrow to those inboxes and pods' inboxes.
//!
//! Our extension: `subscribe` with `after` replays retained events and answers
//! `resumed` or `gap` before `subscribed`. Under the simple envelope, `/v1/ws`
//! streams every event from the moment it connects, with no `subscribe` needed (the
//! article's client never sends one); a `subscribe` there works as on `/v0`.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, State};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mailwire_proto::{
    ClientFrame, ErrorFrame, Event, EventType, ServerFrame, Subscribe, Subscribed,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::faults::{Control, killed};
use crate::http::{Body, error, unauthorized};
use crate::hub::{Outgoing, Replay};
use crate::{Settings, Shared};

/// Live frames written before one flush, so a burst costs few syscalls.
const BATCH: usize = 256;

/// Limits for what clients send: only small control frames are expected.
pub(crate) fn server_config(_settings: &Settings) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10))
}

/// Why a connection ends.
#[derive(Debug)]
enum Closed {
    /// The socket failed or the peer left.
    Io,
    /// The peer did not take what was sent within the write timeout.
    Slow,
}

type Result<T = ()> = std::result::Result<T, Closed>;

/// What a connection lets through.
#[derive(Debug, Default)]
struct Filter {
    sub: Subscribe,
    /// Streaming from connect (the simple envelope's `/v1/ws`): every type.
    everything: bool,
}

impl Filter {
    /// The [`Selection`](mailwire_proto::Selection) rule, but for a stream opened
    /// without a subscription (`/v1/ws`), which gets every type.
    fn passes(&self, event: &Event, shared: &Shared) -> bool {
        if self.everything && self.sub.event_types.is_none() {
            return true;
        }
        self.sub.selection().selects(event, |inbox| {
            shared.mail().pod_of(inbox).map(str::to_owned)
        })
    }
}

/// The first event type of `sub` the simulator does not know (`EventType` of
/// `events.yml` and the types AgentMail's SDKs name besides).
fn unknown_type(sub: &Subscribe) -> Option<&str> {
    sub.event_types
        .iter()
        .flatten()
        .find(|t| matches!(t, EventType::Other(_)))
        .map(EventType::as_str)
}

/// Counts an open WebSocket in the `mailwire_sim_ws_connections` gauge while it
/// lives, however its task ends (aborted included).
struct OpenConnection;

impl OpenConnection {
    fn new() -> OpenConnection {
        metrics::gauge!("mailwire_sim_ws_connections").increment(1.0);
        OpenConnection
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("mailwire_sim_ws_connections").decrement(1.0);
    }
}

struct Connection<S> {
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    filter: Filter,
    live: Option<broadcast::Receiver<Outgoing>>,
    counted: bool,
    write_timeout: Duration,
    heard: Instant,
}

/// Serves one upgraded connection until the client leaves, an error, or a fault.
/// `stream`, a live receiver taken before the handshake was answered, sends every
/// event at once, without a `subscribe`.
pub(crate) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    mut ctl: watch::Receiver<Control>,
    stream: Option<broadcast::Receiver<Outgoing>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let open = OpenConnection::new();
    let ping_every = shared.settings.ping_interval;
    let mut ping = ping_every.map(|every| {
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping
    });
    let mut conn = Connection {
        ws,
        write_timeout: shared.settings.write_timeout,
        shared,
        filter: Filter::default(),
        live: None,
        counted: false,
        heard: Instant::now(),
    };
    if let Some(live) = stream {
        conn.filter.everything = true;
        conn.live = Some(live);
        conn.count();
    }
    let mut slow = false;
    loop {
        // Marks the current state seen, so `changed()` below only fires for a later
        // one: a kill that arrived while a frame was being handled is acted on here.
        let now = *ctl.borrow_and_update();
        match now {
            Control::Normal => {}
            Control::Kill => break,
            Control::Silent => {
                // Half-open: hold the socket, touch nothing, until told to close.
                killed(&mut ctl).await;
                break;
            }
        }
        let flow = tokio::select! {
            biased;
            changed = ctl.changed() => match changed {
                Ok(()) if *ctl.borrow() == Control::Kill => ControlFlow::Break(Closed::Io),
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(Closed::Io),
            },
            msg = conn.ws.next() => match msg {
                Some(Ok(msg)) => {
                    conn.heard = Instant::now();
                    conn.on_client(msg).await
                }
                _ => ControlFlow::Break(Closed::Io),
            },
            out = recv(&mut conn.live) => conn.on_live(out).await,
            () = tick(&mut ping) => {
                let every = ping_every.unwrap_or(Duration::MAX);
                if conn.heard.elapsed() > every.saturating_mul(2) {
                    tracing::info!("closing a connection that answered no ping");
                    ControlFlow::Break(Closed::Io)
                } else {
                    to_flow(conn.send(Message::Ping(Bytes::new())).await)
                }
            }
        };
        if let ControlFlow::Break(why) = flow {
            slow = matches!(why, Closed::Slow);
            break;
        }
    }
    // Closed before the counters below move, so that one waiting on them sees it.
    drop(open);
    if slow {
        conn.shared.stats.send_modify(|s| s.slow_dropped += 1);
    }
    if conn.counted {
        conn.shared.stats.send_modify(|s| s.subscribed -= 1);
    }
}

async fn recv(
    live: &mut Option<broadcast::Receiver<Outgoing>>,
) -> std::result::Result<Outgoing, RecvError> {
    match live {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn tick(ping: &mut Option<tokio::time::Interval>) {
    match ping {
        Some(ping) => {
            ping.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn to_flow(r: Result) -> ControlFlow<Closed> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(why) => ControlFlow::Break(why),
    }
}

/// One write, bounded by the write timeout: a peer that does not read is dropped.
async fn bounded(
    timeout: Duration,
    write: impl Future<Output = std::result::Result<(), tokio_tungstenite::tungstenite::Error>>,
) -> Result {
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Closed::Io),
        Err(_) => {
            tracing::info!("closing a connection that does not read");
            Err(Closed::Slow)
        }
    }
}

fn message(bytes: Bytes) -> Message {
    // Cheap: a UTF-8 check, no copy (Bytes clones share the buffer).
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn send(&mut self, msg: Message) -> Result {
        bounded(self.write_timeout, self.ws.send(msg)).await
    }

    async fn feed(&mut self, msg: Message) -> Result {
        bounded(self.write_timeout, self.ws.feed(msg)).await
    }

    async fn send_frame(&mut self, frame: &ServerFrame) -> Result {
        self.send(message(frame.to_bytes())).await
    }

    fn count(&mut self) {
        let first = !std::mem::replace(&mut self.counted, true);
        self.shared
            .stats
            .send_modify(|s| s.subscribed += usize::from(first));
    }

    async fn on_client(&mut self, msg: Message) -> ControlFlow<Closed> {
        let bytes = match msg {
            Message::Text(text) => Bytes::from(text),
            Message::Binary(bytes) => bytes,
            Message::Close(_) => return ControlFlow::Break(Closed::Io),
            // WebSocket pings are answered by the protocol layer.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                return ControlFlow::Continue(());
            }
        };
        let result = match ClientFrame::parse(&bytes) {
            Ok(ClientFrame::Subscribe(sub)) => match unknown_type(&sub) {
                // Refused as a malformed `subscribe` is: an `error` frame, the
                // subscription as it was.
                Some(name) => {
                    self.send_error(format!("event_types: {name:?} is not an event type"))
                        .await
                }
                None => self.subscribe(sub).await,
            },
            Ok(ClientFrame::Unknown { kind }) => {
                self.send_error(format!("unknown frame type {kind:?}: expected subscribe"))
                    .await
            }
            Ok(other) => {
                self.send_error(format!("unexpected frame: {other:?}"))
                    .await
            }
            Err(e) => self.send_error(e.to_string()).await,
        };
        to_flow(result)
    }

    async fn send_error(&mut self, message: String) -> Result {
        let frame = ServerFrame::Error(ErrorFrame::new("ValidationError", message));
        self.send_frame(&frame).await
    }

    /// Replays what `after` asks for, answers `resumed` or `gap`, then `subscribed`,
    /// and switches to live events. The replay and the live receiver are taken at the
    /// same instant, so nothing is sent twice or skipped.
    async fn subscribe(&mut self, sub: Subscribe) -> Result {
        let (replay, live) = self.shared.hub.subscribe(sub.after.as_deref());
        self.live = Some(live);
        let filter = Filter {
            sub,
            everything: false,
        };
        match replay {
            Some(Replay::After(events)) => {
                let mut replayed = 0;
                let shared = self.shared.clone();
                for event in events.iter().filter(|e| filter.passes(e, &shared)) {
                    self.feed(message(event.raw().clone())).await?;
                    replayed += 1;
                }
                self.feed(message(ServerFrame::Resumed { replayed }.to_bytes()))
                    .await?;
            }
            Some(Replay::Gap) => {
                let after = filter.sub.after.clone().unwrap_or_default();
                self.feed(message(ServerFrame::Gap { after }.to_bytes()))
                    .await?;
            }
            None => {}
        }
        let confirmed = Subscribed::of(&filter.sub);
        self.filter = filter;
        self.send_frame(&ServerFrame::Subscribed(confirmed)).await?;
        self.shared.stats.send_modify(|s| s.subscribes += 1);
        self.count();
        Ok(())
    }

    /// Sends one live item and whatever else is already queued, then flushes once.
    async fn on_live(
        &mut self,
        first: std::result::Result<Outgoing, RecvError>,
    ) -> ControlFlow<Closed> {
        let mut next = first;
        let mut fed = 0;
        loop {
            match next {
                Ok(out) => {
                    if let Err(why) = self.feed_live(out).await {
                        return ControlFlow::Break(why);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // A real service drops a consumer this far behind; the client
                    // resumes with `after`.
                    tracing::info!(missed, "closing a connection that fell behind");
                    return ControlFlow::Break(Closed::Slow);
                }
                Err(RecvError::Closed) => return ControlFlow::Break(Closed::Io),
            }
            fed += 1;
            // Nothing is taken from the queue that this batch does not send: what
            // is left waits for the next one.
            if fed == BATCH {
                break;
            }
            let Some(live) = self.live.as_mut() else {
                break;
            };
            next = match live.try_recv() {
                Ok(out) => Ok(out),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
        to_flow(bounded(self.write_timeout, self.ws.flush()).await)
    }

    async fn feed_live(&mut self, out: Outgoing) -> Result {
        match out {
            Outgoing::Event(event) if self.filter.passes(&event, &self.shared) => {
                self.feed(message(event.raw().clone())).await
            }
            Outgoing::Event(_) => Ok(()),
            Outgoing::Raw(bytes) => self.feed(message(bytes)).await,
        }
    }
}

/// `/v0`: AgentMail's WebSocket.
pub(crate) async fn agentmail_socket(
    State(shared): State<Arc<Shared>>,
    Extension(ctl): Extension<watch::Receiver<Control>>,
    req: axum::extract::Request,
) -> Response<Body> {
    websocket(req, shared, ctl, false)
}

/// `/v1/ws`: the article's path; under its envelope, events flow from connect.
pub(crate) async fn simple_socket(
    State(shared): State<Arc<Shared>>,
    Extension(ctl): Extension<watch::Receiver<Control>>,
    req: axum::extract::Request,
) -> Response<Body> {
    let stream = shared.hub.envelope() == mailwire_proto::Envelope::Simple;
    websocket(req, shared, ctl, stream)
}

fn websocket<B>(
    mut req: Request<B>,
    shared: Arc<Shared>,
    ctl: watch::Receiver<Control>,
    stream: bool,
) -> Response<Body> {
    if shared.rest.websockets_down() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            "the WebSocket gateway is down (chaos)",
        );
    }
    let checked = shared.keys.check(&req);
    shared.record_handshake(checked.is_ok());
    if let Err(missing) = checked {
        return unauthorized(missing);
    }
    let headers = req.headers();
    let upgrade = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let (true, true, Some(key)) = (upgrade, version_ok, headers.get(header::SEC_WEBSOCKET_KEY))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "expected a WebSocket upgrade (version 13)",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    // Streaming starts now, before the client sees the handshake answer: nothing
    // published after its `open` can be missed.
    let stream = stream.then(|| shared.hub.subscribe(None).1);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = server_config(&shared.settings);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                serve(socket, shared, ctl, stream).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_subscription_leaves_out_spam_blocked_and_unauthenticated() {
        assert!(mailwire_proto::Selection::held_back(
            &EventType::MessageReceivedSpam
        ));
        assert!(mailwire_proto::Selection::held_back(
            &EventType::MessageReceivedBlocked
        ));
        assert!(mailwire_proto::Selection::held_back(
            &EventType::MessageReceivedUnauthenticated
        ));
        assert!(!mailwire_proto::Selection::held_back(
            &EventType::MessageReceived
        ));
        assert!(!mailwire_proto::Selection::held_back(
            &EventType::MessageBounced
        ));
    }
}
