//! [`Merge`]: many sources in, each event id out once.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, poll_fn};
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use mailwire_client::Delays;
use mailwire_proto::Event;
use mailwire_source::{
    Ack, BoxSource, Custody, Delivery, EventSource, Origin, SourceError, async_trait,
};
use mailwire_store::StoreError;
use tokio::time::Sleep;

use crate::admission::{Admission, Admitted, Held, admit};
use crate::builder::{MergeBuilder, OnSourceFailure};
use crate::durable::{Durable, Verdict};
use crate::reorder::{Pushed, Reorder};
use crate::retry::{Outage, StoreRetry};
use crate::settle::{MergeSettle, settle_all};
use crate::shared::{Known, SharedDedup};
use crate::stats::{MergeStats, StatsHandle};
use crate::window::{IdHasher, IdKey, IdWindow};

/// How many events one `next()` call may look at (duplicates, ended sources) before
/// it yields to the executor, so a flood of duplicates cannot hog a worker thread.
const BUDGET: usize = 256;

type NextResult = Result<Option<Delivery>, SourceError>;
type SourceFuture = BoxFuture<'static, (BoxSource<'static>, NextResult)>;

/// Merges sources into one stream that yields each event id once. See the
/// [crate docs](crate) for the semantics and an example.
///
/// # What it guarantees when the store fails
///
/// No delivery a source handed it is dropped for a store error. An event whose
/// append fails is held at the head and its append retried with backoff until the
/// store answers; meanwhile the sources are not polled (their own back-pressure
/// applies: a WebSocket stops reading, a receiver answers 503). `next()` returns
/// one transient [`SourceError::Store`] when the outage starts, then waits inside;
/// once the store answers, the held events come out in order. An ack whose store
/// write fails is retried for [`MergeBuilder::ack_retry_for`], then fails and
/// leaves the event to the backlog claim (delivered again, never lost). Whether a
/// source re-delivers what it handed over is that source's contract, not something
/// the merge relies on. Details in the [crate docs](crate#nothing-handed-to-the-merge-is-lost-what-is-retried-where).
pub struct Merge {
    slots: Vec<Slot>,
    /// Round-robin: the slot polled first on the next look at the sources.
    next_slot: usize,
    hasher: IdHasher,
    dedup: SharedDedup,
    stores: Durable,
    stats: StatsHandle,
    replay: Replay,
    /// True until the start-up backlog is delivered: live sources wait for it.
    starting: bool,
    backlog_page: usize,
    take_over_every: std::time::Duration,
    /// When the next look for events to take over is due.
    take_over: Option<Pin<Box<Sleep>>>,
    admissions: FuturesOrdered<BoxFuture<'static, Admitted>>,
    /// The admission at the head whose append failed, retried until the store
    /// answers. While it is held nothing behind it moves and no source is polled.
    held: Option<Held>,
    max_in_admission: usize,
    /// The consumer's last [`EventSource::demand`] hint, if any.
    demand: Option<usize>,
    /// Whether the store is down, as seen by this merge.
    outage: Outage,
    /// How store writes are retried (held appends, acks).
    retry: StoreRetry,
    /// Delays between claims of the backlog while they fail.
    claim_delays: Delays,
    /// The outage generation when the claim in progress started.
    claim_generation: u64,
    /// Acks of suppressed copies being settled in their sources.
    settling: FuturesUnordered<BoxFuture<'static, ()>>,
    reorder: Option<Reorder>,
    timer: Option<Pin<Box<Sleep>>>,
    on_failure: OnSourceFailure,
    /// The first failure of an isolated source, returned once every source is gone.
    failure: Option<SourceError>,
    finished: bool,
}

struct Slot {
    name: String,
    state: SlotState,
}

