//! The dedup state the merge and its acks share: ids in flight, ids settled (the
//! window), and who delivered recent events first (for the lead-time stats).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use mailwire_source::{Ack, Delivery, Origin};

use crate::window::{IdKey, IdWindow, KeyBuild};

/// An event delivered (or being admitted) and not settled yet.
pub(crate) struct InFlight {
    pub(crate) origin: Origin,
    pub(crate) received_at: SystemTime,
    /// Acks of the copies suppressed meanwhile: settled when this one is, dropped
    /// (left for their sources to redeliver) when it is released.
    pub(crate) held: Vec<Ack>,
    /// Whether it went out yet (it may still be with the stores, which may find it
    /// was processed before: then nobody "won").
    delivered: bool,
    /// Copies that arrived before it went out: (origin, received at).
    waiting: Vec<(Origin, SystemTime)>,
}

/// What the merge knows about a key right now.
pub(crate) enum Known {
    /// Never seen in this process (the seen-set may still know it).
    New,
    /// In flight: the copy's ack was held.
    InFlight,
    /// Settled and remembered: the copy's ack is handed back to be settled now.
    Settled(Ack),
}

pub(crate) struct Dedup {
    pub(crate) window: IdWindow,
    in_flight: HashMap<IdKey, InFlight, KeyBuild>,
    /// First deliveries of recent events, bounded, for lead times of late copies.
    recent: HashMap<IdKey, (Origin, SystemTime), KeyBuild>,
    recent_order: VecDeque<IdKey>,
    recent_cap: usize,
}

/// Cloneable handle to the shared [`Dedup`].
#[derive(Clone)]
pub(crate) struct SharedDedup(Arc<Mutex<Dedup>>);

impl SharedDedup {
    pub(crate) fn new(window: IdWindow, recent_cap: usize) -> SharedDedup {
        SharedDedup(Arc::new(Mutex::new(Dedup {
            window,
            in_flight: HashMap::default(),
            recent: HashMap::default(),
            recent_order: VecDeque::new(),
            recent_cap,
        })))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Dedup> {
        // Every update below leaves the state consistent before anything can panic.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends an in-flight entry without settling it: a later copy will be delivered.
    /// The held acks are dropped here, outside the lock.
    pub(crate) fn release(&self, key: IdKey) {
        let released = self.lock().in_flight.remove(&key);
        drop(released);
    }

    /// Ends an in-flight entry as settled: the id joins the window. Returns the held
    /// acks, to be settled by the caller.
    pub(crate) fn settle(&self, key: IdKey, now: Instant) -> Vec<Ack> {
        let mut dedup = self.lock();
        dedup.window.insert_key(key, now);
        dedup
            .in_flight
            .remove(&key)
            .map(|f| f.held)
            .unwrap_or_default()
    }
}

impl Dedup {
    /// Classifies a copy of `key` that just arrived, and claims the key (in flight)
    /// when it is new. A duplicate's ack is taken out of `delivery`. `first` is set to
    /// who delivered the event first, when known.
    pub(crate) fn arrive(
        &mut self,
        key: IdKey,
        delivery: &mut Delivery,
        now: Instant,
        first: &mut Option<(Origin, SystemTime)>,
    ) -> Known {
        if let Some(flight) = self.in_flight.get_mut(&key) {
            if flight.delivered {
                *first = Some((flight.origin.clone(), flight.received_at));
            } else {
                flight
                    .waiting
                    .push((delivery.origin.clone(), delivery.received_at));
            }
            flight.held.push(delivery.take_ack());
            return Known::InFlight;
        }
        if self.window.contains_key(key, now) {
            first.clone_from(&self.recent.get(&key).cloned());
            return Known::Settled(delivery.take_ack());
        }
        self.in_flight.insert(
            key,
            InFlight {
                origin: delivery.origin.clone(),
                received_at: delivery.received_at,
                held: Vec::new(),
                delivered: false,
                waiting: Vec::new(),
            },
        );
        Known::New
    }

    /// Records who delivered `key` first. Returns the copies that arrived while it
    /// was with the stores: it won against them.
    pub(crate) fn delivered(
        &mut self,
        key: IdKey,
        origin: &Origin,
        received_at: SystemTime,
    ) -> Vec<(Origin, SystemTime)> {
        let waiting = match self.in_flight.get_mut(&key) {
            Some(flight) => {
                flight.delivered = true;
                std::mem::take(&mut flight.waiting)
            }
            None => Vec::new(),
        };
        if self.recent_cap == 0 {
            return waiting;
        }
        if self.recent_order.len() >= self.recent_cap
            && let Some(old) = self.recent_order.pop_front()
        {
            self.recent.remove(&old);
        }
        if self
            .recent
            .insert(key, (origin.clone(), received_at))
            .is_none()
        {
            self.recent_order.push_back(key);
        }
        waiting
    }

    pub(crate) fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }
}
