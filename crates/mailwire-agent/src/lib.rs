//! The mailwire agent runtime: the WebSocket for speed, webhooks for durability, the
//! REST backfill for every gap, one store and one merge, composed with every
//! guarantee, so an agent gets each email once, without glue.
//!
//! ```no_run
//! use mailwire_agent::Agent;
//! use mailwire_backfill::BackfillConfig;
//! use mailwire_source::EventSource as _;
//! use mailwire_store::RedbStore;
//! use mailwire_ws::WsConfig;
//!
//! # async fn agent() -> Result<(), Box<dyn std::error::Error>> {
//! let mut agent = Agent::builder()
//!     .store(RedbStore::open("agent.redb")?)
//!     .websocket(WsConfig::new("wss://ws.agentmail.to/v0").api_key("am_..."))
//!     .backfill(BackfillConfig::new("https://api.agentmail.to/v0", "am_..."))
//!     .start()
//!     .await?; // a wrong URL, a refused key: one clear error here
//! while let Some(delivery) = agent.next().await? {
//!     println!("{}: {}", delivery.event.event_type(), delivery.event.id());
//!     delivery.ack().await?; // after the side effect: handled exactly once
//! }
//! # Ok(()) }
//! ```
//!
//! # What it guarantees
//!
//! - **Nothing it was handed is dropped.** Every event is appended to the store
//!   before it is delivered; a store that cannot keep it (Redis down, a full disk)
//!   holds the stream, the WebSocket stops reading and the receiver answers 503,
//!   until the store answers again (see `mailwire-merge`).
//! - **Checkpoints live in the store.** The WebSocket's resume point and the
//!   backfill's progress are kept by the store under the agent's
//!   [subscription](AgentBuilder::subscription) name: a redb file holds them beside
//!   its log, and instances sharing a Redis share them. Acking a WebSocket delivery
//!   moves the resume point.
//! - **Every gap is filled.** A WebSocket that could not resume (the server does not
//!   retain the last event, or the process was down) reports a gap; the backfill
//!   reads every inbox in scope over it, from the last durable checkpoint, not from
//!   the process start.
//! - **Each event once.** Copies brought by the WebSocket, webhooks and the backfill,
//!   on this instance or on others sharing the store, are one event; a claim held by
//!   this instance is renewed while its event is held.
//!
//! # Handlers that take seconds
//!
//! [`Agent::runner`] runs a handler per event, many at once and one at a time per
//! conversation, retrying failures and keeping what fails every attempt as a dead
//! letter in the store: see [`Runner`].
//!
//! What is reported rather than fatal (a WebSocket reconnecting, a gap, a backfill
//! pass, a refused webhook request) is offered on channels the application reads if
//! it wants to (`websocket_status`, `take_gaps`, `take_backfill_reports`,
//! `take_rejections`).
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailwire_backfill::{Backfill, BackfillConfig, BackfillHandle, Report, Trigger};
use mailwire_merge::{Merge, MergeStats, OnSourceFailure};
use mailwire_source::{
    BoxSource, Delivery, EventSource, EventSourceExt as _, Shutdown, SourceError, async_trait,
};
use mailwire_store::{MemoryStore, Store};
use mailwire_webhook_http::{Rejections, WebhookReceiver};
use mailwire_ws::{Gap, ResumeHandle, SkippedFrames, Status, WsConfig, WsSource};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod runner;

pub use runner::{Attempt, Job, Jobs, KeyFn, OrderBy, Retry, RunStats, Runner, metric};

