//! The accept loop: a connection cap, hyper's HTTP/1 with a header read timeout,
//! and graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::intake::Intake;
use crate::receiver::Settings;
use crate::source::{AbortOnDrop, ShutdownHandle};

/// A running server: its shutdown handle, and its task, aborted on drop.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) handle: ShutdownHandle,
    pub(crate) _task: AbortOnDrop,
}

pub(crate) fn spawn(listener: TcpListener, intake: Arc<Intake>, settings: Settings) -> Server {
    let handle = ShutdownHandle::new();
    let task = tokio::spawn(run(listener, intake, settings, handle.clone()));
    Server {
        handle,
        _task: AbortOnDrop(task),
    }
}

async fn run(
    listener: TcpListener,
    intake: Arc<Intake>,
    settings: Settings,
    handle: ShutdownHandle,
) {
    // Marks the server finished however this task ends, aborted included.
    let _finished = handle.finish_guard();
    let mut stop = handle.stop_signal();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    let mut conns = JoinSet::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(true);

    // A slot is taken before accepting, so connections beyond the cap wait in the
    // kernel's backlog instead of being accepted and left unserved.
    let accept = || async {
        let slot = slots.clone().acquire_owned().await;
        (slot, listener.accept().await)
    };
    while !*stop.borrow_and_update() {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            (slot, accepted) = accept() => {
                let Ok(slot) = slot else { break };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly
                        // rather than spin on an error that persists.
                        tracing::warn!(error = %e, "accept failed");
                        drop(slot);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Small request/response exchanges: do not wait to coalesce.
                let _ = stream.set_nodelay(true);
                let intake = intake.clone();
                let service = service_fn(move |req| {
                    let intake = intake.clone();
                    async move { Ok::<_, Infallible>(intake.handle(req, Some(peer)).await) }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                conns.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "webhook connection ended with an error");
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    // Requests in flight finish; idle keep-alive connections close now.
    let drain = async {
        graceful.shutdown().await;
        while conns.join_next().await.is_some() {}
    };
    if tokio::time::timeout(settings.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over: cutting off remaining connections");
    }
    conns.shutdown().await;
}
