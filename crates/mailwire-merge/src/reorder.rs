//! The per-inbox reorder window: hold each event up to W, emit each inbox's events in
//! timestamp order.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use mailwire_source::Delivery;
use tokio::time::Instant;

/// Order within an inbox: the event's timestamp, then arrival.
type Rank = (i128, u64);

struct Held {
    rank: Rank,
    delivery: Delivery,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}

#[derive(Default)]
struct Inbox {
    held: BinaryHeap<Reverse<Held>>,
    /// The rank of the last event emitted: ranks come out increasing.
    last: Option<Rank>,
}

/// What [`Reorder::push`] did with a delivery.
pub(crate) enum Pushed {
    /// Held for up to W.
    Held,
    /// To be emitted now: it has no inbox or no timestamp to order it by.
    Unordered(Delivery),
    /// To be emitted now: an event of its inbox with a later timestamp already went out.
    Late(Delivery),
}

pub(crate) struct Reorder {
    window: Duration,
    inboxes: HashMap<String, Inbox>,
    /// (deadline, inbox, rank) in arrival order; deadlines are arrival + W, so this is
    /// also deadline order.
    deadlines: VecDeque<(Instant, String, Rank)>,
    arrivals: u64,
    /// Events held now.
    held: usize,
}

impl Reorder {
    pub(crate) fn new(window: Duration) -> Reorder {
        Reorder {
            window,
            inboxes: HashMap::new(),
            deadlines: VecDeque::new(),
            arrivals: 0,
            held: 0,
        }
    }

    pub(crate) fn push(&mut self, delivery: Delivery, now: Instant) -> Pushed {
        let (Some(inbox_id), Some(ts)) = (delivery.event.inbox_id(), delivery.event.timestamp())
        else {
            return Pushed::Unordered(delivery);
        };
        let (inbox_id, ts) = (inbox_id.to_owned(), ts.unix_timestamp_nanos());
        let inbox = self.inboxes.entry(inbox_id.clone()).or_default();
        if inbox.last.is_some_and(|(last, _)| ts < last) {
            return Pushed::Late(delivery);
        }
        self.arrivals += 1;
        let rank = (ts, self.arrivals);
        inbox.held.push(Reverse(Held { rank, delivery }));
        self.deadlines
            .push_back((now + self.window, inbox_id, rank));
        self.held += 1;
        metrics::gauge!(crate::metric::HELD).set(self.held as f64);
        Pushed::Held
    }

    /// The next event due at `now`, if any. When none is due, `Err` carries the next
    /// deadline (if anything is held).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Result<Delivery, Option<Instant>> {
        self.pop(Some(now))
    }

    /// The next event regardless of deadlines (to flush at the end), if any.
    pub(crate) fn pop_any(&mut self) -> Option<Delivery> {
        self.pop(None).ok()
    }

    fn pop(&mut self, now: Option<Instant>) -> Result<Delivery, Option<Instant>> {
        loop {
            let Some((deadline, inbox_id, rank)) = self.deadlines.front() else {
                return Err(None);
            };
            let Some(inbox) = self.inboxes.get_mut(inbox_id) else {
                self.deadlines.pop_front();
                continue;
            };
            if inbox.last.is_some_and(|last| *rank <= last) {
                // Already emitted ahead of its deadline, behind an earlier timestamp.
                self.deadlines.pop_front();
                continue;
            }
            if now.is_some_and(|now| *deadline > now) {
                return Err(Some(*deadline));
            }
            // Its deadline passed: emit its inbox's events up to it, in order. The
            // smallest held is at most `rank`, so this is progress.
            let Some(Reverse(held)) = inbox.held.pop() else {
                self.deadlines.pop_front();
                continue;
            };
            inbox.last = Some(held.rank);
            if held.rank == *rank {
                self.deadlines.pop_front();
            }
            self.held -= 1;
            metrics::gauge!(crate::metric::HELD).set(self.held as f64);
            return Ok(held.delivery);
        }
    }
}

impl fmt::Debug for Reorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reorder")
            .field("window", &self.window)
            .field("inboxes", &self.inboxes.len())
            .field("held", &self.deadlines.len())
            .finish()
    }
}
