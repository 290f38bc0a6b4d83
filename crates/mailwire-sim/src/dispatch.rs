//! Webhook dispatch: each registered webhook has a queue and a worker that hands
//! deliveries to the retrying [`WebhookSender`], a bounded number at a time. Under
//! chaos, deliveries to `http://` endpoints go through the [relay](crate::relay),
//! which fails attempts as the seed says.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use mailwire_proto::Event;
use mailwire_webhook_sender::{Attempt, Endpoint, Outcome, WebhookSender};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::chaos::{Chaos, ChaosState, bump};
use crate::webhooks::Webhook;

/// How many deliveries to one webhook may be in progress at once (retries
/// included): enough to keep a receiver busy, few enough not to flood it.
const IN_FLIGHT_PER_WEBHOOK: usize = 32;

/// Counters of webhook dispatch, all webhooks together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Deliveries queued (one per event and matching webhook, plus chaos duplicates).
    pub queued: u64,
    /// Deliveries that ended with a 2xx.
    pub delivered: u64,
    /// Deliveries that ran out of attempts.
    pub gave_up: u64,
    /// Deliveries not made or cut short because the endpoint answered 410 Gone.
    pub disabled: u64,
    /// HTTP attempts made, retries included.
    pub attempts: u64,
}

impl WebhookStats {
    /// Deliveries queued and not yet ended.
    pub fn pending(&self) -> u64 {
        self.queued - self.delivered - self.gave_up - self.disabled
    }
}

/// How many deliveries of each webhook its log keeps, the newest.
const KEPT_DELIVERIES: usize = 200;

/// How much of an answer's body the log keeps.
const KEPT_ANSWER: usize = 4096;

/// One delivery to make.
struct Job {
    id: String,
    body: Bytes,
    delay: Duration,
    /// The delivery's id in the log, per copy: more than one when chaos duplicates
    /// the event, each copy delivered after the other.
    deliveries: Vec<String>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryState {
    /// Not tried yet.
    Pending,
    /// Tried and failed; another attempt comes.
    Retrying,
    /// Answered 2xx.
    Delivered,
    /// Ran out of attempts.
    GaveUp,
    /// The endpoint answered 410 Gone (or was disabled already).
    Disabled,
}

/// One attempt, as the log keeps it.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct AttemptRecord {
    number: u32,
    at: String,
    status: Option<u16>,
    error: Option<String>,
    latency_ms: f64,
    response_body: String,
}

/// One delivery of an event to a webhook, with its attempts: what a delivery
/// console shows.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct DeliveryRecord {
    delivery_id: String,
    event_id: String,
    event_type: String,
    state: DeliveryState,
    created_at: String,
    next_attempt_at: Option<String>,
    redelivery_of: Option<String>,
    attempts: Vec<AttemptRecord>,
    #[serde(skip)]
    body: Bytes,
}

/// A webhook's deliveries, the newest last, [`KEPT_DELIVERIES`] at most.
#[derive(Debug, Default)]
struct DeliveryLog(Mutex<VecDeque<DeliveryRecord>>);

impl DeliveryLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<DeliveryRecord>> {
        // Every critical section is a push, a pop or a field update.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a new delivery, pending; its id.
    fn open(
        &self,
        event_id: &str,
        event_type: &str,
        body: &Bytes,
        redelivery_of: Option<String>,
    ) -> String {
        let id = crate::ids::new("dlv");
        let mut log = self.lock();
        if log.len() == KEPT_DELIVERIES {
            log.pop_front();
        }
        log.push_back(DeliveryRecord {
            delivery_id: id.clone(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            state: DeliveryState::Pending,
            created_at: crate::ids::now_rfc3339(),
            next_attempt_at: None,
            redelivery_of,
            attempts: Vec::new(),
            body: body.clone(),
        });
        id
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut DeliveryRecord)) {
        if let Some(d) = self.lock().iter_mut().rev().find(|d| d.delivery_id == id) {
            f(d);
        }
    }

    /// Logs one attempt of delivery `id`.
    fn attempted(&self, id: &str, a: &Attempt<'_>) {
        let now = time::OffsetDateTime::now_utc();
        let at = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let answer = &a.response[..a.response.len().min(KEPT_ANSWER)];
        let record = AttemptRecord {
            number: a.attempt,
            at: at(now - a.latency),
            status: a.status.map(|s| s.as_u16()),
            error: a.failure.map(|f| f.to_string()),
            latency_ms: a.latency.as_secs_f64() * 1000.0,
            response_body: String::from_utf8_lossy(answer).into_owned(),
        };
        let next = a.retry_in.map(|wait| at(now + wait));
        self.update(id, |d| {
            d.attempts.push(record);
            d.state = if a.failure.is_none() {
                DeliveryState::Delivered
            } else if next.is_some() {
                DeliveryState::Retrying
            } else {
                d.state
            };
            d.next_attempt_at = next;
        });
    }

