//! How to reach the service and what to ask it for.

use std::fmt;
use std::time::Duration;

use mailwire_proto::{EventType, Subscribe};
use mailwire_source::Checkpoints;
use rustls_pki_types::CertificateDer;

use crate::Backoff;
use crate::checkpoint::CheckpointConfig;

/// How the API key is presented at the handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`, as AgentMail's definition has it (the default).
    #[default]
    Bearer,
    /// An `api_key=<key>` query parameter, AgentMail's alternative.
    Query,
    /// An `X-API-Key: <key>` header, as the myagentmail service takes it.
    XApiKey,
}

pub use mailwire_client::tls::TlsTrust;

/// The configuration of a [`WsSource`](crate::WsSource).
///
/// ```
/// use std::time::Duration;
/// use mailwire_proto::EventType;
/// use mailwire_ws::WsConfig;
///
/// let config = WsConfig::new("wss://ws.agentmail.to/v0")
///     .api_key("am_...")
///     .event_types([EventType::MessageReceived])
///     .inbox_ids(["ada@agentmail.to"])
///     .heartbeat(Duration::from_secs(15));
/// assert!(!format!("{config:?}").contains("am_..."));
/// ```
#[derive(Clone)]
pub struct WsConfig {
    pub(crate) url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) auth_style: AuthStyle,
    pub(crate) subscribe: Subscribe,
    pub(crate) heartbeat: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) channel_capacity: usize,
    pub(crate) backoff: Backoff,
    pub(crate) tls: TlsTrust,
    pub(crate) checkpoints: Option<CheckpointConfig>,
}

impl WsConfig {
    /// A configuration for this `ws://` or `wss://` URL, with the defaults: no key,
    /// every event, heartbeat 15 s, connect timeout 10 s, events up to
    /// [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES) (4 MiB) delivered, a
    /// 1024-event channel, [`Backoff::default`], the system's and the webpki
    /// roots ([`TlsTrust::default`]), no checkpoints (the resume point lives as
    /// long as the source).
    pub fn new(url: impl Into<String>) -> WsConfig {
        WsConfig {
            url: url.into(),
            api_key: None,
            auth_style: AuthStyle::Bearer,
            subscribe: Subscribe::default(),
            heartbeat: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            max_message_size: mailwire_proto::MAX_EVENT_BYTES,
            channel_capacity: 1024,
            backoff: Backoff::default(),
            tls: TlsTrust::default(),
            checkpoints: None,
        }
    }

    /// The API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How the key is presented (default: `Authorization: Bearer`).
    pub fn auth_style(mut self, style: AuthStyle) -> Self {
        self.auth_style = style;
        self
    }

    /// Only these event types.
    pub fn event_types(mut self, types: impl IntoIterator<Item = EventType>) -> Self {
        self.subscribe.event_types = Some(types.into_iter().collect());
        self
    }

    /// Only these inboxes.
    pub fn inbox_ids<S: Into<String>>(mut self, inboxes: impl IntoIterator<Item = S>) -> Self {
        self.subscribe.inbox_ids = Some(inboxes.into_iter().map(Into::into).collect());
        self
    }

    /// Only these pods.
    pub fn pod_ids<S: Into<String>>(mut self, pods: impl IntoIterator<Item = S>) -> Self {
        self.subscribe.pod_ids = Some(pods.into_iter().map(Into::into).collect());
        self
    }

    /// Resumes after this event id on the first connection too (a checkpoint kept
    /// from a previous run). Later connections resume after the last event
    /// received. Given with [`checkpoints`](WsConfig::checkpoints), it wins over
    /// the point saved there (nothing is loaded), and acks then move the saved
    /// point on from it.
    pub fn resume_after(mut self, event_id: impl Into<String>) -> Self {
        self.subscribe.after = Some(event_id.into());
        self
    }

    /// The heartbeat interval (default 15 s): a ping is sent every interval, and no
    /// frame at all for two intervals means the connection is dead.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// The bound on TCP connect, TLS and the WebSocket handshake together (default
    /// 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest event delivered (default and most:
    /// [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES), 4 MiB, the most the
    /// one envelope parser reads). A larger event is read, skipped and reported
    /// with its id ([`WsSource::skipped`](crate::WsSource::skipped)), and the
    /// resume point moves past it; a message over 64 MiB drops the connection.
    ///
    /// The default skips nothing the simulator or AgentMail sends under 4 MiB (an
    /// email's event carries its text and HTML, attachments as metadata only).
    /// Lower it only for a consumer that cannot take large events: a smaller limit
    /// saves no memory (the message is read in full before it is skipped).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The URL connected to, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Keeps the resume point in `checkpoints` under `key` (one key per
    /// subscription and tenant: instances that share a subscription share it).
    ///
    /// The point is loaded before the first connection (retried with the backoff
    /// until the checkpoints answer; an explicit
    /// [`resume_after`](WsConfig::resume_after) wins and nothing is loaded). As
    /// deliveries are acked, the source saves the **watermark**: the id of the
    /// latest event such that it and every event received before it on this source
    /// are acked. Several deliveries may be in flight and acked in any order; the
    /// saved point never passes one not acked, so a restart replays it (and the
    /// store suppresses what was handled). A delivery dropped without ack holds the
    /// watermark where it is, as it should: it is delivered again after a restart.
    ///
    /// Saves are made by one background writer, the latest value only (not one
    /// write per ack), and may lag the acks, never lead them. The last value is
    /// saved when the source is [closed](crate::WsSource::close) or dropped (while the
    /// runtime runs). A failed save is reported (a `tracing` warning and
    /// [`WsSource::resume_point`]) and retried after the backoff with the value
    /// latest then; it never stops delivery.
    ///
    /// Without checkpoints, acking a WebSocket delivery settles nothing and the
    /// resume point lives only as long as the source.
    ///
    /// [`WsSource::resume_point`]: crate::WsSource::resume_point
    pub fn checkpoints(mut self, checkpoints: impl Checkpoints, key: impl Into<String>) -> Self {
        self.checkpoints = Some(CheckpointConfig {
            store: std::sync::Arc::new(checkpoints),
            key: key.into(),
        });
        self
    }

    /// How many events may wait for the consumer (default 1024). When full, the
    /// connection stops reading until there is room.
    pub fn channel_capacity(mut self, events: usize) -> Self {
        self.channel_capacity = events.max(1);
        self
    }

    /// The reconnect backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Which certificates `wss://` trusts (default: the system's roots and the
    /// webpki roots, as every mailwire client).
    pub fn tls_trust(mut self, trust: TlsTrust) -> Self {
        self.tls = trust;
        self
    }

    /// Trusts this root certificate (DER) in place of the default roots; call
    /// again to add more.
    pub fn root_certificate(mut self, der: impl Into<CertificateDer<'static>>) -> Self {
        self.tls = self.tls.without_defaults().add_root(der);
        self
    }
}

// The key is a secret: never printed.
impl fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("auth_style", &self.auth_style)
            .field("subscribe", &self.subscribe)
            .field("heartbeat", &self.heartbeat)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("channel_capacity", &self.channel_capacity)
            .field("backoff", &self.backoff)
            .field("tls", &self.tls)
            .field("checkpoints", &self.checkpoints)
            .finish()
    }
}
