//! One connection's life after the handshake: subscribe (resuming when it can),
//! heartbeat, frames to deliveries, gap notices.
//!
//! Written against any `Stream + Sink` of WebSocket messages, so the protocol logic
//! is tested with in-memory channels as well as over real sockets.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use mailwire_proto::{ClientFrame, Event, ServerFrame, Subscribe};
use mailwire_source::SourceError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::batch::{Batch, Item, Received};
use crate::spares::Spares;
use crate::status::{DisconnectReason, Gap, GapCause, SkipReason, Skipped, SkippedLog, Status};

/// What the source remembers across connections.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    /// The last event handed to the consumer's channel.
    pub(crate) last_event_id: Option<String>,
    /// When events may have started to be missed (a subscription was lost, or a
    /// resume point was configured); `None` while nothing can be missing.
    pub(crate) lost_at: Option<SystemTime>,
}

/// The channels and settings a session works with.
#[derive(Debug)]
pub(crate) struct Session<'a> {
    pub(crate) subscribe: &'a Subscribe,
    pub(crate) heartbeat: Duration,
    /// The most events handed over at once.
    pub(crate) batch: usize,
    pub(crate) tx: &'a mpsc::Sender<Batch>,
    /// Emptied buffers the consumer gave back, reused for new batches.
    pub(crate) spares: &'a Spares,
    pub(crate) status: &'a watch::Sender<Status>,
    pub(crate) gaps: &'a mpsc::UnboundedSender<Gap>,
    /// Frames skipped: over the size limit or unreadable.
    pub(crate) skipped: &'a SkippedLog,
    /// The largest message delivered; larger ones are skipped (at most
    /// [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES), what the parser reads).
    pub(crate) max_message_size: usize,
}

/// How a session ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Reconnect after a backoff.
    Retry(DisconnectReason),
    /// Stop: retrying cannot help.
    Fatal(SourceError),
    /// The consumer dropped the source.
    ConsumerGone,
}

/// The outcome of [`run`]: how it ended, and whether events were flowing (so that
/// anything emitted from now on may be missed).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) end: End,
    pub(crate) was_live: bool,
}

/// Runs one session on an open WebSocket until it ends.
pub(crate) async fn run<S>(ws: &mut S, session: Session<'_>, resume: &mut Resume) -> Outcome
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    let batch = session.spares.take(session.batch);
    let mut state = State {
        session,
        after_sent: false,
        resolved: false,
        subscribed: false,
        delivered: false,
        batch,
        last_id: String::new(),
        permit: None,
    };
    let end = state.drive(ws, resume).await;
    // Whatever was read is delivered, however the session ended: the resume point
    // already moved past it.
    state.flush(resume);
    Outcome {
        end,
        was_live: state.subscribed || state.delivered,
    }
}

struct State<'a> {
    session: Session<'a>,
    /// `after` was sent with `subscribe`.
    after_sent: bool,
    /// The server answered `resumed` or `gap`.
    resolved: bool,
    subscribed: bool,
    delivered: bool,
    /// Events read but not yet handed over.
    batch: Batch,
    /// The id of the last event in `batch` that has a valid one; empty when none.
    /// Reused: no allocation per event.
    last_id: String,
    /// Room in the channel for `batch`.
    permit: Option<mpsc::Permit<'a, Batch>>,
}

fn io_end(e: &WsError) -> End {
    End::Retry(DisconnectReason::Io(e.to_string()))
}

