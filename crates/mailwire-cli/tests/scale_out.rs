//! Several `mailwire listen --redis` processes, each with its own WebSocket to one
//! simulator, share one real Redis: every event is printed, each by one listener;
//! one listener is killed with SIGKILL mid-way and not restarted, and the events it
//! had claimed are taken over and printed by the live ones.
//!
//! Needs a Redis: `MAILWIRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and
//! `redis-cli`. The test works under a key prefix of its own and deletes only those
//! keys.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(60);
const KEY: &str = "sk_scale";
const EVENTS: usize = 300;

fn redis_url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-u")
        .arg(redis_url())
        .args(args)
        .output()
        .expect("redis-cli runs (a Redis is needed: MAILWIRE_TEST_REDIS_URL)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes the keys under the test's prefix (and only those) when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let keys = redis_cli(&["--scan", "--pattern", &format!("*{}*", self.0)]);
        for key in keys.lines().filter(|k| !k.is_empty()) {
            redis_cli(&["DEL", key]);
        }
    }
}

struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mailwire binary runs");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = lines(child.stderr.take().expect("piped"));
        Running {
            child,
            stdout,
            stderr,
        }
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

fn lines(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Emits one event through the simulator's control API.
fn emit(addr: &str, n: usize) {
    let body = format!(
        r#"{{"id":"evt_scale_{n:04}","type":"message.delivered","data":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{n}","message_id":"msg_{n}"}}}}"#
    );
    let mut conn = TcpStream::connect(addr).expect("the simulator accepts");
    write!(
        conn,
        "POST /_sim/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");
}

/// The printed line's event id.
fn id_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    v["id"].as_str().expect("an id").to_owned()
}

#[test]
fn listeners_sharing_redis_print_each_event_once_and_take_over_a_killed_ones() {
    let prefix = format!("mailwire-cli-scale-{}", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    let dev = Running::spawn(&["dev", "--listen", "127.0.0.1:0", "--api-key", KEY]);
    let base = dev
        .stderr_line("listening on ")
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let addr = base.trim_start_matches("http://").to_owned();
    let ws = format!("ws://{addr}/v0");
    let url = redis_url();

    let listeners: Vec<Running> = (0..3)
        .map(|n| {
            Running::spawn(&[
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
                &format!("listener-{n}"),
                "--lease-ms",
                "1000",
            ])
        })
        .collect();
    for l in &listeners {
        l.stderr_line("websocket: subscribed");
    }
    let mut listeners = listeners.into_iter();
    let mut doomed = listeners.next().unwrap();
    let survivors: Vec<Running> = listeners.collect();

    // Printed lines: event id -> who printed it.
    let mut printed: HashMap<String, Vec<usize>> = HashMap::new();
    for n in 0..EVENTS / 2 {
        emit(&addr, n);
    }
    // Mid-way, once the doomed listener has printed some events: SIGKILL.
    for _ in 0..5 {
        let line = doomed.stdout.recv_timeout(HANG).expect("listener 0 prints");
        printed.entry(id_of(&line)).or_default().push(0);
    }
    doomed.child.kill().expect("SIGKILL");
    doomed.child.wait().unwrap();
    // What it printed before it died is still in the pipe.
    while let Ok(line) = doomed.stdout.recv_timeout(HANG) {
        printed.entry(id_of(&line)).or_default().push(0);
    }
    for n in EVENTS / 2..EVENTS {
        emit(&addr, n);
    }

    // The survivors print the rest, the killed listener's claims included, while
    // they run: nobody restarts anything.
    while printed.len() < EVENTS {
        let mut progressed = false;
        for (k, s) in survivors.iter().enumerate() {
            while let Ok(line) = s.stdout.try_recv() {
                printed.entry(id_of(&line)).or_default().push(k + 1);
                progressed = true;
            }
        }
        if !progressed {
            // Wait on the first survivor's next line, bounded; then look again.
            match survivors[0].stdout.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => printed.entry(id_of(&line)).or_default().push(1),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("survivor 1 stopped: {e}"),
            }
        }
        assert!(
            printed.len() == EVENTS || !timed_out(&mut printed, HANG),
            "only {} of {EVENTS} events printed; pending in Redis: {}",
            printed.len(),
            redis_cli(&[
                "XPENDING",
                &format!("{{{prefix}:events}}:stream"),
                "mailwire",
                "-",
                "+",
                "20"
            ])
        );
    }
    // Every id is printed; what the killed listener printed and never acked is taken
    // over once its lease runs out, printed again by a survivor and acked. Wait for
    // the shared log to empty (bounded), collecting those lines.
    let stream = format!("{{{prefix}:events}}:stream");
    let deadline = std::time::Instant::now() + HANG;
    while redis_cli(&["XLEN", &stream]).trim() != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the shared log never emptied"
        );
        for (k, s) in survivors.iter().enumerate() {
            if let Ok(line) = s.stdout.recv_timeout(Duration::from_millis(50)) {
                printed.entry(id_of(&line)).or_default().push(k + 1);
            }
        }
    }
    // Stop the survivors cleanly: their acks are flushed before they exit.
    for s in &survivors {
        let pid = s.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        s.stderr_line("stopped");
    }
    for s in &survivors {
        if let Ok(line) = s.stdout.recv_timeout(Duration::from_millis(100)) {
            panic!("printed after all events were: {line}");
        }
    }

    assert_eq!(printed.len(), EVENTS, "every event printed");
    for (id, by) in &printed {
        match by.as_slice() {
            [_] => {}
            // The killed listener printed it and died before its ack: a survivor took
            // it over. Never printed twice by live listeners.
            [0, k] | [k, 0] if *k != 0 => {}
            other => panic!("{id} printed by {other:?}"),
        }
    }
    let by = |k: usize| printed.values().filter(|b| b.contains(&k)).count();
    assert!(by(1) > 0 && by(2) > 0, "both survivors print");
    // Everything printed was acknowledged: nothing is left in the shared log.
    assert_eq!(redis_cli(&["XLEN", &stream]).trim(), "0", "all acked");
}

/// A deadline on the whole wait, kept across calls.
fn timed_out(_printed: &mut HashMap<String, Vec<usize>>, limit: Duration) -> bool {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed() > limit
}
