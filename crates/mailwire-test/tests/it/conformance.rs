//! The suite passes the fake, and fails sources that break the contract: a suite
//! that cannot fail proves nothing.

use std::time::Duration;

use mailwire_proto::Event;
use mailwire_source::{Ack, Delivery, EventSource, SourceError, async_trait};
use mailwire_test::FakeSource;
use mailwire_test::conformance::{self, Check, FakeHarness, Harness, Outcome, Suite};

#[tokio::test]
async fn the_fake_passes_every_check() {
    let report = conformance::run_all(FakeHarness::new).await;
    assert!(report.all_passed(), "{report}");
    assert_eq!(report.outcomes().len(), Check::ALL.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_passes_on_a_multi_threaded_runtime() {
    let report = conformance::run_all(FakeHarness::new).await;
    assert!(report.all_passed(), "{report}");
}

#[tokio::test]
async fn each_check_runs_alone() {
    assert_eq!(
        conformance::order(FakeHarness::new()).await,
        Outcome::Passed
    );
    assert_eq!(conformance::ack(FakeHarness::new()).await, Outcome::Passed);
    assert_eq!(
        conformance::end_of_stream(FakeHarness::new()).await,
        Outcome::Passed
    );
    assert_eq!(
        conformance::fatal(FakeHarness::new()).await,
        Outcome::Passed
    );
    assert_eq!(
        conformance::cancel_pending(FakeHarness::new()).await,
        Outcome::Passed
    );
    assert_eq!(
        conformance::cancel_buffered(FakeHarness::new()).await,
        Outcome::Passed
    );
    assert_eq!(
        conformance::cancel_in_flight(FakeHarness::new()).await,
        Outcome::Passed
    );
}

/// A harness over the fake whose source is wrapped in a broken one.
struct Broken<S> {
    fake: FakeHarness,
    wrap: fn(FakeSource) -> S,
}

fn broken<S>(wrap: fn(FakeSource) -> S) -> impl FnMut() -> Broken<S> {
    move || Broken {
        fake: FakeHarness::new(),
        wrap,
    }
}

#[async_trait]
impl<S: EventSource + 'static> Harness for Broken<S> {
    type Source = S;
    async fn start(&mut self) -> S {
        (self.wrap)(self.fake.start().await)
    }
    async fn emit(&mut self, events: &[Event]) {
        self.fake.emit(events).await
    }
    async fn end(&mut self) -> bool {
        self.fake.end().await
    }
    async fn fail(&mut self) -> bool {
        self.fake.fail().await
    }
    async fn ack_reached(&mut self, id: &str) -> bool {
        self.fake.ack_reached(id).await
    }
}

/// Short hang bound: these sources are expected to hang in places.
fn suite() -> Suite {
    Suite::new().timeout(Duration::from_millis(300))
}

/// Asserts `check` failed with a message containing `why`, and returns the report.
async fn assert_fails<S: EventSource + 'static>(
    wrap: fn(FakeSource) -> S,
    check: Check,
    why: &str,
) -> conformance::Report {
    let report = suite().try_run_all(broken(wrap)).await;
    let failure = report
        .failures()
        .into_iter()
        .find(|(c, _)| *c == check)
        .map(|(_, why)| why.to_owned());
    match failure {
        Some(message) => assert!(
            message.contains(why),
            "`{check}` failed, but for another reason: {message}"
        ),
        None => panic!("the suite did not catch the broken source in `{check}`:\n{report}"),
    }
    report
}

/// Swaps each pair of events.
struct Reordering {
    inner: FakeSource,
    held: Option<Delivery>,
}

#[async_trait]
impl EventSource for Reordering {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        if let Some(d) = self.held.take() {
            return Ok(Some(d));
        }
        let Some(first) = self.inner.next().await? else {
            return Ok(None);
        };
        match self.inner.next().await? {
            Some(second) => {
                self.held = Some(first);
                Ok(Some(second))
            }
            None => Ok(Some(first)),
        }
    }
    fn name(&self) -> &str {
        "reordering"
    }
}

#[tokio::test]
async fn catches_a_source_that_reorders() {
    let report = assert_fails(
        |inner| Reordering { inner, held: None },
        Check::Order,
        "expected event evt_order_",
    )
    .await;
    assert!(!report.all_passed());
}

/// Drops every fifth event.
struct Lossy {
    inner: FakeSource,
    n: usize,
}

