//! The backfill's task: passes over the inboxes in scope, each inbox on its own,
//! and the checkpoints that say how far each got.
//!
//! Two kinds of checkpoint, both durable ([`Checkpoints`]):
//! - each inbox's progress (`{prefix}:{inbox_id}`): every received message of that
//!   inbox up to then was handed over and acked;
//! - the subscription's (`{prefix}:*`): every inbox in scope is covered up to then,
//!   so an inbox without progress of its own (new to the backfill) is read from it.
//!   It never passes the earliest time still owed by an inbox in scope.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailwire_client::Delays;
use mailwire_source::{Checkpoints, Delivery, SourceError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::check::check_error;
use crate::client::{Flags, Rest};
use crate::{BackfillConfig, FillError, InboxFailure, Report, Trigger};

mod checkpoints;
mod read;

use read::CallError;

/// Reports kept for a consumer that does not read them (each is also logged).
pub(crate) const REPORTS: usize = 256;

/// What the worker hands the source: a delivery, or the error that ends it.
pub(crate) type Item = Result<Delivery, SourceError>;

/// A request to the task.
#[derive(Debug)]
pub(crate) enum Command {
    Fill(Trigger),
    /// Everything before this time is known to be delivered (a healthy WebSocket).
    Covered(SystemTime),
}

/// Something that failed and is tried again after a backoff.
#[derive(Debug)]
struct Failing {
    attempts: u32,
    delays: Delays,
    due: Instant,
    retry_in: Duration,
    error: Arc<FillError>,
}

impl Failing {
    /// One more failure after `previous`: the next wait grows (a 404 waits the long
    /// interval), and is never shorter than what the service asked for.
    fn after(
        previous: Option<Failing>,
        error: FillError,
        retry_after: Option<Duration>,
        config: &BackfillConfig,
    ) -> Failing {
        let (attempts, mut delays) = match previous {
            Some(f) => (f.attempts.saturating_add(1), f.delays),
            None => (1, config.backoff.delays()),
        };
        let wait = match &error {
            FillError::InboxNotFound(_) => config.not_found_retry,
            _ => delays.next().unwrap_or_default(),
        };
        let retry_in = retry_after.map_or(wait, |asked| asked.max(wait));
        Failing {
            attempts,
            delays,
            due: Instant::now() + retry_in,
            retry_in,
            error: Arc::new(error),
        }
    }
}

/// What the task knows of one inbox.
#[derive(Debug, Default)]
struct InboxState {
    /// Its progress has been loaded (or found absent).
    loaded: bool,
    /// Its progress, as loaded or last saved.
    progress: Option<SystemTime>,
    /// The earliest time a pass meant to read it from and could not (it failed or
    /// was deferred): the next read starts there at the latest.
    owed: Option<SystemTime>,
    failing: Option<Failing>,
}

/// How a pass ended: only the end of the task escapes it.
enum End {
    /// The consumer is gone.
    Gone,
    /// Retrying cannot help (the key was refused, the URL is not the API's): the
    /// source ends with this.
    Fatal(SourceError),
}

/// How reading an inbox (or the start of a pass) ended early.
enum Stop {
    End(End),
    /// It could not be read: tried again after a backoff.
    Failed {
        error: FillError,
        retry_after: Option<Duration>,
    },
}

pub(crate) struct Worker {
    rest: Rest,
    flags: Flags,
    checkpoints: Arc<dyn Checkpoints>,
    config: BackfillConfig,
    tx: mpsc::Sender<Item>,
    reports: mpsc::Sender<Report>,
    /// When the backfill was spawned: where a subscription with nothing saved and
    /// no `since` starts (less the overlap).
    spawned: SystemTime,
    /// The API answered the start-up check.
    checked: bool,
    /// The subscription's checkpoint, once loaded (or set by a first start).
    subscription: Option<SystemTime>,
    inboxes: HashMap<String, InboxState>,
    /// The inboxes in scope as of the last full pass, and when it started.
    scope: Vec<String>,
    scope_at: SystemTime,
    /// The API itself failing (the check, the inbox list, the checkpoints): no
    /// inbox can be read until a retry gets through.
    outage: Option<Failing>,
    /// The earliest gap start a pass that read nothing was asked for: every inbox
    /// owes it.
    owed_all: Option<SystemTime>,
}

impl Worker {
    pub(crate) fn new(
        rest: Rest,
        config: BackfillConfig,
        checkpoints: Arc<dyn Checkpoints>,
        tx: mpsc::Sender<Item>,
        reports: mpsc::Sender<Report>,
    ) -> Worker {
        let spawned = SystemTime::now();
        Worker {
            rest,
            flags: flags(config.event_types.as_deref()),
            checkpoints,
            config,
            tx,
            reports,
            spawned,
            checked: false,
            subscription: None,
            inboxes: HashMap::new(),
            scope: Vec::new(),
            scope_at: spawned,
            outage: None,
            owed_all: None,
        }
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut next = Some(Trigger::Startup);
        let mut interval = self.config.interval.map(|every| {
            let mut t = tokio::time::interval_at(Instant::now() + every, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            if let Some(trigger) = next.take() {
                match self.pass(trigger).await {
                    Ok(()) => {}
                    Err(End::Fatal(e)) => {
                        tracing::error!(error = %e, "backfill stopped");
                        let _ = self.tx.send(Err(e)).await;
                        return;
                    }
                    Err(End::Gone) => return,
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
            let retry_at = self.next_retry();
            let retry = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(first) => {
                        let (fill, covered) = drain(first, &mut commands);
                        if let Some(until) = covered {
                            self.covered_until(until).await;
                        }
                        next = fill;
                    }
                    None => return,
                },
                () = tick => next = Some(Trigger::Interval),
                () = retry => next = Some(Trigger::Retry),
                () = self.tx.closed() => return,
            }
        }
    }

    /// One pass: the inboxes in scope (or, for a retry, those whose backoff
    /// elapsed), each read on its own, then the subscription's checkpoint moved up
    /// to what every inbox covers. `Err` only ends the task.
    async fn pass(&mut self, trigger: Trigger) -> Result<(), End> {
        let started = SystemTime::now();
        let mut report = Report::new(trigger, started);
        let gap_from = match trigger {
            Trigger::Gap { from, .. } => Some(self.less_overlap(from)),
            _ => None,
        };
        // A retry reads only what failed, unless what failed is the API itself.
        let retry_only = match (trigger, self.outage.is_none(), self.subscription) {
            (Trigger::Retry, true, Some(subscription)) => Some(subscription),
            _ => None,
        };
        let (scope, subscription) = match retry_only {
            Some(subscription) => (self.due_inboxes(), subscription),
            None => match self.prepare().await {
                Ok(prepared) => prepared,
                Err(Stop::Failed { error, retry_after }) => {
                    // Nothing was read: every inbox still owes what it owed, and
                    // this gap too.
                    if let Some(gap) = gap_from {
                        self.owed_all = Some(self.owed_all.map_or(gap, |o| o.min(gap)));
                    }
                    let failing =
                        Failing::after(self.outage.take(), error, retry_after, &self.config);
                    report.error = Some(failing.error.clone());
                    self.outage = Some(failing);
                    report.retry_in = self.retry_in();
                    self.send_report(report);
                    return Ok(());
                }
                Err(Stop::End(end)) => return Err(end),
            },
        };
        let full = retry_only.is_none();
        let owed_all = if full { self.owed_all.take() } else { None };
        if full {
            self.outage = None;
        }
        for inbox in &scope {
            let now = Instant::now();
            let state = self.inboxes.entry(inbox.clone()).or_default();
            let after = [gap_from, owed_all, state.owed]
                .into_iter()
                .flatten()
                .fold(state.progress.unwrap_or(subscription), SystemTime::min);
            if state.failing.as_ref().is_some_and(|f| f.due > now) {
                state.owed = Some(after);
                report.deferred.push(inbox.clone());
                continue;
            }
            report.inboxes += 1;
            report.from = report.from.min(after);
            match self.fill_inbox(inbox, after, &mut report).await {
                Ok(()) => {
                    let state = self.inboxes.entry(inbox.clone()).or_default();
                    state.owed = None;
                    state.failing = None;
                    // Everything up to the pass's start (less the overlap) is covered.
                    self.save_progress(inbox, self.less_overlap(started)).await;
                }
                Err(Stop::Failed { error, retry_after }) => {
                    let state = self.inboxes.entry(inbox.clone()).or_default();
                    state.owed = Some(state.owed.map_or(after, |o| o.min(after)));
                    let failing =
                        Failing::after(state.failing.take(), error, retry_after, &self.config);
                    let failure = InboxFailure {
                        inbox: inbox.clone(),
                        error: failing.error.clone(),
                        attempts: failing.attempts,
                        retry_in: failing.retry_in,
                    };
                    tracing::warn!(error = %failure, "backfill: an inbox could not be read");
                    report.failures.push(failure);
                    state.failing = Some(failing);
                }
                Err(Stop::End(end)) => return Err(end),
            }
        }
        if full {
            // An inbox no longer in scope (deleted, no longer listed) owes nothing.
            for (inbox, state) in &mut self.inboxes {
                if !scope.contains(inbox) {
                    state.owed = None;
                    state.failing = None;
                }
            }
            self.scope = scope;
            self.scope_at = started;
        }
        // An inbox created after the scope was known is read from here: the
        // subscription's checkpoint never passes that time.
        self.advance_subscription(self.less_overlap(self.scope_at))
            .await;
        report.retry_in = self.retry_in();
        self.send_report(report);
        Ok(())
    }

    /// The start of a full pass: the API checked (once), the inboxes in scope, each
    /// one's progress and the subscription's checkpoint loaded.
    async fn prepare(&mut self) -> Result<(Vec<String>, SystemTime), Stop> {
        if !self.checked {
            match self.call(|| self.rest.check()).await {
                Ok(()) => self.checked = true,
                Err(CallError::Rest(e)) if e.is_transient() => {
                    return Err(Stop::Failed {
                        retry_after: e.retry_after(),
                        error: FillError::Rest(e),
                    });
                }
                Err(CallError::Rest(e)) => {
                    return Err(Stop::End(End::Fatal(check_error(&self.rest, e))));
                }
                Err(CallError::Gone) => return Err(Stop::End(End::Gone)),
            }
        }
        let scope = match &self.config.inboxes {
            Some(inboxes) => inboxes.clone(),
            None => self
                .call(|| self.rest.inboxes())
                .await
                .map_err(Stop::from)?,
        };
        for inbox in &scope {
            self.load_progress(inbox).await?;
        }
        let subscription = match self.subscription {
            Some(at) => at,
            None => self.load_subscription(&scope).await?,
        };
        Ok((scope, subscription))
    }

    /// Another transport delivered everything before `until`: each inbox that owes
    /// nothing moves there, and the subscription as far as every inbox allows.
    async fn covered_until(&mut self, until: SystemTime) {
        // Nothing can have been delivered after now: a later time would skip what a
        // crash before it leaves undelivered.
        let until = until.min(SystemTime::now());
        if self.outage.is_some() || self.subscription.is_none() {
            // Nothing was read since the API failed: every inbox still owes from
            // where it stopped, whatever the WebSocket says.
            tracing::debug!("backfill: not moving checkpoints while the API fails");
            return;
        }
        for inbox in self.scope.clone() {
            let owes = self
                .inboxes
                .get(&inbox)
                .is_some_and(|s| s.failing.is_some() || s.owed.is_some());
            if !owes {
                self.save_progress(&inbox, until).await;
            }
        }
        self.advance_subscription(until).await;
    }

    fn less_overlap(&self, at: SystemTime) -> SystemTime {
        at.checked_sub(self.config.overlap).unwrap_or(at)
    }

    /// The failing inboxes whose backoff has elapsed, in a stable order.
    fn due_inboxes(&self) -> Vec<String> {
        let now = Instant::now();
        let mut due: Vec<String> = self
            .inboxes
            .iter()
            .filter(|(_, s)| s.failing.as_ref().is_some_and(|f| f.due <= now))
            .map(|(inbox, _)| inbox.clone())
            .collect();
        due.sort();
        due
    }

    /// When the earliest retry is due, if anything failed.
    fn next_retry(&self) -> Option<Instant> {
        let inboxes = self.inboxes.values().filter_map(|s| s.failing.as_ref());
        self.outage.iter().chain(inboxes).map(|f| f.due).min()
    }

    fn retry_in(&self) -> Option<Duration> {
        self.next_retry()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn send_report(&self, report: Report) {
        if report.is_complete() {
            tracing::info!(?report, "backfill pass");
        } else {
            tracing::warn!(?report, "backfill pass (incomplete)");
        }
        // A consumer that does not read its reports loses the newest ones, not
        // memory: each was logged above.
        let _ = self.reports.try_send(report);
    }
}

/// Which `include_*` flags a subscription's types ask for: the definition's rule,
/// spam, blocked and unauthenticated only when named.
fn flags(types: Option<&[mailwire_proto::EventType]>) -> Flags {
    use mailwire_proto::{EventType, Selection};
    let selection = Selection::new().event_types(types);
    let has = |t: EventType| selection.selects_type(&t);
    Flags {
        spam: has(EventType::MessageReceivedSpam),
        blocked: has(EventType::MessageReceivedBlocked),
        unauthenticated: has(EventType::MessageReceivedUnauthenticated),
    }
}

/// Everything asked for while a pass ran, as one pass and one "covered": the
/// earliest gap wins, the latest "covered" too.
fn drain(
    first: Command,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> (Option<Trigger>, Option<SystemTime>) {
    let (mut fill, mut covered) = (None, None);
    let mut take = |command| match command {
        Command::Fill(t) => fill = Some(fill.map_or(t, |f| merge(f, t))),
        Command::Covered(until) => {
            covered = Some(covered.map_or(until, |c: SystemTime| c.max(until)))
        }
    };
    take(first);
    while let Ok(command) = commands.try_recv() {
        take(command);
    }
    (fill, covered)
}

fn merge(a: Trigger, b: Trigger) -> Trigger {
    match (a, b) {
        (Trigger::Gap { from: a, to: x }, Trigger::Gap { from: b, to: y }) => Trigger::Gap {
            from: a.min(b),
            to: x.max(y),
        },
        (gap @ Trigger::Gap { .. }, _) | (_, gap @ Trigger::Gap { .. }) => gap,
        (t, _) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_asked_together_are_one_pass_and_covered_is_kept() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        tx.send(Command::Covered(t(50))).unwrap();
        tx.send(Command::Fill(Trigger::Gap {
            from: t(10),
            to: t(20),
        }))
        .unwrap();
        tx.send(Command::Covered(t(40))).unwrap();
        tx.send(Command::Fill(Trigger::Gap {
            from: t(5),
            to: t(15),
        }))
        .unwrap();
        let (fill, covered) = drain(Command::Fill(Trigger::Manual), &mut rx);
        assert_eq!(
            fill,
            Some(Trigger::Gap {
                from: t(5),
                to: t(20)
            })
        );
        assert_eq!(covered, Some(t(50)));
        let (fill, covered) = drain(Command::Covered(t(1)), &mut rx);
        assert_eq!((fill, covered), (None, Some(t(1))));
    }
}
