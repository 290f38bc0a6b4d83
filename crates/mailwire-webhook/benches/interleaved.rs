//! Ratios that survive a loaded machine: every contender is timed in short
//! batches, taking turns, many rounds over; each keeps its fastest batch.
//! Criterion (`benches/verify.rs`) runs contenders one after another, so a
//! load change between them skews their ratio; interleaving puts them all
//! under the same load, and the minimum discards the batches a neighbour
//! slowed down.
//!
//! `cargo bench -p mailwire-webhook --bench interleaved` prints a Markdown
//! table of nanoseconds per verification and ratios to raw `ring::hmac`.

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use http::HeaderMap;
use mailwire_webhook::{Clock as _, Keyring, Signer, SystemClock, Verifier};
use ring::hmac;

const SIZES: [usize; 3] = [256, 4 * 1024, 64 * 1024];
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HEX_SECRET: &str = "It's a Secret to Everybody";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
/// Rounds of the race: fewer under `cargo xtask bench --quick`, which only shows
/// that the benchmark still runs.
fn rounds() -> usize {
    if std::env::var_os("MAILWIRE_BENCH_QUICK").is_some() {
        5
    } else {
        200
    }
}

fn body(n: usize) -> Vec<u8> {
    let mut b = br#"{"type":"event","event_type":"message.received","text":""#.to_vec();
    while b.len() < n - 2 {
        b.push(b'a' + (b.len() % 26) as u8);
    }
    b.extend_from_slice(b"\"}");
    b.truncate(n);
    b
}

/// About 50 µs of work per batch, whatever the size.
fn batch_len(size: usize) -> usize {
    (50_000 / (size / 16 + 100)).max(2)
}

/// Fastest per-call time of each contender, in nanoseconds.
/// One verification (or the raw MAC), boxed so different closures race together.
type Contender<'a> = Box<dyn FnMut() + 'a>;

fn race(size: usize, contenders: &mut [Contender<'_>]) -> Vec<f64> {
    let n = batch_len(size);
    let mut best = vec![f64::MAX; contenders.len()];
    for _ in 0..rounds() {
        for (i, f) in contenders.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            let per = start.elapsed().as_nanos() as f64 / n as f64;
            best[i] = best[i].min(per);
        }
    }
    best
}

fn row(scheme: &str, size: usize, names: &[&str], best: &[f64]) {
    let floor = best[0];
    let cells: Vec<String> = names
        .iter()
        .zip(best)
        .map(|(_, t)| format!("{t:.0} ns ({:.2}x)", t / floor))
        .collect();
    println!("| {scheme} | {size} | {} |", cells.join(" | "));
    // The rows of `cargo xtask bench`'s table: mailwire against the floor and the
    // peers (not against its own second column).
    for (name, t) in names
        .iter()
        .zip(best)
        .take(1)
        .chain(names.iter().zip(best).skip(3))
    {
        println!(
            "bench-row\twebhook: verify, interleaved\tmailwire ({scheme}, {size} bytes)\t{:.0}\tns\t{name}\t{t:.0}",
            best[1]
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let ts = SystemClock.now_unix();
    let key = base64::engine::general_purpose::STANDARD
        .decode(&WHSEC["whsec_".len()..])
        .expect("valid base64");
    let raw_std = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let raw_hex = hmac::Key::new(hmac::HMAC_SHA256, HEX_SECRET.as_bytes());
    let ours_std = Verifier::new(Keyring::standard(WHSEC).expect("valid secret"));
    let ours_hex = Verifier::new(Keyring::hex(HEX_SECRET).expect("valid secret"));
    let svix = svix::webhooks::Webhook::new(WHSEC).expect("valid secret");
    let stdwh = standardwebhooks::Webhook::new(WHSEC).expect("valid secret");

    println!(
        "| scheme | body bytes | ring (floor) | mailwire | mailwire, pairs | svix | standardwebhooks |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for size in SIZES {
        let body = body(size);
        let headers: HeaderMap = Signer::new(Keyring::standard(WHSEC).expect("valid secret"))
            .sign(ID, ts, &body)
            .expect("fixed inputs sign")
            .into_iter()
            .collect();
        let pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let content = [format!("{ID}.{ts}.").as_bytes(), &body].concat();
        assert!(ours_std.verify(&headers, &body).is_ok());
        assert!(svix.verify(&body, &headers).is_ok());
        assert!(stdwh.verify(&body, &headers).is_ok());
        let names = [
            "ring",
            "mailwire",
            "mailwire, pairs",
            "svix",
            "standardwebhooks",
        ];
        let mut contenders: Vec<Contender<'_>> = vec![
            Box::new(|| {
                black_box(hmac::sign(&raw_std, black_box(&content)));
            }),
            Box::new(|| {
                let _ = black_box(ours_std.verify(black_box(&headers), black_box(&body)));
            }),
            Box::new(|| {
                let _ = black_box(ours_std.verify(black_box(&pairs), black_box(&body)));
            }),
            Box::new(|| {
                let _ = black_box(svix.verify(black_box(&body), black_box(&headers)));
            }),
            Box::new(|| {
                let _ = black_box(stdwh.verify(black_box(&body), black_box(&headers)));
            }),
        ];
        let best = race(size, &mut contenders);
        row("standard", size, &names, &best);
    }
    for size in SIZES {
        let body = body(size);
        let headers: HeaderMap = Signer::new(Keyring::hex(HEX_SECRET).expect("valid secret"))
            .sign(ID, 0, &body)
            .expect("fixed inputs sign")
            .into_iter()
            .collect();
        let pairs: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        assert!(ours_hex.verify(&headers, &body).is_ok());
        let names = ["ring", "mailwire", "mailwire, pairs"];
        let mut contenders: Vec<Contender<'_>> = vec![
            Box::new(|| {
                black_box(hmac::sign(&raw_hex, black_box(&body)));
            }),
            Box::new(|| {
                let _ = black_box(ours_hex.verify(black_box(&headers), black_box(&body)));
            }),
            Box::new(|| {
                let _ = black_box(ours_hex.verify(black_box(&pairs), black_box(&body)));
            }),
        ];
        let best = race(size, &mut contenders);
        row("hex", size, &names, &best);
    }
}
