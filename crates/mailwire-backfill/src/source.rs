//! The backfill task and the [`EventSource`] that hands its events over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use mailwire_proto::{Event, EventType};
use mailwire_source::{Ack, Delivery, EventSource, Origin, SourceError, async_trait};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::client::{Flags, MessageItem, Rest, RestError};
use crate::{BackfillConfig, Progress};

/// Why a pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// At start-up: whatever arrived since the progress saved by the last run.
    Startup,
    /// A WebSocket reported a gap: events from `from` on may be missing.
    Gap {
        /// When the gap began (the lost subscription).
        from: SystemTime,
        /// When it ended (the new subscription).
        to: SystemTime,
    },
    /// The safety-net interval elapsed.
    Interval,
    /// Asked for through [`BackfillHandle::fill`].
    Manual,
}

/// What one pass did: reported on [`Backfill::reports`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// Why it ran.
    pub trigger: Trigger,
    /// The earliest time it read from.
    pub from: SystemTime,
    /// The inboxes it read.
    pub inboxes: usize,
    /// The pages it read.
    pub pages: usize,
    /// The received messages it found and handed over (some may be duplicates of
    /// what another transport delivered: the merge drops those).
    pub found: usize,
}

/// A request to the task.
#[derive(Debug)]
enum Command {
    Fill(Trigger),
    /// Everything before this time is known to be delivered (a healthy WebSocket):
    /// progress moves there without reading.
    Covered(SystemTime),
}

/// Asks a running [`Backfill`] to fill. Cheap to clone; stays valid while the
/// backfill runs.
#[derive(Clone, Debug)]
pub struct BackfillHandle(mpsc::UnboundedSender<Command>);

impl BackfillHandle {
    /// Runs a pass for `trigger` (passes asked for while one runs are merged into
    /// the next).
    pub fn fill(&self, trigger: Trigger) {
        let _ = self.0.send(Command::Fill(trigger));
    }

    /// Says that every event before `until` was delivered by another transport (a
    /// WebSocket that stayed subscribed), so a restart need not read before it.
    pub fn covered(&self, until: SystemTime) {
        let _ = self.0.send(Command::Covered(until));
    }
}

/// One event handed over, or the error that ended the source.
type Item = Result<Delivery, SourceError>;

/// A source that reads the service's REST API for the messages received while no
/// other transport delivered them. See the [crate docs](crate).
#[derive(Debug)]
pub struct Backfill {
    rx: mpsc::Receiver<Item>,
    handle: BackfillHandle,
    reports: Option<mpsc::UnboundedReceiver<Report>>,
    task: JoinHandle<()>,
    ended: bool,
}

impl Backfill {
    /// Checks the configuration and starts the task (a start-up pass first). Must
    /// be called within a tokio runtime.
    pub fn spawn(config: BackfillConfig, progress: impl Progress) -> Result<Backfill, SourceError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| SourceError::config("Backfill::spawn needs a tokio runtime"))?;
        let rest = Rest::new(&config)?;
        let (tx, rx) = mpsc::channel(config.page_size as usize);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let worker = Worker {
            rest,
            flags: flags(config.event_types.as_deref()),
            types: config.event_types.clone(),
            progress: Arc::new(progress),
            config,
            tx,
            reports: report_tx,
            covered: HashMap::new(),
        };
        let task = runtime.spawn(worker.run(cmd_rx));
        Ok(Backfill {
            rx,
            handle: BackfillHandle(cmd_tx),
            reports: Some(reports),
            task,
            ended: false,
        })
    }

    /// A handle to ask for passes (on a WebSocket's gap, say).
    pub fn handle(&self) -> BackfillHandle {
        self.handle.clone()
    }

    /// What each pass did, once: later calls return `None`.
    pub fn reports(&mut self) -> Option<mpsc::UnboundedReceiver<Report>> {
        self.reports.take()
    }
}

impl Drop for Backfill {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl EventSource for Backfill {
    /// Cancellation safe: it only awaits a channel receive.
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.recv().await {
            Some(Ok(delivery)) => Ok(Some(delivery)),
            Some(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            None => {
                self.ended = true;
                Ok(None)
            }
        }
    }

