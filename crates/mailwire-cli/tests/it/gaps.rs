//! No gap left open: an agent on the WebSocket alone, with a store, stopped, emails
//! sent while it is down, restarted: every email printed once, whether the
//! simulator can replay them (resume after the durable resume point) or retains too
//! little for that (the backfill reads them from the REST API).

use crate::common;

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
    send_to(base, "ada@agentmail.to", subject);
}

fn send_to(base: &str, inbox: &str, subject: &str) {
    let out = mailwire()
        .args([
            "send",
            "--server",
            base,
            "--api-key",
            KEY,
            "--inbox",
            inbox,
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
    for s in ["up-1", "up-2"] {
        send(&base, s);
        printed.push(first.stdout_id());
    }
    // Stopped: every line printed is acked, and the resume point those acks moved
    // is saved in the store (no file beside it).
    first.interrupt();
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(beside, ["events.redb"], "nothing beside the store");

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

/// An inbox the listener never saw before a restart (its first mail came while it
/// was down), and one the REST API answers 404 for among `--inbox`: the backfill
/// reads the first from the store's checkpoint for the whole subscription, reports
/// the second and carries on.
#[test]
fn a_new_inbox_and_an_unknown_one_lose_nothing_across_a_restart() {
    // Two retained events: resume cannot replay what comes while it is down.
    let (_dev, base) = dev(&["--retain", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.redb");
    let ws = common::ws_url(&base);
    let args = [
        "listen",
        "--ws",
        &ws,
        "--api-key",
        KEY,
        "--store",
        store.to_str().unwrap(),
        "--inbox",
        "ada@agentmail.to",
        "--inbox",
        "late@agentmail.to",
        "--inbox",
        "ghost@agentmail.to",
    ];
    let first = Running::spawn(&args);
    first.stderr_line("websocket: subscribed");
    send(&base, "first");
    let mut printed = vec![first.stdout_id()];
    first.interrupt();

    for i in 1..=4 {
        send(&base, &format!("ada-{i}"));
        send_to(&base, "late@agentmail.to", &format!("late-{i}"));
    }
    let second = Running::spawn(&args);
    second.stderr_line("websocket: subscribed");
    for _ in 0..8 {
        printed.push(second.stdout_id());
    }
    let unique: HashSet<&String> = printed.iter().collect();
    assert_eq!(unique.len(), 9, "printed twice: {printed:?}");
    for i in 1..=4 {
        assert!(
            unique.contains(&format!("late-{i}")),
            "late-{i}: {printed:?}"
        );
        assert!(unique.contains(&format!("ada-{i}")), "ada-{i}: {printed:?}");
    }
    let line = second.stderr_seen("ghost@agentmail.to");
    assert!(line.contains("404"), "{line}");
    assert!(
        second
            .stdout
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing more"
    );
}

/// A backfill URL that is not the REST API (no `/v0`) is refused at start, saying
/// what a base URL looks like.
#[test]
fn a_backfill_url_that_is_not_the_api_is_refused_at_start() {
    let (_dev, base) = dev(&[]);
    let ws = common::ws_url(&base);
    let out = mailwire()
        .args(["listen", "--ws", &ws, "--api-key", KEY, "--backfill", &base])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--backfill") && err.contains("/v0"), "{err}");
}