impl<'a> State<'a> {
    async fn drive<S>(&mut self, ws: &mut S, resume: &mut Resume) -> End
    where
        S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
    {
        let mut subscribe = self.session.subscribe.clone();
        subscribe.after = resume.last_event_id.clone();
        self.after_sent = subscribe.after.is_some();
        if let Err(e) = ws
            .send(text(ClientFrame::Subscribe(subscribe).to_bytes()))
            .await
        {
            return io_end(&e);
        }

        let heartbeat = self.session.heartbeat;
        let dead_after = heartbeat * 2;
        let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Checked lazily: frames only move `last_frame`, the timer is re-armed when
        // it fires early, so a busy connection costs no timer work per frame.
        let mut last_frame = Instant::now();
        // A frame was read since `last_frame` was set. The clock is read once per
        // burst, before waiting again, not once per frame: nothing looks at
        // `last_frame` while frames keep arriving.
        let mut heard = false;
        let dead = tokio::time::sleep_until(last_frame + dead_after);
        tokio::pin!(dead);
        let tx = self.session.tx;

        loop {
            if self.permit.is_none() {
                // Room for one more batch first. While the consumer is slow we read
                // nothing (the socket applies back-pressure), keep pinging, and pause
                // the dead-peer clock: silence we caused is not a dead peer.
                tokio::select! {
                    biased;
                    reserved = tx.reserve() => match reserved {
                        Ok(p) => {
                            self.permit = Some(p);
                            last_frame = Instant::now();
                        }
                        Err(_) => return End::ConsumerGone,
                    },
                    _ = ping.tick() => if let Err(e) = ws.send(Message::Ping(Bytes::new())).await {
                        return io_end(&e);
                    },
                }
                continue;
            }
            // Take what the socket already holds without waiting, up to a batch;
            // hand the batch over before waiting for more. One wake-up of the
            // consumer per burst, not per event, and no added latency.
            let ready = if self.batch.len() < self.session.batch {
                ws.next().now_or_never()
            } else {
                None
            };
            let msg = match ready {
                Some(msg) => msg,
                None if !self.batch.is_empty() => {
                    self.flush(resume);
                    continue;
                }
                None => {
                    if std::mem::take(&mut heard) {
                        last_frame = Instant::now();
                    }
                    tokio::select! {
                    biased;
                    msg = ws.next() => msg,
                    _ = ping.tick() => {
                        if let Err(e) = ws.send(Message::Ping(Bytes::new())).await {
                            return io_end(&e);
                        }
                        continue;
                    }
                    () = &mut dead => {
                        let deadline = last_frame + dead_after;
                        if Instant::now() >= deadline {
                            return End::Retry(DisconnectReason::DeadPeer);
                        }
                        dead.as_mut().reset(deadline);
                        continue;
                    }
                    }
                }
            };
            heard = true;
            let bytes = match msg {
                Some(Ok(Message::Text(text))) => Bytes::from(text),
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Close(frame))) => return closed(frame),
                // Pongs and pings only prove the peer is alive; tungstenite answers
                // pings itself.
                Some(Ok(_)) => continue,
                Some(Err(e)) => return read_error(e),
                None => return End::Retry(DisconnectReason::Io("connection ended".into())),
            };
            let limit = self
                .session
                .max_message_size
                .min(mailwire_proto::MAX_EVENT_BYTES);
            if bytes.len() > limit {
                // Not delivered, but not a reason to lose the connection or to meet
                // it again on every replay: the resume point moves past it.
                let id = Event::id_of(&bytes);
                // The event before it, for the gap notice.
                let before = match self.last_id.is_empty() {
                    false => Some(self.last_id.clone()),
                    true => resume.last_event_id.clone(),
                };
                self.skip(id, bytes.len(), SkipReason::TooLarge { limit });
                // Whoever fills gaps (a backfill) fetches the email it was. A replayed
                // one may be as old as the lost subscription.
                let from = resume.lost_at.unwrap_or_else(SystemTime::now);
                self.gap(before, from, GapCause::TooLarge);
                continue;
            }
            let len = bytes.len();
            match ServerFrame::parse(bytes) {
                Ok(ServerFrame::Event(event)) => {
                    self.last_id.clear();
                    self.last_id.push_str(event.id());
                    self.push(event);
                }
                Ok(other) => {
                    self.note_last_id(resume);
                    if let Err(end) = self.control(other, resume) {
                        return end;
                    }
                }
                // Not an event we can deliver (no envelope, an id over the limit):
                // nothing to resume from either. Skipped, counted and reported.
                Err(e) => self.skip(None, len, SkipReason::Unreadable(Arc::new(e))),
            }
        }
    }

    /// Reports a frame that will not be delivered; when it has an id, the resume
    /// point moves past it with the events around it.
    fn skip(&mut self, id: Option<String>, len: usize, reason: SkipReason) {
        let why = match reason {
            SkipReason::TooLarge { .. } => "too_large",
            SkipReason::Unreadable(_) => "unreadable",
        };
        metrics::counter!(crate::metric::SKIPPED, "reason" => why).increment(1);
        if let Some(id) = &id {
            self.last_id.clear();
            self.last_id.push_str(id);
            // In order with the events around it, for the ack watermark.
            self.batch.push(Item::Skipped(id.clone()));
        }
        self.session.skipped.record(Skipped {
            id,
            len,
            reason,
            at: SystemTime::now(),
        });
    }

    /// Adds an event to the batch.
    fn push(&mut self, event: Event) {
        // A batch holds what one read burst found, all of it in the socket at once:
        // it shares the time its first event was read.
        let at = match self.batch.first() {
            Some(Item::Event(first)) => first.at,
            _ => SystemTime::now(),
        };
        self.batch.push(Item::Event(Received { event, at }));
        self.delivered = true;
    }

    /// Moves the resume point to the last event read with a valid id. Done per
    /// batch, not per event: one allocation per burst.
    fn note_last_id(&mut self, resume: &mut Resume) {
        if !self.last_id.is_empty() {
            resume.last_event_id = Some(self.last_id.clone());
            self.last_id.clear();
        }
    }

    /// Hands the batch to the consumer and moves the resume point past it. A batch
    /// is only filled while a permit is held, so there is always room for it.
    fn flush(&mut self, resume: &mut Resume) {
        if self.batch.is_empty() {
            // Nothing to hand over; a skipped frame still moves the resume point.
            self.note_last_id(resume);
            return;
        }
        self.note_last_id(resume);
        // The next batch starts with room for a full burst: no regrowth per event.
        let next = self.session.spares.take(self.session.batch);
        let batch = std::mem::replace(&mut self.batch, next);
        // Counted per batch, not per event: one recorder look-up per burst.
        metrics::counter!(crate::metric::EVENTS).increment(batch.len() as u64);
        if let Some(permit) = self.permit.take() {
            permit.send(batch);
        }
    }

    /// Handles every frame but events.
    fn control(&mut self, frame: ServerFrame, resume: &mut Resume) -> Result<(), End> {
        match frame {
            ServerFrame::Subscribed(_) if !self.subscribed => {
                self.subscribed = true;
                if let (Some(from), false) = (resume.lost_at, self.resolved) {
                    let cause = if self.after_sent {
                        GapCause::NotSupported
                    } else {
                        GapCause::NoEventId
                    };
                    self.gap(resume.last_event_id.clone(), from, cause);
                }
                resume.lost_at = None;
                self.session.status.send_replace(Status::Subscribed);
            }
            ServerFrame::Resumed { replayed } => {
                tracing::debug!(replayed, "resumed");
                self.resolved = true;
            }
            ServerFrame::Gap { after } if !self.resolved => {
                self.resolved = true;
                let from = resume.lost_at.unwrap_or_else(SystemTime::now);
                self.gap(Some(after), from, GapCause::NotRetained);
            }
            ServerFrame::Error(e) if e.is_auth() => {
                return Err(End::Fatal(SourceError::auth(format!(
                    "{}: {}",
                    e.name, e.message
                ))));
            }
            ServerFrame::Error(e) => {
                tracing::warn!(name = %e.name, message = %e.message, "the server reported an error");
            }
            // Anything else (a frame type this version does not know) is ignored, as
            // AgentMail's definition lists no other server frame.
            _ => {}
        }
        Ok(())
    }

    fn gap(&self, last_event_id: Option<String>, from: SystemTime, cause: GapCause) {
        let gap = Gap {
            last_event_id,
            from,
            to: SystemTime::now(),
            cause,
        };
        tracing::warn!(?gap, "events may be missing: a gap to fill");
        metrics::counter!(crate::metric::GAPS).increment(1);
        // Nobody listening for gaps is not an error.
        let _ = self.session.gaps.send(gap);
    }
}

