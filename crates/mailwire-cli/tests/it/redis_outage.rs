//! Store outages under `mailwire listen`: Redis killed (under webhooks, under the
//! WebSocket), a listener restarted on Redis, a stalled consumer, a full disk.
//!
//! Two `mailwire listen --webhook-listen --redis` receivers share a Redis of the
//! test's own (a `redis-server` child on a free loopback port, no persistence), and
//! that Redis is killed mid-run: while it is gone every webhook is answered 503,
//! never 2xx for an event that was not stored, and nothing is printed for it; the
//! receivers keep running, and once a Redis answers on that port again they store,
//! answer 200 and print again, each event once.
//!
//! Needs `redis-server` on the PATH. The system's Redis is never touched.

use crate::common;

use std::collections::HashMap;
use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_port, lines};
use mailwire_webhook::{Keyring, Signer};

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(60);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Events per phase: before the outage, during it, after it. Few: while Redis is
/// gone each answer waits for the store's reconnect attempts to fail.
const PHASE: usize = 10;

/// A `redis-server` of the test's own, killed when dropped.
struct RedisServer {
    child: Child,
}

impl RedisServer {
    /// Starts one on `port` and waits until it says it accepts connections.
    fn start(port: u16) -> RedisServer {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (it must be on the PATH)");
        let out = lines(child.stdout.take().expect("piped"));
        loop {
            let line = out
                .recv_timeout(HANG)
                .expect("redis-server says it is ready");
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in out {});
        RedisServer { child }
    }

    /// SIGKILL, and wait until it is gone (its port refuses connections).
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("redis-server reaped");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
struct Listen {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    addr: String,
}

impl Listen {
    fn start(redis: &str, consumer: &str) -> Listen {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args([
                "listen",
                "--webhook-listen",
                "127.0.0.1:0",
                "--secret",
                SECRET,
            ])
            .args(["--scheme", "standard", "--redis", redis])
            .args(["--redis-prefix", "outage", "--consumer", consumer])
            // Short leases: the merge's look for claims to take over runs during the
            // outage too, and must not stop the listener.
            .args(["--lease-ms", "400"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mailwire binary runs");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = lines(child.stderr.take().expect("piped"));
        let mut listen = Listen {
            child,
            stdout,
            stderr,
            addr: String::new(),
        };
        let line = listen.stderr_line("receiving on http://");
        let at = line.find("http://").unwrap() + "http://".len();
        listen.addr = line[at..].trim_end_matches("/webhooks").to_owned();
        listen
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

    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(status.is_none(), "the listener exited: {status:?}");
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn body(n: usize) -> String {
    format!(
        r#"{{"id":"evt_outage_{n:03}","type":"message.delivered","data":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{n}","message_id":"msg_{n}"}}}}"#
    )
}

/// POSTs event `n`, signed, as delivery `attempt`; returns the status and the body.
fn post(signer: &Signer, addr: &str, n: usize, attempt: usize) -> (u16, String) {
    let body = body(n);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let headers = signer
        .sign(&format!("msg_{n}_{attempt}"), ts, body.as_bytes())
        .expect("signed");
    let mut head = format!(
        "POST /webhooks HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    let mut tcp = TcpStream::connect(addr).expect("the receiver accepts");
    tcp.set_read_timeout(Some(HANG)).unwrap();
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let text = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, text)
}

fn id_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    v["id"].as_str().expect("an id").to_owned()
}

/// Collects printed lines (event id -> how many times) until `want` ids are in.
fn collect(listeners: &[Listen], printed: &mut HashMap<String, usize>, want: usize) {
    let deadline = Instant::now() + HANG;
    while printed.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} events printed",
            printed.len()
        );
        for l in listeners {
            // Bounded waits on each in turn: whichever printed is read.
            if let Ok(line) = l.stdout.recv_timeout(Duration::from_millis(20)) {
                *printed.entry(id_of(&line)).or_default() += 1;
            }
        }
    }
}

#[test]
fn receivers_answer_503_while_redis_is_gone_and_recover_when_it_returns() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let redis = RedisServer::start(port);
    let mut listeners = [Listen::start(&url, "r1"), Listen::start(&url, "r2")];
    let signer = Signer::new(Keyring::standard(SECRET).unwrap());
    let to = |n: usize| listeners[n % 2].addr.clone();
    let addrs = [to(0), to(1)];
    let mut printed: HashMap<String, usize> = HashMap::new();

