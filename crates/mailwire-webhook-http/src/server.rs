//! The accept loop: a connection cap in total and per client address, hyper's
//! HTTP/1 with an idle timeout and a header timeout of our own, and graceful
//! shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::StatusCode;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::intake::Intake;
use crate::limiter::client_key;
use crate::metric;
use crate::settings::Settings;

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

/// Why a connection over its address's cap is closed.
const TOO_MANY_CONNECTIONS: &str = "too many connections from the client address";

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
    let per_address = settings
        .max_connections_per_address
        .map(|max| Arc::new(PerAddress::new(max)));
    let timeouts = Timeouts {
        idle: settings.idle_timeout,
        header: settings.header_timeout,
    };
    let mut conns = JoinSet::new();
    // Each connection's stop: dropped, it tells the connection to finish. A
    // oneshot per connection rather than one watch for all: polled at every
    // wake of the connection's task, it costs an atomic load, where a watch's
    // notification takes a lock shared by every connection.
    let mut stops: HashMap<tokio::task::Id, oneshot::Sender<()>> = HashMap::new();
    let mut http = http1::Builder::new();
    // hyper's header timer runs from the moment a connection waits for a
    // request, so it would close idle connections at the header timeout: both
    // timeouts are kept by the connection's own watch instead.
    http.header_read_timeout(None).keep_alive(true);

    // A slot is taken before accepting, so connections beyond the cap wait in the
    // kernel's backlog instead of being accepted and left unserved. A connection
    // over its address's cap gives its slot back as soon as it is closed.
    let accept = || async {
        let slot = slots.clone().acquire_owned().await;
        (slot, listener.accept().await)
    };
    while !*stop.borrow_and_update() {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(joined) = conns.join_next_with_id(), if !conns.is_empty() => {
                let id = joined.map_or_else(|e| e.id(), |(id, ())| id);
                stops.remove(&id);
            }
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
                let held = match &per_address {
                    Some(per_address) => match per_address.open(peer.ip()) {
                        Some(held) => Some(held),
                        None => {
                            refuse(&stream, peer, &intake, settings.retry_after);
                            continue;
                        }
                    },
                    None => None,
                };
                // Small request/response exchanges: do not wait to coalesce.
                let _ = stream.set_nodelay(true);
                let (stop_tx, stop_rx) = oneshot::channel();
                let conn = serve(stream, peer, intake.clone(), http.clone(), timeouts, stop_rx);
                let task = conns.spawn(async move {
                    conn.await;
                    drop((slot, held));
                });
                stops.insert(task.id(), stop_tx);
            }
        }
    }
    drop(listener);
    // Tells every connection to stop: requests in flight finish, idle
    // keep-alive connections close now.
    drop(stops);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(settings.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over: cutting off remaining connections");
    }
    conns.shutdown().await;
}

/// Closes a connection whose address holds its cap already: counted, noticed,
/// and told so with a best-effort 429 (one non-blocking write: a client that
/// does not read it gets the close alone).
fn refuse(stream: &TcpStream, peer: SocketAddr, intake: &Intake, retry_after: Duration) {
    intake.counters.connection_refused();
    metric::connection_refused();
    intake.rejections.record(
        StatusCode::TOO_MANY_REQUESTS,
        || TOO_MANY_CONNECTIONS.to_owned(),
        Some(peer),
        None,
    );
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: {}\r\nconnection: close\r\n\
         content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n{}",
        retry_after.as_secs().max(1),
        TOO_MANY_CONNECTIONS.len(),
        TOO_MANY_CONNECTIONS
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// The connections open per client address, for the cap per address.
#[derive(Debug)]
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn new(max: usize) -> PerAddress {
        PerAddress {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more connection from `ip`, or `None` when its address holds
    /// the cap already. The count goes down when the guard is dropped.
    fn open(self: &Arc<Self>, ip: IpAddr) -> Option<OpenConnection> {
        let key = client_key(ip);
        let mut open = self.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(OpenConnection {
            per_address: self.clone(),
            key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counts only change under the lock, whole: a poisoned lock holds
        // consistent counts.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection counted against its address's cap, until dropped.
#[derive(Debug)]
struct OpenConnection {
    per_address: Arc<PerAddress>,
    key: IpAddr,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut open = self.per_address.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            // An address with no connection left takes no memory.
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Timeouts {
    idle: Option<Duration>,
    header: Duration,
}

/// Serves one connection until it ends: closed by the client, idle past the
/// idle timeout, cut off past the header timeout, or drained at shutdown.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    intake: Arc<Intake>,
    http: http1::Builder,
    timeouts: Timeouts,
    mut stop: oneshot::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let on_request = activity.clone();
    let service = service_fn(move |req| {
        let intake = intake.clone();
        let activity = on_request.clone();
        async move {
            activity.busy();
            let response = intake.handle(req, Some(peer)).await;
            activity.idle();
            Ok::<_, Infallible>(response)
        }
    });
    let mut conn = pin!(http.serve_connection(io, service));
    // How often the watch looks when nothing is due sooner: a request may start
    // at any moment, and its header deadline is then at most this far away.
    let recheck = timeouts.header.max(Duration::from_millis(10));
    let watch = tokio::time::sleep_until(activity.deadline(timeouts, recheck));
    let mut watch = pin!(watch);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "webhook connection ended with an error");
                }
                return;
            }
            _ = &mut stop, if !closing => {
                // Closes now if idle, else after the request in flight.
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = &mut watch, if !closing => match activity.expired(timeouts) {
                Some(Phase::Idle) => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                // Headers not in within their time: cut off, as hyper would.
                Some(Phase::Head) => {
                    tracing::debug!(%peer, "request headers not received in time");
                    return;
                }
                Some(Phase::Busy) | None => {
                    let next = activity.deadline(timeouts, recheck);
                    watch.as_mut().reset(next);
                }
            },
        }
    }
}

/// Where a connection is between requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a request: the idle timeout runs.
    Idle,
    /// A request's first bytes are in, its headers not yet: the header
    /// timeout runs.
    Head,
    /// A request is being answered: its body timeout (and the store's) bound it.
    Busy,
}

impl Phase {
    fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Busy,
        }
    }
}

