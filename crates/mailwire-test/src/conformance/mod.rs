//! The conformance suite every [`EventSource`] passes: order within one source, ack
//! reaches the source, end of stream, fatal error, cancellation safety.
//!
//! A source's test implements [`Harness`] (how to start the source and make things
//! happen to it: emit events on a simulator, POST them, push them to a fake...) and
//! calls [`run_all`]. Every check gets a fresh harness, runs in its own task and is
//! bounded by a timeout that only bounds a hang (10 s by default); a failing check
//! panics with what it expected and what it got, and `run_all` panics listing every
//! failure. A check the source cannot take part in (a source that never ends) is
//! reported as [`Outcome::NotApplicable`], never as passed.
//!
//! ```
//! use mailwire_test::conformance::{self, FakeHarness};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let report = conformance::run_all(FakeHarness::new).await;
//! assert!(report.all_passed());
//! # }
//! ```
//!
//! Each check is also a function ([`order`], [`ack`], [`end_of_stream`], [`fatal`],
//! [`cancel_pending`], [`cancel_buffered`], [`cancel_in_flight`]) and a
//! [`Check`], so a crate can run them one by one or with its own [`Suite`] settings.
//!
//! # Writing a harness
//!
//! A harness starts the source with whatever backs it, and keeps a handle on that
//! backing to make things happen. Here, a source over an upstream queue whose acks
//! delete the message upstream (a REST poller, an SQS consumer, ...), with a
//! [`FakeSource`](crate::FakeSource) standing in for the queue:
//!
//! ```
//! use mailwire_proto::Event;
//! use mailwire_source::{async_trait, SourceError};
//! use mailwire_test::conformance::{self, Harness};
//! use mailwire_test::{FakeHandle, FakeSource};
//!
//! #[derive(Default)]
//! struct QueueHarness {
//!     upstream: Option<FakeHandle>,
//! }
//!
//! #[async_trait]
//! impl Harness for QueueHarness {
//!     type Source = FakeSource; // in a real test: the source under test
//!
//!     async fn start(&mut self) -> FakeSource {
//!         let (source, upstream) = FakeSource::builder().name("queue").build();
//!         self.upstream = Some(upstream);
//!         source
//!     }
//!     async fn emit(&mut self, events: &[Event]) {
//!         self.upstream.as_ref().unwrap().push_all(events.iter().cloned());
//!     }
//!     async fn end(&mut self) -> bool {
//!         self.upstream.as_ref().unwrap().end();
//!         true
//!     }
//!     async fn fail(&mut self) -> bool {
//!         let revoked = SourceError::auth("queue credentials revoked");
//!         self.upstream.as_ref().unwrap().fail(revoked);
//!         true
//!     }
//!     async fn ack_reached(&mut self, id: &str) -> bool {
//!         self.upstream.as_ref().unwrap().wait_for_ack(id).await;
//!         true
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let report = conformance::run_all(QueueHarness::default).await;
//! println!("{report}");
//! # }
//! ```
//!
//! A source that cannot do something returns `false` from that method: a WebSocket
//! source has nothing to settle (`ack_reached` returns `false`), a webhook receiver
//! ends on shutdown (`end` triggers it and returns `true`).

mod checks;
mod fake;
mod report;

use std::time::Duration;

use async_trait::async_trait;
use mailwire_proto::Event;
use mailwire_source::EventSource;

pub use fake::FakeHarness;
pub use report::{Check, Outcome, Report};

use crate::fixtures;

/// How the suite drives one kind of source. Implement it in the source's tests.
///
/// Every method may panic on a setup failure (the check then fails with that message).
/// The suite calls them from one task, never concurrently, except that
/// [`emit`](Harness::emit) runs while a `next()` of the source is pending.
#[async_trait]
pub trait Harness: Send {
    /// The source under test.
    type Source: EventSource + 'static;

    /// A fresh source, ready to receive: connected and subscribed, when it has to be
    /// (the suite starts emitting as soon as this returns).
    async fn start(&mut self) -> Self::Source;

    /// Makes the source receive these events, in this order: emit them on a
    /// simulator, POST them, push them to a fake. It may return before the source
    /// has them; the suite waits for them.
    async fn emit(&mut self, events: &[Event]);

    /// Makes the source end for good, so `next()` returns `Ok(None)`. Returns `false`
    /// when the source cannot end this way: that check is then not applicable.
    async fn end(&mut self) -> bool;

    /// Makes the source fail fatally (e.g. revoke its credentials), so `next()`
    /// returns an error whose `is_fatal()` is true. Returns `false` when not
    /// applicable.
    async fn fail(&mut self) -> bool;

    /// Waits until the ack of `id` has reached the source's backing (the store marks
    /// it processed, the upstream deleted it). Returns `false` at once when the source
    /// has nothing to settle. Must be cancellation safe: the suite first checks, with a
    /// short timeout, that it does *not* complete before the ack.
    async fn ack_reached(&mut self, id: &str) -> bool;