enum SlotState {
    Idle(BoxSource<'static>),
    /// A `next()` in progress. It owns the source and lives in the merge, not in the
    /// caller's future, so cancelling `Merge::next` never cancels it.
    Polling(SourceFuture),
    Gone,
}

/// Claiming the store's backlog, a page at a time.
enum Replay {
    /// No claim in progress: the next starts at start-up, then at each tick.
    Idle,
    Fetching(BoxFuture<'static, Result<Vec<Event>, StoreError>>),
    /// A page being delivered; `full` when it was as long as asked, so another
    /// page follows at once.
    Draining {
        events: VecDeque<Event>,
        full: bool,
    },
}

// A return value that lives for one match, never stored: boxing the delivery would
// cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
enum Polled {
    Delivery(Delivery),
    Gone,
    Failed(String, SourceError),
}

impl MergeBuilder {
    /// The merge. (Here rather than beside the settings: it reads them all, and the
    /// settings need nothing of the merge.)
    pub fn build(self) -> Merge {
        Merge::from_builder(self)
    }
}

impl Merge {
    /// A builder: sources, stores, window, reorder, failure policy.
    pub fn builder() -> MergeBuilder {
        MergeBuilder::default()
    }

    /// A merge of `sources` with the default settings: in-memory dedup only.
    pub fn new(sources: impl IntoIterator<Item = BoxSource<'static>>) -> Merge {
        Merge::builder().sources(sources).build()
    }

    pub(crate) fn from_builder(b: MergeBuilder) -> Merge {
        let hasher = IdHasher::new();
        let lease = b
            .stores
            .store
            .as_ref()
            .map(|s| s.lease())
            .unwrap_or_default();
        let retry = StoreRetry {
            ack_for: b.ack_retry_for.unwrap_or(lease / 2),
            backoff: b.store_backoff,
        };
        let now = tokio::time::Instant::now().into_std();
        let window = IdWindow::with_hasher(b.window_capacity, b.window_age, now, hasher.clone());
        let slots = b
            .sources
            .into_iter()
            .map(|source| Slot {
                name: source.name().to_owned(),
                state: SlotState::Idle(source),
            })
            .collect();
        Merge {
            slots,
            next_slot: 0,
            hasher,
            dedup: SharedDedup::new(window, b.lead_memory),
            replay: Replay::Idle,
            starting: b.stores.store.is_some(),
            backlog_page: b.backlog_page,
            take_over_every: b
                .take_over_every
                .unwrap_or_else(|| (lease / 4).max(std::time::Duration::from_millis(10))),
            take_over: None,
            stores: b.stores,
            stats: StatsHandle::default(),
            admissions: FuturesOrdered::new(),
            held: None,
            max_in_admission: b.max_in_admission,
            demand: None,
            outage: Outage::default(),
            claim_delays: retry.backoff.delays(),
            claim_generation: 0,
            retry,
            settling: FuturesUnordered::new(),
            reorder: b.reorder.map(Reorder::new),
            timer: None,
            on_failure: b.on_failure,
            failure: None,
            finished: false,
        }
    }

    /// The counters now: per origin, delivered, duplicates, wins and lead; late
    /// events; failed sources.
    pub fn stats(&self) -> MergeStats {
        self.stats.snapshot()
    }

    /// A handle to the counters that can be kept after the merge is moved.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// How many sources are still being polled.
    pub fn live_sources(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s.state, SlotState::Gone))
            .count()
    }

    /// Hands out at once, in order, every event the reorder window holds back (none
    /// without a window): for a consumer that stops and would rather handle them out
    /// of their window than leave them for the next start. Their acks work as any
    /// other's; an event not handed out here stays unacked in the store.
    pub fn take_held(&mut self) -> Vec<Delivery> {
        let mut held = Vec::new();
        if let Some(reorder) = self.reorder.as_mut() {
            while let Some(delivery) = reorder.pop_any() {
                held.push(delivery);
            }
        }
        held
    }

    /// How many events are delivered (or on their way) and not acked yet.
    pub fn in_flight(&self) -> usize {
        self.dedup.lock().in_flight_len()
    }

