//! The durable resume point: a watermark over acks, and the one writer that saves it.
//!
//! Every event the consumer takes gets a sequence number in the order it was
//! received. Acking marks it; the watermark is the last event such that it and every
//! event received before it are acked, and only an event with an id can be it. A
//! background writer saves the watermark through the configured [`Checkpoints`]:
//! the latest value only (a save of a redb store is an fsync), after the acks, never
//! before them. A failed save is reported and retried after a backoff with whatever
//! value is latest then; it never stops the source.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use mailwire_client::Backoff;
use mailwire_source::{BoxError, Checkpoints, Settle, SourceError, async_trait};
use tokio::sync::watch;
use tokio::time::Instant;

/// The checkpoints a [`WsSource`](crate::WsSource) keeps its resume point in, and
/// the key it is kept under.
#[derive(Clone)]
pub(crate) struct CheckpointConfig {
    pub(crate) store: Arc<dyn Checkpoints>,
    pub(crate) key: String,
}

impl fmt::Debug for CheckpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoints")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What the source knows of its durable resume point, observed through
/// [`WsSource::resume_point`](crate::WsSource::resume_point).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumePoint {
    /// The point the source started from: loaded from the checkpoints, or the
    /// configured [`resume_after`](crate::WsConfig::resume_after).
    pub loaded: Option<String>,
    /// The watermark: the latest event such that it and every event received before
    /// it on this source are acked, as the writer last took it (it may not be saved
    /// yet).
    pub acked: Option<String>,
    /// The latest point durably saved. Lags [`acked`](ResumePoint::acked), never
    /// leads it.
    pub saved: Option<String>,
    /// Loads and saves that failed, in all.
    pub failures: u64,
    /// The last failure, until a load or save succeeds.
    pub last_error: Option<CheckpointError>,
    /// How many times the watermark moved, and the move last saved.
    pub(crate) acked_moves: u64,
    pub(crate) saved_moves: u64,
}

/// A load or save of the resume point failed. The source goes on: a failed load is
/// retried before the first connection, a failed save with the next value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckpointError {
    /// What failed.
    pub op: CheckpointOp,
    /// The key.
    pub key: String,
    /// Why, as the [`Checkpoints`] implementation said (shared, so the report can
    /// be cloned).
    pub source: Arc<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not {} the WebSocket resume point under {:?}",
            self.op, self.key
        )
    }
}

impl std::error::Error for CheckpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl PartialEq for CheckpointError {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.key == other.key && Arc::ptr_eq(&self.source, &other.source)
    }
}

impl Eq for CheckpointError {}

/// Which checkpoint operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointOp {
    /// Loading the resume point before the first connection.
    Load,
    /// Saving the watermark.
    Save,
}

impl fmt::Display for CheckpointOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointOp::Load => "load",
            CheckpointOp::Save => "save",
        })
    }
}

impl CheckpointError {
    pub(crate) fn new(op: CheckpointOp, key: &str, source: BoxError) -> CheckpointError {
        CheckpointError {
            op,
            key: key.to_owned(),
            source: Arc::from(source),
        }
    }
}

/// A watermark value: `moves` counts its moves, so the writer knows what it saved.
#[derive(Clone, Debug, Default)]
pub(crate) struct Mark {
    pub(crate) moves: u64,
    pub(crate) id: Option<Arc<str>>,
}

/// One event received and handed out (or skipped), not yet passed by the watermark.
#[derive(Debug)]
struct Slot {
    /// `None` for an event with no id the service can resume after.
    id: Option<Box<str>>,
    acked: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// The sequence number of `pending[0]`.
    base: u64,
    pending: VecDeque<Slot>,
    moves: u64,
}

/// The ack watermark of one source, shared by the source and every ack it handed
/// out. When the last of them is gone, the writer saves the latest value and ends.
#[derive(Debug)]
pub(crate) struct Watermark {
    inner: Mutex<Inner>,
    tx: watch::Sender<Mark>,
    status: watch::Sender<ResumePoint>,
}

impl Watermark {
    pub(crate) fn new(
        status: watch::Sender<ResumePoint>,
    ) -> (Arc<Watermark>, watch::Receiver<Mark>) {
        let (tx, rx) = watch::channel(Mark::default());
        let watermark = Watermark {
            inner: Mutex::new(Inner::default()),
            tx,
            status,
        };
        (Arc::new(watermark), rx)
    }

    /// Sets where the source starts from: the watermark until an ack moves it. Not
    /// saved (it came from the checkpoints or the configuration).
    pub(crate) fn start_from(&self, id: Option<&str>) {
        let id: Option<Arc<str>> = id.map(Arc::from);
        self.tx.send_modify(|mark| {
            if mark.moves == 0 {
                mark.id.clone_from(&id);
            }
        });
        self.status.send_modify(|s| {
            s.loaded = id.as_deref().map(str::to_owned);
            if s.acked.is_none() {
                s.acked.clone_from(&s.loaded);
            }
        });
    }

