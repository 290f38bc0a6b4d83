//! [`FakeSource`]: an in-memory [`EventSource`] driven by a [`FakeHandle`].

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mailwire_proto::Event;
use mailwire_source::{Ack, Delivery, EventSource, Origin, SourceError, async_trait};
use tokio::sync::{mpsc, watch};

/// One step of a fake's script.
enum Step {
    // Boxed: an event is large, and most steps are events anyway.
    Event(Box<Event>, Origin),
    Fail(SourceError),
    End,
}

/// What the source and its handles share: what was taken and what was acked.
#[derive(Debug)]
struct Shared {
    strict: bool,
    /// Ids handed out by `next()`, in order.
    taken: Mutex<Vec<String>>,
    /// Ids acked, in the order the acks ran. A watch channel, so a handle can wait.
    acked: watch::Sender<Vec<String>>,
    /// When set, acks fail with a store error and record nothing.
    fail_acks: AtomicBool,
}

impl Shared {
    fn taken(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // A panic elsewhere in a test must not hide what was taken.
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An in-memory [`EventSource`] for testing code that consumes a source.
///
/// Built as a pair with its [`FakeHandle`], like `tower_test::mock::pair`: the test
/// holds the handle, pushes events, a fatal error or the end of the stream, and
/// watches what the code under test acked.
///
/// - `next()` returns what was pushed, in order; it waits while nothing is pushed.
///   It is cancellation safe (the events sit in a channel until taken).
/// - After [`FakeHandle::end`], or once every handle is dropped and the script is
///   used up, `next()` returns `Ok(None)`, then `Ok(None)` on every later call.
/// - After [`FakeHandle::fail`], `next()` returns that error, then
///   [`SourceError::Closed`] on every later call.
/// - Each delivery's ack records its id, visible through [`FakeHandle::acked`] and
///   [`FakeHandle::wait_for_ack`].
///
/// **Strict by default**: dropping the source while events or errors it was given were
/// never taken panics (unless the thread is already panicking), so a test cannot pass
/// while the code under test silently ignored part of its script. A trailing
/// [`end`](FakeHandle::end) the consumer never reached is not an error. Build it
/// with [`FakeSource::builder`]`().lenient()` to turn this off.
///
/// ```
/// use mailwire_test::{fixtures, FakeSource};
/// use mailwire_source::EventSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut source, handle) = FakeSource::new();
/// handle.push(fixtures::message_received("evt_1", "ada@agentmail.to")).end();
///
/// let delivery = source.next().await.unwrap().unwrap();
/// assert_eq!(delivery.event.id(), "evt_1");
/// delivery.ack().await.unwrap();
/// assert_eq!(handle.acked(), ["evt_1"]);
/// assert!(source.next().await.unwrap().is_none());
/// # }
/// ```
pub struct FakeSource {
    rx: mpsc::UnboundedReceiver<Step>,
    shared: Arc<Shared>,
    name: Cow<'static, str>,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Ended,
    Failed,
}

/// The test's side of a [`FakeSource`]: push events, errors and the end; observe
/// acks. Cheap to clone; every clone drives the same source.
#[derive(Clone)]
pub struct FakeHandle {
    tx: mpsc::UnboundedSender<Step>,
    shared: Arc<Shared>,
    origin: Origin,
}

/// Builds a [`FakeSource`] with a name, an origin, a strictness and a script.
///
/// ```
/// use mailwire_source::{EventSource, Origin};
/// use mailwire_test::{fixtures, FakeSource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (mut source, _handle) = FakeSource::builder()
///     .name("websocket")
///     .origin(Origin::WebSocket)
///     .event(fixtures::message_received("evt_1", "ada@agentmail.to"))
///     .end()
///     .build();
/// assert_eq!(source.name(), "websocket");
/// let delivery = source.next().await.unwrap().unwrap();
/// assert_eq!(delivery.origin, Origin::WebSocket);
/// assert!(source.next().await.unwrap().is_none());
/// # }
/// ```
#[must_use = "a builder does nothing until `build()`"]
pub struct FakeBuilder {
    name: Cow<'static, str>,
    origin: Origin,
    strict: bool,
    script: Vec<Step>,
}

impl FakeSource {
    /// A strict fake named `fake`, whose events come from `Origin::custom("fake")`,
    /// and its handle.
    pub fn new() -> (FakeSource, FakeHandle) {
        FakeSource::builder().build()
    }

    /// A builder, for a name, an origin, lenient mode or a script.
    pub fn builder() -> FakeBuilder {
        FakeBuilder {
            name: Cow::Borrowed("fake"),
            origin: Origin::custom("fake"),
            strict: true,
            script: Vec::new(),
        }
    }

    /// A strict fake that yields `events`, then ends. The events must all be taken
    /// before it is dropped.
    pub fn from_events(events: impl IntoIterator<Item = Event>) -> FakeSource {
        FakeSource::builder().events(events).end().build().0
    }

    /// How many pushed events or errors are waiting to be taken.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }
}

impl FakeBuilder {
    /// The source's [`EventSource::name`] (default `fake`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The origin of events pushed without one (default `Origin::custom("fake")`).
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Do not panic on drop when pushed events were never taken.
    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// Scripts an event, from the default origin.
    pub fn event(mut self, event: Event) -> Self {
        let origin = self.origin.clone();
        self.script.push(Step::Event(Box::new(event), origin));
        self
    }

    /// Scripts an event from `origin`.
    pub fn event_from(mut self, origin: Origin, event: Event) -> Self {
        self.script.push(Step::Event(Box::new(event), origin));
        self
    }

    /// Scripts several events, from the default origin.
    pub fn events(self, events: impl IntoIterator<Item = Event>) -> Self {
        events.into_iter().fold(self, FakeBuilder::event)
    }

    /// Scripts a fatal error.
    pub fn fail(mut self, error: SourceError) -> Self {
        self.script.push(Step::Fail(error));
        self
    }

    /// Scripts the end of the stream.
    pub fn end(mut self) -> Self {
        self.script.push(Step::End);
        self
    }

    /// The source and its handle.
    pub fn build(self) -> (FakeSource, FakeHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        for step in self.script {
            // The receiver is alive: this cannot fail.
            let _ = tx.send(step);
        }
        let shared = Arc::new(Shared {
            strict: self.strict,
            taken: Mutex::new(Vec::new()),
            acked: watch::Sender::new(Vec::new()),
            fail_acks: AtomicBool::new(false),
        });
        let source = FakeSource {
            rx,
            shared: shared.clone(),
            name: self.name,
            state: State::Open,
        };
        let handle = FakeHandle {
            tx,
            shared,
            origin: self.origin,
        };
        (source, handle)
    }
}

impl FakeHandle {
    /// Pushes an event from the source's default origin.
    ///
    /// # Panics
    ///
    /// When the source was dropped and is strict: the event could never be taken.
    pub fn push(&self, event: Event) -> &Self {
        self.push_from(self.origin.clone(), event)
    }

    /// Pushes an event from `origin`.
    ///
    /// # Panics
    ///
    /// When the source was dropped and is strict.
    pub fn push_from(&self, origin: Origin, event: Event) -> &Self {
        self.send(Step::Event(Box::new(event), origin))
    }

    /// Pushes several events from the default origin.
    pub fn push_all(&self, events: impl IntoIterator<Item = Event>) -> &Self {
        for event in events {
            self.push(event);
        }
        self
    }

    /// Makes `next()` return `error` once the events pushed before it were taken.
    /// Later calls return [`SourceError::Closed`].
    pub fn fail(&self, error: SourceError) -> &Self {
        self.send(Step::Fail(error))
    }

    /// Ends the stream once the events pushed before it were taken.
    pub fn end(&self) -> &Self {
        self.send(Step::End)
    }

    fn send(&self, step: Step) -> &Self {
        if self.tx.send(step).is_err() && self.shared.strict && !std::thread::panicking() {
            panic!("FakeHandle: pushed to a FakeSource that was already dropped");
        }
        self
    }

    /// From now on, acks fail with a transient [`SourceError::Store`] and record
    /// nothing (`false` turns it off): to test how a consumer handles an ack that
    /// could not settle.
    pub fn fail_acks(&self, fail: bool) -> &Self {
        self.shared.fail_acks.store(fail, Ordering::SeqCst);
        self
    }

    /// The ids acked so far, in the order the acks ran.
    pub fn acked(&self) -> Vec<String> {
        self.shared.acked.borrow().clone()
    }

    /// The ids `next()` handed out so far, in order.
    pub fn taken(&self) -> Vec<String> {
        self.shared.taken().clone()
    }

    /// True when the source was dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the delivery of `id` is acked. Wrap it in a timeout that bounds a
    /// hang: `tokio::time::timeout(Duration::from_secs(10), handle.wait_for_ack(id))`.
    /// Cancellation safe.
    pub async fn wait_for_ack(&self, id: &str) {
        let mut rx = self.shared.acked.subscribe();
        // `wait_for` only fails when the sender is gone; `self` holds it.
        let _ = rx.wait_for(|acked| acked.iter().any(|a| a == id)).await;
    }
}

#[async_trait]
impl EventSource for FakeSource {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        match self.state {
            State::Ended => return Ok(None),
            State::Failed => return Err(SourceError::Closed),
            State::Open => {}
        }
        // `recv` is cancellation safe and nothing below awaits, so a dropped `next()`
        // future loses nothing.
        match self.rx.recv().await {
            Some(Step::Event(event, origin)) => {
                let id = event.id().to_owned();
                self.shared.taken().push(id.clone());
                let shared = self.shared.clone();
                let ack = Ack::from_future(async move {
                    if shared.fail_acks.load(Ordering::SeqCst) {
                        return Err(SourceError::store(format!("ack of {id} refused")));
                    }
                    shared.acked.send_modify(|acked| acked.push(id));
                    Ok(())
                });
                Ok(Some(Delivery::new(*event, origin).with_ack(ack)))
            }
            Some(Step::Fail(error)) => {
                self.state = State::Failed;
                Err(error)
            }
            Some(Step::End) | None => {
                self.state = State::Ended;
                Ok(None)
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for FakeSource {
    fn drop(&mut self) {
        if !self.shared.strict || std::thread::panicking() {
            return;
        }
        let mut left = Vec::new();
        while let Ok(step) = self.rx.try_recv() {
            match step {
                Step::Event(event, _) => left.push(event.id().to_owned()),
                Step::Fail(error) => left.push(format!("error ({error})")),
                Step::End => {}
            }
        }
        if !left.is_empty() {
            panic!(
                "FakeSource `{}` dropped with {} pushed item(s) never taken: {}",
                self.name,
                left.len(),
                left.join(", ")
            );
        }
    }
}

impl fmt::Debug for FakeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeSource")
            .field("name", &self.name)
            .field("pending", &self.rx.len())
            .field("state", &self.state)
            .field("strict", &self.shared.strict)
            .finish()
    }
}

impl fmt::Debug for FakeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeHandle")
            .field("origin", &self.origin)
            .field("taken", &self.shared.taken().len())
            .field("acked", &self.shared.acked.borrow().len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for FakeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeBuilder")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("strict", &self.strict)
            .field("script_len", &self.script.len())
            .finish()
    }
}