    /// The state machine behind `next()`. Everything it waits on lives in `self`, so
    /// dropping the `next()` future between two polls loses nothing.
    fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<NextResult> {
        if self.finished {
            return Poll::Ready(Ok(None));
        }
        for _ in 0..BUDGET {
            // Settling runs in the background of `next()`: nothing waits on it.
            while let Poll::Ready(Some(())) = self.settling.poll_next_unpin(cx) {}

            if let Some(delivery) = self.poll_reorder(cx) {
                return Poll::Ready(Ok(Some(delivery)));
            }

            match self.poll_replay(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // Live sources wait until the log's backlog is known.
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
            }

            if let Some(held) = self.held.as_mut() {
                let generation = self.outage.generation();
                let Poll::Ready(admitted) = held.poll(cx, &self.stores, generation, &self.stats)
                else {
                    // The head waits for the store: nothing behind it moves, and no
                    // source is polled (back-pressure: a WebSocket stops reading, a
                    // receiver's queue fills and it answers 503).
                    return Poll::Pending;
                };
                match self.admitted(admitted) {
                    Some(out) => return Poll::Ready(out),
                    None => continue,
                }
            }

            if let Poll::Ready(Some(admitted)) = self.admissions.poll_next_unpin(cx) {
                match self.admitted(admitted) {
                    Some(out) => return Poll::Ready(out),
                    None => continue,
                }
            }

            if self.pipeline_len() < self.admission_limit() {
                if let Replay::Draining { events, full } = &mut self.replay {
                    match events.pop_front() {
                        Some(event) => {
                            if let Some(out) = self.arrive(Delivery::new(event, Origin::Log), true)
                            {
                                return Poll::Ready(out);
                            }
                            continue;
                        }
                        None if *full => {
                            // The next page at once.
                            self.fetch_backlog();
                            continue;
                        }
                        None => {
                            self.replay = Replay::Idle;
                            self.starting = false;
                            self.take_over = None;
                            // Round again, so the next tick is armed before waiting.
                            continue;
                        }
                    }
                }
                if self.starting {
                    // The start-up backlog's last admissions are still in the pipeline.
                    return self.poll_end();
                }
                match self.poll_sources(cx) {
                    Poll::Ready(Polled::Delivery(delivery)) => {
                        if let Some(out) = self.arrive(delivery, false) {
                            return Poll::Ready(out);
                        }
                        continue;
                    }
                    Poll::Ready(Polled::Gone) => continue,
                    Poll::Ready(Polled::Failed(name, error)) => {
                        tracing::warn!(source = %name, %error, "source failed");
                        self.stats.failed(&name, &error);
                        match self.on_failure {
                            OnSourceFailure::Propagate => {
                                self.finished = true;
                                return Poll::Ready(Err(error));
                            }
                            _ => {
                                self.failure.get_or_insert(error);
                                continue;
                            }
                        }
                    }
                    Poll::Pending => {}
                }
            }

            return self.poll_end();
        }
        // Out of budget: let other tasks run, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Once every source is gone and nothing is in the pipeline: flush the reorder
    /// window, let duplicates settle, then end (with an isolated failure, if any).
    fn poll_end(&mut self) -> Poll<NextResult> {
        let sources_gone = self
            .slots
            .iter()
            .all(|s| matches!(s.state, SlotState::Gone));
        let backlog_done = !self.starting && !matches!(self.replay, Replay::Draining { .. });
        if !sources_gone || !backlog_done || self.pipeline_len() > 0 {
            return Poll::Pending;
        }
        if let Some(delivery) = self.reorder.as_mut().and_then(Reorder::pop_any) {
            return Poll::Ready(Ok(Some(delivery)));
        }
        if !self.settling.is_empty() {
            return Poll::Pending;
        }
        self.finished = true;
        Poll::Ready(match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(None),
        })
    }

    fn poll_reorder(&mut self, cx: &mut Context<'_>) -> Option<Delivery> {
        let reorder = self.reorder.as_mut()?;
        loop {
            match reorder.pop_due(tokio::time::Instant::now()) {
                Ok(delivery) => return Some(delivery),
                Err(None) => return None,
                Err(Some(deadline)) => {
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                    if timer.as_mut().poll(cx).is_pending() {
                        return None;
                    }
                }
            }
        }
    }

    /// Starts claiming a page of the store's backlog.
    fn fetch_backlog(&mut self) {
        let Some(store) = self.stores.store.clone() else {
            self.replay = Replay::Idle;
            return;
        };
        let page = self.backlog_page;
        self.claim_generation = self.outage.generation();
        self.replay = Replay::Fetching(async move { store.claim(page).await }.boxed());
    }