    /// Records an event handed out (or skipped); returns its sequence number.
    pub(crate) fn receive(&self, id: Option<&str>) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = inner.base + inner.pending.len() as u64;
        inner.pending.push_back(Slot {
            id: id.map(Box::from),
            acked: false,
        });
        seq
    }

    /// Marks one event acked and moves the watermark as far as acks allow.
    pub(crate) fn ack(&self, seq: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = seq.checked_sub(inner.base) else {
            return;
        };
        match inner.pending.get_mut(at as usize) {
            Some(slot) => slot.acked = true,
            None => return,
        }
        let mut point = None;
        while inner.pending.front().is_some_and(|s| s.acked) {
            if let Some(slot) = inner.pending.pop_front() {
                inner.base += 1;
                if slot.id.is_some() {
                    point = slot.id;
                }
            }
        }
        if let Some(id) = point {
            inner.moves += 1;
            // Under the lock: the writer never sees an older value after a newer
            // one. The writer also publishes it in the status, once per wake-up
            // rather than once per ack.
            self.tx.send_replace(Mark {
                moves: inner.moves,
                id: Some(Arc::from(id)),
            });
        }
    }

    /// The watermark now.
    pub(crate) fn mark(&self) -> Mark {
        self.tx.borrow().clone()
    }
}

/// Follows and saves the durable resume point of a [`WsSource`](crate::WsSource)
/// from elsewhere: from the code that handed the source to a merge, say. Cheap to
/// clone; it does not keep the source's writer alive.
#[derive(Clone, Debug)]
pub struct ResumeHandle {
    watermark: Option<Weak<Watermark>>,
    status: watch::Receiver<ResumePoint>,
}

impl ResumeHandle {
    pub(crate) fn new(
        watermark: Option<&Arc<Watermark>>,
        status: watch::Receiver<ResumePoint>,
    ) -> ResumeHandle {
        ResumeHandle {
            watermark: watermark.map(Arc::downgrade),
            status,
        }
    }

    /// The resume point now.
    pub fn point(&self) -> ResumePoint {
        self.status.borrow().clone()
    }

    /// A receiver of the resume point, to wait for a change.
    pub fn watch(&self) -> watch::Receiver<ResumePoint> {
        self.status.clone()
    }

    /// Waits until the watermark as acked now is saved, or its save failed (the
    /// writer still retries it). Returns at once without checkpoints; once the
    /// source and its deliveries are gone, waits for the writer's last save.
    pub async fn flush(&self) -> Result<(), CheckpointError> {
        let Some(watermark) = &self.watermark else {
            return Ok(());
        };
        let Some(watermark) = watermark.upgrade() else {
            self.finished().await;
            return match self.status.borrow().last_error.clone() {
                Some(e) => Err(e),
                None => Ok(()),
            };
        };
        let target = watermark.mark().moves;
        // Not held while waiting: the writer's last save waits for it to go.
        drop(watermark);
        let mut status = self.status.clone();
        let failures = status.borrow_and_update().failures;
        let done = status
            .wait_for(|s| s.saved_moves >= target || s.failures > failures)
            .await;
        match done {
            Ok(s) if s.saved_moves >= target => Ok(()),
            Ok(s) => match &s.last_error {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            },
            // The writer ended: its last save is in the status.
            Err(_) => match &self.status.borrow().last_error {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            },
        }
    }

    /// Waits until the writer has ended: the source and every delivery it handed
    /// out are gone, and the last value is saved (or its last tries failed). What a
    /// process awaits, bounded by a deadline, before it exits. Returns at once
    /// without checkpoints.
    pub async fn finished(&self) {
        let mut status = self.status.clone();
        while status.changed().await.is_ok() {}
    }
}

/// Settles one WebSocket delivery: moves the watermark.
pub(crate) struct WsSettle {
    pub(crate) watermark: Arc<Watermark>,
    pub(crate) seq: u64,
}

#[async_trait]
impl Settle for WsSettle {
    async fn settle(self: Box<Self>) -> Result<(), SourceError> {
        self.watermark.ack(self.seq);
        Ok(())
    }
}

/// Loads the resume point, retrying with backoff until the checkpoints answer: a
/// source that connected without it would silently skip what the downtime missed.
pub(crate) async fn load(
    config: &CheckpointConfig,
    backoff: &Backoff,
    status: &watch::Sender<ResumePoint>,
) -> Option<String> {
    let mut delays = backoff.delays();
    loop {
        match config.store.load(&config.key).await {
            Ok(point) => {
                status.send_modify(|s| s.last_error = None);
                return point;
            }
            Err(e) => {
                let error = CheckpointError::new(CheckpointOp::Load, &config.key, e);
                let retry_in = delays.next().unwrap_or_default();
                metrics::counter!(crate::metric::CHECKPOINT_FAILURES, "op" => "load").increment(1);
                tracing::warn!(error = %error, cause = %error.source, ?retry_in, "could not load the resume point; retrying");
                status.send_modify(|s| {
                    s.failures += 1;
                    s.last_error = Some(error);
                });
                tokio::time::sleep(retry_in).await;
            }
        }
    }
}

