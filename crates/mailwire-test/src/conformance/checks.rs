//! The checks themselves. Each takes a fresh harness, panics with what it expected
//! and what it got when the source breaks the contract, and bounds every wait by
//! the suite's timeout.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource, SourceError};

use super::{Check, Harness, Outcome, Suite};

/// How `next()` is called while taking events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Plain calls.
    Plain,
    /// One poll of a future that is dropped if pending, before each plain call.
    PollOnceFirst,
    /// Calls raced against a very short timeout until one completes.
    RaceShortTimeout,
}

/// One run of one check on one source: what the failure messages name.
struct Run<'a> {
    suite: &'a Suite,
    check: Check,
    source: String,
}

impl Run<'_> {
    fn fail(&self, why: impl Display) -> ! {
        panic!("source `{}`, check `{}`: {why}", self.source, self.check)
    }

    /// Awaits `fut`, failing the check when it takes longer than the hang bound.
    async fn within<T>(&self, what: impl Display + Send, fut: impl Future<Output = T>) -> T {
        match tokio::time::timeout(self.suite.timeout, fut).await {
            Ok(v) => v,
            Err(_) => self.fail(format_args!(
                "timed out after {:?} waiting for {what}",
                self.suite.timeout
            )),
        }
    }

    /// Checks that a `next()` result is the event `want`.
    fn expect_event(
        &self,
        got: Result<Option<Delivery>, SourceError>,
        want: &Event,
        so_far: &[String],
    ) -> Delivery {
        match got {
            Ok(Some(d)) if d.event.id() == want.id() => {
                if d.event.event_type() != want.event_type() {
                    self.fail(format_args!(
                        "event {} came out as type {}, was emitted as {}",
                        want.id(),
                        d.event.event_type(),
                        want.event_type()
                    ));
                }
                d
            }
            Ok(Some(d)) => self.fail(format_args!(
                "expected event {} next, got {} (received so far, in order: [{}])",
                want.id(),
                d.event.id(),
                so_far.join(", ")
            )),
            Ok(None) => self.fail(format_args!(
                "the source ended before delivering {} (received so far: [{}])",
                want.id(),
                so_far.join(", ")
            )),
            Err(e) => self.fail(format_args!(
                "next() failed before delivering {}: {e} (received so far: [{}])",
                want.id(),
                so_far.join(", ")
            )),
        }
    }

    /// Takes `want.len()` deliveries, checking each, with `next()` called as `how` says.
    async fn take_all<S: EventSource>(
        &self,
        source: &mut S,
        want: &[Event],
        how: Take,
    ) -> Vec<Delivery> {
        let mut got = Vec::with_capacity(want.len());
        let mut ids = Vec::with_capacity(want.len());
        for (i, event) in want.iter().enumerate() {
            let next = match how {
                // Before each event but the first (which shows the stream flows), one
                // poll of a `next()` future that is dropped if it is not ready.
                Take::PollOnceFirst if i > 0 => match source.next().now_or_never() {
                    Some(next) => next,
                    None => self.next(source, event).await,
                },
                Take::RaceShortTimeout => loop {
                    // Short enough to cancel `next()` mid-way, again and again.
                    let short = Duration::from_micros(200);
                    if let Ok(next) = tokio::time::timeout(short, source.next()).await {
                        break next;
                    }
                },
                _ => self.next(source, event).await,
            };
            let d = self.expect_event(next, event, &ids);
            ids.push(d.event.id().to_owned());
            got.push(d);
        }
        got
    }

    async fn next<S: EventSource>(
        &self,
        source: &mut S,
        want: &Event,
    ) -> Result<Option<Delivery>, SourceError> {
        self.within(format!("event {}", want.id()), source.next())
            .await
    }

    /// Emits `events` while taking them, so a source that pushes back on its sender
    /// (a bounded queue behind an HTTP endpoint) is not deadlocked by the suite.
    async fn emit_and_take<H: Harness>(
        &self,
        h: &mut H,
        source: &mut H::Source,
        events: &[Event],
        how: Take,
    ) -> Vec<Delivery> {
        let emit = async {
            self.within("the harness to emit", h.emit(events)).await;
        };
        let ((), got) = tokio::join!(emit, self.take_all(source, events, how));
        got
    }

    async fn ack_all(&self, deliveries: Vec<Delivery>) {
        for d in deliveries {
            let id = d.event.id().to_owned();
            if let Err(e) = self.within(format!("the ack of {id}"), d.ack()).await {
                self.fail(format_args!("acking {id} failed: {e}"));
            }
        }
    }
}

/// A run counter, so two runs in one process never emit the same ids (a harness
/// may share a seen-set or log between runs).
static RUNS: AtomicU64 = AtomicU64::new(0);

fn events<H: Harness>(harness: &H, check: Check, n: usize) -> Vec<Event> {
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    (0..n)
        .map(|i| harness.event(&format!("evt_{}_{run}_{i:03}", check.name())))
        .collect()
}

async fn start<'a, H: Harness>(
    suite: &'a Suite,
    check: Check,
    harness: &mut H,
) -> (H::Source, Run<'a>) {
    let source = match tokio::time::timeout(suite.timeout, harness.start()).await {
        Ok(source) => source,
        Err(_) => panic!(
            "check `{check}`: the harness did not start a source within {:?}",
            suite.timeout
        ),
    };
    let run = Run {
        suite,
        check,
        source: source.name().to_owned(),
    };
    (source, run)
}

