//! Three `mailwire listen --redis` processes share one real Redis, each with its own
//! WebSocket to one simulator, two of them also receiving the simulator's webhooks
//! (two registered endpoints): 10,000 events, each coming in five copies over both
//! transports, every one printed, each by one listener. The listener with the first
//! receiver is killed with SIGKILL mid-way and not restarted: the survivors take
//! over what it had claimed and not acked, while they run, and print it once.
//!
//! Needs a Redis: `MAILWIRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and
//! `redis-cli`. The test works under a key prefix of its own and deletes only those
//! keys. `MAILWIRE_SCALE_EVENTS` changes the number of events.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{RedisCleanup, free_port, lines, redis_cli, redis_url};
use mailwire_proto::Event;
use mailwire_sim::{Simulator, WebhookSpec};

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(120);
const KEY: &str = "sk_scale";
/// The lease: a killed listener's claims are taken over once it runs out.
const LEASE_MS: u64 = 1000;
/// The emitter stays at most this many events ahead of what is printed.
const MAX_LAG: usize = 1500;
const BATCH: usize = 250;

fn events() -> usize {
    std::env::var("MAILWIRE_SCALE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// One listener process; its stdout lines go to the shared channel, tagged.
struct Running {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Spawns listener `k`. Once `pause` is set, its stdout is no longer read (but
    /// kept open) until `resume` says so: when the pipe is full its printing, and
    /// so its acks, stop.
    fn spawn(
        k: usize,
        args: &[String],
        out: mpsc::Sender<(usize, String)>,
        pause: Arc<AtomicBool>,
        resume: mpsc::Receiver<()>,
    ) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mailwire binary runs");
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            while !pause.load(Ordering::SeqCst) {
                line.clear();
                match stdout.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if out.send((k, line.trim_end().to_owned())).is_err() {
                            return;
                        }
                    }
                }
            }
            // Paused: the pipe stays open, unread, until the test resumes reading
            // (once the process is gone): then what it printed meanwhile is read.
            let _ = resume.recv();
            for line in stdout.lines().map_while(Result::ok) {
                if out.send((k, line)).is_err() {
                    return;
                }
            }
        });
        let stderr = lines(child.stderr.take().expect("piped"));
        Running { child, stderr }
    }

    fn stderr_line(&self, needle: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("no stderr line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(n: usize) -> Event {
    Event::parse(
        format!(
            r#"{{"id":"evt_scale_{n:05}","type":"message.delivered","data":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{n}","message_id":"msg_{n}"}}}}"#
        )
        .into_bytes(),
    )
    .expect("an event")
}

/// What the listeners printed: event id -> who printed it, and by which transport.
#[derive(Default)]
struct Printed {
    by: HashMap<String, Vec<usize>>,
    origins: HashMap<String, usize>,
}

impl Printed {
    fn add(&mut self, k: usize, line: &str) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let id = v["id"].as_str().expect("an id").to_owned();
        self.by.entry(id).or_default().push(k);
        let origin = v["origin"].as_str().expect("an origin").to_owned();
        *self.origins.entry(origin).or_default() += 1;
    }

    fn by(&self, k: usize) -> usize {
        self.by.values().filter(|b| b.contains(&k)).count()
    }
}

