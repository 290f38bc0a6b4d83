//! Configuring a [`Merge`](crate::Merge).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mailwire_client::Backoff;
use mailwire_source::{BoxSource, EventSource};
use mailwire_store::Store;

use crate::durable::Durable;

/// What the merge does when one of its sources fails (its `next()` returns `Err`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnSourceFailure {
    /// Drop that source, record the failure in [`MergeStats::failed_sources`]
    /// (and a `tracing` warning), and carry on with the others. Once every source is
    /// gone, the merge returns the first such error (so a failure is never silent),
    /// then `Ok(None)`. The default: a WebSocket revoked mid-run must not take the
    /// webhook receiver down with it.
    ///
    /// [`MergeStats::failed_sources`]: crate::MergeStats::failed_sources
    #[default]
    Isolate,
    /// Return the error from `next()` at once; the merge is over.
    Propagate,
}

/// Builds a [`Merge`](crate::Merge). Every setting has a default; see each method.
#[must_use = "a builder does nothing until `build()`"]
pub struct MergeBuilder {
    pub(crate) sources: Vec<BoxSource<'static>>,
    pub(crate) stores: Durable,
    pub(crate) window_capacity: usize,
    pub(crate) window_age: Duration,
    pub(crate) reorder: Option<Duration>,
    pub(crate) on_failure: OnSourceFailure,
    pub(crate) max_in_admission: usize,
    pub(crate) lead_memory: usize,
    pub(crate) backlog_page: usize,
    pub(crate) take_over_every: Option<Duration>,
    pub(crate) store_backoff: Backoff,
    pub(crate) ack_retry_for: Option<Duration>,
}

impl Default for MergeBuilder {
    fn default() -> Self {
        MergeBuilder {
            sources: Vec::new(),
            stores: Durable::default(),
            window_capacity: 100_000,
            window_age: Duration::from_secs(3 * 24 * 3600),
            reorder: None,
            on_failure: OnSourceFailure::default(),
            max_in_admission: 64,
            lead_memory: 4096,
            backlog_page: 256,
            take_over_every: None,
            store_backoff: crate::retry::default_backoff(),
            ack_retry_for: None,
        }
    }
}

