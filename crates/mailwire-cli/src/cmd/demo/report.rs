//! The closing report, computed from what happened: the agent's journal, the merge's
//! counters, the simulator's.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwire_merge::MergeStats;
use mailwire_sim::{ChaosStats, WebhookStats};
use mailwire_source::Origin;
use mailwire_ws::{Gaps, Status};
use tokio::sync::watch;

use super::agent::Journal;

/// What the WebSocket went through.
#[derive(Debug, Default, Clone)]
pub(crate) struct WsSummary {
    pub(crate) drops: u32,
    pub(crate) gaps: u32,
    pub(crate) down_for: Duration,
    down_since: Option<Instant>,
}

pub(crate) type SharedWs = Arc<Mutex<WsSummary>>;

fn lock(ws: &SharedWs) -> std::sync::MutexGuard<'_, WsSummary> {
    ws.lock().unwrap_or_else(|p| p.into_inner())
}

/// Prints the WebSocket's drops, reconnections and gaps as they happen.
pub(crate) async fn watch_websocket(
    mut status: watch::Receiver<Status>,
    gaps: Option<Gaps>,
    start: Instant,
    summary: SharedWs,
) {
    let stamp = || start.elapsed().as_secs_f64();
    let gap_summary = summary.clone();
    let gap_task = async move {
        let Some(mut gaps) = gaps else { return };
        while let Some(gap) = gaps.recv().await {
            lock(&gap_summary).gaps += 1;
            println!(
                "[{:>5.2}s] -- websocket gap after {}: resume impossible, the webhooks fill it --",
                stamp(),
                gap.last_event_id.as_deref().unwrap_or("the start")
            );
        }
    };
    let status_task = async move {
        while status.changed().await.is_ok() {
            let now = status.borrow_and_update().clone();
            let mut s = lock(&summary);
            match now {
                Status::Disconnected { reason, .. } if s.down_since.is_none() => {
                    s.drops += 1;
                    s.down_since = Some(Instant::now());
                    println!(
                        "[{:>5.2}s] -- websocket disconnected ({reason}); reconnecting --",
                        stamp()
                    );
                }
                Status::Subscribed => {
                    if let Some(since) = s.down_since.take() {
                        s.down_for += since.elapsed();
                        println!("[{:>5.2}s] -- websocket subscribed again --", stamp());
                    }
                }
                _ => {}
            }
        }
    };
    tokio::join!(gap_task, status_task);
}

/// The numbers the demo ends with.
pub(crate) struct Report {
    sent: usize,
    distinct: usize,
    delivered: usize,
    twice: usize,
    missing: usize,
    merge: MergeStats,
    absorbed: u64,
    hooks: WebhookStats,
    chaos: ChaosStats,
    ws: WsSummary,
    code: Option<(String, Duration, String)>,
    elapsed: Duration,
}

impl Report {
    #[allow(clippy::too_many_arguments)] // One source each: the report joins them.
    pub(crate) fn new(
        sent: &[String],
        journal: &Journal,
        merge: MergeStats,
        absorbed: u64,
        hooks: WebhookStats,
        chaos: ChaosStats,
        ws: WsSummary,
        elapsed: Duration,
    ) -> Report {
        let distinct: std::collections::HashSet<&String> = sent.iter().collect();
        let count = |id: &String| journal.delivered.get(id).copied().unwrap_or(0);
        Report {
            sent: sent.len(),
            distinct: distinct.len(),
            delivered: journal.delivered.len(),
            twice: journal.delivered.values().filter(|n| **n > 1).count(),
            missing: sent.iter().filter(|id| count(id) == 0).count(),
            merge,
            absorbed,
            hooks,
            chaos,
            ws,
            code: journal.code.clone(),
            elapsed,
        }
    }

    /// True when every event sent was handled once, and nothing else was.
    pub(crate) fn exactly_once(&self) -> bool {
        self.missing == 0 && self.twice == 0 && self.delivered == self.distinct
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.merge;
        let by = |o: Origin| m.origin(&o).delivered;
        writeln!(
            f,
            "\nreport (computed from what happened, in {:.1} s)",
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  emails sent            {} ({} distinct event ids)",
            self.sent, self.distinct
        )?;
        writeln!(
            f,
            "  delivered to the agent {}: {} by websocket, {} by webhook, {} from the log",
            m.delivered(),
            by(Origin::WebSocket),
            by(Origin::Webhook),
            by(Origin::Log)
        )?;
        writeln!(
            f,
            "  duplicates suppressed  {} ({} copies absorbed by the webhook receiver, {} by the merge)",
            self.absorbed + m.duplicates(),
            self.absorbed,
            m.duplicates()
        )?;
        writeln!(
            f,
            "  websocket              dropped {} time(s), down {:.1} s, {} gap(s) resume could not close",
            self.ws.drops,
            self.ws.down_for.as_secs_f64(),
            self.ws.gaps
        )?;
        writeln!(
            f,
            "  webhooks               {} deliveries in {} attempts: {} refused and {} answers lost by chaos, retried; {} delivered, {} given up",
            self.hooks.queued,
            self.hooks.attempts,
            self.chaos.webhook_refused,
            self.chaos.webhook_answers_lost,
            self.hooks.delivered,
            self.hooks.gave_up
        )?;
        writeln!(
            f,
            "  late events            {} (came after a later event of the same inbox; reorder window 25 ms)",
            m.late
        )?;
        match &self.code {
            Some((code, after, origin)) => writeln!(
                f,
                "  2FA code               {code}, extracted {} ms after the email was sent (by {origin})",
                after.as_millis()
            )?,
            None => writeln!(f, "  2FA code               not received")?,
        }
        if self.exactly_once() {
            writeln!(
                f,
                "  lost                   none: every event id delivered exactly once"
            )
        } else {
            writeln!(
                f,
                "  lost                   {} missing, {} delivered more than once",
                self.missing, self.twice
            )
        }
    }
}