/// Why an agent could not start. Each names what was configured wrongly or could
/// not be reached, with the typed cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The WebSocket could not be set up or was refused (a bad URL, a refused key,
    /// an untrusted certificate).
    #[error("WebSocket {url}: {source}")]
    WebSocket {
        /// The URL configured.
        url: String,
        /// Why (shared with the source's status).
        #[source]
        source: Arc<SourceError>,
    },
    /// The WebSocket did not subscribe within the start timeout.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL configured.
        url: String,
        /// What happened instead.
        reason: String,
    },
    /// The backfill's REST API could not be used (not the API, a refused key).
    #[error("backfill {url}: {source}")]
    Backfill {
        /// The base URL configured.
        url: String,
        /// Why.
        #[source]
        source: SourceError,
    },
    /// The webhook receiver could not listen on its address.
    #[error("cannot listen for webhooks on {addr}: {source}")]
    Webhooks {
        /// The address configured.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Builds an [`Agent`]: its store, its transports, and how they are merged.
pub struct AgentBuilder {
    store: Option<Arc<dyn Store>>,
    subscription: String,
    websocket: Option<WsConfig>,
    backfill: Option<BackfillConfig>,
    webhooks: Option<(WebhookReceiver, String)>,
    sources: Vec<BoxSource<'static>>,
    reorder: Option<Duration>,
    start_timeout: Duration,
    covered_margin: Duration,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        AgentBuilder {
            store: None,
            subscription: "default".to_owned(),
            websocket: None,
            backfill: None,
            webhooks: None,
            sources: Vec::new(),
            reorder: None,
            start_timeout: Duration::from_secs(20),
            covered_margin: Duration::from_secs(60),
        }
    }
}

impl AgentBuilder {
    /// The one store of this agent: its event log, the ids it acked, its claims and
    /// its checkpoints (default: a [`MemoryStore`], which keeps nothing across
    /// restarts). Pass a `RedbStore` for one instance, a `RedisStore` for several.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The name this agent's checkpoints are kept under in the store (default
    /// `default`). Instances sharing a store and a subscription share its resume
    /// point and backfill progress; give each subscription (a tenant, a set of
    /// inboxes) a name of its own.
    pub fn subscription(mut self, name: impl Into<String>) -> Self {
        self.subscription = name.into();
        self
    }

    /// Listens on the service's WebSocket. Its resume point is kept in the store.
    pub fn websocket(mut self, config: WsConfig) -> Self {
        self.websocket = Some(config);
        self
    }

    /// Fills gaps from the service's REST API: at start-up (from the last durable
    /// checkpoint) and on each gap the WebSocket reports. Its progress is kept in
    /// the store.
    pub fn backfill(mut self, config: BackfillConfig) -> Self {
        self.backfill = Some(config);
        self
    }

    /// Receives webhooks with `receiver` on `addr` (e.g. `0.0.0.0:3000`). The
    /// receiver is given the agent's store: an event is kept before its 2xx.
    pub fn webhooks(mut self, receiver: WebhookReceiver, addr: impl Into<String>) -> Self {
        self.webhooks = Some((receiver, addr.into()));
        self
    }

    /// Adds a source of the application's own, merged with the others.
    pub fn source(mut self, source: impl EventSource + 'static) -> Self {
        self.sources.push(source.boxed());
        self
    }

    /// Holds events up to `window` to deliver each inbox's events in timestamp order.
    pub fn reorder(mut self, window: Duration) -> Self {
        self.reorder = Some(window);
        self
    }

    /// How long [`start`](AgentBuilder::start) waits for the WebSocket's first
    /// subscription before it reports the server unreachable (default 20 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Starts every part, in an order that loses nothing: the backfill's API is
    /// checked, the webhook receiver bound, the WebSocket subscribed. A
    /// misconfiguration (a wrong URL, a refused key, an address in use) is an error
    /// here, not a retry loop.
    pub async fn start(self) -> Result<Agent, AgentError> {
        let store: Arc<dyn Store> = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let mut merge = Merge::builder()
            .store(store.clone())
            .on_source_failure(OnSourceFailure::Propagate);
        if let Some(window) = self.reorder {
            merge = merge.reorder(window);
        }
        let mut agent = Parts::default();

        let backfill = match self.backfill {
            Some(config) => {
                let url = config.base_url().to_owned();
                config
                    .check()
                    .await
                    .map_err(|source| AgentError::Backfill {
                        url: url.clone(),
                        source,
                    })?;
                let config = config.checkpoint_prefix(format!("{}/backfill", self.subscription));
                let mut source = Backfill::spawn(config, store.clone())
                    .map_err(|source| AgentError::Backfill { url, source })?;
                agent.backfill_reports = source.reports();
                let handle = source.handle();
                merge = merge.source(source.boxed());
                Some(handle)
            }
            None => None,
        };

        if let Some((receiver, addr)) = self.webhooks {
            let source = receiver
                .store(store.clone())
                .bind(addr.as_str())
                .await
                .map_err(|source| AgentError::Webhooks { addr, source })?;
            agent.webhook_addr = source.local_addr();
            agent.webhook_shutdown = source.shutdown_handle();
            agent.rejections = source.rejections();
            merge = merge.source(source);
        }

        for source in self.sources {
            merge = merge.source(source);
        }

        if let Some(config) = self.websocket {
            let url = config.url().to_owned();
            let config = config.checkpoints(
                store.clone(),
                format!("{}/websocket/after", self.subscription),
            );
            let mut source = WsSource::spawn(config).map_err(|e| AgentError::WebSocket {
                url: url.clone(),
                source: Arc::new(e),
            })?;
            first_subscription(&source, &url, self.start_timeout).await?;
            let status = source.status();
            agent.skipped = source.skipped();
            if let Some(gaps) = source.gaps() {
                let (tx, rx) = mpsc::unbounded_channel();
                agent.gaps = Some(rx);
                agent
                    .tasks
                    .push(tokio::spawn(fill_gaps(gaps, backfill.clone(), tx)));
            }
            if let Some(backfill) = &backfill {
                agent.tasks.push(tokio::spawn(cover(
                    status.clone(),
                    backfill.clone(),
                    self.covered_margin,
                )));
            }
            agent.ws_shutdown = Some(source.shutdown_handle());
            agent.ws_resume = Some(source.resume_handle());
            agent.ws_status = Some(status);
            merge = merge.source(source);
        }

        Ok(Agent {
            merge: merge.build(),
            store,
            backfill,
            parts: agent,
        })
    }
}