    // Before: stored, answered 200 ok, printed.
    for n in 0..PHASE {
        assert_eq!(post(&signer, &addrs[n % 2], n, 0), (200, "ok".into()));
    }
    collect(&listeners, &mut printed, PHASE);

    // Redis goes away mid-run, with the listeners' acks and takeover looks going on.
    redis.kill();
    let outage = Instant::now();
    for n in PHASE..2 * PHASE {
        let (status, text) = post(&signer, &addrs[n % 2], n, 0);
        assert_eq!(
            status, 503,
            "event {n} answered {status} {text:?} with Redis gone"
        );
    }
    eprintln!(
        "a 503 with Redis gone took {:.0} ms on average",
        outage.elapsed().as_secs_f64() * 1000.0 / PHASE as f64
    );
    // A second delivery of each is refused alike: nothing was kept to call it a
    // duplicate of.
    for n in PHASE..2 * PHASE {
        let (status, text) = post(&signer, &addrs[(n + 1) % 2], n, 1);
        assert_eq!(status, 503, "event {n} again: {status} {text:?}");
    }
    for l in &mut listeners {
        l.assert_running();
    }

    // Redis returns on the same port (empty: it kept nothing). The sender retries
    // each refused event until it is stored; only 503s come before that.
    let _redis = RedisServer::start(port);
    let back = Instant::now();
    let deadline = Instant::now() + HANG;
    for n in PHASE..2 * PHASE {
        let mut attempt = 2;
        loop {
            let (status, text) = post(&signer, &addrs[n % 2], n, attempt);
            if status == 200 {
                assert_eq!(text, "ok", "event {n}: stored once, not a duplicate");
                break;
            }
            assert_eq!(status, 503, "event {n} answered {status} {text:?}");
            assert!(Instant::now() < deadline, "the receivers never recovered");
            attempt += 1;
        }
    }
    eprintln!(
        "the refused events stored {:.0} ms after Redis returned",
        back.elapsed().as_secs_f64() * 1000.0
    );
    // After: every new event stored and answered at once.
    for n in 2 * PHASE..3 * PHASE {
        assert_eq!(post(&signer, &addrs[n % 2], n, 0), (200, "ok".into()));
    }
    collect(&listeners, &mut printed, 3 * PHASE);

    // Stop both cleanly and read everything they printed, to the end.
    for l in &listeners {
        let pid = l.child.id().to_string();
        let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(killed.success());
        l.stderr_line("stopped");
    }
    for l in &listeners {
        while let Ok(line) = l.stdout.recv_timeout(HANG) {
            *printed.entry(id_of(&line)).or_default() += 1;
        }
    }
    assert_eq!(printed.len(), 3 * PHASE, "every event printed");
    for (id, times) in &printed {
        assert_eq!(*times, 1, "{id} printed {times} times");
    }
    for n in 0..3 * PHASE {
        assert!(
            printed.contains_key(&format!("evt_outage_{n:03}")),
            "event {n}"
        );
    }
}

const KEY: &str = "sk_outage";

/// Each email printed once, and nothing more comes for a moment.
fn assert_once_and_done(printed: &HashMap<String, usize>, stdout: &mpsc::Receiver<String>) {
    let twice: Vec<_> = printed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "printed twice: {twice:?}");
    assert!(
        stdout.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing more"
    );
}

