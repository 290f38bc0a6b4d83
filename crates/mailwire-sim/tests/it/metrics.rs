//! What the simulator counts through the `metrics` facade, read back through a
//! Prometheus recorder this test sets for its own thread (the library installs
//! none). The test runs on a current-thread runtime, so everything the simulator
//! does runs on that thread and reaches this recorder, and no other test's
//! simulator in this binary does.

use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailwire_proto::fixtures;
use mailwire_sim::{Simulator, WebhookSpec};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const HANG: Duration = Duration::from_secs(10);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f).await.expect("timed out")
}

/// The value of one series (`name{labels}` as Prometheus writes it), 0 when absent.
fn value(handle: &PrometheusHandle, series: &str) -> f64 {
    handle
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// An endpoint answering every request with `status`.
async fn endpoint(status: StatusCode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<_>| async move {
                    let mut res = hyper::Response::new(Full::new(Bytes::new()));
                    *res.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(res)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    url
}

#[tokio::test]
async fn events_attempts_connections_and_requests_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let sim = Simulator::builder()
        .webhook_time_scale(0.00002)
        .bind("127.0.0.1:0")
        .await
        .unwrap();

    // Requests, by status.
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    for path in ["/v0/pods", "/v0/pods", "/v1/nothing"] {
        let uri = format!("{}{path}", sim.http_url());
        let res = bounded(client.get(uri.parse().unwrap())).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(
        value(&handle, r#"mailwire_sim_requests_total{status="200"}"#),
        2.0
    );
    assert_eq!(
        value(&handle, r#"mailwire_sim_requests_total{status="404"}"#),
        1.0
    );

    // Open WebSockets, up and down again.
    let (mut ws, _) = bounded(tokio_tungstenite::connect_async(sim.ws_url()))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();
    bounded(sim.wait_subscribers(1)).await;
    assert_eq!(value(&handle, "mailwire_sim_ws_connections"), 1.0);
    drop(ws);
    bounded(sim.wait_until(|s| s.subscribed == 0)).await;
    assert_eq!(value(&handle, "mailwire_sim_ws_connections"), 0.0);
    // WebSocket handshakes are not REST requests.
    assert_eq!(
        value(&handle, r#"mailwire_sim_requests_total{status="101"}"#),
        0.0
    );

    // Events by type, and webhook attempts by outcome: one endpoint takes the
    // event at once, the other fails the whole schedule: 8 attempts, the last one
    // counted as the give-up.
    sim.register_webhook(WebhookSpec::new(endpoint(StatusCode::OK).await))
        .await
        .unwrap();
    sim.register_webhook(WebhookSpec::new(
        endpoint(StatusCode::INTERNAL_SERVER_ERROR).await,
    ))
    .await
    .unwrap();
    sim.emit(fixtures::message_received("evt_1", "a@x.to"));
    sim.emit(fixtures::message_bounced("evt_2", "a@x.to"));
    let stats = bounded(sim.wait_webhooks(|s| s.queued == 4 && s.pending() == 0)).await;
    assert_eq!((stats.delivered, stats.gave_up), (2, 2), "{stats:?}");
    assert_eq!(
        value(
            &handle,
            r#"mailwire_sim_events_total{type="message.received"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &handle,
            r#"mailwire_sim_events_total{type="message.bounced"}"#
        ),
        1.0
    );
    let delivered = value(
        &handle,
        r#"mailwire_sim_webhook_attempts_total{outcome="delivered"}"#,
    );
    let failed = value(
        &handle,
        r#"mailwire_sim_webhook_attempts_total{outcome="failed"}"#,
    );
    let gave_up = value(
        &handle,
        r#"mailwire_sim_webhook_attempts_total{outcome="gave_up"}"#,
    );
    assert_eq!((delivered, failed, gave_up), (2.0, 14.0, 2.0));
    assert_eq!(delivered + failed + gave_up, stats.attempts as f64);
}
