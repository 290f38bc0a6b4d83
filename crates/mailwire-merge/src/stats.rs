//! What the merge counts: per origin, who delivered first and by how much, lateness.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use mailwire_source::Origin;

/// Counters of one origin (`websocket`, `webhook`, `log`...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginStats {
    /// Events from this origin the merge delivered (it was the first to bring them).
    pub delivered: u64,
    /// Copies from this origin suppressed because the event was already delivered or
    /// in flight (from any origin, this one included).
    pub duplicates: u64,
    /// Times this origin brought an event first and another origin brought it later.
    pub won: u64,
    /// Summed over those wins: how much sooner this origin received the event than
    /// the later one.
    pub lead: Duration,
}

impl OriginStats {
    /// The mean lead over this origin's wins, when it won at least once.
    pub fn mean_lead(&self) -> Option<Duration> {
        let won = u32::try_from(self.won).unwrap_or(u32::MAX);
        (won > 0).then(|| self.lead / won)
    }
}

/// A source that failed fatally and was dropped from the merge.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedSource {
    /// The source's [`name`](mailwire_source::EventSource::name).
    pub source: String,
    /// Its error, as text.
    pub error: String,
}

/// A snapshot of a merge's counters. See [`Merge::stats`](crate::Merge::stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergeStats {
    /// Counters per origin name.
    pub origins: BTreeMap<String, OriginStats>,
    /// Events that came out of the reorder window at once because an event of the
    /// same inbox with a later timestamp had already been delivered.
    pub late: u64,
    /// Sources that failed and were dropped while the merge carried on.
    pub failed_sources: Vec<FailedSource>,
    /// Store outages begun: times a store write failed while the store was thought
    /// up. Each was returned once from `next()` as a transient
    /// [`SourceError::Store`](mailwire_source::SourceError::Store).
    pub store_outages: u64,
    /// True while an outage is in progress: the event at the head of the merge is
    /// held and its append retried, and the sources are not polled.
    pub store_down: bool,
    /// Store writes tried again after a failure: appends of held events, and acks.
    pub store_retries: u64,
}

impl MergeStats {
    /// The counters of `origin` (zeros when it never showed up).
    pub fn origin(&self, origin: &Origin) -> OriginStats {
        self.origins
            .get(origin.as_str())
            .copied()
            .unwrap_or_default()
    }

    /// Events delivered, all origins together.
    pub fn delivered(&self) -> u64 {
        self.origins.values().map(|o| o.delivered).sum()
    }

    /// Copies suppressed, all origins together.
    pub fn duplicates(&self) -> u64 {
        self.origins.values().map(|o| o.duplicates).sum()
    }
}

impl fmt::Display for MergeStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, o) in &self.origins {
            write!(
                f,
                "{name}: {} delivered, {} duplicates, first {} times",
                o.delivered, o.duplicates, o.won
            )?;
            if let Some(lead) = o.mean_lead() {
                write!(f, " (by {lead:?} on average)")?;
            }
            writeln!(f)?;
        }
        if self.late > 0 {
            writeln!(f, "late: {}", self.late)?;
        }
        if self.store_outages > 0 || self.store_retries > 0 {
            writeln!(
                f,
                "store: {} outages, {} retries{}",
                self.store_outages,
                self.store_retries,
                if self.store_down { ", down now" } else { "" }
            )?;
        }
        for failed in &self.failed_sources {
            writeln!(f, "failed: {} ({})", failed.source, failed.error)?;
        }
        Ok(())
    }
}

/// A cheap, cloneable view of a merge's counters that outlives borrows of the merge
/// (e.g. read by a status task while the merge is being consumed elsewhere).
#[derive(Clone, Default)]
pub struct StatsHandle(Arc<Mutex<MergeStats>>);

impl StatsHandle {
    /// The counters now.
    pub fn snapshot(&self) -> MergeStats {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MergeStats> {
        // Counters stay readable even if a panic happened while one was updated.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut MergeStats)) {
        f(&mut self.lock());
    }

    pub(crate) fn delivered(&self, origin: &Origin) {
        self.update(|s| entry(s, origin).delivered += 1);
    }

    /// A copy from `origin` suppressed; `first` is who delivered it first and when,
    /// when known.
    pub(crate) fn duplicate(
        &self,
        origin: &Origin,
        received_at: SystemTime,
        first: Option<(&Origin, SystemTime)>,
    ) {
        metrics::counter!(crate::metric::DUPLICATES, "origin" => crate::metric::origin(origin))
            .increment(1);
        self.update(|s| {
            entry(s, origin).duplicates += 1;
            if let Some((winner, at)) = first {
                won(s, (winner, at), (origin, received_at));
            }
        });
    }

    /// `winner` delivered events whose copies from `losers` were already counted as
    /// duplicates.
    pub(crate) fn won(&self, winner: (&Origin, SystemTime), losers: &[(Origin, SystemTime)]) {
        if losers.is_empty() {
            return;
        }
        self.update(|s| {
            for (origin, at) in losers {
                won(s, winner, (origin, *at));
            }
        });
    }

    pub(crate) fn late(&self) {
        metrics::counter!(crate::metric::LATE).increment(1);
        self.update(|s| s.late += 1);
    }

    /// A store outage began (`true`) or ended (`false`).
    pub(crate) fn store_down(&self, down: bool) {
        metrics::gauge!(crate::metric::STORE_DOWN).set(if down { 1.0 } else { 0.0 });
        if down {
            metrics::counter!(crate::metric::STORE_OUTAGES).increment(1);
        }
        self.update(|s| {
            s.store_down = down;
            if down {
                s.store_outages += 1;
            }
        });
    }

    /// A store write is tried again.
    pub(crate) fn store_retry(&self) {
        metrics::counter!(crate::metric::STORE_RETRIES).increment(1);
        self.update(|s| s.store_retries += 1);
    }

    pub(crate) fn failed(&self, source: &str, error: &dyn fmt::Display) {
        self.update(|s| {
            s.failed_sources.push(FailedSource {
                source: source.to_owned(),
                error: error.to_string(),
            })
        });
    }
}

/// Counts a win unless both copies came from the same origin (a retry).
fn won(
    s: &mut MergeStats,
    (winner, first_at): (&Origin, SystemTime),
    (loser, later_at): (&Origin, SystemTime),
) {
    if winner != loser {
        let w = entry(s, winner);
        w.won += 1;
        w.lead += later_at.duration_since(first_at).unwrap_or_default();
    }
}

fn entry<'a>(s: &'a mut MergeStats, origin: &Origin) -> &'a mut OriginStats {
    if !s.origins.contains_key(origin.as_str()) {
        s.origins
            .insert(origin.as_str().to_owned(), OriginStats::default());
    }
    s.origins
        .get_mut(origin.as_str())
        .expect("inserted just above")
}

impl fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StatsHandle").field(&*self.lock()).finish()
    }
}
