//! Which deliveries wait for each other, and how failed ones are tried again.

use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Duration;

use mailwire_proto::Event;
use mailwire_source::Delivery;

/// A key of the application's own: `None` for an event that is not ordered.
pub type KeyFn = Arc<dyn Fn(&Event) -> Option<String> + Send + Sync>;

/// Which deliveries must be handled one at a time, in the order they arrived: those
/// with the same key. Deliveries without a key (or with distinct keys) run at once.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OrderBy {
    /// One conversation at a time: the thread id, else the inbox (the default). An
    /// event naming neither (a domain verified) is not ordered.
    #[default]
    Thread,
    /// One inbox at a time.
    Inbox,
    /// No ordering: every delivery may run at once.
    None,
    /// A key of the application's own (`None`: not ordered).
    Key(KeyFn),
}

impl OrderBy {
    /// Orders by a key of the application's own.
    pub fn key(f: impl Fn(&Event) -> Option<String> + Send + Sync + 'static) -> OrderBy {
        OrderBy::Key(Arc::new(f))
    }

    /// The key of `delivery` (its tenant's, when it has one: tenants never share a
    /// key).
    pub(super) fn of(&self, delivery: &Delivery) -> Option<Arc<str>> {
        let event = &delivery.event;
        let key = match self {
            OrderBy::Thread => event
                .thread_id()
                .map(|t| format!("thread:{t}"))
                .or_else(|| event.inbox_id().map(|i| format!("inbox:{i}"))),
            OrderBy::Inbox => event.inbox_id().map(|i| format!("inbox:{i}")),
            OrderBy::None => None,
            OrderBy::Key(f) => f(event),
        }?;
        Some(match &delivery.tenant {
            Some(tenant) => format!("{tenant}/{key}").into(),
            None => key.into(),
        })
    }
}

impl fmt::Debug for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderBy::Thread => "Thread",
            OrderBy::Inbox => "Inbox",
            OrderBy::None => "None",
            OrderBy::Key(_) => "Key(..)",
        })
    }
}

impl std::str::FromStr for OrderBy {
    type Err = String;

    /// `thread`, `inbox` or `none`.
    fn from_str(s: &str) -> Result<OrderBy, String> {
        match s {
            "thread" => Ok(OrderBy::Thread),
            "inbox" => Ok(OrderBy::Inbox),
            "none" => Ok(OrderBy::None),
            other => Err(format!("{other:?}: expected thread, inbox or none")),
        }
    }
}

/// How a failed handler is tried again: up to `attempts` runs in all, the n-th
/// retry after a delay drawn between half and all of `min(max, first·2^(n-1))`.
/// After the last attempt the event is set aside as a dead letter in the store.
///
/// ```
/// use std::time::Duration;
/// use mailwire_agent::Retry;
///
/// // 5 runs in all (the default), waiting about 1 s, 2 s, 4 s, 8 s between them.
/// let retry = Retry::attempts(5).delays(Duration::from_secs(1), Duration::from_secs(60));
/// assert_eq!(retry.max_attempts(), 5);
/// assert!(retry.delay_before(2) <= Duration::from_secs(1));
/// assert!(retry.delay_before(5) >= Duration::from_secs(4));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    first: Duration,
    max: Duration,
}

impl Default for Retry {
    /// 5 attempts, the first retry after about 1 s, at most 60 s between two.
    fn default() -> Self {
        Retry {
            attempts: 5,
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// Up to `attempts` runs in all (at least 1: `Retry::attempts(1)` never retries).
    pub fn attempts(attempts: u32) -> Retry {
        Retry {
            attempts: attempts.max(1),
            ..Retry::default()
        }
    }

    /// The delay before the first retry (about), and the most between two.
    pub fn delays(mut self, first: Duration, max: Duration) -> Retry {
        self.first = first;
        self.max = max.max(first);
        self
    }

    /// How many runs in all.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before attempt `attempt` (2 for the first retry): between half and
    /// all of its ceiling, so handlers that failed together do not retry together.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(30);
        let ceiling = self.first.saturating_mul(1u32 << doublings).min(self.max);
        let spread = std::hash::RandomState::new().hash_one(attempt) % 1024;
        ceiling / 2 + (ceiling / 2).mul_f64(spread as f64 / 1024.0)
    }
}
