//! No gap left open: an agent on the WebSocket alone, with a store, killed, emails
//! sent while it is down, restarted: every email printed once, whether the
//! simulator can replay them (resume after the durable resume point) or retains too
//! little for that (the backfill reads them from the REST API).

mod common;

use std::collections::HashSet;
use std::io::Read as _;
use std::time::Duration;

use common::{HANG, Running, mailwire};

const KEY: &str = "sk_gaps";

/// What these tests read of a printed line.
trait Printed {
    /// The subject of the next event printed, and its event id.
    fn stdout_subject(&self) -> (String, String);
    /// The subject of the next event printed.
    fn stdout_id(&self) -> String;
}

impl Printed for Running {
    fn stdout_subject(&self) -> (String, String) {
        let v = self.stdout_line();
        let subject = v["event"]["message"]["subject"]
            .as_str()
            .unwrap()
            .to_owned();
        (subject, v["id"].as_str().unwrap().to_owned())
    }

    fn stdout_id(&self) -> String {
        self.stdout_subject().0
    }
}

fn dev(extra: &[&str]) -> (Running, String) {
    let mut args = vec!["--api-key", KEY];
    args.extend_from_slice(extra);
    common::dev(&args)
}

fn send(base: &str, subject: &str) {
    let out = mailwire()
        .args([
            "send",
            "--server",
            base,
            "--api-key",
            KEY,
            "--inbox",
            "ada@agentmail.to",
            "--from",
            "Bob <bob@example.com>",
            "--subject",
            subject,
            "--text",
            "hello",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn listen(base: &str, store: &str) -> Running {
    let ws = common::ws_url(base);
    let listen = Running::spawn(&["listen", "--ws", &ws, "--api-key", KEY, "--store", store]);
    listen.stderr_line("websocket: subscribed");
    listen
}

/// Two emails while up, five while down, two after the restart: each printed once.
fn down_and_up(dev_args: &[&str]) -> (Running, Running) {
    let (dev, base) = dev(dev_args);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.redb");
    let store = store.to_str().unwrap();

    let first = listen(&base, store);
    let mut printed = Vec::new();
    let mut last = String::new();
    for s in ["up-1", "up-2"] {
        send(&base, s);
        let (subject, id) = first.stdout_subject();
        printed.push(subject);
        last = id;
    }
    // The resume point is saved once the last event printed is acked: wait for it on
    // disk (a line printed but not yet acked when the process dies is printed again,
    // by design: at least once).
    let progress = format!("{store}.progress.json");
    let deadline = std::time::Instant::now() + HANG;
    while !std::fs::read_to_string(&progress).is_ok_and(|p| p.contains(&last)) {
        assert!(
            std::time::Instant::now() < deadline,
            "no resume point saved"
        );
        std::thread::yield_now();
    }
    first.kill9();

    for i in 1..=5 {
        send(&base, &format!("down-{i}"));
    }
    let second = listen(&base, store);
    for s in ["up-3", "up-4"] {
        send(&base, s);
    }
    for _ in 0..7 {
        printed.push(second.stdout_id());
    }
    let unique: HashSet<&String> = printed.iter().collect();
    assert_eq!(unique.len(), printed.len(), "printed twice: {printed:?}");
    let want: HashSet<String> = ["up-1", "up-2", "up-3", "up-4"]
        .into_iter()
        .map(str::to_owned)
        .chain((1..=5).map(|i| format!("down-{i}")))
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<HashSet<_>>(), want);
    // Nothing else comes.
    assert!(
        second
            .stdout
            .recv_timeout(Duration::from_millis(500))
            .is_err()
    );
    drop(dir);
    // The simulator too: the caller reads the listener's lines while it is up.
    (dev, second)
}

#[test]
fn a_restarted_agent_resumes_after_what_it_printed() {
    let (_dev, second) = down_and_up(&[]);
    drop(second);
}

#[test]
fn what_the_server_no_longer_retains_is_read_by_the_backfill() {
    // The simulator keeps only two events: resume cannot replay five.
    let (_dev, second) = down_and_up(&["--retain", "2"]);
    // Printed by tasks of their own: maybe before the `subscribed` line was read.
    let line = second.stderr_seen("websocket: gap");
    assert!(line.contains("no longer retains"), "{line}");
    let line = second.stderr_seen("backfill: for a gap");
    assert!(line.contains("messages found"), "{line}");
}

/// `POST /_sim/chaos` with this body.
fn chaos(base: &str, body: &str) {
    use std::io::Write as _;
    let addr = base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(HANG)).unwrap();
    write!(
        tcp,
        "POST /_sim/chaos HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
}

#[test]
fn a_websocket_outage_under_chaos_while_mail_keeps_coming_misses_nothing() {
    let (_dev, base) = dev(&["--retain", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.redb");
    let agent = listen(&base, store.to_str().unwrap());
    let mut printed = Vec::new();
    for i in 1..=3 {
        send(&base, &format!("before-{i}"));
        printed.push(agent.stdout_id());
    }
    // The WebSocket gateway goes down (REST carries on), with duplicates on the
    // WebSocket for good measure; six emails arrive meanwhile.
    chaos(
        &base,
        r#"{"seed":5,"ws_down":true,"drop_now":true,"duplicate_rate":0.3}"#,
    );
    agent.stderr_line("websocket: disconnected");
    for i in 1..=6 {
        send(&base, &format!("outage-{i}"));
    }
    chaos(&base, r#"{"seed":5,"duplicate_rate":0.3}"#);
    for i in 1..=3 {
        send(&base, &format!("after-{i}"));
    }
    for _ in 0..9 {
        printed.push(agent.stdout_id());
    }
    let unique: HashSet<&String> = printed.iter().collect();
    assert_eq!(unique.len(), 12, "printed twice: {printed:?}");
    assert!(
        agent
            .stdout
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing more"
    );
}
