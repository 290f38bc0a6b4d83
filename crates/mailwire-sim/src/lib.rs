//! A local AgentMail, so clients can be developed and tested without an account or a
//! tunnel: AgentMail's REST API under `/v0`, its WebSocket at `/v0`, signed webhooks,
//! the send lifecycle, plus the article's (myagentmail's) shapes under
//! [`Envelope::Simple`]. AgentMail's own SDKs run against it with only their base
//! URL changed.
//!
//! ```
//! use futures::{SinkExt, StreamExt};
//! use mailwire_sim::Simulator;
//! use mailwire_proto::fixtures;
//! use tokio_tungstenite::tungstenite::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::builder().api_key("am_test").bind("127.0.0.1:0").await?;
//! let url = format!("{}?api_key=am_test", sim.ws_url());
//! let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
//! ws.send(Message::text(r#"{"type":"subscribe","event_types":["message.received"]}"#)).await?;
//! sim.wait_subscribers(1).await;
//!
//! sim.emit(fixtures::message_bounced("evt_1", "ada@agentmail.to")); // filtered out
//! sim.emit(fixtures::message_received("evt_2", "ada@agentmail.to"));
//! let mut frames = Vec::new();
//! while frames.len() < 2 {
//!     if let Some(Message::Text(text)) = ws.next().await.transpose()? {
//!         frames.push(text.to_string());
//!     }
//! }
//! assert!(frames[0].starts_with(r#"{"type":"subscribed""#));
//! assert!(frames[1].contains(r#""event_id":"evt_2""#));
//! # Ok(())
//! # }
//! ```
//!
//! # Pointing the official SDKs at it
//!
//! ```text
//! Python:     AgentMail(api_key="am_test", environment=AgentMailEnvironment(
//!                 http="http://127.0.0.1:8787", websockets="ws://127.0.0.1:8787"))
//! TypeScript: new AgentMailClient({ apiKey: "am_test",
//!                 environment: { http: "http://127.0.0.1:8787", websockets: "ws://127.0.0.1:8787" } })
//! ```
//!
//! # What it speaks
//!
//! - **Auth.** `Authorization: Bearer <key>`, `X-API-Key` (the article's) or
//!   `?api_key=`; a missing or unknown key is the service's 401
//!   (`{"name":"UnauthorizedError","code":"missing_authorization"|"unknown_api_key",..}`)
//!   on every route and at the WebSocket handshake. With no key configured, everyone
//!   is let in.
//! - **REST under `/v0`** ([`v0`] has the route list): pods, inboxes,
//!   messages (list with `labels`, `before`, `after`, `ascending`, `include_spam`...;
//!   get, send, reply, reply-all, forward, labels, attachments, raw), threads (per
//!   inbox, per pod and across inboxes), webhooks (global, pod- and inbox-scoped).
//!   Lists are `{count, limit, next_page_token?, <items>}`, newest first; errors are
//!   `{name, code, message}`. Messages and threads are state: what arrives or is sent
//!   is stored and threaded by `in_reply_to` / `references`.
//! - **Sending** produces the lifecycle a real send does (see `lifecycle`):
//!   `message.sent` then `message.delivered`, or `message.bounced`,
//!   `message.complained`, `message.rejected` for `bounce@`, `complaint@`, `reject@`
//!   `simulator.amazonses.com` (or `simulator.mailwire.dev`), as SES's mailbox
//!   simulator does; a recipient that is an inbox here also receives it.
//! - **The WebSocket** (`/v0`): `subscribe` answered by `subscribed`, then events, and
//!   `error` frames; nothing else. Filters default as the definition says (spam,
//!   blocked, unauthenticated left out unless named); `inbox_ids` and `pod_ids`
//!   narrow. Liveness by WebSocket control pings
//!   ([`SimulatorBuilder::ping_interval`]).
//! - **The resume extension**: `subscribe` with `"after":"evt_x"` replays the
//!   retained events after `evt_x` that pass the filters, then answers
//!   `{"type":"resumed","replayed":N}`; when `evt_x` is not retained it answers
//!   `{"type":"gap","after":"evt_x"}` and carries on live. Either answer comes
//!   *before* `subscribed`; a client that never sends `after` never sees them.
//! - **The simple envelope** ([`SimulatorBuilder::envelope`]): `/v1/ws` streams every
//!   event from connect, no `subscribe` needed; webhooks registered with
//!   `POST /v1/webhooks {url, events, secret}` are signed with hex HMAC in
//!   `x-signature`, over bodies that are exactly what `JSON.stringify(req.body)`
//!   rebuilds. `/v1/webhooks` (`GET`, `GET /{id}`, `DELETE /{id}`) works under both
//!   envelopes.
//!
//! # The simulator's own controls, under `/_sim`
//!
//! - `POST /_sim/inboxes/{inbox_id}/messages` ([`IncomingEmail`]): an email arrives
//!   (the inbox is created if missing) and `message.received` (or `.spam`, ...) is
//!   published. `mailwire send` uses it.
//! - `POST /_sim/events`: a raw event, in either envelope, published as given.
//! - `GET /_sim/events?after=evt_..&limit=N`: the retained events, oldest first (410
//!   when `after` is no longer retained).
//! - `POST /_sim/chaos` ([`Chaos`]): drop WebSockets every N events, fail a fraction
//!   of webhook attempts (really, over HTTP, so the sender really retries), delay,
//!   duplicate and reorder, every decision following from the seed and the event id.
//!   `GET` and `DELETE /_sim/chaos` read and clear it.
//! - `GET /_sim/download/...`: what the API's `download_url`s point at (no key
//!   needed, as for a presigned URL).
//!
//! Another service can share the port, outside the key check:
//! [`SimulatorBuilder::mount`] (`mailwire dev` serves its MCP tools at `/mcp` so).
//!
//! The same from Rust, in process: [`Simulator::receive_email`], [`Simulator::emit`],
//! [`Simulator::register_webhook`], [`Simulator::set_chaos`], [`Faults`], and
//! counters to wait on ([`Simulator::wait_until`], [`Simulator::wait_webhooks`]).
//!
//! # It survives its users
//!
//! Request headers must arrive within [`SimulatorBuilder::header_timeout`] (an idle
//! kept-alive connection is closed after it too), bodies within
//! [`SimulatorBuilder::body_timeout`]; a WebSocket peer that does not read is dropped
//! once a write waits longer than [`SimulatorBuilder::write_timeout`] or it falls
//! [`SimulatorBuilder::live_buffer`] events behind; one that answers no ping for two
//! intervals is dropped too.
//!
//! # What it counts
//!
//! Through the [`metrics`] facade, for whatever recorder the program installs (the
//! simulator installs none, and without one counting costs next to nothing):
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `mailwire_sim_events_total` | counter | `type`: the event type, once per event published (chaos's duplicates not counted again) |
//! | `mailwire_sim_webhook_attempts_total` | counter | `outcome`: `delivered`, `failed`, or `gave_up` for the last attempt of a delivery that ran out of them |
//! | `mailwire_sim_ws_connections` | gauge | none: the WebSocket connections open now |
//! | `mailwire_sim_requests_total` | counter | `status`: the numeric status of each REST answer (WebSocket handshakes are not counted) |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod chaos;
mod control;
mod dispatch;
mod domain;
mod draft;
mod faults;
mod http;
mod hub;
mod idempotency;
mod ids;
mod inbound;
mod ingress;
mod inspector;
mod jsonify;
mod keys;
mod lifecycle;
mod lists;
mod mail;
mod message;
mod mime;
mod publish;
mod relay;
mod routes;
mod server;
mod smtp;
pub mod v0;
mod v1;
mod webhooks;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwire_proto::{Envelope, Event};
use tokio::net::lookup_host;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use chaos::{Chaos, ChaosError, ChaosStats};
pub use dispatch::WebhookStats;
pub use faults::Faults;
// The event hub, public for the crate's tests and the WebSocket crate's (retention
// inspected directly); not part of the documented API.
#[doc(hidden)]
pub use hub::{Hub, Outgoing, Replay};
pub use message::{EmailError, IncomingEmail, NewAttachment};
pub use webhooks::{Webhook, WebhookError, WebhookSpec};

use auth::ApiKeys;
use faults::{Control, FaultState, Registry};

/// Configures a [`Simulator`].
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    keys: Vec<String>,
    retain: usize,
    max_messages: usize,
    envelope: Envelope,
    live_buffer: usize,
    settings: Settings,
    rest: publish::RestConfig,
    /// Services mounted beside the simulator's routes ([`SimulatorBuilder::mount`]).
    mounted: axum::Router,
}