    fn name(&self) -> &str {
        "backfill"
    }
}

/// Which `include_*` flags a subscription's types ask for: the definition's rule,
/// spam, blocked and unauthenticated only when named.
fn flags(types: Option<&[EventType]>) -> Flags {
    let has = |t: EventType| types.is_some_and(|ts| ts.contains(&t));
    Flags {
        spam: has(EventType::MessageReceivedSpam),
        blocked: has(EventType::MessageReceivedBlocked),
        unauthenticated: has(EventType::MessageReceivedUnauthenticated),
    }
}

/// The `message.received*` type of a listed message, from its labels; `None` for a
/// message the inbox sent.
fn received_type(labels: &[String]) -> Option<EventType> {
    let has = |l: &str| labels.iter().any(|x| x.eq_ignore_ascii_case(l));
    if has("spam") {
        return Some(EventType::MessageReceivedSpam);
    }
    if has("blocked") {
        return Some(EventType::MessageReceivedBlocked);
    }
    if has("unauthenticated") {
        return Some(EventType::MessageReceivedUnauthenticated);
    }
    has("received").then_some(EventType::MessageReceived)
}

/// The id of a backfilled event: the same for the same message every time, on every
/// instance, so a second backfill of it is a duplicate by id as well.
pub(crate) fn event_id(event_type: &EventType, inbox: &str, message_id: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [event_type.as_str(), inbox, message_id] {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    let digest = ctx.finish();
    format!("bf_{}", hex::encode(&digest.as_ref()[..16]))
}

/// Builds the event a WebSocket would have carried for this message: AgentMail's
/// envelope around the message exactly as the REST API returned it.
pub(crate) fn build_event(
    event_type: &EventType,
    inbox: &str,
    message_id: &str,
    message: &[u8],
) -> Result<Event, String> {
    let id = event_id(event_type, inbox, message_id);
    let message = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_owned())?;
    let head = serde_json::to_string(&serde_json::json!({
        "type": "event",
        "event_type": event_type.as_str(),
        "event_id": id,
    }))
    .map_err(|e| e.to_string())?;
    // `{"type":..,"event_type":..,"event_id":..}` + `,"message":<bytes as sent>}`.
    let mut raw = String::with_capacity(head.len() + message.len() + 16);
    raw.push_str(&head[..head.len() - 1]);
    raw.push_str(",\"message\":");
    raw.push_str(message.trim());
    raw.push('}');
    Event::parse(raw.into_bytes()).map_err(|e| e.to_string())
}

struct Worker {
    rest: Rest,
    flags: Flags,
    types: Option<Vec<EventType>>,
    progress: Arc<dyn Progress>,
    config: BackfillConfig,
    tx: mpsc::Sender<Item>,
    reports: mpsc::UnboundedSender<Report>,
    /// The progress of each inbox as last loaded or saved.
    covered: HashMap<String, SystemTime>,
}

/// How a pass ended early.
enum Stop {
    /// The consumer is gone: end the task.
    Gone,
    /// Retrying cannot help (the key was refused): end the source with this.
    Fatal(SourceError),
    /// A delivery was dropped unacknowledged: progress stays, the next pass re-reads.
    Unacked,
}

impl Worker {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut next = Some(Trigger::Startup);
        let mut interval = self.config.interval.map(|every| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            if let Some(trigger) = next.take() {
                match self.pass(trigger).await {
                    Ok(()) | Err(Stop::Unacked) => {}
                    Err(Stop::Gone) => return,
                    Err(Stop::Fatal(e)) => {
                        tracing::error!(error = %e, "backfill stopped");
                        let _ = self.tx.send(Err(e)).await;
                        return;
                    }
                }
            }
            let tick = async {
                match interval.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Fill(trigger)) => next = Some(merge(trigger, &mut commands)),
                    Some(Command::Covered(until)) => self.covered_until(until).await,
                    None => return,
                },
                () = tick => next = Some(Trigger::Interval),
                () = self.tx.closed() => return,
            }
        }
    }

    /// The inboxes in scope: the configured ones, or every inbox the key sees.
    async fn inboxes(&self) -> Result<Vec<String>, Stop> {
        if let Some(inboxes) = &self.config.inboxes {
            return Ok(inboxes.clone());
        }
        self.retry(|| self.rest.inboxes()).await
    }

    async fn pass(&mut self, trigger: Trigger) -> Result<(), Stop> {
        let started = SystemTime::now();
        let inboxes = self.inboxes().await?;
        let mut report = Report {
            trigger,
            from: started,
            inboxes: inboxes.len(),
            pages: 0,
            found: 0,
        };
        let mut outcome = Ok(());
        for inbox in &inboxes {
            let Some(after) = self.after(inbox, trigger).await else {
                continue;
            };
            report.from = report.from.min(after);
            if let Err(stop) = self.fill_inbox(inbox, after, &mut report).await {
                outcome = Err(stop);
                break;
            }
            // Everything up to the pass's start (less the overlap) is now covered.
            let covered = started.checked_sub(self.config.overlap).unwrap_or(started);
            if self.covered.get(inbox).is_none_or(|c| *c < covered) {
                self.save(inbox, covered).await;
            }
        }
        tracing::info!(?report, "backfill pass");
        let _ = self.reports.send(report);
        outcome
    }

    /// Where an inbox's pass starts: its saved progress, earlier for a gap that began
    /// before it; `None` when there is no progress yet and nothing to read (a first
    /// start without `since`: progress starts now).
    async fn after(&mut self, inbox: &str, trigger: Trigger) -> Option<SystemTime> {
        let saved = match self.covered.get(inbox) {
            Some(t) => Some(*t),
            None => {
                let loaded = self.load(inbox).await;
                if let Some(t) = loaded {
                    self.covered.insert(inbox.to_owned(), t);
                }
                loaded
            }
        };
        let overlap = self.config.overlap;
        let gap_from = match trigger {
            Trigger::Gap { from, .. } => Some(from.checked_sub(overlap).unwrap_or(from)),
            _ => None,
        };
        match (saved.or(self.config.since), gap_from) {
            (Some(saved), Some(gap)) => Some(saved.min(gap)),
            (Some(saved), None) => Some(saved),
            (None, Some(gap)) => Some(gap),
            (None, None) => {
                let now = SystemTime::now();
                self.save(inbox, now).await;
                None
            }
        }
    }

    /// Reads one inbox from `after` on, page by page, handing each received message
    /// over and waiting for its ack before the progress moves past it.
    async fn fill_inbox(
        &mut self,
        inbox: &str,
        after: SystemTime,
        report: &mut Report,
    ) -> Result<(), Stop> {
        let after = OffsetDateTime::from(after);
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry(|| {
                    self.rest.messages(
                        inbox,
                        after,
                        &self.flags,
                        self.config.page_size,
                        token.as_deref(),
                    )
                })
                .await?;
            report.pages += 1;
            let mut acks = Vec::new();
            let mut newest: Option<OffsetDateTime> = None;
            for item in &page.messages {
                newest = newest.max(item.timestamp);
                let Some(event_type) = self.in_scope(item) else {
                    continue;
                };
                let body = self
                    .retry(|| self.rest.message(inbox, &item.message_id))
                    .await?;
                let event = match build_event(&event_type, inbox, &item.message_id, &body) {
                    Ok(event) => event,
                    Err(e) => {
                        // Not an event we can build: the service's answer is odd, and
                        // the other transports still carry it. Said, not hidden.
                        tracing::warn!(inbox, message_id = %item.message_id, error = %e, "backfill: skipping a message");
                        continue;
                    }
                };
                let (done, acked) = oneshot::channel();
                let delivery =
                    Delivery::new(event, Origin::Backfill).with_ack(Ack::from_fn(move || {
                        let _ = done.send(());
                    }));
                if self.tx.send(Ok(delivery)).await.is_err() {
                    return Err(Stop::Gone);
                }
                report.found += 1;
                acks.push(acked);
            }
            for acked in acks {
                if acked.await.is_err() {
                    return Err(Stop::Unacked);
                }
            }
            if let Some(newest) = newest {
                let newest = SystemTime::from(newest);
                if self.covered.get(inbox).is_none_or(|c| *c < newest) {
                    self.save(inbox, newest).await;
                }
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() && !page.messages.is_empty() => token = Some(t),
                _ => return Ok(()),
            }
        }
    }

    fn in_scope(&self, item: &MessageItem) -> Option<EventType> {
        let t = received_type(&item.labels)?;
        let wanted = match &self.types {
            Some(types) => types.contains(&t),
            None => t == EventType::MessageReceived,
        };
        wanted.then_some(t)
    }

    /// Runs a REST call until it succeeds, waiting out 429s (`Retry-After`) and 5xx
    /// with exponential backoff and full jitter; a refused key is fatal.
    async fn retry<T, F, Fut>(&self, call: F) -> Result<T, Stop>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, RestError>>,
    {
        let mut delays = self.config.backoff.delays();
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(RestError::Unauthorized(status)) => {
                    return Err(Stop::Fatal(SourceError::auth(format!(
                        "the REST API answered {status}"
                    ))));
                }
                Err(e) if e.is_transient() => {
                    let jittered = delays.next().unwrap_or_default();
                    let wait = e
                        .retry_after()
                        .map_or(jittered, |asked| asked.max(jittered));
                    tracing::warn!(error = %e, ?wait, "backfill: REST call failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.tx.closed() => return Err(Stop::Gone),
                    }
                }
                Err(e) => {
                    // A 4xx other than auth or rate limits, or an answer that is not
                    // the API's: retrying the same call will not help, and a later
                    // pass starts from the same progress.
                    tracing::error!(error = %e, "backfill: REST call failed");
                    return Err(Stop::Unacked);
                }
            }
        }
    }

    async fn covered_until(&mut self, until: SystemTime) {
        let inboxes: Vec<String> = match &self.config.inboxes {
            Some(i) => i.clone(),
            None => self.covered.keys().cloned().collect(),
        };
        for inbox in inboxes {
            if self.covered.get(&inbox).is_none_or(|c| *c < until) {
                self.save(&inbox, until).await;
            }
        }
    }

    async fn load(&self, inbox: &str) -> Option<SystemTime> {
        match self.progress.load(&key(inbox)).await {
            Ok(Some(text)) => OffsetDateTime::parse(&text, &Rfc3339)
                .ok()
                .map(SystemTime::from),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(inbox, error = %e, "backfill: cannot load progress");
                None
            }
        }
    }

    async fn save(&mut self, inbox: &str, at: SystemTime) {
        let Ok(text) = OffsetDateTime::from(at).format(&Rfc3339) else {
            return;
        };
        match self.progress.save(&key(inbox), &text).await {
            Ok(()) => {
                self.covered.insert(inbox.to_owned(), at);
            }
            Err(e) => tracing::warn!(inbox, error = %e, "backfill: cannot save progress"),
        }
    }
}

