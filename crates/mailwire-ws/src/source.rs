//! The [`EventSource`] the application holds.

use std::collections::VecDeque;
use std::sync::Arc;

use mailwire_source::{Ack, Delivery, EventSource, Shutdown, SourceError, async_trait};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::WsConfig;
use crate::batch::{Batch, Item};
use crate::checkpoint::{self, CheckpointError, ResumeHandle, ResumePoint, Watermark, WsSettle};
use crate::connect::Endpoint;
use crate::spares::Spares;
use crate::status::{Gap, SkippedFrames, SkippedLog, Status};
use crate::supervisor::{Load, Supervisor};

/// The most events handed from the connection task to the consumer at once: about
/// what one 128 KiB socket read holds of typical events.
const MAX_BATCH: usize = 128;

/// A WebSocket [`EventSource`]: connects, subscribes, reconnects with backoff,
/// resumes after the last delivered event, and reports what it could not resume as
/// [`Gap`]s. See the [crate docs](crate).
///
/// The connection runs in its own task, started by [`WsSource::spawn`] and stopped
/// when the source is dropped or [`shut down`](Shutdown::shutdown).
#[derive(Debug)]
pub struct WsSource {
    rx: mpsc::Receiver<Batch>,
    /// The rest of the last batch received.
    buffer: VecDeque<Item>,
    /// Where emptied buffers go back to the connection task.
    spares: Spares,
    status: watch::Receiver<Status>,
    gaps: Option<Gaps>,
    skipped: Option<SkippedFrames>,
    shutdown: Shutdown,
    task: JoinHandle<()>,
    ended: bool,
    /// The ack watermark, when the resume point is kept in checkpoints.
    watermark: Option<Arc<Watermark>>,
    resume_point: watch::Receiver<ResumePoint>,
}

impl WsSource {
    /// Checks the configuration and starts connecting in a new task. Must be called
    /// within a tokio runtime.
    ///
    /// Errors only for a bad configuration (URL, key, TLS roots); connection trouble
    /// is reported through [`status`](WsSource::status) and, when fatal, by
    /// [`next`](EventSource::next).
    pub fn spawn(config: WsConfig) -> Result<WsSource, SourceError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| SourceError::config("WsSource::spawn needs a tokio runtime"))?;
        let endpoint = Endpoint::new(&config)?;
        // Events travel in batches of what one read burst found; the channel holds
        // `channel_capacity` events in all.
        let batch = config.channel_capacity.min(MAX_BATCH);
        let (tx, rx) = mpsc::channel((config.channel_capacity / batch).max(1));
        let (status_tx, status) = watch::channel(Status::Connecting { attempt: 1 });
        let (gaps_tx, gaps) = mpsc::unbounded_channel();
        let (skipped_log, skipped) = SkippedLog::new();
        let (stop_tx, stop_rx) = watch::channel(false);
        let spares = Spares::default();
        let (point_tx, resume_point) = watch::channel(ResumePoint::default());
        let mut load = None;
        let watermark = config.checkpoints.map(|checkpoints| {
            let (watermark, marks) = Watermark::new(point_tx.clone());
            match &config.subscribe.after {
                // A configured point wins over the saved one.
                Some(after) => watermark.start_from(Some(after)),
                None => {
                    load = Some(Load {
                        config: checkpoints.clone(),
                        watermark: watermark.clone(),
                        status: point_tx.clone(),
                    });
                }
            }
            // Ends on its own once the source and every ack it handed out are gone,
            // after saving the last value.
            runtime.spawn(checkpoint::write(
                checkpoints,
                marks,
                point_tx.clone(),
                config.backoff.clone(),
            ));
            watermark
        });
        let supervisor = Supervisor {
            endpoint,
            subscribe: config.subscribe,
            heartbeat: config.heartbeat,
            batch,
            backoff: config.backoff,
            tx,
            spares: spares.clone(),
            status: status_tx,
            gaps: gaps_tx,
            skipped: skipped_log,
            max_message_size: config.max_message_size,
            load,
        };
        let task = runtime.spawn(supervisor.run(stop_rx));
        Ok(WsSource {
            rx,
            buffer: VecDeque::new(),
            spares,
            status,
            gaps: Some(Gaps(gaps)),
            skipped: Some(skipped),
            shutdown: shutdown_over(stop_tx),
            task,
            ended: false,
            watermark,
            resume_point,
        })
    }

    /// The durable resume point, when the source keeps it in
    /// [`checkpoints`](WsConfig::checkpoints): where it started, the ack
    /// watermark, what is saved, and the failures. Without checkpoints it stays
    /// empty.
    pub fn resume_point(&self) -> watch::Receiver<ResumePoint> {
        self.resume_point.clone()
    }

    /// A handle on the durable resume point that outlives the source: flush it, or
    /// wait for the last save after the source was handed to a merge and dropped.
    pub fn resume_handle(&self) -> ResumeHandle {
        ResumeHandle::new(self.watermark.as_ref(), self.resume_point.clone())
    }

    /// Waits until the watermark as acked now is saved, or its save failed (the
    /// writer still retries it). Returns at once without checkpoints.
    pub async fn flush(&self) -> Result<(), CheckpointError> {
        self.resume_handle().flush().await
    }

    /// Ends the source gracefully: closes the connection and saves the resume
    /// point as acked now ([`flush`](WsSource::flush)). Deliveries still held may
    /// be acked later: their acks still move the point, saved by the writer while
    /// the runtime runs.
    pub async fn close(self) -> Result<(), CheckpointError> {
        self.shutdown.shutdown();
        self.flush().await
    }

    /// A receiver of the connection's [`Status`].
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The [`Gap`] notices, once: later calls return `None`. Gaps are kept until
    /// read (at most one per reconnect).
    pub fn gaps(&mut self) -> Option<Gaps> {
        self.gaps.take()
    }

    /// The [`Skipped`](crate::Skipped) notices, once: later calls return `None`.
    /// Frames over the size limit or unreadable are skipped, the stream goes on, and
    /// each one is reported here (and counted, read or not).
    pub fn skipped(&mut self) -> Option<SkippedFrames> {
        self.skipped.take()
    }

    /// A handle that ends the source from elsewhere: events already received are
    /// still delivered, then `next()` returns `Ok(None)`.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }
}

