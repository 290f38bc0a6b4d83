//! `mailwire listen --webhook-listen`, the built binary, with the memory store and
//! with a redb file (`--store`), side by side in one run: signed webhooks from 16
//! keep-alive senders on loopback, timed from the first post to the last line
//! printed. Prints events per second for each, and the ratio redb / memory.
//!
//! `cargo bench -p mailwire-cli --bench listen` (release build). Rounds alternate
//! between the two stores so a noisy machine hurts both alike; read the ratio.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwire_webhook::{Keyring, Signer};
use mailwire_webhook_http::{Endpoint, WebhookSender};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: usize = 4000;
const SENDERS: usize = 16;
const ROUNDS: usize = 3;

struct Listen {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    url: String,
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(store: Option<&std::path::Path>) -> Listen {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailwire"));
    cmd.args([
        "listen",
        "--webhook-listen",
        "127.0.0.1:0",
        "--secret",
        SECRET,
        "--scheme",
        "standard",
    ]);
    if let Some(path) = store {
        cmd.arg("--store").arg(path);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mailwire binary runs");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut url = None;
    let mut err_lines = stderr.lines();
    for line in err_lines.by_ref() {
        let line = line.unwrap();
        if let Some(at) = line.find("receiving on ") {
            url = Some(line[at + "receiving on ".len()..].trim().to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in err_lines {});
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Listen {
        child,
        lines,
        url: url.expect("listen says where it receives webhooks"),
    }
}

/// Events per second printed by one listen run.
fn run(runtime: &tokio::runtime::Runtime, store: Option<&std::path::Path>, round: usize) -> f64 {
    let listen = listen(store);
    let endpoint =
        Endpoint::new(&listen.url, Signer::new(Keyring::standard(SECRET).unwrap())).unwrap();
    let sender = Arc::new(WebhookSender::new().unwrap());
    let start = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for s in 0..SENDERS {
            let (sender, endpoint) = (sender.clone(), endpoint.clone());
            tasks.push(tokio::spawn(async move {
                for i in (s..EVENTS).step_by(SENDERS) {
                    let body = format!(
                        r#"{{"id":"evt_{round}_{i}","type":"message.delivered","data":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{i}","message_id":"msg_{i}"}}}}"#
                    );
                    let outcome = sender.send(&endpoint, &format!("msg_{round}_{i}"), body.into()).await;
                    assert!(outcome.is_delivered(), "{outcome:?}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    for _ in 0..EVENTS {
        listen
            .lines
            .recv_timeout(Duration::from_secs(120))
            .expect("listen prints every event");
    }
    EVENTS as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs this with no time to spare: one tiny round there.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut memory, mut redb) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        memory.push(run(&runtime, None, round));
        redb.push(run(&runtime, Some(&dir.path().join("events.redb")), round));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (m, r) = (median(&mut memory), median(&mut redb));
    println!(
        "listen --webhook-listen, {EVENTS} events, {SENDERS} senders, median of {ROUNDS} rounds"
    );
    println!("  memory store: {m:>8.0} events/s");
    println!("  redb store:   {r:>8.0} events/s");
    println!("  redb / memory: {:.2}x", r / m);
}
