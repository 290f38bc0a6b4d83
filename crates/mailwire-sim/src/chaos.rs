//! Chaos: what `POST /_sim/chaos` turns on. Every decision (drop, fail, delay,
//! duplicate, reorder) is a pure function of the seed and the event id (and the
//! attempt number for webhooks), so the same seed and the same events give the
//! same faults, run after run, however the tasks are scheduled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What chaos is on. Every field is optional in `POST /_sim/chaos`; absent means off.
///
/// ```
/// let chaos: mailwire_sim::Chaos = serde_json::from_str(
///     r#"{"seed":7,"drop_ws_every":300,"webhook_failure_rate":0.2}"#,
/// ).unwrap();
/// assert_eq!(chaos.drop_ws_every, 300);
/// assert_eq!(chaos.webhook_max_failures, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Chaos {
    /// The seed every decision derives from.
    pub seed: u64,
    /// Drop every WebSocket connection after every N-th event sent (0: never).
    pub drop_ws_every: u64,
    /// The fraction of webhook attempts that fail (0.0 to 1.0). Half of the failures
    /// are refused before the receiver sees the request; the other half reach the
    /// receiver and their answer is lost, so the sender retries what was already
    /// accepted (a duplicate at the receiver). Applies to `http://` endpoints.
    pub webhook_failure_rate: f64,
    /// At most this many attempts of one delivery fail, so that every delivery gets
    /// through within the sender's schedule (default 2).
    pub webhook_max_failures: u32,
    /// Each webhook delivery waits a random time up to this before its first
    /// attempt, which also reorders webhooks.
    pub webhook_delay_ms: u64,
    /// The fraction of events sent twice, on the WebSocket and as webhooks.
    pub duplicate_rate: f64,
    /// The fraction of WebSocket events held back and sent after the next one.
    pub reorder_rate: f64,
    /// While true, WebSocket handshakes are refused with 503 (the gateway is down)
    /// while REST and webhooks carry on. With `drop_now`, an outage of the WebSocket
    /// alone.
    pub ws_down: bool,
    /// One-shot: drop every WebSocket connection now.
    #[serde(skip_serializing)]
    pub drop_now: bool,
}

/// Why chaos was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChaosError {
    /// A rate outside 0 to 1.
    #[error("{field} must be between 0 and 1")]
    Rate {
        /// `webhook_failure_rate`, `duplicate_rate` or `reorder_rate`.
        field: &'static str,
        /// What was given.
        value: f64,
    },
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            seed: 0,
            drop_ws_every: 0,
            webhook_failure_rate: 0.0,
            webhook_max_failures: 2,
            webhook_delay_ms: 0,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            ws_down: false,
            drop_now: false,
        }
    }
}

impl Chaos {
    /// No chaos at all (the default): a seed can then be set and faults added.
    pub fn seeded(seed: u64) -> Chaos {
        Chaos {
            seed,
            ..Chaos::default()
        }
    }

    /// Drops every WebSocket connection after every `n` events.
    pub fn drop_ws_every(mut self, n: u64) -> Chaos {
        self.drop_ws_every = n;
        self
    }

    /// Fails this fraction of webhook attempts (at most `max` per delivery).
    pub fn webhook_failures(mut self, rate: f64, max: u32) -> Chaos {
        self.webhook_failure_rate = rate;
        self.webhook_max_failures = max;
        self
    }

    /// Delays each webhook delivery by up to `ms` milliseconds.
    pub fn webhook_delay_ms(mut self, ms: u64) -> Chaos {
        self.webhook_delay_ms = ms;
        self
    }

    /// Sends this fraction of events twice.
    pub fn duplicates(mut self, rate: f64) -> Chaos {
        self.duplicate_rate = rate;
        self
    }

    /// Holds back this fraction of WebSocket events until after the next one.
    pub fn reorders(mut self, rate: f64) -> Chaos {
        self.reorder_rate = rate;
        self
    }

    /// Refuses WebSocket handshakes (503) while `down`.
    pub fn ws_down(mut self, down: bool) -> Chaos {
        self.ws_down = down;
        self
    }

    /// Drops every WebSocket connection when applied.
    pub fn drop_now(mut self) -> Chaos {
        self.drop_now = true;
        self
    }

    /// Checks the rates.
    pub(crate) fn validate(&self) -> Result<(), ChaosError> {
        for (field, value) in [
            ("webhook_failure_rate", self.webhook_failure_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("reorder_rate", self.reorder_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ChaosError::Rate { field, value });
            }
        }
        Ok(())
    }

    fn is_quiet(&self) -> bool {
        self.drop_ws_every == 0
            && self.webhook_failure_rate == 0.0
            && self.webhook_delay_ms == 0
            && self.duplicate_rate == 0.0
            && self.reorder_rate == 0.0
            && !self.ws_down
    }

    /// True when this event is sent twice.
    pub(crate) fn duplicate(&self, id: &str) -> bool {
        roll(self.seed, Salt::Duplicate, id, 0) < self.duplicate_rate
    }

    /// True when this WebSocket event is held back behind the next one.
    pub(crate) fn reorder(&self, id: &str) -> bool {
        roll(self.seed, Salt::Reorder, id, 0) < self.reorder_rate
    }

    /// How long this webhook delivery waits before its first attempt.
    pub(crate) fn webhook_delay(&self, id: &str) -> Duration {
        if self.webhook_delay_ms == 0 {
            return Duration::ZERO;
        }
        let r = roll(self.seed, Salt::Delay, id, 0);
        Duration::from_millis((r * self.webhook_delay_ms as f64) as u64)
    }