#[async_trait]
impl EventSource for Lossy {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        loop {
            let d = self.inner.next().await?;
            self.n += 1;
            if !self.n.is_multiple_of(5) {
                return Ok(d);
            }
        }
    }
    fn name(&self) -> &str {
        "lossy"
    }
}

#[tokio::test]
async fn catches_a_source_that_loses_events() {
    assert_fails(
        |inner| Lossy { inner, n: 0 },
        Check::Order,
        "expected event",
    )
    .await;
}

/// Takes the event, then awaits again before returning it: cancelled in between,
/// the event is gone.
struct LosesOnCancel {
    inner: FakeSource,
}

#[async_trait]
impl EventSource for LosesOnCancel {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        let d = self.inner.next().await;
        tokio::task::yield_now().await;
        d
    }
    fn name(&self) -> &str {
        "loses-on-cancel"
    }
}

#[tokio::test]
async fn catches_a_source_that_loses_an_event_when_next_is_cancelled() {
    let report = assert_fails(
        |inner| LosesOnCancel { inner },
        Check::CancelBuffered,
        "expected event",
    )
    .await;
    // Without cancellation it is a fine source: only the cancellation checks catch it.
    assert_eq!(report.outcome(Check::Order), Some(&Outcome::Passed));
    assert_eq!(report.outcome(Check::Ack), Some(&Outcome::Passed));
}

/// Hands out deliveries whose ack does nothing.
struct AckIgnored {
    inner: FakeSource,
}

#[async_trait]
impl EventSource for AckIgnored {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        Ok(self.inner.next().await?.map(|mut d| {
            let _ = d.take_ack();
            d.with_ack(Ack::none())
        }))
    }
    fn name(&self) -> &str {
        "ack-ignored"
    }
}

#[tokio::test]
async fn catches_a_source_whose_ack_does_nothing() {
    let report = assert_fails(
        |inner| AckIgnored { inner },
        Check::Ack,
        "to reach the source's backing",
    )
    .await;
    assert_eq!(report.outcome(Check::Order), Some(&Outcome::Passed));
}

/// Never ends: after the end, it waits forever.
struct Endless {
    inner: FakeSource,
}

#[async_trait]
impl EventSource for Endless {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        match self.inner.next().await? {
            Some(d) => Ok(Some(d)),
            None => std::future::pending().await,
        }
    }
    fn name(&self) -> &str {
        "endless"
    }
}

#[tokio::test]
async fn catches_a_source_that_does_not_end() {
    assert_fails(|inner| Endless { inner }, Check::EndOfStream, "timed out").await;
}

/// Ends once, then fails on later calls.
struct EndsOnce {
    inner: FakeSource,
    ended: bool,
}

#[async_trait]
impl EventSource for EndsOnce {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        if self.ended {
            return Err(SourceError::Closed);
        }
        let d = self.inner.next().await?;
        self.ended = d.is_none();
        Ok(d)
    }
    fn name(&self) -> &str {
        "ends-once"
    }
}

#[tokio::test]
async fn catches_a_source_that_ends_only_once() {
    assert_fails(
        |inner| EndsOnce {
            inner,
            ended: false,
        },
        Check::EndOfStream,
        "second next() after the end failed",
    )
    .await;
}

/// Reports every error as transient.
struct ErrorsAreTransient {
    inner: FakeSource,
}

#[async_trait]
impl EventSource for ErrorsAreTransient {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        self.inner
            .next()
            .await
            .map_err(|e| SourceError::transport(e.to_string()))
    }
    fn name(&self) -> &str {
        "errors-are-transient"
    }
}

#[tokio::test]
async fn catches_a_source_whose_fatal_error_is_not_fatal() {
    assert_fails(
        |inner| ErrorsAreTransient { inner },
        Check::Fatal,
        "not fatal",
    )
    .await;
}

/// A harness that claims every ack reached the source, acked or not.
struct Lying(FakeHarness);

#[async_trait]
impl Harness for Lying {
    type Source = FakeSource;
    async fn start(&mut self) -> FakeSource {
        self.0.start().await
    }
    async fn emit(&mut self, events: &[Event]) {
        self.0.emit(events).await
    }
    async fn end(&mut self) -> bool {
        self.0.end().await
    }
    async fn fail(&mut self) -> bool {
        self.0.fail().await
    }
    async fn ack_reached(&mut self, _id: &str) -> bool {
        true
    }
}

#[tokio::test]
async fn catches_a_harness_that_reports_acks_that_never_happened() {
    let report = suite().try_run_all(|| Lying(FakeHarness::new())).await;
    assert!(report.failed(Check::Ack), "{report}");
}

