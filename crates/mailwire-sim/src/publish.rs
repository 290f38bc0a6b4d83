//! Publishing an event: the WebSocket fan-out (through chaos, when on) and the
//! webhook dispatch, plus the Rust API for webhooks and chaos on [`Simulator`].

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use mailwire_proto::Event;

use crate::chaos::{Chaos, ChaosError, ChaosState, ChaosStats, bump};
use crate::dispatch::{Dispatcher, Registry, WebhookStats};
use crate::relay::Relay;
use crate::webhooks::{Webhook, WebhookError, WebhookSpec};
use crate::{Faults, Shared, Simulator, SimulatorBuilder};

/// How long a WebSocket event held back by chaos waits for a next event to go
/// behind before it is sent anyway.
const HOLD: Duration = Duration::from_millis(50);

/// Settings of the REST side, set on [`SimulatorBuilder`].
#[derive(Clone, Debug)]
pub(crate) struct RestConfig {
    time_scale: f64,
    attempt_timeout: Duration,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            time_scale: 1.0,
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

/// The REST side's state: webhooks, their dispatch, chaos.
#[derive(Debug)]
pub(crate) struct RestState {
    pub(crate) webhooks: Registry,
    pub(crate) dispatcher: Arc<Dispatcher>,
    pub(crate) chaos: Arc<ChaosState>,
    relay: tokio::sync::OnceCell<Relay>,
    /// A WebSocket event chaos holds back, to send after the next one.
    held: Mutex<Option<Event>>,
    /// Serializes publishers under chaos, so decisions apply in emission order.
    order: Mutex<()>,
}

impl RestState {
    pub(crate) fn new(config: &RestConfig) -> std::io::Result<RestState> {
        let sender = mailwire_webhook_sender::WebhookSender::builder()
            .time_scale(config.time_scale)
            .attempt_timeout(config.attempt_timeout)
            .build()
            .map_err(std::io::Error::other)?;
        let chaos = Arc::new(ChaosState::default());
        Ok(RestState {
            webhooks: Registry::default(),
            dispatcher: Dispatcher::new(sender, chaos.clone()),
            chaos,
            relay: tokio::sync::OnceCell::new(),
            held: Mutex::new(None),
            order: Mutex::new(()),
        })
    }

    /// True while chaos keeps the WebSocket gateway down.
    pub(crate) fn websockets_down(&self) -> bool {
        self.chaos.current().is_some_and(|c| c.ws_down)
    }

