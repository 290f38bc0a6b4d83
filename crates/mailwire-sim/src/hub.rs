//! The event hub: retention of the last N events and live fan-out to connections.
//!
//! Both live behind one lock, so a subscriber that asks to resume gets the retained
//! events after its id and a live receiver that starts exactly where they end: no
//! event is replayed twice or missed between the two.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use mailwire_proto::{Envelope, Event};
use tokio::sync::broadcast;

/// The event in `envelope`, or as it is when it cannot be re-encoded (a payload
/// that does not encode): an event handed over is never dropped.
pub(crate) fn in_envelope(event: Event, envelope: Envelope) -> Event {
    if event.envelope() == envelope {
        return event;
    }
    let original = event.clone();
    match event.into_envelope(envelope) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(id = original.id(), error = %e, "event kept in its own envelope");
            original
        }
    }
}

/// What the hub fans out to every connection.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// An event, already in the configured envelope. Subject to each connection's
    /// filters.
    Event(Arc<Event>),
    /// A raw text frame, sent as it is to every subscribed connection, whatever its
    /// filters. Not retained. For tests of malformed or oversized frames.
    Raw(Bytes),
}

/// The answer to a resume request (`subscribe` with `after`).
#[derive(Debug)]
pub enum Replay {
    /// The id is retained: these are the events after it, oldest first.
    After(Vec<Arc<Event>>),
    /// The id is not (or no longer) retained.
    Gap,
}

/// Retention of the last N events plus live fan-out, in emission order.
#[derive(Debug)]
pub struct Hub {
    ring: Mutex<VecDeque<Arc<Event>>>,
    retain: usize,
    envelope: Envelope,
    live: broadcast::Sender<Outgoing>,
}

impl Hub {
    /// A hub that retains `retain` events and buffers up to `live_buffer` events per
    /// connection that has not sent them yet (a connection that falls further behind
    /// is closed, as a real service drops a slow consumer).
    pub fn new(retain: usize, envelope: Envelope, live_buffer: usize) -> Hub {
        let (live, _) = broadcast::channel(live_buffer.max(1));
        Hub {
            ring: Mutex::new(VecDeque::with_capacity(retain.min(1 << 16))),
            retain,
            envelope,
            live,
        }
    }

    fn ring(&self) -> MutexGuard<'_, VecDeque<Arc<Event>>> {
        // A panic while holding the lock cannot leave the ring inconsistent (every
        // operation is a single push/pop), so a poisoned lock is still usable.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The envelope events are sent in.
    pub fn envelope(&self) -> Envelope {
        self.envelope
    }

    /// Retains and fans out one event, re-encoded in the hub's envelope if needed.
    pub fn emit(&self, event: Event) {
        self.emit_all([event]);
    }

    /// Retains and fans out events in order, under one lock.
    pub fn emit_all(&self, events: impl IntoIterator<Item = Event>) {
        let mut ring = self.ring();
        for event in events {
            let event = Arc::new(in_envelope(event, self.envelope));
            if self.retain > 0 {
                if ring.len() == self.retain {
                    ring.pop_front();
                }
                ring.push_back(event.clone());
            }
            // No receiver is not an error: nobody is connected.
            let _ = self.live.send(Outgoing::Event(event));
        }
    }

    /// Sends a raw frame to every live connection.
    pub fn send_raw(&self, frame: Bytes) {
        let _guard = self.ring();
        let _ = self.live.send(Outgoing::Raw(frame));
    }

    /// A live receiver, and the replay after `after` when one is asked for, taken at
    /// the same instant.
    pub fn subscribe(
        &self,
        after: Option<&str>,
    ) -> (Option<Replay>, broadcast::Receiver<Outgoing>) {
        let ring = self.ring();
        let replay = after.map(|after| match ring.iter().rposition(|e| e.id() == after) {
            Some(at) => Replay::After(ring.range(at + 1..).cloned().collect()),
            None => Replay::Gap,
        });
        (replay, self.live.subscribe())
    }

    /// The retained events after `after` (all when `None`), at most `limit`; `None`
    /// when `after` is not retained.
    pub fn retained_after(&self, after: Option<&str>, limit: usize) -> Option<Vec<Arc<Event>>> {
        let ring = self.ring();
        let start = match after {
            None => 0,
            Some(after) => ring.iter().rposition(|e| e.id() == after)? + 1,
        };
        Some(ring.range(start..).take(limit).cloned().collect())
    }

    /// How many events are retained.
    pub fn retained_len(&self) -> usize {
        self.ring().len()
    }

    /// Forgets every retained event.
    pub fn clear(&self) {
        self.ring().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailwire_proto::fixtures;

    fn ids(events: &[Arc<Event>]) -> Vec<&str> {
        events.iter().map(|e| e.id()).collect()
    }

    #[test]
    fn retains_the_last_n_and_replays_after_an_id() {
        let hub = Hub::new(3, Envelope::AgentMail, 16);
        hub.emit_all((1..=5).map(|i| fixtures::message_received(&format!("evt_{i}"), "a@x.to")));
        assert_eq!(hub.retained_len(), 3);
        let (replay, _rx) = hub.subscribe(Some("evt_3"));
        let Some(Replay::After(events)) = replay else {
            panic!("retained")
        };
        assert_eq!(ids(&events), ["evt_4", "evt_5"]);
        assert!(matches!(hub.subscribe(Some("evt_2")).0, Some(Replay::Gap)));
        assert!(matches!(hub.subscribe(Some("evt_9")).0, Some(Replay::Gap)));
        assert!(hub.subscribe(None).0.is_none());
        assert_eq!(
            ids(&hub.retained_after(Some("evt_4"), 10).unwrap()),
            ["evt_5"]
        );
        assert!(hub.retained_after(Some("evt_1"), 10).is_none());
    }

    #[test]
    fn live_receiver_starts_where_the_replay_ends() {
        let hub = Hub::new(10, Envelope::Simple, 16);
        hub.emit(fixtures::message_received("evt_1", "a@x.to"));
        let (replay, mut rx) = hub.subscribe(Some("evt_1"));
        assert!(matches!(replay, Some(Replay::After(ref v)) if v.is_empty()));
        hub.emit(fixtures::message_received("evt_2", "a@x.to"));
        let Ok(Outgoing::Event(e)) = rx.try_recv() else {
            panic!("live event")
        };
        assert_eq!(e.id(), "evt_2");
        assert_eq!(e.envelope(), Envelope::Simple);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn retention_zero_always_gaps() {
        let hub = Hub::new(0, Envelope::AgentMail, 4);
        hub.emit(fixtures::message_received("evt_1", "a@x.to"));
        assert!(matches!(hub.subscribe(Some("evt_1")).0, Some(Replay::Gap)));
    }
}