    /// Logs how delivery `id` ended.
    fn ended(&self, id: &str, outcome: &Outcome) {
        self.update(id, |d| {
            d.next_attempt_at = None;
            d.state = match outcome {
                Outcome::Delivered { .. } => DeliveryState::Delivered,
                Outcome::Disabled { .. } => DeliveryState::Disabled,
                _ => DeliveryState::GaveUp,
            };
        });
    }
}

/// A registered webhook with its endpoint(s) and queue.
pub(crate) struct Route {
    id: String,
    /// Its filters change with `PATCH`.
    webhook: Mutex<Webhook>,
    endpoint: Endpoint,
    relayed: Option<Endpoint>,
    queue: mpsc::UnboundedSender<Job>,
    worker: JoinHandle<()>,
    log: Arc<DeliveryLog>,
}

impl Route {
    /// Its last deliveries, newest first, `limit` at most.
    pub(crate) fn deliveries(&self, limit: usize) -> Vec<DeliveryRecord> {
        self.log.lock().iter().rev().take(limit).cloned().collect()
    }

    /// The webhook as it is now (`enabled` also follows the endpoint).
    pub(crate) fn view(&self) -> Webhook {
        let mut webhook = self.webhook().clone();
        // Disabled by an update, or by a 410 Gone (through the relay as much as
        // directly).
        webhook.enabled = webhook.enabled
            && !self.endpoint.is_disabled()
            && !self.relayed.as_ref().is_some_and(Endpoint::is_disabled);
        webhook
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Takes deliveries again after a 410 Gone disabled its endpoint.
    pub(crate) fn enable(&self) {
        self.endpoint.enable();
        if let Some(relayed) = &self.relayed {
            relayed.enable();
        }
    }

    /// The custom headers its deliveries carry.
    pub(crate) fn headers(&self) -> hyper::HeaderMap {
        self.endpoint.headers()
    }

    /// Sets the custom headers its deliveries carry (through the relay too).
    pub(crate) fn set_headers(&self, headers: hyper::HeaderMap) {
        if let Some(relayed) = &self.relayed {
            relayed.set_headers(headers.clone());
        }
        self.endpoint.set_headers(headers);
    }

    fn webhook(&self) -> std::sync::MutexGuard<'_, Webhook> {
        // Every critical section is a read or a whole-field assignment.
        self.webhook.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the webhook's settings (filters, `enabled`).
    /// Applies `f` to a copy of the webhook and keeps the copy only when `f` says
    /// it is valid: a refused update changes nothing.
    pub(crate) fn try_update<E>(
        &self,
        f: impl FnOnce(&mut Webhook) -> Result<(), E>,
    ) -> Result<Webhook, E> {
        let mut webhook = self.webhook();
        let mut edited = webhook.clone();
        f(&mut edited)?;
        edited.updated_at = crate::ids::now_rfc3339();
        *webhook = edited;
        drop(webhook);
        Ok(self.view())
    }

    fn wants(&self, event: &Event, pod: Option<&str>) -> bool {
        self.webhook().wants(event, pod)
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // Deleting a webhook abandons what it still had to deliver.
        self.worker.abort();
    }
}

/// What every worker shares.
pub(crate) struct Dispatcher {
    sender: WebhookSender,
    chaos: Arc<ChaosState>,
    stats: watch::Sender<WebhookStats>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("stats", &*self.stats.borrow())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    pub(crate) fn new(sender: WebhookSender, chaos: Arc<ChaosState>) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            sender,
            chaos,
            stats: watch::channel(WebhookStats::default()).0,
        })
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        *self.stats.borrow()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<WebhookStats> {
        self.stats.subscribe()
    }

    /// Starts the worker of a new webhook. `relayed` is the same endpoint reached
    /// through the chaos relay, when there is one.
    pub(crate) fn route(
        self: &Arc<Self>,
        webhook: Webhook,
        endpoint: Endpoint,
        relayed: Option<Endpoint>,
    ) -> Route {
        let (queue, rx) = mpsc::unbounded_channel();
        let log = Arc::new(DeliveryLog::default());
        let worker = tokio::spawn(worker(
            self.clone(),
            endpoint.clone(),
            relayed.clone(),
            log.clone(),
            rx,
        ));
        Route {
            id: webhook.webhook_id.clone(),
            webhook: Mutex::new(webhook),
            endpoint,
            relayed,
            queue,
            worker,
            log,
        }
    }

    /// Delivers the event of `route`'s delivery `delivery_id` again, as a new
    /// delivery (whatever the first one's end): the new delivery's id, `None` when
    /// the log does not hold `delivery_id`.
    pub(crate) fn redeliver(&self, route: &Route, delivery_id: &str) -> Option<String> {
        let (event_id, event_type, body) = {
            let log = route.log.lock();
            let d = log.iter().find(|d| d.delivery_id == delivery_id)?;
            (d.event_id.clone(), d.event_type.clone(), d.body.clone())
        };
        let redelivery_of = Some(delivery_id.to_owned());
        let id = route.log.open(&event_id, &event_type, &body, redelivery_of);
        let job = Job {
            id: event_id,
            body,
            delay: Duration::ZERO,
            deliveries: vec![id.clone()],
        };
        if route.queue.send(job).is_ok() {
            self.stats.send_modify(|s| s.queued += 1);
        }
        Some(id)
    }

    /// Queues `event` for every route that wants it; `pod` is the pod of its inbox.
    pub(crate) fn dispatch(
        &self,
        routes: &[Arc<Route>],
        event: &Event,
        pod: Option<&str>,
        chaos: Option<&Chaos>,
    ) {
        for route in routes.iter().filter(|r| r.wants(event, pod)) {
            let copies: u32 = match chaos {
                Some(c) if c.duplicate(event.id()) => {
                    bump(&self.chaos.webhook_duplicates);
                    2
                }
                _ => 1,
            };
            let delay = chaos.map_or(Duration::ZERO, |c| c.webhook_delay(event.id()));
            // The copies go one after the other, as a service re-sending a delivery
            // does: the relay then counts each copy's attempts on its own, so chaos
            // stays deterministic under a seed.
            let deliveries = (0..copies)
                .map(|_| {
                    let event_type = event.event_type().as_str();
                    route.log.open(event.id(), event_type, event.raw(), None)
                })
                .collect();
            let job = Job {
                id: event.id().to_owned(),
                body: event.raw().clone(),
                delay,
                deliveries,
            };
            if route.queue.send(job).is_ok() {
                self.stats.send_modify(|s| s.queued += u64::from(copies));
            }
        }
    }

    fn ended(&self, outcome: &Outcome) {
        self.stats.send_modify(|s| {
            s.attempts += u64::from(outcome.attempts());
            match outcome {
                Outcome::Delivered { .. } => s.delivered += 1,
                Outcome::Disabled { .. } => s.disabled += 1,
                _ => s.gave_up += 1,
            }
        });
    }
}