impl Drop for WsSource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl EventSource for WsSource {
    /// Cancellation safe: it only awaits a channel receive.
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            match self.buffer.pop_front() {
                Some(Item::Event(received)) => {
                    let delivery = received.into_delivery();
                    return Ok(Some(match &self.watermark {
                        None => delivery,
                        Some(watermark) => {
                            let seq = watermark.receive(Some(delivery.event.id()));
                            let settle = WsSettle {
                                watermark: watermark.clone(),
                                seq,
                            };
                            delivery.with_ack(Ack::new(settle))
                        }
                    }));
                }
                // Skipped for its size: settled at once, in its place among the acks.
                Some(Item::Skipped(id)) => {
                    if let Some(watermark) = &self.watermark {
                        watermark.ack(watermark.receive(Some(&id)));
                    }
                    continue;
                }
                Some(Item::Failed(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                None => {}
            }
            match self.rx.recv().await {
                // Nothing awaits between here and the pop: cancellation cannot lose
                // the batch.
                Some(batch) => {
                    let spent = std::mem::replace(&mut self.buffer, VecDeque::from(batch));
                    self.spares.give(Vec::from(spent));
                }
                None => self.ended = true,
            }
        }
    }

    fn name(&self) -> &str {
        "websocket"
    }
}

/// The [`Shutdown`] of a WebSocket source: `shutdown` closes the connection (the
/// source ends once buffered events are taken); `finished` resolves once the
/// connection task has stopped.
fn shutdown_over(stop: watch::Sender<bool>) -> Shutdown {
    let stop = Arc::new(stop);
    let task = stop.clone();
    Shutdown::new(
        move || {
            stop.send_replace(true);
        },
        move || {
            let task = task.clone();
            // The connection task holds the only receiver: closed once it ends.
            Box::pin(async move { task.closed().await })
        },
    )
}

/// The [`Gap`] notices of one [`WsSource`].
#[derive(Debug)]
pub struct Gaps(mpsc::UnboundedReceiver<Gap>);

impl Gaps {
    /// The next gap; `None` once the source is gone. Cancellation safe.
    pub async fn recv(&mut self) -> Option<Gap> {
        self.0.recv().await
    }

    /// A gap already reported, if any.
    pub fn try_recv(&mut self) -> Option<Gap> {
        self.0.try_recv().ok()
    }
}