/// `mailwire listen` on the simulator's WebSocket (and, with `webhooks`, a webhook
/// endpoint the simulator posts to), sharing the Redis at `redis` under `prefix`.
fn listen_ws(base: &str, redis: &str, prefix: &str, lease_ms: u64) -> common::Running {
    let ws = common::ws_url(base);
    let lease = lease_ms.to_string();
    let listen = common::Running::spawn(&[
        "listen",
        "--ws",
        &ws,
        "--api-key",
        KEY,
        "--redis",
        redis,
        "--redis-prefix",
        prefix,
        "--lease-ms",
        &lease,
        "--no-backfill",
    ]);
    listen.stderr_line("websocket: subscribed");
    listen
}

fn subject_of(line: &serde_json::Value) -> String {
    line["event"]["message"]["subject"]
        .as_str()
        .expect("a received email")
        .to_owned()
}

/// Redis killed under a WebSocket listener: what arrives on the WebSocket meanwhile
/// is held (the WebSocket is not read, the server buffers), never passed over, and
/// printed once when a Redis answers again.
#[test]
fn websocket_events_arriving_while_redis_is_gone_are_printed_once_it_returns() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let redis = RedisServer::start(port);
    let (_dev, base) = common::dev(&["--api-key", KEY]);
    let listen = listen_ws(&base, &url, "ws-outage", 2_000);
    let mut printed: HashMap<String, usize> = HashMap::new();
    for i in 0..5 {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("before-{i}"));
        *printed
            .entry(subject_of(&listen.stdout_line()))
            .or_default() += 1;
    }
    redis.kill();
    for i in 0..20 {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("during-{i}"));
    }
    // The outage is said once, and the listener carries on.
    listen.stderr_line("store");
    let _redis = RedisServer::start(port);
    while printed.len() < 25 {
        *printed
            .entry(subject_of(&listen.stdout_line()))
            .or_default() += 1;
    }
    for i in 0..20 {
        assert!(printed.contains_key(&format!("during-{i}")), "during-{i}");
    }
    assert_once_and_done(&printed, &listen.stdout);
}

/// The resume point lives in Redis: a `--redis` WebSocket listener stopped and
/// started again gets what arrived meanwhile, once.
#[test]
fn a_redis_websocket_listener_restarted_resumes_from_the_point_kept_in_redis() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let _redis = RedisServer::start(port);
    let (_dev, base) = common::dev(&["--api-key", KEY]);
    let first = listen_ws(&base, &url, "ws-restart", 60_000);
    let mut printed: HashMap<String, usize> = HashMap::new();
    for i in 0..3 {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("up-{i}"));
        *printed.entry(subject_of(&first.stdout_line())).or_default() += 1;
    }
    first.interrupt();
    for i in 0..10 {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("down-{i}"));
    }
    let second = listen_ws(&base, &url, "ws-restart", 60_000);
    while printed.len() < 13 {
        *printed
            .entry(subject_of(&second.stdout_line()))
            .or_default() += 1;
    }
    assert_once_and_done(&printed, &second.stdout);
}