impl MergeBuilder {
    /// Adds a source. Sources are polled in turn, starting after the one that
    /// delivered last, so none can starve another.
    pub fn source(mut self, source: impl EventSource + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Adds boxed sources.
    pub fn sources(mut self, sources: impl IntoIterator<Item = BoxSource<'static>>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// The store (none by default): pass the same store value (a clone) to the
    /// webhook receivers that feed this merge, and nowhere else.
    ///
    /// Every new event is appended before it is delivered, which claims it for this
    /// instance: an event another instance sharing the store claimed first is not
    /// delivered here ([`Appended::Known`](mailwire_store::Appended::Known)). An event
    /// a receiver sharing the store appended comes marked
    /// ([`Custody::Claimed`](mailwire_source::Custody::Claimed)): no second append,
    /// and one ack.
    /// Acking a delivery acks it in the store (one write). At start-up, and then
    /// every [`take_over_every`](MergeBuilder::take_over_every) while it runs, the
    /// merge claims the store's backlog a page at a time
    /// ([`backlog_page`](MergeBuilder::backlog_page)): events left by an earlier run,
    /// released by a dropped delivery, or held by an instance whose lease ran out.
    /// They are delivered with `Origin::Log`; the start-up backlog before anything
    /// live.
    ///
    /// A store that fails is waited for, never passed over: the event whose append
    /// failed is held and retried ([`store_backoff`](MergeBuilder::store_backoff))
    /// while the sources wait, an ack is retried for
    /// [`ack_retry_for`](MergeBuilder::ack_retry_for). See the
    /// [crate docs](crate#nothing-handed-to-the-merge-is-lost-what-is-retried-where).
    pub fn store(mut self, store: impl Store) -> Self {
        self.stores.store = Some(Arc::new(store));
        self
    }

    /// How many events one claim of the backlog asks the store for (default 256).
    pub fn backlog_page(mut self, events: usize) -> Self {
        self.backlog_page = events.max(1);
        self
    }

    /// How often the merge looks for events to take over while it runs (default: a
    /// quarter of the store's lease, at least 10 ms). Uses tokio's clock.
    pub fn take_over_every(mut self, every: Duration) -> Self {
        self.take_over_every = Some(every);
        self
    }

    /// The delays between retries of a store write that failed (Redis down, a full
    /// disk): the append of the event held at the head of the merge, retried until
    /// the store answers, and an ack, retried for up to
    /// [`ack_retry_for`](MergeBuilder::ack_retry_for). Also the delays between claims
    /// of the backlog while they fail (at most
    /// [`take_over_every`](MergeBuilder::take_over_every)).
    ///
    /// Default: a first retry within 100 ms, ceilings doubling up to 3 s, full
    /// jitter (`Backoff::default().base(100 ms).cap(3 s)`). Uses tokio's clock.
    pub fn store_backoff(mut self, backoff: Backoff) -> Self {
        self.store_backoff = backoff;
        self
    }

    /// How long an ack whose store write fails is retried before `ack()` returns the
    /// error (default: half the store's lease, so the claim does not lapse and the
    /// event go to another instance meanwhile). An attempt in progress at the bound
    /// is let finish. After the error the event is still unacked in the store's log,
    /// and its claim is released: the backlog claim delivers it again (at least
    /// once, never lost).
    pub fn ack_retry_for(mut self, bound: Duration) -> Self {
        self.ack_retry_for = Some(bound);
        self
    }

    /// The in-memory dedup window: remembers at least the last `capacity` acked ids
    /// for at least `max_age`, at about 20.6 bytes per id of capacity, allocated once
    /// (default 100 000 ids, 3 days: 2 MB).
    pub fn window(mut self, capacity: usize, max_age: Duration) -> Self {
        self.window_capacity = capacity;
        self.window_age = max_age;
        self
    }

    /// Turns on the per-inbox reorder window (off by default): events that name an
    /// inbox and a timestamp are held up to `window` and delivered in timestamp order
    /// per inbox. One that arrives after an event of its inbox with a later timestamp
    /// was delivered goes out at once and is counted as late. Events without an inbox
    /// or a timestamp are never held. It remembers, per inbox seen, the timestamp of
    /// the last event delivered. Uses tokio's clock (so `tokio::time::pause` drives
    /// it in tests); the merge must then be polled inside a tokio runtime.
    pub fn reorder(mut self, window: Duration) -> Self {
        self.reorder = Some(window);
        self
    }

    /// What to do when a source fails (default [`OnSourceFailure::Isolate`]).
    pub fn on_source_failure(mut self, policy: OnSourceFailure) -> Self {
        self.on_failure = policy;
        self
    }

    /// How many new events may be going through the stores at once, in order (default
    /// 64): more lets a store group its writes (redb commits them together). A
    /// consumer's [`demand`](mailwire_source::EventSource::demand) lowers it: each
    /// append the store answers `New` claims the event for this instance, so no more
    /// are started than the consumer will take (the agent's runner says how many
    /// handler slots are free).
    pub fn max_in_admission(mut self, n: usize) -> Self {
        self.max_in_admission = n.max(1);
        self
    }

    /// How many recent first deliveries are remembered to measure how much sooner one
    /// origin was than another (default 4096).
    pub fn lead_memory(mut self, n: usize) -> Self {
        self.lead_memory = n;
        self
    }
}

impl fmt::Debug for MergeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergeBuilder")
            .field(
                "sources",
                &self.sources.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("stores", &self.stores)
            .field("window_capacity", &self.window_capacity)
            .field("window_age", &self.window_age)
            .field("reorder", &self.reorder)
            .field("on_failure", &self.on_failure)
            .field("store_backoff", &self.store_backoff)
            .field("ack_retry_for", &self.ack_retry_for)
            .finish_non_exhaustive()
    }
}
