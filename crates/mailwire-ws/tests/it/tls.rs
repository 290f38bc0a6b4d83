//! `wss://` against a local simulator with a generated certificate.

use crate::common;

use common::*;
use mailwire_sim::Simulator;
use mailwire_source::{EventSource, SourceError};
use mailwire_ws::{Status, WsSource};

async fn tls_sim(pki: &Pki) -> Simulator {
    Simulator::builder()
        .api_key("sk_tls")
        .tls_cert(pki.chain.clone(), pki.key.clone_key())
        .expect("a usable certificate")
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn wss_through_a_custom_root() {
    let pki = pki();
    let sim = tls_sim(&pki).await;
    assert!(sim.ws_url().starts_with("wss://localhost:"));
    let config = config(&sim)
        .api_key("sk_tls")
        .root_certificate(pki.root.clone());
    let mut source = WsSource::spawn(config).unwrap();
    subscribed(&source).await;
    emit(&sim, 1..=3);
    assert_eq!(take(&mut source, 3).await, ids(1..=3));

    // Resume works the same over TLS.
    sim.faults().drop_connections();
    emit(&sim, 4..=5);
    assert_eq!(take(&mut source, 2).await, ids(4..=5));
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_fatal_tls_error_not_a_retry_loop() {
    let pki = pki();
    let sim = tls_sim(&pki).await;
    let stranger = common::pki(); // another CA altogether
    let config = config(&sim)
        .api_key("sk_tls")
        .root_certificate(stranger.root);
    let mut source = WsSource::spawn(config).unwrap();
    match bounded("the TLS error", source.next()).await {
        Err(e @ SourceError::Tls(_)) => {
            assert!(e.is_fatal());
            assert!(e.to_string().contains("not trusted"), "{e}");
            // rustls' own error is kept as the cause, typed.
            let mut cause = std::error::Error::source(&e);
            let mut found = None;
            while let Some(c) = cause {
                found = found.or_else(|| c.downcast_ref::<rustls::Error>().cloned());
                cause = c.source();
            }
            assert!(
                matches!(found, Some(rustls::Error::InvalidCertificate(_))),
                "{found:?}"
            );
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(matches!(*source.status().borrow(), Status::Failed(_)));
    assert!(source.next().await.unwrap().is_none());
    // TLS failed before any HTTP: the simulator never saw a handshake request.
    assert_eq!(sim.stats().handshakes, 0);
}

#[tokio::test]
async fn plain_ws_to_a_tls_port_is_transient_and_retried() {
    let pki = pki();
    let sim = tls_sim(&pki).await;
    let url = format!("ws://{}/v0", sim.addr());
    let source = WsSource::spawn(config_for(url)).unwrap();
    wait_status(
        &source,
        "a second attempt",
        |s| matches!(s, Status::Connecting { attempt } if *attempt >= 2),
    )
    .await;
}