/// Two listeners share Redis with a short lease; one of them cannot write its
/// stdout (nobody reads the pipe) for several leases. Its claims are renewed while
/// it holds their events, so the other never takes them over: each email is
/// printed by exactly one of them.
#[test]
fn a_stalled_consumer_keeps_its_claims_and_nothing_is_printed_twice() {
    // Short enough that a stall of a few leases takes seconds, long enough that a
    // renewal round (every third of it) is never late by a whole lease on a busy
    // machine: a lease that does lapse is taken over by design.
    const LEASE_MS: u64 = 1_500;
    const EMAILS: usize = 200;
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let _redis = RedisServer::start(port);
    let (_dev, base) = common::dev(&["--api-key", KEY]);
    let lease = LEASE_MS.to_string();
    let ws = common::ws_url(&base);
    // The stalled one: its stdout is a pipe read by nobody until later.
    let mut stalled = common::mailwire()
        .args(["listen", "--ws", &ws, "--api-key", KEY, "--redis", &url])
        .args([
            "--redis-prefix",
            "stall",
            "--lease-ms",
            &lease,
            "--no-backfill",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mailwire binary runs");
    let stalled_err = lines(stalled.stderr.take().expect("piped"));
    loop {
        let line = stalled_err
            .recv_timeout(HANG)
            .expect("the stalled one starts");
        if line.contains("websocket: subscribed") {
            break;
        }
    }
    let stalled_out = stalled.stdout.take().expect("piped");
    let reader = listen_ws(&base, &url, "stall", LEASE_MS);

    for i in 0..EMAILS {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("mail-{i}"));
    }
    // The stall under test: several leases with a full, unread pipe.
    // tidy: allow(sleep) the stall is the condition under test, not a wait for an event
    std::thread::sleep(Duration::from_millis(4 * LEASE_MS));
    let stalled_lines = lines(stalled_out);
    let mut printed: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + HANG;
    while printed.len() < EMAILS {
        assert!(Instant::now() < deadline, "only {} printed", printed.len());
        for rx in [&reader.stdout, &stalled_lines] {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(20)) {
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
                *printed.entry(subject_of(&v)).or_default() += 1;
            }
        }
    }
    // A copy printed twice would come within a few leases.
    let settle = Instant::now() + Duration::from_millis(2 * LEASE_MS);
    while Instant::now() < settle {
        for rx in [&reader.stdout, &stalled_lines] {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(20)) {
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
                *printed.entry(subject_of(&v)).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = printed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "printed by both: {} {twice:?}",
        twice.len()
    );
    let _ = stalled.kill();
    let _ = stalled.wait();
}

/// A small tmpfs of the test's own (mounting needs root, as the tests run: the test
/// fails rather than pass without having run), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test fills a small tmpfs for real, which needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A full disk under a WebSocket listener on a redb store: what arrives while the
/// disk is full is held (never passed over), and printed once space is freed,
/// without a restart.
#[test]
fn websocket_events_arriving_while_the_disk_is_full_are_printed_once_it_has_room() {
    let disk = SmallDisk::mount("8m");
    let store = disk.dir.path().join("events.redb");
    let (_dev, base) = common::dev(&["--api-key", KEY]);
    let ws = common::ws_url(&base);
    let listen = common::Running::spawn(&[
        "listen",
        "--ws",
        &ws,
        "--api-key",
        KEY,
        "--store",
        store.to_str().unwrap(),
        "--no-backfill",
    ]);
    listen.stderr_line("websocket: subscribed");
    let mut printed: HashMap<String, usize> = HashMap::new();
    for i in 0..3 {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("before-{i}"));
        *printed
            .entry(subject_of(&listen.stdout_line()))
            .or_default() += 1;
    }
    // The disk fills up.
    let ballast = disk.dir.path().join("ballast");
    {
        let mut file = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
    }
    // Emails until the store runs out of room (redb may still have free pages in
    // its file, so how many fit first varies): the outage is said on stderr, and
    // the listener carries on.
    let mut sent = 0;
    loop {
        common::post_email(&base, KEY, "ada@agentmail.to", &format!("full-{sent}"));
        sent += 1;
        let said = listen
            .stderr
            .recv_timeout(std::time::Duration::from_millis(200))
            .ok();
        if said.as_deref().is_some_and(|line| line.contains("store")) {
            break;
        }
        assert!(sent < 500, "the store never reported the full disk");
    }
    std::fs::remove_file(&ballast).unwrap();
    while printed.len() < 3 + sent {
        *printed
            .entry(subject_of(&listen.stdout_line()))
            .or_default() += 1;
    }
    assert_once_and_done(&printed, &listen.stdout);
    listen.interrupt();
}
