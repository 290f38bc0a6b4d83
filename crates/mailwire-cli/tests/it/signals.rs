//! `docker stop` and systemd send SIGTERM, a closed terminal SIGHUP: `mailwire
//! listen` shuts down as on Ctrl-C. Under load (emails arriving on the WebSocket and as webhooks at once), a
//! SIGTERM loses nothing: the summary counts exactly the lines on stdout, every line
//! printed is acknowledged before the exit, and a restart on the same store prints
//! each remaining email once and none of those already printed.

use crate::common;

use std::collections::HashMap;

use common::{Running, free_port, post_email, register_webhook_with_key, ws_url};

const KEY: &str = "sk_signals";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EMAILS: usize = 300;
/// Lines printed before the SIGTERM.
const BEFORE: usize = 60;

fn listen(ws: &str, port: u16, store: &str) -> Running {
    let listen = Running::spawn(&[
        "listen",
        "--ws",
        ws,
        "--api-key",
        KEY,
        "--webhook-listen",
        &format!("127.0.0.1:{port}"),
        "--secret",
        SECRET,
        "--scheme",
        "standard",
        "--store",
        store,
        "--no-backfill",
    ]);
    listen.stderr_line("websocket: subscribed");
    listen
}

fn subject(line: &serde_json::Value) -> String {
    line["event"]["message"]["subject"]
        .as_str()
        .expect("a received email")
        .to_owned()
}

#[test]
fn sigterm_during_a_load_run_loses_nothing_and_the_summary_matches_stdout() {
    stop_during_a_load_run("TERM");
}

/// A closed terminal or a supervisor sends SIGHUP: without --tenants (where it
/// reloads the file) it stops the same graceful way, never kills the process.
#[test]
fn sighup_without_tenants_stops_as_gracefully_as_sigterm() {
    stop_during_a_load_run("HUP");
}

/// A simulator, a store and a webhook port: one listener after another, under
/// EMAILS emails arriving on the WebSocket and as webhooks at once.
struct LoadRun {
    _dev: common::Running,
    base: String,
    _dir: tempfile::TempDir,
    store: String,
    port: u16,
    ws: String,
}

impl LoadRun {
    fn start() -> LoadRun {
        let (dev, base) = common::dev(&["--api-key", KEY]);
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("events.redb").to_str().unwrap().to_owned();
        let ws = ws_url(&base);
        LoadRun {
            _dev: dev,
            base,
            _dir: dir,
            store,
            port: free_port(),
            ws,
        }
    }

    /// The first listener, with the simulator's webhooks pointed at it.
    fn listen(&self) -> Running {
        let first = listen(&self.ws, self.port, &self.store);
        register_webhook_with_key(
            &self.base,
            Some(KEY),
            &format!("http://127.0.0.1:{}/webhooks", self.port),
            SECRET,
        );
        first
    }

    /// Sends every email, from a thread of its own.
    fn send_all(&self) -> std::thread::JoinHandle<()> {
        let base = self.base.clone();
        std::thread::spawn(move || {
            for i in 0..EMAILS {
                post_email(&base, KEY, "ada@agentmail.to", &format!("load-{i}"));
            }
        })
    }
}

fn stop_during_a_load_run(signal: &str) {
    let run = LoadRun::start();
    let (ws, port, store) = (run.ws.as_str(), run.port, run.store.as_str());
    let mut first = run.listen();
    let sender = run.send_all();
    let mut printed: HashMap<String, usize> = HashMap::new();
    let count = |printed: &mut HashMap<String, usize>, line: &serde_json::Value| {
        *printed.entry(subject(line)).or_default() += 1;
    };
    for _ in 0..BEFORE {
        count(&mut printed, &first.stdout_line());
    }
    first.signal(signal);
    let (rest, code) = first.wait_exit();
    assert_eq!(code, Some(0), "a clean exit on SIG{signal}");
    for line in &rest {
        count(
            &mut printed,
            &serde_json::from_str(line).expect("a JSON line"),
        );
    }
    let in_first = BEFORE + rest.len();
    let summary = first.stderr_line("stopped");
    assert!(
        summary.contains(&format!("stopped: {in_first} events printed")),
        "{summary} (stdout had {in_first} lines)"
    );
    sender.join().expect("every email sent");

    // The rest, each once, after a restart on the same store: what the first run
    // printed is not printed again.
    let second = listen(ws, port, store);
    while printed.len() < EMAILS {
        count(&mut printed, &second.stdout_line());
    }
    let twice: Vec<_> = printed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "printed twice: {twice:?}");
    let summary = second.interrupt();
    assert!(
        summary.contains(&format!("stopped: {} events printed", EMAILS - in_first)),
        "{summary}"
    );
}

/// The bound on what a crash prints again: `kill -9` under load, then a restart on
/// the same store. Every email is printed; what is printed twice was printed and
/// not yet acknowledged at the kill, at most the 1,024 acknowledgements in flight.
#[test]
fn a_kill_9_under_load_prints_again_at_most_what_was_not_yet_acknowledged() {
    let run = LoadRun::start();
    let (ws, port, store) = (run.ws.as_str(), run.port, run.store.as_str());
    let first = run.listen();
    let sender = run.send_all();
    let mut printed: HashMap<String, usize> = HashMap::new();
    for _ in 0..BEFORE {
        *printed.entry(subject(&first.stdout_line())).or_default() += 1;
    }
    let mut first = first;
    first.signal("KILL");
    // What reached the pipe before the kill was printed too.
    let (rest, _) = first.wait_exit();
    for line in &rest {
        let line: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        *printed.entry(subject(&line)).or_default() += 1;
    }
    sender.join().expect("every email sent");

    let second = listen(ws, port, store);
    let mut again = 0usize;
    while printed.len() < EMAILS {
        let subject = subject(&second.stdout_line());
        let count = printed.entry(subject).or_default();
        if *count > 0 {
            again += 1;
        }
        *count += 1;
    }
    assert!(again <= 1024, "{again} printed again");
    let thrice: Vec<_> = printed.iter().filter(|(_, n)| **n > 2).collect();
    assert!(thrice.is_empty(), "printed three times: {thrice:?}");
    eprintln!("printed again after kill -9: {again}");
    second.interrupt();
}