pub(super) async fn order<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::Order, &mut h).await;
    let events = events(&h, Check::Order, suite.events);
    // Two emits: order must hold across them as well as within one.
    let (first, second) = events.split_at(events.len() / 2);
    let mut got = run
        .emit_and_take(&mut h, &mut source, first, Take::Plain)
        .await;
    got.extend(
        run.emit_and_take(&mut h, &mut source, second, Take::Plain)
            .await,
    );
    run.ack_all(got).await;
    Outcome::Passed
}

pub(super) async fn ack<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::Ack, &mut h).await;
    let events = events(&h, Check::Ack, 3);
    let mut got = run
        .emit_and_take(&mut h, &mut source, &events, Take::Plain)
        .await;

    // The harness must not see an ack that did not happen, or this check proves nothing.
    match tokio::time::timeout(suite.probe, h.ack_reached(events[1].id())).await {
        Err(_) => {}
        Ok(false) => return Outcome::NotApplicable("the source has nothing to settle"),
        Ok(true) => run.fail(format_args!(
            "the harness reports the ack of {} reached the source before it was acked",
            events[1].id()
        )),
    }

    // Out of order on purpose: the middle one first.
    let last = got.pop();
    let middle = got.pop();
    for d in [middle, got.pop(), last].into_iter().flatten() {
        let id = d.event.id().to_owned();
        if let Err(e) = run.within(format!("the ack of {id}"), d.ack()).await {
            run.fail(format_args!("acking {id} failed: {e}"));
        }
        let reached = run
            .within(
                format!("the ack of {id} to reach the source's backing"),
                h.ack_reached(&id),
            )
            .await;
        if !reached {
            run.fail(format_args!(
                "ack_reached({id}) returned false after the ack, but waited before it"
            ));
        }
    }
    Outcome::Passed
}

pub(super) async fn end_of_stream<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::EndOfStream, &mut h).await;
    let events = events(&h, Check::EndOfStream, 2);
    let got = run
        .emit_and_take(&mut h, &mut source, &events, Take::Plain)
        .await;
    run.ack_all(got).await;
    if !run.within("end", h.end()).await {
        return Outcome::NotApplicable("the source cannot be ended");
    }
    for call in ["first", "second", "third"] {
        match run.within("next() after the end", source.next()).await {
            Ok(None) => {}
            Ok(Some(d)) => run.fail(format_args!(
                "the {call} next() after the end delivered {} instead of Ok(None)",
                d.event.id()
            )),
            Err(e) => run.fail(format_args!(
                "the {call} next() after the end failed ({e}) instead of returning Ok(None)"
            )),
        }
    }
    Outcome::Passed
}

pub(super) async fn fatal<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::Fatal, &mut h).await;
    // One event first, so the source is up and running when it is made to fail.
    let events = events(&h, Check::Fatal, 1);
    let got = run
        .emit_and_take(&mut h, &mut source, &events, Take::Plain)
        .await;
    run.ack_all(got).await;
    if !run.within("fail", h.fail()).await {
        return Outcome::NotApplicable("the source cannot be made to fail");
    }
    match run.within("next() after the failure", source.next()).await {
        Err(e) if e.is_fatal() => {}
        Err(e) => run.fail(format_args!(
            "after a fatal failure next() returned an error that is not fatal: {e:?}"
        )),
        Ok(None) => run.fail("after a fatal failure next() returned Ok(None), not an error"),
        Ok(Some(d)) => run.fail(format_args!(
            "after a fatal failure next() delivered {}",
            d.event.id()
        )),
    }
    match run.within("next() after the error", source.next()).await {
        Err(_) | Ok(None) => {}
        Ok(Some(d)) => run.fail(format_args!(
            "next() delivered {} after returning a fatal error",
            d.event.id()
        )),
    }
    Outcome::Passed
}

pub(super) async fn cancel_pending<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::CancelPending, &mut h).await;
    // Several `next()` futures, each polled once and dropped while waiting.
    for _ in 0..3 {
        if let Some(got) = source.next().now_or_never() {
            match got {
                Ok(Some(d)) => run.fail(format_args!(
                    "a fresh source delivered {} before anything was emitted",
                    d.event.id()
                )),
                Ok(None) => run.fail("a fresh source ended before anything was emitted"),
                Err(e) => run.fail(format_args!("a fresh source failed: {e}")),
            }
        }
    }
    let events = events(&h, Check::CancelPending, suite.events);
    let got = run
        .emit_and_take(&mut h, &mut source, &events, Take::Plain)
        .await;
    run.ack_all(got).await;
    Outcome::Passed
}

pub(super) async fn cancel_buffered<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::CancelBuffered, &mut h).await;
    let events = events(&h, Check::CancelBuffered, suite.events);
    let got = run
        .emit_and_take(&mut h, &mut source, &events, Take::PollOnceFirst)
        .await;
    run.ack_all(got).await;
    Outcome::Passed
}

pub(super) async fn cancel_in_flight<H: Harness>(suite: &Suite, mut h: H) -> Outcome {
    let (mut source, run) = start(suite, Check::CancelInFlight, &mut h).await;
    let events = events(&h, Check::CancelInFlight, suite.events);
    // The whole exchange is bounded too: the short timeouts never hit the hang bound.
    let got = run
        .within(
            "every event, with next() cancelled again and again",
            run.emit_and_take(&mut h, &mut source, &events, Take::RaceShortTimeout),
        )
        .await;
    run.ack_all(got).await;
    Outcome::Passed
}