/// The progress key of an inbox.
fn key(inbox: &str) -> String {
    format!("backfill:{inbox}")
}

/// One trigger for every fill asked for while a pass ran: the earliest gap wins.
fn merge(first: Trigger, commands: &mut mpsc::UnboundedReceiver<Command>) -> Trigger {
    let mut trigger = first;
    while let Ok(Command::Fill(next)) = commands.try_recv() {
        trigger = match (trigger, next) {
            (Trigger::Gap { from: a, to: x }, Trigger::Gap { from: b, to: y }) => Trigger::Gap {
                from: a.min(b),
                to: x.max(y),
            },
            (gap @ Trigger::Gap { .. }, _) | (_, gap @ Trigger::Gap { .. }) => gap,
            (t, _) => t,
        };
    }
    trigger
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_types_come_from_labels() {
        let l = |ls: &[&str]| ls.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            received_type(&l(&["received", "unread"])),
            Some(EventType::MessageReceived)
        );
        assert_eq!(
            received_type(&l(&["received", "spam"])),
            Some(EventType::MessageReceivedSpam)
        );
        assert_eq!(
            received_type(&l(&["blocked"])),
            Some(EventType::MessageReceivedBlocked)
        );
        assert_eq!(received_type(&l(&["sent"])), None);
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let a = event_id(&EventType::MessageReceived, "ada@x", "<1@y>");
        assert_eq!(a, event_id(&EventType::MessageReceived, "ada@x", "<1@y>"));
        assert_ne!(a, event_id(&EventType::MessageReceived, "ada@x", "<2@y>"));
        assert_ne!(
            a,
            event_id(&EventType::MessageReceivedSpam, "ada@x", "<1@y>")
        );
        assert!(a.starts_with("bf_") && a.len() == 35);
    }

    #[test]
    fn a_built_event_carries_the_message_as_sent() {
        let message =
            br#" {"inbox_id":"ada@x","thread_id":"t","message_id":"<1@y>","x-new":true} "#;
        let e = build_event(&EventType::MessageReceived, "ada@x", "<1@y>", message).unwrap();
        assert_eq!(e.inbox_id(), Some("ada@x"));
        assert!(
            std::str::from_utf8(e.raw())
                .unwrap()
                .contains(r#""x-new":true"#)
        );
        assert!(build_event(&EventType::MessageReceived, "a", "b", b"\xff").is_err());
    }
}