#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) write_timeout: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) tls: Option<TlsAcceptor>,
    /// The largest message taken over SMTP.
    pub(crate) smtp_max_size: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("ping_interval", &self.ping_interval)
            .field("write_timeout", &self.write_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("tls", &self.tls.is_some())
            .field("smtp_max_size", &self.smtp_max_size)
            .finish()
    }
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            keys: Vec::new(),
            retain: 10_000,
            max_messages: mail::DEFAULT_MAX_MESSAGES,
            envelope: Envelope::AgentMail,
            live_buffer: 16_384,
            settings: Settings {
                ping_interval: Some(Duration::from_secs(20)),
                write_timeout: Duration::from_secs(10),
                header_timeout: Duration::from_secs(30),
                body_timeout: Duration::from_secs(30),
                tls: None,
                smtp_max_size: 25 << 20,
            },
            rest: publish::RestConfig::default(),
            mounted: axum::Router::new(),
        }
    }
}

impl SimulatorBuilder {
    /// Accepts this API key (repeatable). With none, every request is let in.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Retains the last `n` events for `after` resumes (default 10,000).
    pub fn retain(mut self, n: usize) -> Self {
        self.retain = n;
        self
    }

    /// How many messages it keeps (default 5,000): past it the oldest are
    /// forgotten, so a long-running simulator's memory stays bounded (with
    /// [`retain`](SimulatorBuilder::retain) for the events).
    pub fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = n.max(1);
        self
    }

    /// The envelope events are sent in (default AgentMail's).
    pub fn envelope(mut self, envelope: Envelope) -> Self {
        self.envelope = envelope;
        self
    }

    /// How far (in frames) a connection may fall behind live events before it is
    /// closed (default 16,384).
    pub fn live_buffer(mut self, frames: usize) -> Self {
        self.live_buffer = frames;
        self
    }

    /// How often each WebSocket gets a control ping (RFC 6455; default 20 s; `None`:
    /// never). A peer that sends nothing, pongs included, for two intervals is
    /// dropped.
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.settings.ping_interval = every;
        self
    }

    /// How long one write to a WebSocket peer may wait before the peer is dropped as
    /// one that does not read (default 10 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.settings.write_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's headers, and how long a
    /// kept-alive connection may sit idle (default 30 s).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.settings.header_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's body (default 30 s; 408 after).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.settings.body_timeout = timeout;
        self
    }

    /// Serves over TLS (`wss://`) with this configuration.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.settings.tls = Some(TlsAcceptor::from(config));
        self
    }

    /// Serves over TLS with one certificate chain and its key (ring provider).
    pub fn tls_cert(
        self,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(self.tls(Arc::new(config)))
    }

    /// Serves `service` under `path` (e.g. `/mcp`: `/mcp` and every path below it),
    /// on the simulator's port, beside its routes and outside its API key check:
    /// the service authenticates its requests itself, if it does. It is served
    /// again after a [`Simulator::restart`].
    ///
    /// # Panics
    ///
    /// When `path` is empty, `/`, a wildcard, under a prefix the simulator serves
    /// (`/v0`, `/v1`, `/_sim`), or mounted already.
    pub fn mount<T>(mut self, path: &str, service: T) -> Self
    where
        T: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        T::Response: axum::response::IntoResponse,
        T::Future: Send + 'static,
    {
        let first = path.trim_start_matches('/').split('/').next();
        assert!(
            !matches!(first, Some("" | "v0" | "v1" | "_sim")),
            "cannot mount at {path:?}: the root, or a path the simulator serves"
        );
        self.mounted = self.mounted.nest_service(path, service);
        self
    }

    /// The largest message [`Simulator::serve_smtp`] takes, in bytes (advertised as
    /// `SIZE`; a larger one is refused with 552). 25 MiB unless set.
    pub fn smtp_max_size(mut self, bytes: usize) -> Self {
        self.settings.smtp_max_size = bytes;
        self
    }

    /// Starts serving on `addr` (e.g. `127.0.0.1:0` for any free port).
    pub async fn bind(self, addr: impl tokio::net::ToSocketAddrs) -> io::Result<Simulator> {
        let addr = lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
        let shared = Arc::new(Shared {
            hub: Hub::new(self.retain, self.envelope, self.live_buffer),
            keys: ApiKeys::new(self.keys),
            settings: self.settings,
            conns: Registry::default(),
            faults: FaultState::default(),
            stats: watch::channel(Stats::default()).0,
            handshakes: Mutex::new(Vec::new()),
            rest: publish::RestState::new(&self.rest)?,
            mail: Mutex::new(mail::Mail::keeping(self.max_messages)),
            mounted: self.mounted,
        });
        let (addr, task) = server::listen(shared.clone(), addr).await?;
        Ok(Simulator {
            shared,
            addr,
            listener: Mutex::new(Some(task)),
            smtp: Mutex::new(Vec::new()),
        })
    }
}