    /// What happens to attempt `attempt` (0-based) of the delivery of `id`.
    pub(crate) fn webhook_attempt(&self, id: &str, attempt: u32) -> AttemptFate {
        if attempt >= self.webhook_max_failures
            || roll(self.seed, Salt::Failure, id, attempt) >= self.webhook_failure_rate
        {
            return AttemptFate::Pass;
        }
        if roll(self.seed, Salt::FailureKind, id, attempt) < 0.5 {
            AttemptFate::Refuse
        } else {
            AttemptFate::LoseAnswer
        }
    }

    /// True when webhook attempts may fail, so deliveries go through the relay.
    pub(crate) fn fails_webhooks(&self) -> bool {
        self.webhook_failure_rate > 0.0 && self.webhook_max_failures > 0
    }
}

/// What chaos does to one webhook attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttemptFate {
    /// Delivered as it is.
    Pass,
    /// Answered 503 before the receiver sees it.
    Refuse,
    /// Delivered, then answered 502 as if the answer were lost on the way back.
    LoseAnswer,
}

#[derive(Clone, Copy)]
enum Salt {
    Duplicate = 1,
    Reorder = 2,
    Delay = 3,
    Failure = 4,
    FailureKind = 5,
}

/// A uniform number in `[0, 1)` from the seed, a salt, an id and a counter:
/// FNV-1a over the inputs, finished with SplitMix64 so close inputs spread.
fn roll(seed: u64, salt: Salt, id: &str, n: u32) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = seed
        .to_le_bytes()
        .into_iter()
        .chain([salt as u8])
        .chain(id.bytes())
        .chain(n.to_le_bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// What chaos has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChaosStats {
    /// Times every WebSocket connection was dropped.
    pub ws_drops: u64,
    /// Events sent twice on the WebSocket.
    pub ws_duplicates: u64,
    /// WebSocket events held back behind the next one.
    pub ws_reordered: u64,
    /// Webhook attempts refused before reaching the receiver.
    pub webhook_refused: u64,
    /// Webhook attempts delivered whose answer was then lost.
    pub webhook_answers_lost: u64,
    /// Webhook deliveries made twice.
    pub webhook_duplicates: u64,
}

/// The chaos in force and its counters, shared by the publisher and the relay.
#[derive(Debug, Default)]
pub(crate) struct ChaosState {
    config: RwLock<Option<Arc<Chaos>>>,
    pub(crate) ws_drops: AtomicU64,
    pub(crate) ws_duplicates: AtomicU64,
    pub(crate) ws_reordered: AtomicU64,
    pub(crate) webhook_refused: AtomicU64,
    pub(crate) webhook_answers_lost: AtomicU64,
    pub(crate) webhook_duplicates: AtomicU64,
    /// Events sent on the WebSocket since chaos was set, for `drop_ws_every`.
    pub(crate) sent: AtomicU64,
}

impl ChaosState {
    /// The chaos in force, if any.
    pub(crate) fn current(&self) -> Option<Arc<Chaos>> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the chaos in force (`None` or a quiet config: off).
    pub(crate) fn set(&self, chaos: Option<Chaos>) {
        let chaos = chaos.filter(|c| !c.is_quiet()).map(Arc::new);
        self.sent.store(0, Ordering::Relaxed);
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = chaos;
    }

    pub(crate) fn stats(&self) -> ChaosStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ChaosStats {
            ws_drops: get(&self.ws_drops),
            ws_duplicates: get(&self.ws_duplicates),
            ws_reordered: get(&self.ws_reordered),
            webhook_refused: get(&self.webhook_refused),
            webhook_answers_lost: get(&self.webhook_answers_lost),
            webhook_duplicates: get(&self.webhook_duplicates),
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_depend_on_the_seed_and_nothing_else() {
        let a = Chaos::seeded(1)
            .duplicates(0.3)
            .reorders(0.3)
            .webhook_failures(0.5, 3);
        let b = a.clone();
        let c = Chaos {
            seed: 2,
            ..a.clone()
        };
        let ids: Vec<String> = (0..2000).map(|i| format!("evt_{i}")).collect();
        let plan = |ch: &Chaos| -> Vec<(bool, bool, AttemptFate)> {
            ids.iter()
                .map(|id| (ch.duplicate(id), ch.reorder(id), ch.webhook_attempt(id, 0)))
                .collect()
        };
        assert_eq!(plan(&a), plan(&b));
        assert_ne!(plan(&a), plan(&c));
    }

    #[test]
    fn rates_are_honoured_roughly_and_failures_are_capped() {
        let ch = Chaos::seeded(9).duplicates(0.2).webhook_failures(1.0, 2);
        let dups = (0..10_000)
            .filter(|i| ch.duplicate(&format!("evt_{i}")))
            .count();
        assert!((1_600..2_400).contains(&dups), "{dups}");
        assert_ne!(ch.webhook_attempt("evt_1", 1), AttemptFate::Pass);
        assert_eq!(ch.webhook_attempt("evt_1", 2), AttemptFate::Pass);
        assert_eq!(
            Chaos::seeded(9).webhook_attempt("evt_1", 0),
            AttemptFate::Pass
        );
    }

    #[test]
    fn rejects_rates_out_of_range_and_unknown_fields() {
        assert_eq!(
            Chaos::seeded(1).duplicates(1.5).validate(),
            Err(ChaosError::Rate {
                field: "duplicate_rate",
                value: 1.5
            })
        );
        assert!(Chaos::seeded(1).reorders(-0.1).validate().is_err());
        assert!(serde_json::from_str::<Chaos>(r#"{"sed":1}"#).is_err());
    }

    #[test]
    fn quiet_chaos_is_off() {
        let state = ChaosState::default();
        state.set(Some(Chaos::seeded(5)));
        assert!(state.current().is_none());
        state.set(Some(Chaos::seeded(5).drop_ws_every(10)));
        assert!(state.current().is_some());
    }
}
