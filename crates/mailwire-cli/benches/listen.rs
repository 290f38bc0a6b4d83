//! `mailwire listen --webhook-listen`, the built binary, side by side in one run:
//!
//! 1. **The store's cost**: one listener with the memory store, and with a redb
//!    file (`--store`). Prints events per second for each, and redb / memory.
//! 2. **Scaling out**: one and three listeners sharing a Redis (`--redis`, the
//!    senders spread over the listeners as a load balancer would), against the
//!    memory and redb rows of (1). Prints events per second and 3 / 1.
//!
//! 3. **The store's cost on the WebSocket**: `listen --ws` against an in-process
//!    simulator that sends a burst of events, memory against redb.
//!
//! Rows 1 and 2: signed webhooks (Standard Webhooks) from the same 16 keep-alive
//! senders on loopback, each sender one request at a time, timed from the first post
//! to the last line printed. Row 3: timed from the burst to the last line printed. Rounds alternate between the rows so a noisy machine
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

use mailwire_proto::fixtures;
use mailwire_sim::Simulator;
use mailwire_webhook::{Keyring, Signer};
use mailwire_webhook_sender::{Endpoint, WebhookSender};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SENDERS: usize = 16;
const KEY: &str = "sk_bench";

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

/// Events per round.
fn events() -> usize {
    if quick() { 400 } else { 4000 }
}

/// Rounds per row.
fn rounds() -> usize {
    if quick() { 1 } else { 3 }
}

/// How events reach the listeners.
#[derive(Clone, Copy)]
enum Feed<'a> {
    /// Signed webhooks from [`SENDERS`] senders.
    Webhooks,
    /// The simulator's WebSocket at this URL.
    WebSocket(&'a str),
}

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
    /// What it printed on standard error after it started receiving.
    said: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Listen {
    /// Panics with what the listener said.
    fn failed(&self, what: &str) -> ! {
        let said = self.said.lock().unwrap_or_else(|p| p.into_inner());
        panic!("{what}; the listener said:\n{}", said.join("\n"))
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one listener; its printed lines go to `lines`. Returns once it receives.
fn listen(
    backend: &Backend,
    feed: Feed<'_>,
    consumer: usize,
    lines: mpsc::Sender<String>,
) -> Listen {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailwire"));
    cmd.arg("listen");
    let ready = match feed {
        Feed::Webhooks => {
            cmd.args(["--webhook-listen", "127.0.0.1:0", "--secret", SECRET])
                .args(["--scheme", "standard"]);
            "receiving on "
        }
        Feed::WebSocket(url) => {
            cmd.args(["--ws", url, "--api-key", KEY]);
            "websocket: subscribed"
        }
    };
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
        .envs(std::env::var("BENCH_LOG").map(|l| ("RUST_LOG", l)))
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
        if let Some(at) = line.find(ready) {
            url = Some(line[at + ready.len()..].trim().to_owned());
            break;
        }
    }
    let said = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = said.clone();
    std::thread::spawn(move || {
        for line in err_lines.map_while(Result::ok) {
            keep.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
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
        url: url.expect("listen says it receives"),
        said,
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
        .map(|k| listen(backend, Feed::Webhooks, k, tx.clone()))
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
                for i in (s..events()).step_by(SENDERS) {
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
    for _ in 0..events() {
        if lines.recv_timeout(Duration::from_secs(120)).is_err() {
            listeners[0].failed("listen --webhook-listen did not print every event");
        }
    }
    let rate = events() as f64 / start.elapsed().as_secs_f64();
    drop(listeners);
    rate
}

/// Events per second printed by one `listen --ws` on `backend`, the simulator
/// sending a burst of them.
fn run_ws(sim: &Simulator, backend: &Backend, round: usize) -> f64 {
    let (tx, lines) = mpsc::channel();
    let url = sim.ws_url();
    let listener = listen(backend, Feed::WebSocket(&url), 0, tx);
    let start = Instant::now();
    sim.emit_all(
        (0..events()).map(|i| {
            fixtures::message_received(&format!("evt_ws_{round}_{i}"), "ada@agentmail.to")
        }),
    );
    for got in 0..events() {
        if lines.recv_timeout(Duration::from_secs(120)).is_err() {
            listener.failed(&format!("listen --ws printed {got} of {} events", events()));
        }
    }
    let rate = events() as f64 / start.elapsed().as_secs_f64();
    drop(listener);
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

/// One row of `cargo xtask bench`'s table.
fn row(bench: &str, case: &str, figure: f64, baseline: &str, baseline_figure: f64) {
    println!("bench-row\t{bench}\t{case}\t{figure:.0}\tevents/s\t{baseline}\t{baseline_figure:.0}");
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
    let sim = runtime.block_on(async {
        Simulator::builder()
            .api_key(KEY)
            .retain(events() + 1)
            .live_buffer(1 << 16)
            .bind("127.0.0.1:0")
            .await
            .expect("the simulator binds")
    });
    let (mut memory, mut redb, mut redis1, mut redis3) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ws_memory, mut ws_redb) = (Vec::new(), Vec::new());
    for round in 0..rounds() {
        let dir = tempfile::tempdir().unwrap();
        memory.push(run(&runtime, &Backend::Memory, 1, round));
        let file = dir.path().join("events.redb");
        redb.push(run(&runtime, &Backend::Redb(file), 1, round));
        ws_memory.push(run_ws(&sim, &Backend::Memory, round));
        let file = dir.path().join("ws.redb");
        ws_redb.push(run_ws(&sim, &Backend::Redb(file), round));
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
    let (n, k) = (events(), rounds());
    println!("listen --webhook-listen, {n} events, {SENDERS} senders, median of {k} rounds");
    println!("  memory store:   {m:>8.0} events/s");
    println!("  redb store:     {r:>8.0} events/s");
    println!("  redb / memory:  {:.2}x", r / m);
    let hooks = format!("cli: listen --webhook-listen, {SENDERS} senders");
    row(&hooks, "redb store", r, "memory store", m);
    let (wm, wr) = (median(&mut ws_memory), median(&mut ws_redb));
    println!("listen --ws, a burst of {n} events, median of {k} rounds");
    println!("  memory store:   {wm:>8.0} events/s");
    println!("  redb store:     {wr:>8.0} events/s");
    println!("  redb / memory:  {:.2}x", wr / wm);
    row(
        "cli: listen --ws, a burst",
        "redb store",
        wr,
        "memory store",
        wm,
    );
    if redis {
        let (one, three) = (median(&mut redis1), median(&mut redis3));
        println!("scaling out, the same senders spread over the listeners");
        println!("  1 listener, memory:  {m:>8.0} events/s");
        println!("  1 listener, redb:    {r:>8.0} events/s");
        println!("  1 listener, Redis:   {one:>8.0} events/s");
        println!("  3 listeners, Redis:  {three:>8.0} events/s");
        println!("  Redis 3 / 1:         {:.2}x", three / one);
        row(
            &hooks,
            "3 listeners on Redis",
            three,
            "1 listener on Redis",
            one,
        );
        row(
            &hooks,
            "1 listener on Redis",
            one,
            "1 listener, memory store",
            m,
        );
    }
}