/// State shared by the simulator handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    pub(crate) keys: ApiKeys,
    pub(crate) settings: Settings,
    pub(crate) conns: Registry,
    pub(crate) faults: FaultState,
    pub(crate) stats: watch::Sender<Stats>,
    pub(crate) handshakes: Mutex<Vec<Handshake>>,
    pub(crate) rest: publish::RestState,
    pub(crate) mail: Mutex<mail::Mail>,
    /// What [`SimulatorBuilder::mount`] added.
    pub(crate) mounted: axum::Router,
}

impl Shared {
    /// The mail state. Never held across an await.
    pub(crate) fn mail(&self) -> std::sync::MutexGuard<'_, mail::Mail> {
        lock(&self.mail)
    }

    pub(crate) fn record_handshake(&self, authorized: bool) {
        let at = Instant::now();
        lock(&self.handshakes).push(Handshake { at, authorized });
        self.stats.send_modify(|s| s.handshakes += 1);
    }
}

/// Counters a test can wait on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// WebSocket handshake requests received, accepted or not.
    pub handshakes: u64,
    /// `subscribe` frames answered.
    pub subscribes: u64,
    /// Connections receiving events right now (subscribed, or streaming from
    /// connect on the simple envelope's `/v1/ws`).
    pub subscribed: usize,
    /// Connections dropped for not reading what they were sent.
    pub slow_dropped: u64,
}

