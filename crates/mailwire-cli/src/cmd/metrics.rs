//! `--metrics ADDR`: what the libraries count, served in Prometheus' text format.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::anyhow;
use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How often histograms' old samples are dropped.
const UPKEEP: Duration = Duration::from_secs(5);
/// A scrape, from connect to answer; a client that trickles is cut off.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs the recorder every `metrics::counter!` of the process reports to, and
/// serves `GET /metrics` on `addr`. Returns the bound address (port 0 picks one).
pub(crate) async fn serve(addr: &str) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow!("--metrics {addr}: cannot listen: {e}"))?;
    let local = listener.local_addr()?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| anyhow!("--metrics: {e}"))?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to free.
                    super::runtime::status!("metrics: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(req, handle.clone()));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(SCRAPE_TIMEOUT)
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(SCRAPE_TIMEOUT, conn).await;
            });
        }
    });
    Ok(local)
}

async fn answer(
    req: http::Request<Incoming>,
    handle: PrometheusHandle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(handle.render()))),
        (_, "/metrics") => Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET")
            .body(Full::new(Bytes::new())),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"metrics are at /metrics\n"))),
    };
    Ok(res.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// The help text of the metrics the command line itself reports.
fn describe() {
    metrics::describe_counter!(
        PRINTED,
        "Events printed by `mailwire listen`, by origin (websocket, webhook, log, backfill)"
    );
}

/// Lines `listen` printed, by `origin`.
pub(crate) const PRINTED: &str = "mailwire_listen_printed_total";
