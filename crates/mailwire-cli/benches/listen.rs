//! `mailwire listen --webhook-listen`, the built binary, side by side in one run:
//!
//! 1. **The store's cost**: one listener with the memory store, and with a redb
//!    file (`--store`). Prints events per second for each, and redb / memory.
//! 2. **Scaling out**: one and three listeners sharing a Redis (`--redis`, the
//!    senders spread over the listeners as a load balancer would), against the
//!    memory and redb rows of (1). Prints events per second and 3 / 1.
//!
//! Every row: signed webhooks (Standard Webhooks) from the same 16 keep-alive
//! senders on loopback, each sender one request at a time, timed from the first post
//! to the last line printed. Rounds alternate between the rows so a noisy machine
//! hurts all alike; read the ratios. The median of the rounds is shown.
//!
//! `cargo bench -p mailwire-cli --bench listen` (release build). The Redis rows use
//! `MAILWIRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) under a key prefix of
//! their own, deleted after each round; they are skipped when no Redis answers.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mailwire_webhook::{Keyring, Signer};
use mailwire_webhook_http::{Endpoint, WebhookSender};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: usize = 4000;
const SENDERS: usize = 16;
const ROUNDS: usize = 3;

/// Where a listener keeps its events.
#[derive(Clone)]
enum Backend {
    Memory,
    Redb(PathBuf),
    Redis { url: String, prefix: String },
}

struct Listen {
    child: Child,
    url: String,
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one listener; its printed lines go to `lines`.
fn listen(backend: &Backend, consumer: usize, lines: mpsc::Sender<String>) -> Listen {
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
    match backend {
        Backend::Memory => {}
        Backend::Redb(path) => {
            cmd.arg("--store").arg(path);
        }
        Backend::Redis { url, prefix } => {
            cmd.args(["--redis", url, "--redis-prefix", prefix])
                .args(["--consumer", &format!("bench-{consumer}")]);
        }
    }
    let mut child = cmd
        .env_remove("RUST_LOG")
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
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    Listen {
        child,
        url: url.expect("listen says where it receives webhooks"),
    }
}

/// Events per second printed by `instances` listeners on `backend`, the senders
/// spread over them.
fn run(
    runtime: &tokio::runtime::Runtime,
    backend: &Backend,
    instances: usize,
    round: usize,
) -> f64 {
    let (tx, lines) = mpsc::channel();
    let listeners: Vec<Listen> = (0..instances)
        .map(|k| listen(backend, k, tx.clone()))
        .collect();
    drop(tx);
    let signer = Signer::new(Keyring::standard(SECRET).unwrap());
    let endpoints: Vec<Endpoint> = listeners
        .iter()
        .map(|l| Endpoint::new(&l.url, signer.clone()).unwrap())
        .collect();
    let sender = Arc::new(WebhookSender::new().unwrap());
    let start = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for s in 0..SENDERS {
            let (sender, endpoint) = (sender.clone(), endpoints[s % instances].clone());
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
        lines
            .recv_timeout(Duration::from_secs(120))
            .expect("listen prints every event");
    }
    let rate = EVENTS as f64 / start.elapsed().as_secs_f64();
    drop(listeners);
    rate
}

fn redis_url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_cli(args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(redis_url())
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Deletes every key under `prefix` (and only those).
fn delete_keys(prefix: &str) {
    let keys = redis_cli(&["--scan", "--pattern", &format!("*{prefix}*")]).unwrap_or_default();
    let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    for chunk in keys.chunks(500) {
        let mut args = vec!["DEL"];
        args.extend(chunk);
        redis_cli(&args);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs this with no time to spare: nothing there.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = redis_cli(&["PING"]).is_some_and(|p| p.trim() == "PONG");
    if !redis {
        eprintln!("no Redis at {}: the Redis rows are skipped", redis_url());
    }
    let (mut memory, mut redb, mut redis1, mut redis3) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        memory.push(run(&runtime, &Backend::Memory, 1, round));
        let file = dir.path().join("events.redb");
        redb.push(run(&runtime, &Backend::Redb(file), 1, round));
        if redis {
            for (instances, rates) in [(1, &mut redis1), (3, &mut redis3)] {
                let prefix = format!("mailwire-bench-{}-{round}-{instances}", std::process::id());
                let backend = Backend::Redis {
                    url: redis_url(),
                    prefix: prefix.clone(),
                };
                rates.push(run(&runtime, &backend, instances, round));
                delete_keys(&prefix);
            }
        }
    }
    let (m, r) = (median(&mut memory), median(&mut redb));
    println!(
        "listen --webhook-listen, {EVENTS} events, {SENDERS} senders, median of {ROUNDS} rounds"
    );
    println!("  memory store:   {m:>8.0} events/s");
    println!("  redb store:     {r:>8.0} events/s");
    println!("  redb / memory:  {:.2}x", r / m);
    if redis {
        let (one, three) = (median(&mut redis1), median(&mut redis3));
        println!("scaling out, the same senders spread over the listeners");
        println!("  1 listener, memory:  {m:>8.0} events/s");
        println!("  1 listener, redb:    {r:>8.0} events/s");
        println!("  1 listener, Redis:   {one:>8.0} events/s");
        println!("  3 listeners, Redis:  {three:>8.0} events/s");
        println!("  Redis 3 / 1:         {:.2}x", three / one);
    }
}
