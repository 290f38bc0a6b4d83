//! The listener, TLS and HTTP; the routes are [`crate::routes::router`]'s. WebSocket
//! paths are HTTP upgrades on the same port as everything else (see [`crate::ws`]),
//! so REST routes can sit beside them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::OriginalUri;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::Shared;
use crate::faults::{Control, killed};
use crate::http::BodyTimeout;

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` and serves it until the returned task is aborted.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    addr: SocketAddr,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // Built once per listener; each connection holds a clone (an `Arc`).
    let router = crate::routes::router(shared.clone());
    Ok((local, tokio::spawn(accept_loop(listener, shared, router))))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, router: Router) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.faults.refusing() {
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let ctl = shared.conns.register();
        tokio::spawn(connection(tcp, shared.clone(), router.clone(), ctl));
    }
}

async fn connection(
    tcp: TcpStream,
    shared: Arc<Shared>,
    router: Router,
    mut ctl: watch::Receiver<Control>,
) {
    if shared.faults.stalling() {
        killed(&mut ctl).await;
        return;
    }
    let Some(acceptor) = shared.settings.tls.clone() else {
        return serve_http(tcp, &shared, router, ctl).await;
    };
    let accept = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    tokio::select! {
        tls = accept => match tls {
            Ok(Ok(tls)) => serve_http(tls, &shared, router, ctl).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
        () = killed(&mut ctl) => {}
    }
}

async fn serve_http<IO>(io: IO, shared: &Shared, router: Router, mut ctl: watch::Receiver<Control>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_ctl = ctl.clone();
    let header_timeout = shared.settings.header_timeout;
    let body_timeout = BodyTimeout(shared.settings.body_timeout);
    let service = service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(body_timeout);
        req.extensions_mut().insert(service_ctl.clone());
        router.clone().oneshot(canonical(req))
    });
    // The header timeout also closes a kept-alive connection that sends nothing.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::select! {
        served = conn => if let Err(e) = served {
            tracing::debug!(error = %e, "HTTP connection ended with an error");
        },
        () = killed(&mut ctl) => {}
    }
}

/// The request with its path's leading and trailing slashes folded
/// (`/v1/webhooks/` is `/v1/webhooks`), as the routes have always matched, and the
/// path as sent kept for the 404's message ([`OriginalUri`]). The WebSocket paths
/// are never folded into: they are `/v0` and `/v1/ws` exactly (`/v0/` is a 404).
fn canonical<B>(mut req: Request<B>) -> Request<B> {
    let uri = req.uri().clone();
    let path = uri.path();
    let trimmed = path.trim_matches('/');
    let folds = path.len() != trimmed.len() + 1 || !path.starts_with('/');
    let folded = (folds && !matches!(trimmed, "v0" | "v1/ws"))
        .then(|| match uri.query() {
            Some(query) => format!("/{trimmed}?{query}"),
            None => format!("/{trimmed}"),
        })
        .and_then(|pq| {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq.parse().ok()?);
            Uri::from_parts(parts).ok()
        });
    req.extensions_mut().insert(OriginalUri(uri));
    if let Some(folded) = folded {
        *req.uri_mut() = folded;
    }
    req
}