fn text(bytes: Bytes) -> Message {
    // Client frames are encoded by serde_json: always UTF-8.
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// Close codes that mean the credentials were refused.
const AUTH_CLOSE_CODES: [u16; 4] = [4001, 4003, 4401, 4403];

fn closed(frame: Option<CloseFrame>) -> End {
    let Some(frame) = frame else {
        return End::Retry(DisconnectReason::ClosedByServer {
            code: None,
            reason: String::new(),
        });
    };
    let code = u16::from(frame.code);
    let reason = frame.reason.to_string();
    let lower = reason.to_ascii_lowercase();
    let names_auth = ["auth", "api key", "api_key", "credential", "forbidden"]
        .iter()
        .any(|w| lower.contains(w));
    if AUTH_CLOSE_CODES.contains(&code) || (code == 1008 && names_auth) {
        return End::Fatal(SourceError::auth(format!(
            "closed with code {code}: {reason}"
        )));
    }
    End::Retry(DisconnectReason::ClosedByServer {
        code: Some(code),
        reason,
    })
}

fn read_error(e: WsError) -> End {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            tracing::warn!(
                size,
                max_size,
                "dropping the connection: message over the size limit"
            );
            End::Retry(DisconnectReason::MessageTooLarge)
        }
        WsError::Capacity(e) => {
            tracing::warn!(error = %e, "dropping the connection: frame over the size limit");
            End::Retry(DisconnectReason::MessageTooLarge)
        }
        WsError::Io(e) => End::Retry(DisconnectReason::Io(e.to_string())),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            End::Retry(DisconnectReason::Io("connection closed".into()))
        }
        other => End::Retry(DisconnectReason::Protocol(other.to_string())),
    }
}

#[cfg(test)]
mod tests;
