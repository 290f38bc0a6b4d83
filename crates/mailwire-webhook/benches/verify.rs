//! Verification cost, side by side in one run:
//!
//! - `ring`: raw `ring::hmac::sign` over the already-concatenated signed
//!   content with a prepared key: the floor no verifier can beat;
//! - `mailwire`: `Verifier::verify` on an `http::HeaderMap`, reading the
//!   system clock as a deployed verifier does;
//! - `mailwire_pairs`: the same over a `Vec` of `(name, value)` pairs;
//! - `svix`, `standardwebhooks`: the peers' `verify` on the same headers
//!   (Standard Webhooks only; no peer crate covers the hex scheme).
//!
//! Ratios against `ring` are what `BENCHMARKS.md` reports.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use mailwire_webhook::{Clock as _, Keyring, Signer, SystemClock, Verifier};
use ring::hmac;

const SIZES: [usize; 3] = [256, 4 * 1024, 64 * 1024];
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HEX_SECRET: &str = "It's a Secret to Everybody";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

/// A JSON-looking ASCII body of exactly `n` bytes (the peers need UTF-8).
fn body(n: usize) -> Vec<u8> {
    let mut b =
        br#"{"type":"event","event_type":"message.received","event_id":"evt_1","text":""#.to_vec();
    while b.len() < n - 2 {
        b.push(b'a' + (b.len() % 26) as u8);
    }
    b.extend_from_slice(b"\"}");
    b.truncate(n);
    b
}

fn header_map(keyring: Keyring, ts: i64, body: &[u8]) -> HeaderMap {
    Signer::new(keyring)
        .sign(ID, ts, body)
        .expect("fixed inputs sign")
        .into_iter()
        .collect()
}

fn standard(c: &mut Criterion) {
    let mut group = c.benchmark_group("standard");
    // The peers read the wall clock: sign at the current time.
    let ts = SystemClock.now_unix();
    let key_bytes = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&WHSEC["whsec_".len()..])
            .expect("valid base64")
    };
    let raw_key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let ours = Verifier::new(Keyring::standard(WHSEC).expect("valid secret"));
    let svix = svix::webhooks::Webhook::new(WHSEC).expect("valid secret");
    let stdwh = standardwebhooks::Webhook::new(WHSEC).expect("valid secret");
    for size in SIZES {
        let body = body(size);
        let headers = header_map(Keyring::standard(WHSEC).expect("valid secret"), ts, &body);
        let content = [format!("{ID}.{ts}.").as_bytes(), &body].concat();
        assert!(ours.verify(&headers, &body).is_ok());
        assert!(svix.verify(&body, &headers).is_ok());
        assert!(stdwh.verify(&body, &headers).is_ok());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("ring", size), &content, |b, content| {
            b.iter(|| hmac::sign(&raw_key, black_box(content)));
        });
        group.bench_with_input(BenchmarkId::new("mailwire", size), &body, |b, body| {
            b.iter(|| ours.verify(black_box(&headers), black_box(body)));
        });
        let pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        group.bench_with_input(
            BenchmarkId::new("mailwire_pairs", size),
            &body,
            |b, body| {
                b.iter(|| ours.verify(black_box(&pairs), black_box(body)));
            },
        );
        group.bench_with_input(BenchmarkId::new("svix", size), &body, |b, body| {
            b.iter(|| svix.verify(black_box(body), black_box(&headers)));
        });
        group.bench_with_input(
            BenchmarkId::new("standardwebhooks", size),
            &body,
            |b, body| {
                b.iter(|| stdwh.verify(black_box(body), black_box(&headers)));
            },
        );
    }
    group.finish();
}

fn hex(c: &mut Criterion) {
    let mut group = c.benchmark_group("hex");
    let raw_key = hmac::Key::new(hmac::HMAC_SHA256, HEX_SECRET.as_bytes());
    let ours = Verifier::new(Keyring::hex(HEX_SECRET).expect("valid secret"));
    for size in SIZES {
        let body = body(size);
        let headers = header_map(Keyring::hex(HEX_SECRET).expect("valid secret"), 0, &body);
        assert!(ours.verify(&headers, &body).is_ok());
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("ring", size), &body, |b, body| {
            b.iter(|| hmac::sign(&raw_key, black_box(body)));
        });
        group.bench_with_input(BenchmarkId::new("mailwire", size), &body, |b, body| {
            b.iter(|| ours.verify(black_box(&headers), black_box(body)));
        });
    }
    group.finish();
}

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

fn config() -> Criterion {
    if quick() {
        Criterion::default()
            .warm_up_time(std::time::Duration::from_millis(50))
            .measurement_time(std::time::Duration::from_millis(200))
            .sample_size(10)
            .nresamples(1000)
    } else {
        Criterion::default()
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = standard, hex
}
criterion_main!(benches);