/// What one connection is doing and since when. Written by its reads and its
/// requests, read by its watch; all in the connection's own task, so relaxed
/// ordering is enough. Two clock reads per request.
#[derive(Debug)]
struct Activity {
    phase: AtomicU8,
    /// Since when, in nanoseconds after `start`.
    since: AtomicU64,
    start: Instant,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: AtomicU8::new(Phase::Idle as u8),
            since: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    fn set(&self, phase: Phase) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.since.store(nanos, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// Bytes arrived: the start of a request when the connection was idle.
    fn read(&self) {
        if self.phase.load(Ordering::Relaxed) == Phase::Idle as u8 {
            self.set(Phase::Head);
        }
    }

    /// The headers are in and the request is being answered.
    fn busy(&self) {
        self.phase.store(Phase::Busy as u8, Ordering::Relaxed);
    }

    /// Answered: waiting for the next request.
    fn idle(&self) {
        self.set(Phase::Idle);
    }

    fn now(&self) -> (Phase, Instant) {
        let phase = Phase::from_u8(self.phase.load(Ordering::Relaxed));
        let since = self.start + Duration::from_nanos(self.since.load(Ordering::Relaxed));
        (phase, since)
    }

    /// When the current phase runs out, if it does.
    fn due(&self, timeouts: Timeouts) -> (Phase, Option<Instant>) {
        let (phase, since) = self.now();
        let due = match phase {
            Phase::Idle => timeouts.idle.map(|idle| since + idle),
            Phase::Head => Some(since + timeouts.header),
            Phase::Busy => None,
        };
        (phase, due)
    }

    /// The phase that ran out, if one did.
    fn expired(&self, timeouts: Timeouts) -> Option<Phase> {
        match self.due(timeouts) {
            (phase, Some(due)) if due <= Instant::now() => Some(phase),
            _ => None,
        }
    }

    /// When to look again: when the current phase runs out, or within
    /// `recheck` (a phase may change before then).
    fn deadline(&self, timeouts: Timeouts, recheck: Duration) -> Instant {
        let soon = Instant::now() + recheck;
        match self.due(timeouts) {
            (_, Some(due)) => due.min(soon),
            (_, None) => soon,
        }
    }
}

/// A connection's stream, telling its [`Activity`] when bytes arrive (one
/// relaxed load per read, a clock read when a request starts).
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_per_address_counts_open_connections_and_forgets_closed_ones() {
        let per_address = Arc::new(PerAddress::new(2));
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = per_address.open(a).unwrap();
        let _second = per_address.open(a).unwrap();
        assert!(per_address.open(a).is_none(), "over the cap");
        let other = per_address.open(b).unwrap();
        drop(first);
        let _third = per_address.open(a).unwrap();
        drop(other);
        // An address without connections takes no room.
        assert!(!per_address.lock().contains_key(&b));
    }

    #[test]
    fn an_ipv6_address_counts_by_its_64() {
        let per_address = Arc::new(PerAddress::new(1));
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _held = per_address.open(one).unwrap();
        assert!(per_address.open(same_64).is_none());
        assert!(per_address.open(other_64).is_some());
    }
}

/// Shuts a receiver's server down, from any task: what [`Shutdown`](mailwire_source::Shutdown) drives.
#[derive(Clone, Debug)]
pub(crate) struct ShutdownHandle {
    stop: Arc<watch::Sender<bool>>,
    finished: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    pub(crate) fn new() -> Self {
        ShutdownHandle {
            stop: Arc::new(watch::channel(false).0),
            finished: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts a graceful shutdown; returns at once.
    pub(crate) fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Waits until the server has stopped: no connection left, nothing in flight.
    pub(crate) async fn finished(&self) {
        let mut rx = self.finished.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|done| *done).await;
    }

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn finish_guard(&self) -> FinishGuard {
        FinishGuard(self.finished.clone())
    }
}

/// Marks the server finished when dropped.
pub(crate) struct FinishGuard(Arc<watch::Sender<bool>>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