/// One WebSocket handshake request, as the simulator saw it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Handshake {
    /// When it arrived.
    pub at: Instant,
    /// Whether its API key was accepted.
    pub authorized: bool,
}

/// What [`Simulator::restart`] does with the retained events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Keep them: resumes across the restart work.
    Keep,
    /// Forget them, as a server with in-memory retention would: resumes get `gap`.
    Clear,
}

/// A running simulator. Dropping it stops the listener and closes every connection.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    listener: Mutex<Option<JoinHandle<()>>>,
    /// The SMTP servers started with [`Simulator::serve_smtp`].
    smtp: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections are single pushes or swaps: a poisoned lock is consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Simulator {
    /// A builder with the defaults: no API key, 10,000 events retained, AgentMail's
    /// envelope, a control ping every 20 s, plain TCP.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Takes mail over SMTP on `addr` too (`127.0.0.1:0` for any free port; `mailwire
    /// dev` uses 1025), until the simulator is dropped, and returns the address
    /// bound. Any client sends real mail to it (PIPELINING, 8BITMIME, SMTPUTF8,
    /// SIZE; STARTTLS when the simulator serves TLS): each message is stored in the
    /// inbox of each recipient (created on first use), threaded by `In-Reply-To`
    /// and `References`, its bytes kept as its raw `.eml`, and announced as
    /// `message.received` (or `.blocked` by the inbox's lists), before the client
    /// is answered 250.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    ///
    /// let sim = mailwire_sim::Simulator::builder().bind("127.0.0.1:0").await?;
    /// let smtp = sim.serve_smtp("127.0.0.1:0").await?;
    /// let mut client = BufReader::new(tokio::net::TcpStream::connect(smtp).await?);
    /// client
    ///     .write_all(b"HELO app\r\nMAIL FROM:<bob@example.com>\r\nRCPT TO:<ada@agentmail.to>\r\n\
    ///       DATA\r\nSubject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n")
    ///     .await?;
    /// let mut replies = String::new();
    /// while client.read_line(&mut replies).await? > 0 {}
    /// // The message is stored and announced before its 250.
    /// assert!(replies.contains("\r\n250 2.0.0"), "{replies}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve_smtp(&self, addr: impl tokio::net::ToSocketAddrs) -> io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let mut settings = smtp::SmtpSettings::new("mailwire.local");
        settings.max_size = self.shared.settings.smtp_max_size;
        settings.tls = self.shared.settings.tls.clone();
        let mailbox = Arc::new(ingress::Inboxes(self.shared.clone()));
        let task = tokio::spawn(smtp::serve(listener, Arc::new(settings), mailbox));
        lock(&self.smtp).push(task);
        Ok(local)
    }

    /// The WebSocket URL of `/v0`: `ws://127.0.0.1:PORT/v0`, or
    /// `wss://localhost:PORT/v0` under TLS (certificates name hosts, not addresses).
    pub fn ws_url(&self) -> String {
        match self.shared.settings.tls {
            None => format!("ws://{}/v0", self.addr),
            Some(_) => format!("wss://localhost:{}/v0", self.addr.port()),
        }
    }

    /// The event hub, for direct access to retention (tests).
    #[doc(hidden)]
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Emits one event to every subscribed connection whose filters it passes, and
    /// retains it.
    pub fn emit(&self, event: Event) {
        publish::publish(&self.shared, [event]);
    }

    /// Emits events in order.
    pub fn emit_all(&self, events: impl IntoIterator<Item = Event>) {
        publish::publish(&self.shared, events);
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        Faults {
            shared: self.shared.clone(),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        *self.shared.stats.borrow()
    }

    /// Every WebSocket handshake request so far, oldest first.
    pub fn handshakes(&self) -> Vec<Handshake> {
        lock(&self.shared.handshakes).clone()
    }

    /// How many TCP connections are open now.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.open()
    }

    /// Waits until the counters satisfy `f`.
    pub async fn wait_until(&self, mut f: impl FnMut(&Stats) -> bool) -> Stats {
        let mut rx = self.shared.stats.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        match rx.wait_for(|s| f(s)).await {
            Ok(stats) => *stats,
            Err(_) => self.stats(),
        }
    }

    /// Waits until at least `n` connections are subscribed.
    pub async fn wait_subscribers(&self, n: usize) -> Stats {
        self.wait_until(|s| s.subscribed >= n).await
    }

    /// Waits until at least `n` `subscribe` frames have been answered in total.
    pub async fn wait_subscribes(&self, n: u64) -> Stats {
        self.wait_until(|s| s.subscribes >= n).await
    }

    /// Waits until at least `n` handshakes have been received in total.
    pub async fn wait_handshakes(&self, n: u64) -> Stats {
        self.wait_until(|s| s.handshakes >= n).await
    }

    /// Stops listening and closes every connection. Retained events stay.
    pub async fn stop(&self) {
        let task = lock(&self.listener).take();
        if let Some(task) = task {
            task.abort();
            // Wait for the listener to be dropped, so the port is free.
            let _ = task.await;
        }
        self.shared.conns.signal_all(Control::Kill);
    }

    /// Listens again on the same address after [`stop`](Simulator::stop). Does
    /// nothing when already listening.
    pub async fn start(&self) -> io::Result<()> {
        if lock(&self.listener).is_some() {
            return Ok(());
        }
        let (_, task) = server::listen(self.shared.clone(), self.addr).await?;
        let previous = lock(&self.listener).replace(task);
        if let Some(previous) = previous {
            previous.abort();
        }
        Ok(())
    }

    /// Stops, keeps or clears retention, and listens again on the same address.
    pub async fn restart(&self, retention: Retention) -> io::Result<()> {
        self.stop().await;
        if retention == Retention::Clear {
            self.shared.hub.clear();
        }
        self.start().await
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
        for task in lock(&self.smtp).drain(..) {
            task.abort();
        }
        self.shared.conns.signal_all(Control::Kill);
    }
}
