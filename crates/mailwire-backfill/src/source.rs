//! The [`Backfill`] source and the [`BackfillHandle`] that asks it to read.

use std::sync::Arc;
use std::time::SystemTime;

use mailwire_source::{Checkpoints, Delivery, EventSource, SourceError, async_trait};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::Rest;
use crate::worker::{Command, Item, REPORTS, Worker};
use crate::{BackfillConfig, Report, Trigger};

/// Asks a running [`Backfill`] to fill. Cheap to clone; stays valid while the
/// backfill runs.
#[derive(Clone, Debug)]
pub struct BackfillHandle(pub(crate) mpsc::UnboundedSender<Command>);

impl BackfillHandle {
    /// Runs a pass for `trigger` (passes asked for while one runs are merged into
    /// the next).
    pub fn fill(&self, trigger: Trigger) {
        let _ = self.0.send(Command::Fill(trigger));
    }

    /// Says that every event before `until` was delivered by another transport (a
    /// WebSocket that stayed subscribed to every inbox in the backfill's scope), so a
    /// restart need not read before it. It moves the subscription's checkpoint and
    /// each inbox's progress to `until`, except for what is still owed: an inbox
    /// whose last read failed (or was deferred) keeps its progress until a read
    /// succeeds, and the subscription's checkpoint stops at the earliest time any
    /// inbox still owes. While the API cannot be reached at all, it moves nothing.
    /// A time after now counts as now.
    pub fn covered(&self, until: SystemTime) {
        let _ = self.0.send(Command::Covered(until));
    }
}

/// A source that reads the service's REST API for the messages received while no
/// other transport delivered them. See the [crate docs](crate).
#[derive(Debug)]
pub struct Backfill {
    rx: mpsc::Receiver<Item>,
    handle: BackfillHandle,
    reports: Option<mpsc::Receiver<Report>>,
    task: JoinHandle<()>,
    ended: bool,
}

impl Backfill {
    /// Checks the configuration and starts the task, which checks the API
    /// ([`BackfillConfig::check`]) and then runs a start-up pass. The checkpoints
    /// are where its progress lives: a store of `mailwire-store` (beside the event
    /// log, shared by the instances that share it), or
    /// [`MemoryCheckpoints`](mailwire_source::MemoryCheckpoints) to keep nothing
    /// across restarts. Must be called within a tokio runtime.
    pub fn spawn(
        config: BackfillConfig,
        checkpoints: impl Checkpoints,
    ) -> Result<Backfill, SourceError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| SourceError::config("Backfill::spawn needs a tokio runtime"))?;
        let rest = Rest::new(&config)?;
        let (tx, rx) = mpsc::channel(config.page_size as usize);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (report_tx, reports) = mpsc::channel(REPORTS);
        let worker = Worker::new(rest, config, Arc::new(checkpoints), tx, report_tx);
        let task = runtime.spawn(worker.run(cmd_rx));
        Ok(Backfill {
            rx,
            handle: BackfillHandle(cmd_tx),
            reports: Some(reports),
            task,
            ended: false,
        })
    }

    /// A handle to ask for passes (on a WebSocket's gap, say).
    pub fn handle(&self) -> BackfillHandle {
        self.handle.clone()
    }

    /// What each pass did, once: later calls return `None`. The latest 256 reports
    /// wait for a reader; past that, new ones are dropped (each is also logged
    /// through `tracing`), so a backfill whose reports nobody reads holds no more.
    pub fn reports(&mut self) -> Option<mpsc::Receiver<Report>> {
        self.reports.take()
    }
}

impl Drop for Backfill {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl EventSource for Backfill {
    /// Cancellation safe: it only awaits a channel receive.
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.recv().await {
            Some(Ok(delivery)) => Ok(Some(delivery)),
            Some(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            None => {
                self.ended = true;
                Ok(None)
            }
        }
    }

    fn name(&self) -> &str {
        "backfill"
    }
}