/// A harness for a source that can neither end nor fail nor settle.
struct Limited(FakeHarness);

#[async_trait]
impl Harness for Limited {
    type Source = FakeSource;
    async fn start(&mut self) -> FakeSource {
        self.0.start().await
    }
    async fn emit(&mut self, events: &[Event]) {
        self.0.emit(events).await
    }
    async fn end(&mut self) -> bool {
        false
    }
    async fn fail(&mut self) -> bool {
        false
    }
    async fn ack_reached(&mut self, _id: &str) -> bool {
        false
    }
}

#[tokio::test]
async fn checks_a_source_cannot_take_part_in_are_not_passed() {
    let report = conformance::run_all(|| Limited(FakeHarness::new())).await;
    for check in [Check::Ack, Check::EndOfStream, Check::Fatal] {
        assert!(
            matches!(report.outcome(check), Some(Outcome::NotApplicable(_))),
            "{check}: {report}"
        );
    }
    assert_eq!(report.outcome(Check::Order), Some(&Outcome::Passed));
    assert!(!report.all_passed());
}

#[tokio::test]
async fn a_failing_check_run_alone_panics_with_the_reason() {
    let harness = Broken {
        fake: FakeHarness::new(),
        wrap: |inner| Reordering { inner, held: None },
    };
    let err = tokio::spawn(conformance::order(harness)).await.unwrap_err();
    let message = err.into_panic();
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("source `reordering`, check `order`"),
        "{message}"
    );
}

#[tokio::test]
async fn run_all_panics_listing_the_failures() {
    let err = tokio::spawn(async { suite().run_all(broken(|inner| Lossy { inner, n: 0 })).await })
        .await
        .unwrap_err();
    let message = err.into_panic();
    let message = message.downcast_ref::<String>().expect("a message");
    assert!(
        message.contains("failed the conformance suite"),
        "{message}"
    );
    assert!(message.contains("order: FAILED"), "{message}");
}

/// A source over a queue of one slot: its sender waits until the source takes each
/// event, as a webhook endpoint in front of a bounded queue makes its senders wait.
struct OneSlot {
    rx: tokio::sync::mpsc::Receiver<Option<Event>>,
    acked: std::sync::Arc<tokio::sync::watch::Sender<Vec<String>>>,
    ended: bool,
}

#[async_trait]
impl EventSource for OneSlot {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.recv().await.flatten() {
            Some(event) => {
                let (acked, id) = (self.acked.clone(), event.id().to_owned());
                let ack = Ack::from_fn(move || acked.send_modify(|a| a.push(id)));
                Ok(Some(
                    Delivery::new(event, mailwire_source::Origin::Webhook).with_ack(ack),
                ))
            }
            None => {
                self.ended = true;
                Ok(None)
            }
        }
    }
    fn name(&self) -> &str {
        "one-slot"
    }
}

#[derive(Default)]
struct OneSlotHarness {
    tx: Option<tokio::sync::mpsc::Sender<Option<Event>>>,
    acked: std::sync::Arc<tokio::sync::watch::Sender<Vec<String>>>,
}

#[async_trait]
impl Harness for OneSlotHarness {
    type Source = OneSlot;
    async fn start(&mut self) -> OneSlot {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        self.tx = Some(tx);
        OneSlot {
            rx,
            acked: self.acked.clone(),
            ended: false,
        }
    }
    async fn emit(&mut self, events: &[Event]) {
        for event in events {
            // Waits for room: the source must be taking events meanwhile.
            self.tx
                .as_ref()
                .unwrap()
                .send(Some(event.clone()))
                .await
                .unwrap();
        }
    }
    async fn end(&mut self) -> bool {
        self.tx.as_ref().unwrap().send(None).await.unwrap();
        true
    }
    async fn fail(&mut self) -> bool {
        false
    }
    async fn ack_reached(&mut self, id: &str) -> bool {
        let mut rx = self.acked.subscribe();
        rx.wait_for(|a| a.iter().any(|a| a == id)).await.unwrap();
        true
    }
}

#[tokio::test]
async fn a_source_that_pushes_back_on_its_sender_passes() {
    let report = conformance::run_all(OneSlotHarness::default).await;
    assert_eq!(
        report.outcome(Check::Fatal),
        Some(&Outcome::NotApplicable("the source cannot be made to fail"))
    );
    assert_eq!(report.failures(), []);
}
