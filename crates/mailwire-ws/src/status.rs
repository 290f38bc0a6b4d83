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
    /// A message was larger than the configured limit.
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

/// Events may be missing: a reconnect that resume did not close.
///
/// Sent after a reconnect when the server answered `gap` (the last delivered id is
/// no longer retained), when it ignored `after` (it answered `subscribed` without
/// `resumed`), or when there was no event id to resume from. Events emitted between
/// `from` and `to` may never arrive on this source: fill them from the webhook log
/// or a backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// The last event delivered before the gap, if any.
    pub last_event_id: Option<String>,
    /// When the previous subscription was lost (or, for a configured resume point,
    /// when the source started).
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
}
