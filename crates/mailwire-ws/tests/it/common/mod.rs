//! Shared by the integration tests: bounded waits, a fast configuration, a PKI.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::time::Duration;

use mailwire_proto::fixtures;
use mailwire_sim::Simulator;
use mailwire_source::EventSource;
use mailwire_ws::{Backoff, Status, WsConfig, WsSource};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Bounds a hang; never the expected duration of anything.
pub const HANG: Duration = Duration::from_secs(10);

pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Short backoff so reconnects happen at once; a heartbeat long enough that a
/// loaded machine never trips it by accident.
pub fn config(sim: &Simulator) -> WsConfig {
    config_for(sim.ws_url())
}

pub fn config_for(url: impl Into<String>) -> WsConfig {
    WsConfig::new(url).backoff(
        Backoff::default()
            .base(Duration::from_millis(20))
            .cap(Duration::from_millis(200)),
    )
}

pub async fn wait_status(source: &WsSource, what: &str, f: impl FnMut(&Status) -> bool) -> Status {
    let mut status = source.status();
    bounded(what, status.wait_for(f))
        .await
        .expect("the source task is alive")
        .clone()
}

pub async fn subscribed(source: &WsSource) {
    wait_status(source, "subscribed", |s| matches!(s, Status::Subscribed)).await;
}

/// Takes `n` events and returns their ids.
pub async fn take(source: &mut WsSource, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let next = bounded(
            &format!("event #{} (have {ids:?})", ids.len() + 1),
            source.next(),
        )
        .await;
        let delivery = next.expect("no error").expect("not ended");
        ids.push(delivery.event.id().to_owned());
    }
    ids
}

pub fn ids(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("evt_{i}")).collect()
}

pub fn emit(sim: &Simulator, range: std::ops::RangeInclusive<usize>) {
    sim.emit_all(
        ids(range)
            .iter()
            .map(|id| fixtures::message_received(id, "a@x.to")),
    );
}

/// A private CA and a certificate for `localhost` it signed.
pub struct Pki {
    pub root: CertificateDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&key, &ca)
        .expect("leaf");
    Pki {
        root: ca.der().clone(),
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::from(key),
    }
}