impl fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("subscription", &self.subscription)
            .field("websocket", &self.websocket)
            .field("backfill", &self.backfill.is_some())
            .field("webhooks", &self.webhooks.as_ref().map(|(_, addr)| addr))
            .field("sources", &self.sources.len())
            .field("reorder", &self.reorder)
            .finish_non_exhaustive()
    }
}

/// What the running agent keeps besides its merge.
#[derive(Default)]
struct Parts {
    webhook_addr: Option<SocketAddr>,
    webhook_shutdown: Option<Shutdown>,
    rejections: Option<Rejections>,
    ws_status: Option<watch::Receiver<Status>>,
    ws_shutdown: Option<Shutdown>,
    ws_resume: Option<ResumeHandle>,
    skipped: Option<SkippedFrames>,
    gaps: Option<mpsc::UnboundedReceiver<Gap>>,
    backfill_reports: Option<mpsc::Receiver<Report>>,
    tasks: Vec<JoinHandle<()>>,
}

/// A running agent: every transport it was given, merged into one stream that
/// yields each event once. It is an [`EventSource`]: `next()`, then `ack()` after
/// the side effect.
pub struct Agent {
    merge: Merge,
    store: Arc<dyn Store>,
    backfill: Option<BackfillHandle>,
    parts: Parts,
}

impl Agent {
    /// A builder: store, subscription, transports.
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    /// The address the webhook receiver listens on, when it has one.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.parts.webhook_addr
    }

    /// The WebSocket's state (connecting, subscribed, disconnected...), when there
    /// is one.
    pub fn websocket_status(&self) -> Option<watch::Receiver<Status>> {
        self.parts.ws_status.clone()
    }

    /// The gaps the WebSocket could not close by resuming (each already handed to
    /// the backfill, when there is one), once.
    pub fn take_gaps(&mut self) -> Option<mpsc::UnboundedReceiver<Gap>> {
        self.parts.gaps.take()
    }

    /// Frames the WebSocket read and could not deliver (not an event), once.
    pub fn take_skipped(&mut self) -> Option<SkippedFrames> {
        self.parts.skipped.take()
    }

    /// Webhook requests the receiver refused, once.
    pub fn take_rejections(&mut self) -> Option<Rejections> {
        self.parts.rejections.take()
    }

    /// What each backfill pass did (per-inbox errors included), once.
    pub fn take_backfill_reports(&mut self) -> Option<mpsc::Receiver<Report>> {
        self.parts.backfill_reports.take()
    }

    /// Runs handlers over this agent's deliveries: many at once, one at a time per
    /// conversation, retried, and set aside in the agent's store as dead letters
    /// after their last attempt. See [`Runner`].
    pub fn runner(&mut self) -> Runner<&mut Agent> {
        let store = self.store.clone();
        Runner::new(self).dead_letters(store)
    }

    /// Asks the backfill for a pass now (no-op without one).
    pub fn fill(&self) {
        if let Some(backfill) = &self.backfill {
            backfill.fill(Trigger::Manual);
        }
    }

    /// The merge's counters: per origin, delivered, duplicates.
    pub fn stats(&self) -> MergeStats {
        self.merge.stats()
    }

    /// The agent's store (to close it once the agent is stopped).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Hands out at once every event a reorder window holds back, for a consumer
    /// that stops (see `Merge::take_held`).
    pub fn take_held(&mut self) -> Vec<Delivery> {
        self.merge.take_held()
    }

    /// Stops taking new events: the webhook receiver answers what is in flight and
    /// stops listening, the WebSocket closes and saves the resume point the acks so
    /// far moved. Call it once the deliveries handed out are acked (or dropped),
    /// then drop the agent and close the store.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.parts.webhook_shutdown.take() {
            shutdown.shutdown();
            shutdown.finished().await;
        }
        if let Some(shutdown) = self.parts.ws_shutdown.take() {
            shutdown.shutdown();
        }
        // The resume point moved by the last acks, saved before the store closes.
        if let Some(resume) = self.parts.ws_resume.take()
            && let Err(e) = resume.flush().await
        {
            tracing::warn!(error = %e, "the WebSocket's last resume point was not saved");
        }
        for task in self.parts.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for task in &self.parts.tasks {
            task.abort();
        }
    }
}