fn count_attempt(outcome: &'static str) {
    metrics::counter!("mailwire_sim_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// Counts a delivery's last attempt: `delivered`, `gave_up` (the schedule ran out),
/// or `failed` (a 410 Gone, which disables the webhook).
fn count_last_attempt(outcome: &Outcome) {
    match outcome {
        Outcome::Delivered { .. } => count_attempt("delivered"),
        _ if outcome.attempts() == 0 => {}
        Outcome::Disabled { .. } => count_attempt("failed"),
        _ => count_attempt("gave_up"),
    }
}

async fn worker(
    dispatcher: Arc<Dispatcher>,
    direct: Endpoint,
    relayed: Option<Endpoint>,
    log: Arc<DeliveryLog>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT_PER_WEBHOOK));
    // Deliveries live in this set, so aborting the worker abandons them too.
    let mut deliveries = JoinSet::new();
    loop {
        let job = tokio::select! {
            job = rx.recv() => match job {
                Some(job) => job,
                None => break,
            },
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => continue,
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let failing = dispatcher
            .chaos
            .current()
            .is_some_and(|c| c.fails_webhooks());
        let endpoint = match (&relayed, failing) {
            (Some(relayed), true) => relayed.clone(),
            _ => direct.clone(),
        };
        let dispatcher = dispatcher.clone();
        let log = log.clone();
        deliveries.spawn(async move {
            if !job.delay.is_zero() {
                tokio::time::sleep(job.delay).await;
            }
            for delivery in &job.deliveries {
                let outcome = dispatcher
                    .sender
                    .send_watched(&endpoint, &job.id, job.body.clone(), |attempt| {
                        log.attempted(delivery, attempt);
                        // The last attempt is counted from the outcome.
                        if attempt.failure.is_some() && attempt.retry_in.is_some() {
                            count_attempt("failed");
                        }
                    })
                    .await;
                log.ended(delivery, &outcome);
                count_last_attempt(&outcome);
                if !outcome.is_delivered() {
                    tracing::info!(id = %job.id, endpoint = %endpoint.uri(), ?outcome, "webhook not delivered");
                }
                dispatcher.ended(&outcome);
            }
            drop(slot);
        });
    }
    while deliveries.join_next().await.is_some() {}
}

/// The registered webhooks, in registration order.
#[derive(Default)]
pub(crate) struct Registry {
    hooks: Mutex<Vec<Arc<Route>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Route>>> {
        // Every critical section is a push, a removal or a clone: never inconsistent.
        self.hooks.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(&self, route: Arc<Route>) {
        self.lock().push(route);
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Route>> {
        let mut hooks = self.lock();
        let at = hooks.iter().position(|h| h.id() == id)?;
        Some(hooks.remove(at))
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Route>> {
        self.lock().iter().find(|h| h.id() == id).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Route>> {
        self.lock().clone()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Registry({} webhooks)", self.lock().len())
    }
}