/// How many more saves are tried, after a backoff each, once the source is gone.
const LAST_TRIES: u32 = 3;

/// The one writer: saves the latest watermark, coalescing whatever moved while a
/// save was in flight; after a failure waits a backoff, then saves the latest value.
/// Once every holder of the watermark is gone it saves the last value (retrying a
/// few times) and ends.
pub(crate) async fn write(
    config: CheckpointConfig,
    mut rx: watch::Receiver<Mark>,
    status: watch::Sender<ResumePoint>,
    backoff: Backoff,
) {
    let mut saved_moves = 0;
    let mut delays = backoff.delays();
    let mut retry_at: Option<Instant> = None;
    let mut open = true;
    let mut last_tries = 0;
    loop {
        if open {
            open = match retry_at.take() {
                None => rx.changed().await.is_ok(),
                // Moves during the wait are taken after it: one attempt per
                // backoff while the store fails, not one per ack.
                Some(at) => wait_until(at, &mut rx).await,
            };
        } else if let Some(at) = retry_at.take() {
            if last_tries == LAST_TRIES {
                return;
            }
            last_tries += 1;
            tokio::time::sleep_until(at).await;
        } else {
            return;
        }
        let mark = rx.borrow_and_update().clone();
        let Some(id) = mark.id.filter(|_| mark.moves > saved_moves) else {
            continue;
        };
        status.send_modify(|s| {
            s.acked = Some(id.as_ref().to_owned());
            s.acked_moves = mark.moves;
        });
        match config.store.save(&config.key, &id).await {
            Ok(()) => {
                saved_moves = mark.moves;
                delays.reset();
                tracing::trace!(id = %id, "resume point saved");
                status.send_modify(|s| {
                    s.saved = Some(id.as_ref().to_owned());
                    s.saved_moves = s.saved_moves.max(mark.moves);
                    s.last_error = None;
                });
            }
            Err(e) => {
                let error = CheckpointError::new(CheckpointOp::Save, &config.key, e);
                let retry_in = delays.next().unwrap_or_default();
                metrics::counter!(crate::metric::CHECKPOINT_FAILURES, "op" => "save").increment(1);
                tracing::warn!(error = %error, cause = %error.source, ?retry_in, "could not save the resume point; retrying with the latest value");
                status.send_modify(|s| {
                    s.failures += 1;
                    s.last_error = Some(error);
                });
                retry_at = Some(Instant::now() + retry_in);
            }
        }
    }
}

/// Waits until `at`; false when every holder of the watermark went away meanwhile
/// (the last save is then not held back).
async fn wait_until(at: Instant, rx: &mut watch::Receiver<Mark>) -> bool {
    let sleep = tokio::time::sleep_until(at);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return true,
            changed = rx.changed() => if changed.is_err() {
                return false;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(w: &Watermark) -> Option<String> {
        w.mark().id.as_deref().map(str::to_owned)
    }

    #[test]
    fn the_watermark_never_passes_an_unacked_event() {
        let (status, _rx) = watch::channel(ResumePoint::default());
        let (w, mark) = Watermark::new(status);
        let seqs: Vec<u64> = ["evt_1", "evt_2", "evt_3", "evt_4"]
            .iter()
            .map(|id| w.receive(Some(id)))
            .collect();
        w.ack(seqs[1]);
        w.ack(seqs[3]);
        assert_eq!(acked(&w), None, "evt_1 is not acked");
        w.ack(seqs[0]);
        assert_eq!(acked(&w).as_deref(), Some("evt_2"), "evt_3 is not acked");
        assert_eq!(mark.borrow().moves, 1);
        w.ack(seqs[2]);
        assert_eq!(acked(&w).as_deref(), Some("evt_4"));
        // A second ack of the same one, or an unknown one, changes nothing.
        w.ack(seqs[2]);
        w.ack(99);
        assert_eq!(mark.borrow().moves, 2);
    }

    #[test]
    fn events_without_an_id_are_passed_but_never_the_point() {
        let (status, _rx) = watch::channel(ResumePoint::default());
        let (w, _mark) = Watermark::new(status);
        w.start_from(Some("evt_0"));
        let a = w.receive(Some("evt_1"));
        let b = w.receive(None);
        let c = w.receive(Some("evt_3"));
        let d = w.receive(None);
        w.ack(a);
        assert_eq!(acked(&w).as_deref(), Some("evt_1"));
        w.ack(d);
        w.ack(b);
        assert_eq!(acked(&w).as_deref(), Some("evt_1"), "evt_3 is not acked");
        w.ack(c);
        assert_eq!(acked(&w).as_deref(), Some("evt_3"));
    }
}