    async fn relay(&self) -> Option<&Relay> {
        let started = self
            .relay
            .get_or_try_init(|| Relay::start(self.chaos.clone()))
            .await;
        match started {
            Ok(relay) => Some(relay),
            Err(e) => {
                tracing::warn!(error = %e, "chaos relay could not start");
                None
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Single swaps: a poisoned lock is consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends events on the WebSocket and queues their webhooks, in the hub's envelope.
pub(crate) fn publish(shared: &Arc<Shared>, events: impl IntoIterator<Item = Event>) {
    let events: Vec<Event> = events.into_iter().collect();
    {
        let mut mail = shared.mail();
        for event in &events {
            let kind = crate::mail::metric_kind(event.event_type().as_str());
            if let (Some(kind), Some(inbox)) = (kind, event.inbox_id()) {
                mail.count_event(kind, inbox);
            }
        }
    }
    let envelope = shared.hub.envelope();
    let rest = &shared.rest;
    let chaos = rest.chaos.current();
    let routes = rest.webhooks.all();
    let events = events.into_iter().map(|e| {
        // Counted once as published, whatever chaos then does with it.
        metrics::counter!("mailwire_sim_events_total", "type" => e.event_type().as_str().to_owned())
            .increment(1);
        crate::hub::in_envelope(e, envelope)
    });
    let pod = |event: &Event| {
        let inbox = event.inbox_id()?;
        shared.mail().pod_of(inbox).map(str::to_owned)
    };
    let Some(chaos) = chaos else {
        if routes.is_empty() {
            return shared.hub.emit_all(events);
        }
        let events: Vec<Event> = events.collect();
        for event in &events {
            let pod = pod(event);
            rest.dispatcher
                .dispatch(&routes, event, pod.as_deref(), None);
        }
        return shared.hub.emit_all(events);
    };
    let _order = lock(&rest.order);
    for event in events {
        let pod = pod(&event);
        rest.dispatcher
            .dispatch(&routes, &event, pod.as_deref(), Some(&chaos));
        ws_with_chaos(shared, &chaos, event);
    }
}

fn ws_with_chaos(shared: &Arc<Shared>, chaos: &Chaos, event: Event) {
    let rest = &shared.rest;
    let can_hold = tokio::runtime::Handle::try_current().is_ok();
    if can_hold && chaos.reorder(event.id()) {
        let mut held = lock(&rest.held);
        if held.is_none() {
            bump(&rest.chaos.ws_reordered);
            let id = event.id().to_owned();
            *held = Some(event);
            tokio::spawn(flush_later(Arc::downgrade(shared), id));
            return;
        }
    }
    send(shared, chaos, event);
    let held = lock(&rest.held).take();
    if let Some(held) = held {
        send(shared, chaos, held);
    }
}

/// Sends one event (twice, if chaos says so) and drops the connections every N.
fn send(shared: &Arc<Shared>, chaos: &Chaos, event: Event) {
    let rest = &shared.rest;
    if chaos.duplicate(event.id()) {
        bump(&rest.chaos.ws_duplicates);
        shared.hub.emit(event.clone());
    }
    shared.hub.emit(event);
    let sent = rest
        .chaos
        .sent
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    if chaos.drop_ws_every > 0 && sent.is_multiple_of(chaos.drop_ws_every) {
        bump(&rest.chaos.ws_drops);
        Faults {
            shared: shared.clone(),
        }
        .drop_connections();
    }
}

/// Sends a held event that no later event came to overtake.
async fn flush_later(shared: Weak<Shared>, id: String) {
    tokio::time::sleep(HOLD).await;
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let _order = lock(&shared.rest.order);
    let held = {
        let mut held = lock(&shared.rest.held);
        match held.as_ref() {
            Some(e) if e.id() == id => held.take(),
            _ => None,
        }
    };
    if let (Some(event), Some(chaos)) = (held.clone(), shared.rest.chaos.current()) {
        send(&shared, &chaos, event);
    } else if let Some(event) = held {
        shared.hub.emit(event);
    }
}

/// Registers a webhook: checks it and starts its worker.
pub(crate) async fn register(
    shared: &Arc<Shared>,
    spec: WebhookSpec,
) -> Result<Webhook, WebhookError> {
    register_scoped(shared, spec, None, |_| {}).await
}

/// Registers a webhook with a scheme chosen for the route it came by (`None`: the
/// envelope's default) and settings `scope` sets, returning the existing one when its
/// `client_id` is already registered.
pub(crate) async fn register_scoped(
    shared: &Arc<Shared>,
    spec: WebhookSpec,
    scheme: Option<mailwire_webhook::Scheme>,
    scope: impl FnOnce(&mut Webhook),
) -> Result<Webhook, WebhookError> {
    if let Some(client_id) = spec.client_id.as_deref() {
        let existing = shared
            .rest
            .webhooks
            .all()
            .into_iter()
            .map(|r| r.view())
            .find(|w| w.client_id.as_deref() == Some(client_id));
        if let Some(existing) = existing {
            return Ok(existing);
        }
    }
    let mut spec = spec;
    if let Some(scheme) = scheme {
        spec = spec.scheme(scheme);
    }
    let checked = crate::webhooks::check(spec, shared.hub.envelope())?;
    let mut webhook = checked.webhook;
    scope(&mut webhook);
    let rest = &shared.rest;
    let relayed = match rest.relay().await {
        Some(relay) => relay
            .register(&webhook.webhook_id, &webhook.url)
            .and_then(|url| crate::webhooks::endpoint(&url, &webhook).ok()),
        None => None,
    };
    let route = rest
        .dispatcher
        .route(webhook.clone(), checked.endpoint, relayed);
    rest.webhooks.add(Arc::new(route));
    Ok(webhook)
}

/// Deletes a webhook; `false` when there is no such webhook.
pub(crate) fn unregister(shared: &Shared, id: &str) -> bool {
    let removed = shared.rest.webhooks.remove(id).is_some();
    if let Some(relay) = shared.rest.relay.get() {
        relay.forget(id);
    }
    removed
}

impl SimulatorBuilder {
    /// Multiplies the webhook sender's retry delays (default 1.0, the Standard
    /// Webhooks schedule: at once, 5 s, 5 min, ...): `0.001` turns 5 s into 5 ms, so
    /// tests and demos see retries in milliseconds.
    pub fn webhook_time_scale(mut self, factor: f64) -> Self {
        self.rest.time_scale = factor;
        self
    }

    /// How long one webhook attempt may take (default 15 s).
    pub fn webhook_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.rest.attempt_timeout = timeout;
        self
    }
}

impl Simulator {
    /// The base URL of the REST API: `http://127.0.0.1:PORT` (`https://localhost:PORT`
    /// under TLS).
    pub fn http_url(&self) -> String {
        match self.shared.settings.tls {
            None => format!("http://{}", self.addr),
            Some(_) => format!("https://localhost:{}", self.addr.port()),
        }
    }

    /// An email arrives in `inbox` (created if missing), as
    /// `POST /_sim/inboxes/{inbox}/messages` makes one arrive: it is stored, and a
    /// `message.received` event is published. Returns the event's id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use mailwire_sim::{IncomingEmail, Simulator};
    ///
    /// let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    /// let email = IncomingEmail::new("Bob <bob@example.com>", "Hello", "Your code is 481516");
    /// let id = sim.receive_email("ada@agentmail.to", email).unwrap();
    /// assert_eq!(sim.hub().retained_after(None, 1).unwrap()[0].id(), id);
    /// # }
    /// ```
    pub fn receive_email(
        &self,
        inbox: &str,
        email: crate::IncomingEmail,
    ) -> Result<String, crate::EmailError> {
        let event = crate::message::receive(&mut self.shared.mail(), inbox, email)?;
        let id = event.id().to_owned();
        publish(&self.shared, [event]);
        Ok(id)
    }

    /// Registers a webhook, as `POST /v1/webhooks` does (the scheme defaults to the
    /// envelope's: `standard` under AgentMail's, `hex` under the simple one): every
    /// event published from now on that passes its filters is signed and POSTed to
    /// it, with retries.
    pub async fn register_webhook(&self, spec: WebhookSpec) -> Result<Webhook, WebhookError> {
        register(&self.shared, spec).await
    }

    /// The registered webhooks.
    pub fn webhooks(&self) -> Vec<Webhook> {
        self.shared
            .rest
            .webhooks
            .all()
            .iter()
            .map(|r| r.view())
            .collect()
    }

    /// Deletes a webhook; `false` when there is no such webhook.
    pub fn delete_webhook(&self, id: &str) -> bool {
        unregister(&self.shared, id)
    }

    /// Turns chaos on (or changes it), as `POST /_sim/chaos` does. The counters of
    /// [`chaos_stats`](Simulator::chaos_stats) keep running.
    pub fn set_chaos(&self, chaos: Chaos) -> Result<(), ChaosError> {
        chaos.validate()?;
        if chaos.drop_now {
            self.faults().drop_connections();
            bump(&self.shared.rest.chaos.ws_drops);
        }
        self.shared.rest.chaos.set(Some(chaos));
        Ok(())
    }

    /// Turns chaos off. A WebSocket event still held back is sent at once.
    pub fn clear_chaos(&self) {
        self.shared.rest.chaos.set(None);
        let held = lock(&self.shared.rest.held).take();
        if let Some(event) = held {
            self.shared.hub.emit(event);
        }
    }

    /// The chaos in force, if any.
    pub fn chaos(&self) -> Option<Chaos> {
        self.shared.rest.chaos.current().map(|c| (*c).clone())
    }

    /// What chaos has done so far.
    pub fn chaos_stats(&self) -> ChaosStats {
        self.shared.rest.chaos.stats()
    }

    /// The webhook dispatch counters now.
    pub fn webhook_stats(&self) -> WebhookStats {
        self.shared.rest.dispatcher.stats()
    }

    /// Waits until the webhook counters satisfy `f`, e.g. nothing pending.
    pub async fn wait_webhooks(&self, mut f: impl FnMut(&WebhookStats) -> bool) -> WebhookStats {
        let mut rx = self.shared.rest.dispatcher.watch();
        // The sender lives in `self`, so the channel cannot close while we wait.
        match rx.wait_for(|s| f(s)).await {
            Ok(stats) => *stats,
            Err(_) => self.webhook_stats(),
        }
    }
}
