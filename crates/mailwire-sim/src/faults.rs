//! Fault injection: what a real service, or the network in front of it, does to a
//! client on a bad day.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::Shared;

/// What a connection is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// Serve normally.
    Normal,
    /// Go half-open: keep the socket, send nothing, read nothing (so WebSocket pings
    /// go unanswered too).
    Silent,
    /// Close the socket now, without a closing handshake.
    Kill,
}

/// Every open connection's control channel.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    conns: Mutex<Vec<watch::Sender<Control>>>,
}

impl Registry {
    /// Registers a new connection.
    pub(crate) fn register(&self) -> watch::Receiver<Control> {
        let (tx, rx) = watch::channel(Control::Normal);
        let mut conns = lock(&self.conns);
        // Connections that ended dropped their receivers: forget them.
        conns.retain(|c| !c.is_closed());
        conns.push(tx);
        rx
    }

    /// Tells every open connection to change state (a killed one stays killed).
    pub(crate) fn signal_all(&self, to: Control) {
        for conn in lock(&self.conns).iter() {
            conn.send_if_modified(|c| {
                let change = *c != Control::Kill && *c != to;
                if change {
                    *c = to;
                }
                change
            });
        }
    }

    /// How many connections are open (TCP accepted and not yet closed).
    pub(crate) fn open(&self) -> usize {
        lock(&self.conns).iter().filter(|c| !c.is_closed()).count()
    }
}

/// Waits until the connection is told to close (or the simulator is gone).
pub(crate) async fn killed(ctl: &mut watch::Receiver<Control>) {
    let _ = ctl.wait_for(|c| *c == Control::Kill).await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here is a single assignment or push: a poisoned lock
    // holds consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Copy, Debug)]
enum Refusal {
    Accepting,
    Until(Instant),
    UntilLifted,
}

/// Switches that change how new connections are treated.
#[derive(Debug)]
pub(crate) struct FaultState {
    refusal: Mutex<Refusal>,
    stall: AtomicBool,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            refusal: Mutex::new(Refusal::Accepting),
            stall: AtomicBool::new(false),
        }
    }
}

impl FaultState {
    /// True when a new TCP connection must be closed at once.
    pub(crate) fn refusing(&self) -> bool {
        let mut refusal = lock(&self.refusal);
        match *refusal {
            Refusal::Accepting => false,
            Refusal::UntilLifted => true,
            Refusal::Until(t) if Instant::now() < t => true,
            Refusal::Until(_) => {
                *refusal = Refusal::Accepting;
                false
            }
        }
    }

    /// True when a new connection must be held open without an answer.
    pub(crate) fn stalling(&self) -> bool {
        self.stall.load(Ordering::Relaxed)
    }
}

/// A handle to inject faults into a running [`Simulator`](crate::Simulator). Cheap to
/// clone; every method acts at once.
#[derive(Clone, Debug)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// Closes every open connection now, without a closing handshake, as a crashed
    /// load balancer would. New connections are accepted as usual.
    pub fn drop_connections(&self) {
        self.shared.conns.signal_all(Control::Kill);
    }

    /// Turns every open connection into a half-open peer: the socket stays open but
    /// nothing is sent (no events, no pings) and nothing is read, so WebSocket pings
    /// go unanswered. New connections are served normally.
    pub fn silence_connections(&self) {
        self.shared.conns.signal_all(Control::Silent);
    }

    /// Closes every new TCP connection at once, for `period` or, when `None`, until
    /// [`accept_connections`](Faults::accept_connections).
    pub fn refuse_connections(&self, period: Option<Duration>) {
        *lock(&self.shared.faults.refusal) = match period {
            Some(p) => Refusal::Until(Instant::now() + p),
            None => Refusal::UntilLifted,
        };
    }

    /// Lifts [`refuse_connections`](Faults::refuse_connections).
    pub fn accept_connections(&self) {
        *lock(&self.shared.faults.refusal) = Refusal::Accepting;
    }

    /// While on, new connections are accepted at the TCP level and then never
    /// answered: no TLS, no HTTP, no WebSocket handshake. Clients must time out.
    pub fn stall_handshakes(&self, on: bool) {
        self.shared.faults.stall.store(on, Ordering::Relaxed);
    }

    /// Sends `frame` as it is (a text frame when it is UTF-8, binary otherwise) to
    /// every subscribed connection, whatever its filters. Nothing is retained.
    pub fn send_raw(&self, frame: impl Into<Bytes>) {
        self.shared.hub.send_raw(frame.into());
    }
}
