//! How to reach the service and what to ask it for.

use std::fmt;
use std::time::Duration;

use mailwire_proto::{EventType, Subscribe};
use rustls_pki_types::CertificateDer;

use crate::Backoff;

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

pub use mailwire_source::tls::TlsTrust;

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
}

impl WsConfig {
    /// A configuration for this `ws://` or `wss://` URL, with the defaults: no key,
    /// every event, heartbeat 15 s, connect timeout 10 s, 1 MiB messages, a
    /// 1024-event channel, [`Backoff::default`], the system's and the webpki
    /// roots ([`TlsTrust::default`]).
    pub fn new(url: impl Into<String>) -> WsConfig {
        WsConfig {
            url: url.into(),
            api_key: None,
            auth_style: AuthStyle::Bearer,
            subscribe: Subscribe::default(),
            heartbeat: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            max_message_size: 1 << 20,
            channel_capacity: 1024,
            backoff: Backoff::default(),
            tls: TlsTrust::default(),
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
    /// from a previous run). Later connections resume after the last delivered id.
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

    /// The largest message accepted (default 1 MiB). A larger one drops the
    /// connection, which is then resumed.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
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
            .finish()
    }
}