#[async_trait]
impl EventSource for Agent {
    /// The next event no transport delivered before. Cancellation safe.
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        self.merge.next().await
    }

    fn name(&self) -> &str {
        "agent"
    }

    /// Passed to the merge: it claims no more than `n` events ahead of `next`.
    fn demand(&mut self, n: usize) {
        self.merge.demand(n);
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("merge", &self.merge)
            .field("webhook_addr", &self.parts.webhook_addr)
            .field("websocket", &self.parts.ws_status.is_some())
            .field("backfill", &self.backfill.is_some())
            .finish_non_exhaustive()
    }
}

/// Waits for the WebSocket's first subscription, so that an unreachable server or a
/// refused key is one clear error at start rather than a retry loop.
async fn first_subscription(
    source: &WsSource,
    url: &str,
    timeout: Duration,
) -> Result<(), AgentError> {
    let mut status = source.status();
    let first = tokio::time::timeout(
        timeout,
        status.wait_for(|s| {
            matches!(
                s,
                Status::Subscribed | Status::Failed(_) | Status::Disconnected { .. }
            )
        }),
    )
    .await;
    let unreachable = |reason: String| AgentError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    match first {
        Err(_) => Err(unreachable(format!(
            "no answer within {:.0} s",
            timeout.as_secs_f64()
        ))),
        Ok(Err(_)) => Err(unreachable("the connection task ended".to_owned())),
        Ok(Ok(seen)) => match &*seen {
            Status::Failed(e) => Err(AgentError::WebSocket {
                url: url.to_owned(),
                source: e.clone(),
            }),
            Status::Disconnected { reason, .. } => Err(unreachable(reason.to_string())),
            _ => Ok(()),
        },
    }
}

/// Hands each gap to the backfill, and on to the application.
async fn fill_gaps(
    mut gaps: mailwire_ws::Gaps,
    backfill: Option<BackfillHandle>,
    report: mpsc::UnboundedSender<Gap>,
) {
    while let Some(gap) = gaps.recv().await {
        if let Some(backfill) = &backfill {
            backfill.fill(Trigger::Gap {
                from: gap.from,
                to: gap.to,
            });
        }
        let _ = report.send(gap);
    }
}

/// While the WebSocket stays subscribed, tells the backfill that what came before
/// `margin` ago is covered, so a restart reads from there rather than from its last
/// pass. The backfill never moves an inbox it could not read.
async fn cover(mut status: watch::Receiver<Status>, backfill: BackfillHandle, margin: Duration) {
    let mut every = tokio::time::interval(margin / 2);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy_since: Option<SystemTime> = None;
    loop {
        every.tick().await;
        let subscribed = matches!(*status.borrow_and_update(), Status::Subscribed);
        match (subscribed, healthy_since) {
            (false, _) => healthy_since = None,
            (true, None) => healthy_since = Some(SystemTime::now()),
            (true, Some(since)) => {
                let margin = SystemTime::now()
                    .checked_sub(margin)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                backfill.covered(margin.max(since));
            }
        }
    }
}
