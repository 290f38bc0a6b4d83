//! The listener, TLS, HTTP and the router. WebSocket paths are HTTP upgrades on the
//! same port as everything else, so REST routes can sit beside them.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::faults::{Control, killed};
use crate::{Shared, ws};

/// The body of every non-upgrade answer.
pub(crate) type Body = Full<Bytes>;

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` and serves it until the returned task is aborted.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    addr: SocketAddr,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((local, tokio::spawn(accept_loop(listener, shared))))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
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
        tokio::spawn(connection(tcp, shared.clone(), ctl));
    }
}

async fn connection(tcp: TcpStream, shared: Arc<Shared>, mut ctl: watch::Receiver<Control>) {
    if shared.faults.stalling() {
        killed(&mut ctl).await;
        return;
    }
    let Some(acceptor) = shared.settings.tls.clone() else {
        return serve_http(tcp, shared, ctl).await;
    };
    let accept = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    tokio::select! {
        tls = accept => match tls {
            Ok(Ok(tls)) => serve_http(tls, shared, ctl).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
        () = killed(&mut ctl) => {}
    }
}

async fn serve_http<IO>(io: IO, shared: Arc<Shared>, mut ctl: watch::Receiver<Control>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_ctl = ctl.clone();
    let header_timeout = shared.settings.header_timeout;
    let body_timeout = BodyTimeout(shared.settings.body_timeout);
    let service = service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(body_timeout);
        let response = route(req, shared.clone(), service_ctl.clone());
        async move { Ok::<_, Infallible>(response.await) }
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

/// How long a request body may take to arrive, carried to the handlers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// Every route of the simulator.
pub(crate) async fn route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    ctl: watch::Receiver<Control>,
) -> Response<Body> {
    match req.uri().path() {
        "/v0" | "/v1/ws" if shared.rest.websockets_down() => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            "the WebSocket gateway is down (chaos)",
        ),
        "/v0" => websocket(req, shared, ctl, false),
        // The article's path: under its envelope, events flow from connect.
        "/v1/ws" => {
            let stream = shared.hub.envelope() == mailwire_proto::Envelope::Simple;
            websocket(req, shared, ctl, stream)
        }
        _ => crate::rest::route(req, shared).await,
    }
}

fn websocket(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
    ctl: watch::Receiver<Control>,
    stream: bool,
) -> Response<Body> {
    let checked = shared.keys.check(&req);
    shared.record_handshake(checked.is_ok());
    if let Err(missing) = checked {
        return crate::rest::unauthorized(missing);
    }
    let headers = req.headers();
    let upgrade = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let (true, true, Some(key)) = (upgrade, version_ok, headers.get(header::SEC_WEBSOCKET_KEY))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "expected a WebSocket upgrade (version 13)",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    // Streaming starts now, before the client sees the handshake answer: nothing
    // published after its `open` can be missed.
    let stream = stream.then(|| shared.hub.subscribe(None).1);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = ws::server_config(&shared.settings);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                ws::serve(socket, shared, ctl, stream).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// An error answer in the service's JSON shape.
pub(crate) fn error(status: StatusCode, name: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "name": name, "message": message }).to_string();
    let mut response = Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
