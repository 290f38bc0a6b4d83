//! What the connection is doing, and the gaps resume could not close.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailwire_source::SourceError;

/// The state of a [`WsSource`](crate::WsSource)'s connection, observed through
/// [`WsSource::status`](crate::WsSource::status).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Status {
    /// Opening a connection (TCP, TLS, WebSocket handshake). `attempt` counts from 1
    /// and restarts after a healthy connection.
    Connecting {
        /// Which attempt this is.
        attempt: u32,
    },
    /// The handshake succeeded; `subscribe` is sent.
    Connected,
    /// The server confirmed the subscription: events flow.
    Subscribed,
    /// The connection was lost or could not be opened; the next attempt is in
    /// `retry_in`.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
    /// The source stopped for good with this error (bad credentials, untrusted
    /// certificate).
    Failed(Arc<SourceError>),
    /// The source was shut down.
    Closed,
}

/// Why a connection was lost or could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// TCP, TLS and the WebSocket handshake did not finish within the connect timeout.
    ConnectTimeout,
    /// The server answered the handshake with this HTTP status (not 401/403).
    Rejected(u16),
    /// No frame at all for two heartbeat intervals: the peer is gone or half-open.
    DeadPeer,
    /// A message was too large to read: over 64 MiB (or
    /// [`max_message_size`](crate::WsConfig::max_message_size), if larger).
    MessageTooLarge,
    /// The server closed the connection with a close frame.
    ClosedByServer {
        /// The close code, when one was sent.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// The socket failed or ended without a close frame.
    Io(String),
    /// The peer broke the WebSocket protocol.
    Protocol(String),
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ConnectTimeout => f.write_str("connect timed out"),
            DisconnectReason::Rejected(status) => {
                write!(f, "handshake rejected with HTTP {status}")
            }
            DisconnectReason::DeadPeer => f.write_str("no frame for two heartbeat intervals"),
            DisconnectReason::MessageTooLarge => f.write_str("message over the size limit"),
            DisconnectReason::ClosedByServer { code, reason } => match code {
                Some(code) => write!(f, "closed by the server ({code}: {reason})"),
                None => write!(f, "closed by the server ({reason})"),
            },
            DisconnectReason::Io(e) => write!(f, "connection failed: {e}"),
            DisconnectReason::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// Events may be missing: a reconnect that resume did not close, or an event
/// skipped for its size.
///
/// Sent after a reconnect when the server answered `gap` (the last delivered id is
/// no longer retained), when it ignored `after` (it answered `subscribed` without
/// `resumed`), or when there was no event id to resume from; and when an event too
/// large to read was skipped ([`GapCause::TooLarge`]). Events emitted between
/// `from` and `to` may never arrive on this source: fill them from the webhook log
/// or a backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// The last event delivered before the gap, if any.
    pub last_event_id: Option<String>,
    /// When the previous subscription was lost (or, for a configured or loaded
    /// resume point, when the source started).
    pub from: SystemTime,
    /// When the new subscription was confirmed.
    pub to: SystemTime,
    /// Why resume did not close it.
    pub cause: GapCause,
}

/// Why a [`Gap`] was not closed by resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapCause {
    /// The server said the id is older than what it retains.
    NotRetained,
    /// The server does not know the `after` extension.
    NotSupported,
    /// No event had been delivered, so there was no id to resume from.
    NoEventId,
    /// An event was read and skipped for its size (reported with its id as a
    /// [`Skipped`] notice): fill it from the REST API, as for any other gap. `to` is
    /// when it was read, `from` the same or, for an event replayed on resume, when
    /// the subscription was lost (or the source started); `last_event_id` is the
    /// event before it.
    TooLarge,
}

/// A frame the source read and did not deliver: an event over the size limit (by
/// default, past what the envelope parser reads), or not an event it could read.
/// The stream goes on with the next frame; when the frame had an event id, the
/// resume point (and the ack watermark) moved past it, so a replay does not meet it
/// again.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Skipped {
    /// The event id, when one could be read.
    pub id: Option<String>,
    /// Its size in bytes.
    pub len: usize,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// When.
    pub at: SystemTime,
}

/// Why a frame was [`Skipped`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SkipReason {
    /// Larger than [`max_message_size`](crate::WsConfig::max_message_size) or
    /// [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES), whichever is smaller.
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not JSON, not an envelope with an id and a type, or an id over the limit.
    Unreadable(Arc<mailwire_proto::ParseError>),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::TooLarge { limit } => write!(f, "over the {limit}-byte limit"),
            SkipReason::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// How many skipped-frame notices wait for a reader before new ones are dropped
/// (the count stays exact): a flood of bad frames cannot grow memory.
const SKIPPED_BACKLOG: usize = 1024;

/// Where sessions record skipped frames: an exact count, and the notices themselves
/// for whoever reads them.
#[derive(Debug)]
pub(crate) struct SkippedLog {
    count: Arc<std::sync::atomic::AtomicU64>,
    tx: tokio::sync::mpsc::Sender<Skipped>,
}

impl SkippedLog {
    pub(crate) fn new() -> (SkippedLog, SkippedFrames) {
        let (tx, rx) = tokio::sync::mpsc::channel(SKIPPED_BACKLOG);
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        (
            SkippedLog {
                count: count.clone(),
                tx,
            },
            SkippedFrames { rx, count },
        )
    }

    pub(crate) fn record(&self, skipped: Skipped) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            id = skipped.id.as_deref().unwrap_or("-"),
            len = skipped.len,
            reason = %skipped.reason,
            "skipping a frame"
        );
        // Full (nobody reading) or closed: the count above still says it.
        let _ = self.tx.try_send(skipped);
    }
}

/// The [`Skipped`] notices of one [`WsSource`](crate::WsSource).
#[derive(Debug)]
pub struct SkippedFrames {
    rx: tokio::sync::mpsc::Receiver<Skipped>,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl SkippedFrames {
    /// The next notice; `None` once the source is gone. Cancellation safe.
    pub async fn recv(&mut self) -> Option<Skipped> {
        self.rx.recv().await
    }

    /// A notice already recorded, if any.
    pub fn try_recv(&mut self) -> Option<Skipped> {
        self.rx.try_recv().ok()
    }

    /// How many frames were skipped in all, including notices dropped because
    /// nobody read them.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}
