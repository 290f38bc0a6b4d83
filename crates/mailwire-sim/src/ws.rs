//! One WebSocket connection: `subscribe`, filters, replay for `after`, pings, and
//! the fan-out of live events.

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use mailwire_proto::{ClientFrame, ErrorFrame, ServerFrame, Subscribe, Subscribed};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::faults::{Control, killed};
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

type Result<T = ()> = std::result::Result<T, WsError>;

struct Connection<S> {
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    filter: Subscribe,
    live: Option<broadcast::Receiver<Outgoing>>,
    counted: bool,
}

/// Serves one upgraded connection until the client leaves, an error, or a fault.
pub(crate) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    mut ctl: watch::Receiver<Control>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ping = shared.settings.ping_interval.map(|every| {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping
    });
    let mut conn = Connection {
        ws,
        shared,
        filter: Subscribe::default(),
        live: None,
        counted: false,
    };
    if conn.shared.settings.greeting && conn.send(&ServerFrame::Connected).await.is_err() {
        return;
    }
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
                Ok(()) if *ctl.borrow() == Control::Kill => ControlFlow::Break(()),
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            },
            msg = conn.ws.next() => match msg {
                Some(Ok(msg)) => conn.on_client(msg).await,
                _ => ControlFlow::Break(()),
            },
            out = recv(&mut conn.live) => conn.on_live(out).await,
            () = tick(&mut ping) => to_flow(conn.send(&ServerFrame::Ping).await),
        };
        if flow.is_break() {
            break;
        }
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

fn to_flow(r: Result) -> ControlFlow<()> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
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
    async fn send(&mut self, frame: &ServerFrame) -> Result {
        self.ws.send(message(frame.to_bytes())).await
    }

    async fn feed(&mut self, frame: &ServerFrame) -> Result {
        self.ws.feed(message(frame.to_bytes())).await
    }

    async fn on_client(&mut self, msg: Message) -> ControlFlow<()> {
        let bytes = match msg {
            Message::Text(text) => Bytes::from(text),
            Message::Binary(bytes) => bytes,
            Message::Close(_) => return ControlFlow::Break(()),
            // WebSocket pings are answered by the protocol layer.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                return ControlFlow::Continue(());
            }
        };
        let result = match ClientFrame::parse(&bytes) {
            Ok(ClientFrame::Subscribe(sub)) => self.subscribe(sub).await,
            Ok(ClientFrame::Ping) => self.send(&ServerFrame::Pong).await,
            Ok(ClientFrame::Pong) => Ok(()),
            Ok(other) => {
                self.send_error(format!("unknown frame type: {other:?}"))
                    .await
            }
            Err(e) => self.send_error(e.to_string()).await,
        };
        to_flow(result)
    }

    async fn send_error(&mut self, message: String) -> Result {
        let frame = ServerFrame::Error(ErrorFrame {
            name: "ValidationError".into(),
            message,
        });
        self.send(&frame).await
    }

    /// Replays what `after` asks for, answers `resumed` or `gap`, then `subscribed`,
    /// and switches to live events. The replay and the live receiver are taken at the
    /// same instant, so nothing is sent twice or skipped.
    async fn subscribe(&mut self, sub: Subscribe) -> Result {
        let (replay, live) = self.shared.hub.subscribe(sub.after.as_deref());
        self.live = Some(live);
        match replay {
            Some(Replay::After(events)) => {
                let mut replayed = 0;
                for event in events.iter().filter(|e| sub.matches(e)) {
                    self.ws.feed(message(event.raw().clone())).await?;
                    replayed += 1;
                }
                self.feed(&ServerFrame::Resumed { replayed }).await?;
            }
            Some(Replay::Gap) => {
                let after = sub.after.clone().unwrap_or_default();
                self.feed(&ServerFrame::Gap { after }).await?;
            }
            None => {}
        }
        let confirmed = Subscribed {
            event_types: sub.event_types.clone(),
            inbox_ids: sub.inbox_ids.clone(),
            pod_ids: sub.pod_ids.clone(),
        };
        self.filter = sub;
        self.send(&ServerFrame::Subscribed(confirmed)).await?;
        let first = !std::mem::replace(&mut self.counted, true);
        self.shared.stats.send_modify(|s| {
            s.subscribes += 1;
            s.subscribed += usize::from(first);
        });
        Ok(())
    }

    /// Sends one live item and whatever else is already queued, then flushes once.
    async fn on_live(
        &mut self,
        first: std::result::Result<Outgoing, RecvError>,
    ) -> ControlFlow<()> {
        let mut next = first;
        for _ in 0..BATCH {
            match next {
                Ok(out) => {
                    if self.feed_live(out).await.is_err() {
                        return ControlFlow::Break(());
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // A real service drops a consumer this far behind; the client
                    // resumes with `after`.
                    tracing::info!(missed, "closing a connection that fell behind");
                    return ControlFlow::Break(());
                }
                Err(RecvError::Closed) => return ControlFlow::Break(()),
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
        to_flow(self.ws.flush().await)
    }

    async fn feed_live(&mut self, out: Outgoing) -> Result {
        match out {
            Outgoing::Event(event) if self.filter.matches(&event) => {
                self.ws.feed(message(event.raw().clone())).await
            }
            Outgoing::Event(_) => Ok(()),
            Outgoing::Raw(bytes) => self.ws.feed(message(bytes)).await,
        }
    }
}
