//! The connection task: connect, run a session, back off, again; until a fatal
//! error, a shutdown, or the consumer leaves.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailwire_proto::Subscribe;
use mailwire_source::SourceError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::Backoff;
use crate::batch::{Batch, Item};
use crate::checkpoint::{self, CheckpointConfig, ResumePoint, Watermark};
use crate::connect::{ConnectError, Endpoint};
use crate::session::{self, End, Resume, Session};
use crate::spares::Spares;
use crate::status::{Gap, SkippedLog, Status};

/// Everything the task owns.
#[derive(Debug)]
pub(crate) struct Supervisor {
    pub(crate) endpoint: Endpoint,
    pub(crate) subscribe: Subscribe,
    pub(crate) heartbeat: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) tx: mpsc::Sender<Batch>,
    pub(crate) spares: Spares,
    pub(crate) batch: usize,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) gaps: mpsc::UnboundedSender<Gap>,
    pub(crate) skipped: SkippedLog,
    pub(crate) max_message_size: usize,
    /// Where the resume point is loaded from before the first connection, when
    /// there is nothing configured; dropped once loaded, so that the watermark's
    /// writer ends with the source and its acks.
    pub(crate) load: Option<Load>,
}

/// A resume point to load before the first connection.
#[derive(Debug)]
pub(crate) struct Load {
    pub(crate) config: CheckpointConfig,
    pub(crate) watermark: Arc<Watermark>,
    pub(crate) status: watch::Sender<ResumePoint>,
}

impl Supervisor {
    /// Runs until the source fails, is shut down, or is dropped.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let status = self.status.clone();
        tokio::select! {
            () = self.reconnect_loop() => {}
            _ = shutdown.wait_for(|stop| *stop) => {
                status.send_replace(Status::Closed);
            }
        }
    }

    async fn reconnect_loop(mut self) {
        let mut delays = self.backoff.delays();
        let healthy_after = self.backoff.healthy_after_duration();
        if let Some(load) = self.load.take() {
            let loaded = tokio::select! {
                loaded = checkpoint::load(&load.config, &self.backoff, &load.status) => loaded,
                () = self.tx.closed() => return,
            };
            tracing::debug!(resume_after = ?loaded, "resume point loaded");
            load.watermark.start_from(loaded.as_deref());
            self.subscribe.after = loaded;
        }
        let mut resume = Resume {
            last_event_id: self.subscribe.after.clone(),
            // A configured or saved resume point: whatever the server cannot replay
            // is missing.
            lost_at: self.subscribe.after.as_ref().map(|_| SystemTime::now()),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.status.send_replace(Status::Connecting { attempt });
            let connected = tokio::select! {
                connected = self.endpoint.connect() => connected,
                () = self.tx.closed() => return,
            };
            let reason = match connected {
                Ok(mut socket) => {
                    metrics::counter!(crate::metric::CONNECTS).increment(1);
                    self.status.send_replace(Status::Connected);
                    let since = Instant::now();
                    let session = Session {
                        subscribe: &self.subscribe,
                        heartbeat: self.heartbeat,
                        batch: self.batch,
                        tx: &self.tx,
                        spares: &self.spares,
                        status: &self.status,
                        gaps: &self.gaps,
                        skipped: &self.skipped,
                        max_message_size: self.max_message_size,
                    };
                    let outcome = session::run(&mut socket, session, &mut resume).await;
                    if outcome.was_live && resume.lost_at.is_none() {
                        resume.lost_at = Some(SystemTime::now());
                    }
                    if since.elapsed() >= healthy_after {
                        delays.reset();
                        attempt = 0;
                    }
                    match outcome.end {
                        End::Retry(reason) => reason,
                        End::Fatal(e) => return self.fail(e).await,
                        End::ConsumerGone => return,
                    }
                }
                Err(ConnectError::Transient(reason)) => reason,
                Err(ConnectError::Fatal(e)) => return self.fail(e).await,
            };
            let retry_in = delays.next().unwrap_or(Duration::ZERO);
            metrics::counter!(crate::metric::DISCONNECTS).increment(1);
            tracing::info!(%reason, ?retry_in, "disconnected; reconnecting");
            self.status
                .send_replace(Status::Disconnected { reason, retry_in });
            tokio::select! {
                () = tokio::time::sleep(retry_in) => {}
                () = self.tx.closed() => return,
            }
        }
    }

    async fn fail(&self, error: SourceError) {
        tracing::error!(%error, "the WebSocket source stopped");
        self.status
            .send_replace(Status::Failed(Arc::new(copy(&error))));
        // Behind every event already queued; the consumer sees it last.
        let _ = self.tx.send(vec![Item::Failed(error)]).await;
    }
}

/// A copy of a fatal error for the status (errors are not `Clone`: they may hold a
/// boxed source, though fatal ones never do).
fn copy(e: &SourceError) -> SourceError {
    match e {
        // The copy keeps the message; the original, returned by `next()`, keeps the
        // typed cause.
        SourceError::Auth(m) => SourceError::auth(m.to_string()),
        SourceError::Config(m) => SourceError::config(m.to_string()),
        SourceError::Tls(m) => SourceError::tls(m.to_string()),
        SourceError::Closed => SourceError::Closed,
        other => SourceError::transport(other.to_string()),
    }
}