    /// Claims the backlog: at start-up (live sources wait until it is delivered),
    /// then at each tick, alongside the live sources.
    fn poll_replay(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SourceError>> {
        loop {
            match &mut self.replay {
                Replay::Idle => {
                    if self.stores.store.is_none() {
                        return Poll::Ready(Ok(()));
                    }
                    // At start-up the first claim goes at once; a claim that failed is
                    // tried again after a backoff delay (armed below).
                    if !self.starting || self.take_over.is_some() {
                        let every = self.take_over_every;
                        let tick = self
                            .take_over
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
                        if tick.as_mut().poll(cx).is_pending() {
                            return if self.starting {
                                Poll::Pending
                            } else {
                                Poll::Ready(Ok(()))
                            };
                        }
                        self.take_over = None;
                    }
                    self.fetch_backlog();
                }
                Replay::Fetching(fetch) => match fetch.as_mut().poll(cx) {
                    Poll::Pending if self.starting => return Poll::Pending,
                    Poll::Pending => return Poll::Ready(Ok(())),
                    Poll::Ready(Ok(events)) => {
                        self.store_answered();
                        self.claim_delays.reset();
                        if !events.is_empty() {
                            tracing::debug!(
                                events = events.len(),
                                "claimed from the store's backlog"
                            );
                        }
                        let full = events.len() >= self.backlog_page;
                        self.replay = Replay::Draining {
                            events: events.into(),
                            full,
                        };
                    }
                    Poll::Ready(Err(e)) => {
                        // Tried again after a backoff delay (at most the tick): at
                        // start-up the live sources keep waiting for it.
                        self.replay = Replay::Idle;
                        let delay = self
                            .claim_delays
                            .next()
                            .unwrap_or(self.take_over_every)
                            .min(self.take_over_every);
                        self.take_over = Some(Box::pin(tokio::time::sleep(delay)));
                        if let Some(report) = self.store_failed(e, self.claim_generation, None) {
                            return Poll::Ready(Err(report));
                        }
                    }
                },
                Replay::Draining { .. } => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Polls the sources in turn, starting after the one that delivered last.
    fn poll_sources(&mut self, cx: &mut Context<'_>) -> Poll<Polled> {
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.next_slot + k) % n;
            let slot = &mut self.slots[i];
            if matches!(slot.state, SlotState::Idle(_)) {
                let SlotState::Idle(mut source) =
                    std::mem::replace(&mut slot.state, SlotState::Gone)
                else {
                    unreachable!("matched just above");
                };
                slot.state = SlotState::Polling(
                    async move {
                        let result = source.next().await;
                        (source, result)
                    }
                    .boxed(),
                );
            }
            let SlotState::Polling(next) = &mut slot.state else {
                continue;
            };
            let Poll::Ready((source, result)) = next.as_mut().poll(cx) else {
                continue;
            };
            self.next_slot = (i + 1) % n;
            return Poll::Ready(match result {
                Ok(Some(delivery)) => {
                    slot.state = SlotState::Idle(source);
                    Polled::Delivery(delivery)
                }
                Ok(None) => {
                    slot.state = SlotState::Gone;
                    Polled::Gone
                }
                Err(e) => {
                    slot.state = SlotState::Gone;
                    Polled::Failed(slot.name.clone(), e)
                }
            });
        }
        Poll::Pending
    }

    /// A copy of an event arrived: suppress it, or claim its id and admit it. A
    /// delivery its source logged and claimed in the store the merge shares
    /// ([`Custody::Claimed`]) is not appended again, as one claimed from the log.
    fn arrive(&mut self, mut delivery: Delivery, from_log: bool) -> Option<NextResult> {
        let in_custody = self.in_custody(&delivery);
        if in_custody {
            // Its source's ack is the store's ack of this id, which the merge's own
            // settle makes (once, whichever copy goes out): kept unrun until then
            // (dropping it releases the claim), then dropped.
            let store_ack = delivery.take_ack();
            delivery = delivery.with_ack(Ack::from_fn(move || drop(store_ack)));
        }
        let from_log = from_log || in_custody;
        let key = self.hasher.key(delivery.event.dedup_id());
        let now = tokio::time::Instant::now().into_std();
        let mut first = None;
        let known = self
            .dedup
            .lock()
            .arrive(key, &mut delivery, now, &mut first);
        let first = first.as_ref().map(|(origin, at)| (origin, *at));
        match known {
            Known::InFlight => {
                self.stats
                    .duplicate(&delivery.origin, delivery.received_at, first);
                tracing::debug!(parent: delivery.span(), "duplicate suppressed");
                None
            }
            Known::Settled(ack) => {
                self.stats
                    .duplicate(&delivery.origin, delivery.received_at, first);
                tracing::debug!(parent: delivery.span(), "duplicate suppressed");
                let id = delivery.event.dedup_id().to_owned();
                self.settling
                    .push(async move { settle_all(vec![ack], &id).await }.boxed());
                None
            }
            Known::New if (from_log || self.stores.is_empty()) && self.pipeline_len() == 0 => {
                // Nothing to ask the store (none, or claimed from it already), and
                // nothing ahead of it in the pipeline.
                self.deliver(key, delivery)
            }
            Known::New => {
                let admission = Admission {
                    key,
                    delivery,
                    from_log,
                };
                self.admissions.push_back(admit(
                    self.stores.clone(),
                    admission,
                    self.outage.generation(),
                ));
                None
            }
        }
    }

    /// A new event came back from the stores.
    fn admitted(&mut self, admitted: Admitted) -> Option<NextResult> {
        let Admitted {
            admission,
            generation,
            verdict,
        } = admitted;
        let verdict = match verdict {
            Ok(verdict) => verdict,
            Err(e) => {
                tracing::debug!(
                    event_id = admission.delivery.event.id(),
                    error = %e,
                    "append failed: the event is held at the head of the merge"
                );
                return self.store_failed(e, generation, Some(admission)).map(Err);
            }
        };
        let Admission {
            key,
            delivery,
            from_log,
        } = admission;
        // The head moves on.
        self.held = None;
        if !from_log {
            self.store_answered();
        }
        match verdict {
            Verdict::Fresh => self.deliver(key, delivery),
            Verdict::Known if self.held_here(&delivery) => {
                // This store value holds its claim: another part of this instance
                // logged it (a receiver whose copy is on its way, marked
                // [`Custody::Claimed`], or a merge feeding this one). This copy goes
                // out under that claim; the in-memory dedup suppresses the other when
                // it arrives, and the store is acked once, by this merge.
                self.deliver(key, delivery)
            }
            Verdict::Known => {
                // Acked already, or another instance holds it and delivers it. Not
                // remembered as settled here: another instance's claim may lapse, and
                // a copy that arrives then must be asked about again. Copies held
                // meanwhile are released unsettled: if one came from a receiver of
                // this instance, its claim stays free for the next claim of the
                // backlog. The copy's own ack is settled: the store has the event.
                self.suppress_stored(key, delivery, "duplicate suppressed: already stored");
                None
            }
        }
    }

    /// Drops a copy the store says someone else delivers (or delivered): its
    /// source's ack is settled (the store has the event), its id released here.
    fn suppress_stored(&mut self, key: IdKey, mut delivery: Delivery, why: &'static str) {
        let ack = delivery.take_ack();
        self.dedup.release(key);
        self.stats
            .duplicate(&delivery.origin, delivery.received_at, None);
        tracing::debug!(parent: delivery.span(), "{why}");
        let id = delivery.event.dedup_id().to_owned();
        self.settling
            .push(async move { settle_all(vec![ack], &id).await }.boxed());
    }

    /// True when `delivery` was logged and claimed by its source in the store this
    /// merge acks in: neither appended nor acked a second time. A source that
    /// logged it in another store (a receiver given a store of its own) hands over
    /// an event this store does not hold: it goes through this store as any other,
    /// and its source's ack settles it in its own.
    fn in_custody(&self, delivery: &Delivery) -> bool {
        delivery.custody() == Custody::Claimed
            && (self.stores.store.as_ref())
                .is_some_and(|store| store.holds(delivery.event.dedup_id()))
    }

    /// True when this store value holds the claim on `delivery`'s event.
    fn held_here(&self, delivery: &Delivery) -> bool {
        self.stores
            .store
            .as_ref()
            .is_some_and(|store| store.holds(delivery.event.dedup_id()))
    }

    /// How many new events may be with the store at once: the consumer's demand,
    /// within `max_in_admission`. Every one of them the store answers `New` is
    /// claimed by this instance, wanted or not.
    fn admission_limit(&self) -> usize {
        self.demand
            .map_or(self.max_in_admission, |n| n.clamp(1, self.max_in_admission))
    }

    /// Admissions in the pipeline: in the store's hands, and the one held.
    fn pipeline_len(&self) -> usize {
        self.admissions.len() + usize::from(self.held.is_some())
    }

    /// A store call that started at `generation` failed. `admission` (when it was
    /// an append) is held at the head and retried. Returns the error to report from
    /// `next()`: the first of an outage, or a closed store (which ends the merge).
    fn store_failed(
        &mut self,
        error: StoreError,
        generation: u64,
        admission: Option<Admission>,
    ) -> Option<SourceError> {
        if matches!(error, StoreError::Closed) {
            // Closed by the application: nothing will be kept again, so retrying
            // would wait forever. What is held stays unacked in its source.
            tracing::warn!("store closed: the merge ends");
            self.finished = true;
            self.held = None;
            return Some(SourceError::store(error));
        }
        if let Some(admission) = admission {
            match self.held.as_mut() {
                Some(held) => held.again(admission),
                None => self.held = Some(Held::new(admission, &self.retry.backoff)),
            }
        }
        if !self.outage.failed(generation) {
            tracing::debug!(%error, "store still unavailable; retrying");
            return None;
        }
        tracing::warn!(
            %error,
            "store unavailable: the event at the head is held and retried with backoff, sources paused"
        );
        self.stats.store_down(true);
        Some(SourceError::store(error))
    }

    /// A store call succeeded: an outage in progress is over.
    fn store_answered(&mut self) {
        if self.outage.answered() {
            tracing::info!("store answers again: held events flow in their order");
            self.stats.store_down(false);
        }
    }

    /// Wraps the ack and hands the delivery out, through the reorder window if any.
    fn deliver(&mut self, key: IdKey, mut delivery: Delivery) -> Option<NextResult> {
        // Checked just before it is handed over: a claim lost meanwhile (the store
        // unreachable for longer than a lease, and another instance took the event
        // over) means the other instance delivers it, not this one.
        let lost = (self.stores.store.as_ref())
            .is_some_and(|store| !store.holds(delivery.event.dedup_id()));
        if lost {
            self.suppress_stored(
                key,
                delivery,
                "not handed over: another instance took it over",
            );
            return None;
        }
        let inner = delivery.take_ack();
        let settle = MergeSettle {
            id: delivery.event.dedup_id().to_owned(),
            key,
            dedup: self.dedup.clone(),
            stores: self.stores.clone(),
            retry: self.retry.clone(),
            stats: self.stats.clone(),
            settled: false,
        };
        // What goes out is the merge's to settle: its ack acks the store and
        // settles the copies, so it is no longer a bare store claim.
        let delivery = delivery
            .with_ack(Ack::new(settle).then(inner))
            .with_custody(Custody::Source);
        let beaten = self
            .dedup
            .lock()
            .delivered(key, &delivery.origin, delivery.received_at);
        self.stats.delivered(&delivery.origin);
        crate::metric::delivered(&delivery);
        self.stats
            .won((&delivery.origin, delivery.received_at), &beaten);
        let Some(reorder) = self.reorder.as_mut() else {
            return Some(Ok(Some(delivery)));
        };
        match reorder.push(delivery, tokio::time::Instant::now()) {
            Pushed::Held => None,
            Pushed::Unordered(delivery) => Some(Ok(Some(delivery))),
            Pushed::Late(delivery) => {
                self.stats.late();
                Some(Ok(Some(delivery)))
            }
        }
    }
}

#[async_trait]
impl EventSource for Merge {
    /// The next event no source delivered before, or `Ok(None)` once every source has
    /// ended. A transient [`SourceError::Store`] once when a store outage starts
    /// (call again: the held events come out when the store answers). Cancellation
    /// safe.
    async fn next(&mut self) -> NextResult {
        poll_fn(|cx| self.poll_delivery(cx)).await
    }

    fn name(&self) -> &str {
        "merge"
    }

    /// At most `n` (and at least one) new events with the store at once, so no more
    /// than the consumer will take are claimed ahead of it; without a hint, up to
    /// [`MergeBuilder::max_in_admission`].
    fn demand(&mut self, n: usize) {
        self.demand = Some(n);
    }
}

impl fmt::Debug for Merge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merge")
            .field(
                "sources",
                &self.slots.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("live_sources", &self.live_sources())
            .field("stores", &self.stores)
            .field("admissions", &self.admissions.len())
            .field("held", &self.held.is_some())
            .field("outage", &self.outage)
            .field("reorder", &self.reorder)
            .field("on_failure", &self.on_failure)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
