//! Mail into the simulator over SMTP against the same mail through its JSON
//! injection route (`POST /_sim/inboxes/{inbox}/messages`), in the same run: 8
//! clients at once, each on a connection of its own kept open, 20 KiB messages. A
//! message counts once the client has the server's answer (250, or 200), which
//! comes after it is stored and its `message.received` published. SMTP clients
//! pipeline MAIL, RCPT and DATA, as PIPELINING lets them. Prints both rates and
//! `cargo xtask bench` rows. The goal: at least 1,000 emails/s over SMTP (ten times
//! Mailpit's published 70-100).
//!
//! `cargo bench -p mailwire-sim --bench smtp`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mailwire_sim::Simulator;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

const CLIENTS: usize = 8;
const SIZE: usize = 20 * 1024;
/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(120);

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

/// Emails per client and contender.
fn per_client() -> usize {
    if quick() { 10 } else { 500 }
}

/// A body of `SIZE` bytes in lines of 76 characters.
fn body() -> String {
    let line = "The quick brown fox jumps over the lazy dog, and the agent reads it all. 0123\r\n";
    line.repeat(SIZE / line.len() + 1)[..SIZE].to_owned()
}

/// Reads one SMTP reply (its last line) and checks its code.
async fn expect(reader: &mut BufReader<TcpStream>, code: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await.expect("a reply");
        assert!(n > 0, "the server closed the connection");
        // `250-...` continues, `250 ...` ends the reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    assert!(line.starts_with(code), "expected {code}, got {line:?}");
}

/// One SMTP client sending `n` messages on one connection, pipelined.
async fn smtp_client(addr: std::net::SocketAddr, client: usize, n: usize, text: &str) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut conn = BufReader::new(tcp);
    expect(&mut conn, "220").await;
    conn.write_all(b"EHLO bench\r\n").await.expect("write");
    expect(&mut conn, "250").await;
    for i in 0..n {
        let message = format!(
            "MAIL FROM:<bench{client}@example.com>\r\nRCPT TO:<inbox{client}@agentmail.to>\r\nDATA\r\n\
             From: bench{client}@example.com\r\nTo: inbox{client}@agentmail.to\r\n\
             Subject: message {i}\r\nMessage-ID: <b{client}.{i}@example.com>\r\n\r\n{text}\r\n.\r\n"
        );
        conn.write_all(message.as_bytes()).await.expect("write");
        for code in ["250", "250", "354", "250"] {
            expect(&mut conn, code).await;
        }
    }
    conn.write_all(b"QUIT\r\n").await.expect("write");
    expect(&mut conn, "221").await;
}

/// One HTTP client injecting `n` messages through the JSON route, kept alive.
async fn json_client(base: &str, client: usize, n: usize, text: &str) {
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for i in 0..n {
        let body = serde_json::json!({
            "from": format!("bench{client}@example.com"),
            "to": [format!("json{client}@agentmail.to")],
            "subject": format!("message {i}"),
            "message_id": format!("<j{client}.{i}@example.com>"),
            "text": text,
        });
        let req = hyper::Request::post(format!(
            "{base}/_sim/inboxes/json{client}%40agentmail.to/messages"
        ))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a request");
        let res = http.request(req).await.expect("an answer");
        assert_eq!(res.status(), 200);
        res.into_body().collect().await.expect("the body");
    }
}

/// Emails per second for `CLIENTS` clients at once, each running `run(client)`.
async fn rate<F: Future<Output = ()> + Send + 'static>(run: impl Fn(usize) -> F) -> f64 {
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS).map(|c| tokio::spawn(run(c))).collect();
    for client in clients {
        tokio::time::timeout(HANG, client)
            .await
            .expect("a client hung")
            .expect("a client failed");
    }
    (CLIENTS * per_client()) as f64 / started.elapsed().as_secs_f64()
}

/// One row of `cargo xtask bench`'s table.
fn row(bench: &str, case: &str, figure: f64, unit: &str, baseline: &str, baseline_figure: f64) {
    println!("bench-row\t{bench}\t{case}\t{figure:.0}\t{unit}\t{baseline}\t{baseline_figure:.0}");
}

fn main() {
    // Only `cargo bench` (which passes `--bench`) runs it: `cargo test --benches`
    // passes no argument to a bench without the libtest harness.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let sim = Simulator::builder()
            .bind("127.0.0.1:0")
            .await
            .expect("the simulator binds");
        let smtp = sim.serve_smtp("127.0.0.1:0").await.expect("SMTP binds");
        let base = sim.http_url();
        let text = body();
        let n = per_client();
        // Warm-up: connections, the allocator, both paths.
        let t = text.clone();
        rate(move |c| {
            let t = t.clone();
            async move { smtp_client(smtp, c, 2, &t).await }
        })
        .await;
        let (b, t) = (base.clone(), text.clone());
        rate(move |c| {
            let (b, t) = (b.clone(), t.clone());
            async move { json_client(&b, c, 2, &t).await }
        })
        .await;
        // Measured, alternating, twice each: a noisy machine hurts both alike.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let t = text.clone();
            ours.push(
                rate(move |c| {
                    let t = t.clone();
                    async move { smtp_client(smtp, c, n, &t).await }
                })
                .await,
            );
            let (b, t) = (base.clone(), text.clone());
            theirs.push(
                rate(move |c| {
                    let (b, t) = (b.clone(), t.clone());
                    async move { json_client(&b, c, n, &t).await }
                })
                .await,
            );
        }
        let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let (smtp_rate, json_rate) = (best(&ours), best(&theirs));
        println!(
            "smtp ingest: {CLIENTS} clients, {} KiB messages, {n} each",
            SIZE / 1024
        );
        println!("  SMTP (pipelined):        {smtp_rate:>8.0} emails/s (goal: at least 1000)");
        println!("  JSON injection route:    {json_rate:>8.0} emails/s");
        row(
            "dev: mail in, 8 clients, 20 KiB",
            "SMTP",
            smtp_rate,
            "emails/s",
            "JSON injection route",
            json_rate,
        );
    });
}