/// How many entries of the shared log are pending with `consumer` (claimed, not
/// acked).
fn pending_with(stream: &str, consumer: &str) -> usize {
    let summary = redis_cli(&["XPENDING", stream, "mailwire"]);
    let lines: Vec<&str> = summary.lines().map(str::trim).collect();
    lines
        .iter()
        .position(|l| *l == consumer)
        .and_then(|at| lines.get(at + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_listeners_and_two_receivers_sharing_redis_print_each_event_once_and_take_over_a_killed_ones()
 {
    let mut total = events();
    let prefix = format!("mailwire-cli-scale-{}", std::process::id());
    let _cleanup = RedisCleanup(prefix.clone());
    let stream = format!("{{{prefix}:events}}:stream");
    let sim = Simulator::builder()
        .api_key(KEY)
        // The simulator's retry schedule to a dead endpoint, a thousand times faster.
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let ws = sim.ws_url();
    let url = redis_url();

    // Listener 0 (to be killed) and listener 1 each receive one registered webhook;
    // listener 2 has only its WebSocket.
    let (out, printed_rx) = mpsc::channel();
    let pauses: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::default()).collect();
    let mut resumes = Vec::new();
    let mut listeners = Vec::new();
    for (k, pause) in pauses.iter().enumerate() {
        let mut args: Vec<String> = [
            "listen",
            "--ws",
            &ws,
            "--api-key",
            KEY,
            "--redis",
            &url,
            "--redis-prefix",
            &prefix,
            "--consumer",
            &format!("listener-{k}"),
            "--lease-ms",
            &LEASE_MS.to_string(),
        ]
        .map(String::from)
        .to_vec();
        if k < 2 {
            let addr = format!("127.0.0.1:{}", free_port());
            let hook = sim
                .register_webhook(WebhookSpec::new(format!("http://{addr}/webhooks")))
                .await
                .unwrap();
            args.extend(
                [
                    "--webhook-listen",
                    &addr,
                    "--secret",
                    &hook.secret,
                    "--scheme",
                    "standard",
                ]
                .map(String::from),
            );
        }
        let (resume_tx, resume) = mpsc::channel();
        resumes.push(resume_tx);
        listeners.push(Running::spawn(k, &args, out.clone(), pause.clone(), resume));
    }
    drop(out);
    for (k, l) in listeners.iter().enumerate() {
        if k < 2 {
            l.stderr_line("webhooks: receiving on");
        }
        l.stderr_line("websocket: subscribed");
    }

    let mut printed = Printed::default();
    let collect = |printed: &mut Printed, wait: Duration| -> bool {
        match printed_rx.recv_timeout(wait) {
            Ok((k, line)) => {
                printed.add(k, &line);
                while let Ok((k, line)) = printed_rx.try_recv() {
                    printed.add(k, &line);
                }
                true
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("every listener stopped"),
        }
    };

    let mut emitted = 0;
    let mut killed_at = None;
    // Claimed by the killed listener and never acked: the survivors take these over.
    let mut held_by_killed = 0;
    // Each wait is bounded by HANG from the last progress seen, never the whole run
    // (a slow machine takes minutes over all of it).
    let mut deadline = Instant::now() + HANG;
    while emitted < total {
        // Bounded lag: the emitter waits (on lines, bounded) for the listeners.
        while emitted >= printed.by.len() + MAX_LAG {
            assert!(Instant::now() < deadline, "the listeners stopped printing");
            if collect(&mut printed, Duration::from_millis(100)) {
                deadline = Instant::now() + HANG;
            }
        }
        let batch = BATCH.min(total - emitted);
        sim.emit_all((emitted..emitted + batch).map(event));
        emitted += batch;
        while collect(&mut printed, Duration::ZERO) {}
        if killed_at.is_none() && emitted >= total / 2 {
            // Mid-way, once the doomed listener has printed: SIGKILL, no restart.
            deadline = Instant::now() + HANG;
            while printed.by(0) == 0 {
                assert!(Instant::now() < deadline, "listener 0 never printed");
                collect(&mut printed, Duration::from_millis(100));
            }
            deadline = Instant::now() + HANG;
            // Its printing is stopped first (its stdout no longer read), so that it
            // holds claims it will never ack: once it holds some, SIGKILL.
            pauses[0].store(true, Ordering::SeqCst);
            // Frozen (SIGSTOP) while its claims are counted, so none is acked
            // between the count and the SIGKILL; thawed and tried again while it
            // holds none yet.
            let pids: Vec<String> = listeners.iter().map(|l| l.child.id().to_string()).collect();
            let signal = |name: &str, pid: &str| {
                let ok = Command::new("kill").args([name, pid]).status();
                assert!(ok.is_ok_and(|s| s.success()), "kill {name} {pid}");
            };
            held_by_killed = loop {
                signal("-STOP", &pids[0]);
                let held = pending_with(&stream, "listener-0");
                if held > 0 {
                    break held;
                }
                signal("-CONT", &pids[0]);
                assert!(Instant::now() < deadline, "listener 0 never held a claim");
                // More events (past the planned total if need be: all of them are
                // counted), while the other listeners are frozen so that listener 0
                // claims them: it prints them into its unread pipe until that is full,
                // and then holds what it claimed. On a busy machine the others would
                // otherwise win nearly every claim.
                for pid in &pids[1..] {
                    signal("-STOP", pid);
                }
                sim.emit_all((emitted..emitted + BATCH).map(event));
                emitted += BATCH;
                total = total.max(emitted);
                while pending_with(&stream, "listener-0") == 0 {
                    assert!(Instant::now() < deadline, "listener 0 never claimed");
                    collect(&mut printed, Duration::from_millis(20));
                }
                for pid in &pids[1..] {
                    signal("-CONT", pid);
                }
            };
            listeners[0].child.kill().expect("SIGKILL");
            listeners[0].child.wait().unwrap();
            killed_at = Some(Instant::now());
            // What it printed (and perhaps acked) while its stdout was not read.
            let _ = resumes[0].send(());
        }
    }

    // The survivors print the rest, the killed listener's claims included, while
    // they run; then the shared log empties (every event acked).
    let total = total;
    deadline = Instant::now() + HANG;
    let mut seen = printed.by.len();
    while printed.by.len() < total || redis_cli(&["XLEN", &stream]).trim() != "0" {
        assert!(
            Instant::now() < deadline,
            "{} of {total} events printed; {} left in the log; pending: {}",
            printed.by.len(),
            redis_cli(&["XLEN", &stream]).trim(),
            redis_cli(&["XPENDING", &stream, "mailwire", "-", "+", "10"])
        );
        collect(&mut printed, Duration::from_millis(50));
        if printed.by.len() > seen {
            seen = printed.by.len();
            deadline = Instant::now() + HANG;
        }
    }
    let killed_at = killed_at.expect("listener 0 was killed");
    eprintln!(
        "every event printed and acked {:.1} s after the kill (lease {LEASE_MS} ms); \
         the killed listener held {held_by_killed} claims",
        killed_at.elapsed().as_secs_f64()
    );

    // Every event also went through the surviving receiver as a webhook (answered
    // 2xx: stored, or a duplicate of what was stored); those late copies must not be
    // printed again.
    let webhooks = tokio::time::timeout(HANG, sim.wait_webhooks(|s| s.delivered >= total as u64))
        .await
        .unwrap_or_else(|_| panic!("webhooks delivered: {:?}", sim.webhook_stats()));
    eprintln!("webhooks: {webhooks:?}");

    // Stop the survivors cleanly and read all they printed, to the end.
    for l in &listeners[1..] {
        let pid = l.child.id().to_string();
        let signalled = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(signalled.success());
        l.stderr_line("stopped");
    }
    while let Ok((k, line)) = printed_rx.recv_timeout(HANG) {
        printed.add(k, &line);
    }

    assert_eq!(printed.by.len(), total, "every event printed");
    let mut taken_over = 0;
    for (id, by) in &printed.by {
        match by.as_slice() {
            [_] => {}
            // The killed listener printed it and died before its ack: a survivor took
            // it over. Never printed twice by live listeners.
            [0, k] | [k, 0] if *k != 0 => taken_over += 1,
            other => panic!("{id} printed by {other:?}"),
        }
    }
    eprintln!(
        "printed by listener 0 (killed): {}, 1: {}, 2: {}; again after the kill: {taken_over}; by origin: {:?}",
        printed.by(0),
        printed.by(1),
        printed.by(2),
        printed.origins
    );
    assert!(
        printed.by(1) > 0 && printed.by(2) > 0,
        "both survivors print"
    );
    // What the killed listener held was taken over from the shared log and printed
    // by a survivor ("origin":"log"); the shared log is empty.
    assert!(held_by_killed > 0, "the killed listener held claims");
    let from_log = printed.origins.get("log").copied().unwrap_or(0);
    assert!(
        from_log >= held_by_killed,
        "{held_by_killed} claims held by the killed listener, {from_log} taken over"
    );
    assert!(
        printed.origins.get("websocket").is_some_and(|&n| n > 0),
        "events printed from the WebSocket: {:?}",
        printed.origins
    );
    assert_eq!(redis_cli(&["XLEN", &stream]).trim(), "0", "all acked");
}
