//! The sender over https: trusted through a custom root, refused without it.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::StatusCode;
use mailwire_source::EventSource;
use mailwire_webhook::Signer;
use mailwire_webhook_sender::{Endpoint, Failure, Outcome, WebhookSender};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A TLS front for a webhook receiver: terminates TLS, then pipes bytes through.
async fn tls_front(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    backend: std::net::SocketAddr,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn https_with_a_custom_root() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let (mut source, backend) = bind(receiver()).await;
    let port = tls_front(cert.clone(), key, backend).await;
    let endpoint = Endpoint::new(
        &format!("https://localhost:{port}/webhooks"),
        Signer::new(keyring()),
    )
    .unwrap();

    let trusted = WebhookSender::builder()
        .no_default_roots()
        .add_root(cert)
        .build()
        .unwrap();
    let outcome = tokio::time::timeout(HANG, trusted.send_event(&endpoint, &event("evt_tls")))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Delivered {
            attempts: 1,
            status: StatusCode::OK
        }
    );
    assert_eq!(next(&mut source).await.event.id(), "evt_tls");

    // The webpki roots do not know this certificate: refused, nothing delivered.
    let untrusted = WebhookSender::builder()
        .schedule(vec![Duration::ZERO])
        .build()
        .unwrap();
    match tokio::time::timeout(HANG, untrusted.send_event(&endpoint, &event("evt_no")))
        .await
        .unwrap()
    {
        Outcome::GaveUp {
            attempts: 1,
            last: Failure::Transport(e),
        } => {
            assert!(e.to_lowercase().contains("certificate"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(50), source.next())
            .await
            .is_err()
    );
}

#[test]
fn trust_needs_at_least_one_root() {
    use mailwire_webhook_sender::SenderError;
    assert!(matches!(
        WebhookSender::builder().no_default_roots().build(),
        Err(SenderError::Tls(_))
    ));
    assert!(WebhookSender::builder().build().is_ok());
}