    /// The event the suite emits with this id. By default a realistic
    /// `message.received` for [`fixtures::INBOX`] in AgentMail's envelope; override it
    /// when the source filters by type or inbox, or expects the simple envelope.
    fn event(&self, id: &str) -> Event {
        fixtures::message_received(id, fixtures::INBOX)
    }
}

/// Settings of a run: the hang bound and how many events each check emits.
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    timeout: Duration,
    events: usize,
    probe: Duration,
}

impl Default for Suite {
    fn default() -> Self {
        Suite {
            timeout: Duration::from_secs(10),
            events: 20,
            probe: Duration::from_millis(100),
        }
    }
}

impl Suite {
    /// 10 s hang bound, 20 events per check.
    pub fn new() -> Suite {
        Suite::default()
    }

    /// How long any single wait may take before the check fails as hung.
    pub fn timeout(mut self, timeout: Duration) -> Suite {
        self.timeout = timeout;
        self
    }

    /// How many events the order and cancellation checks emit (at least 4).
    pub fn events(mut self, n: usize) -> Suite {
        self.events = n.max(4);
        self
    }

    /// How long the ack check watches [`Harness::ack_reached`] *not* complete before
    /// the ack (default 100 ms). Passing never waits longer than this.
    pub fn probe(mut self, probe: Duration) -> Suite {
        self.probe = probe;
        self
    }

    /// Runs one check on `harness`. Panics, saying what went wrong, when the source
    /// fails it.
    pub async fn run<H: Harness>(&self, check: Check, harness: H) -> Outcome {
        match check {
            Check::Order => checks::order(self, harness).await,
            Check::Ack => checks::ack(self, harness).await,
            Check::EndOfStream => checks::end_of_stream(self, harness).await,
            Check::Fatal => checks::fatal(self, harness).await,
            Check::CancelPending => checks::cancel_pending(self, harness).await,
            Check::CancelBuffered => checks::cancel_buffered(self, harness).await,
            Check::CancelInFlight => checks::cancel_in_flight(self, harness).await,
        }
    }

    /// Runs every check, each on a fresh harness from `make` and in its own task, and
    /// reports each outcome, failures included. Never panics for a failing check.
    pub async fn try_run_all<H: Harness + 'static>(&self, mut make: impl FnMut() -> H) -> Report {
        let mut report = Report::default();
        for &check in Check::ALL {
            let (suite, harness) = (*self, make());
            let task = tokio::spawn(async move { suite.run(check, harness).await });
            match task.await {
                Ok(outcome) => report.push(check, outcome),
                Err(e) => report.push(check, Outcome::Failed(report::panic_message(e))),
            }
        }
        report
    }

    /// Runs every check like [`try_run_all`](Suite::try_run_all), then panics listing
    /// every failure, if any.
    pub async fn run_all<H: Harness + 'static>(&self, make: impl FnMut() -> H) -> Report {
        let report = self.try_run_all(make).await;
        if !report.failures().is_empty() {
            panic!("the source failed the conformance suite:\n{report}");
        }
        report
    }
}

/// Runs every check with the default [`Suite`], each on a fresh harness from `make`.
/// Panics listing every failure.
pub async fn run_all<H: Harness + 'static>(make: impl FnMut() -> H) -> Report {
    Suite::default().run_all(make).await
}

macro_rules! check_fns {
    ($($(#[$doc:meta])* $name:ident => $check:ident,)*) => {$(
        $(#[$doc])*
        ///
        /// Panics when the source fails the check. Uses the default [`Suite`].
        pub async fn $name<H: Harness>(harness: H) -> Outcome {
            Suite::default().run(Check::$check, harness).await
        }
    )*};
}

check_fns! {
    /// Events come out in the order the source received them, none lost, none twice,
    /// across several emits.
    order => Order,
    /// Acking a delivery returns `Ok` and reaches the source's backing, in any order;
    /// nothing reaches it before the ack.
    ack => Ack,
    /// Once ended, `next()` returns `Ok(None)`, and again on later calls.
    end_of_stream => EndOfStream,
    /// A fatal failure is an `Err` whose `is_fatal()` is true; later calls return an
    /// error or `Ok(None)`, never an event.
    fatal => Fatal,
    /// Dropping a `next()` future that is waiting (nothing emitted yet) loses nothing:
    /// the events emitted afterwards all arrive, in order.
    cancel_pending => CancelPending,
    /// Dropping a `next()` future after its first poll, while events are buffered,
    /// loses nothing.
    cancel_buffered => CancelBuffered,
    /// `next()` raced against a very short timeout while the events are being
    /// emitted (so it is cancelled at arbitrary points) loses nothing.
    cancel_in_flight => CancelInFlight,
}
