//! `mailwire listen --exec CMD`: a real shell command per event, run by real
//! listener processes against the simulator (`mailwire dev`), with a redb file or
//! the real Redis: one at a time per conversation and many conversations at once,
//! retries, dead letters listed and put back, a stop that lets commands finish,
//! and several listeners on Redis with a lease shorter than the command.

use crate::common;

use std::collections::HashMap;
use std::path::Path;

use common::{HANG, RedisCleanup, Running, dev, post_email, redis_url, run, ws_url};

const KEY: &str = "sk_handlers";

/// Writes a handler script: `start`/`end` lines (inbox, subject, pid-free) appended
/// to `$LOG`, the command's own work between them, and its outcome by subject.
fn script(dir: &Path, body: &str) -> String {
    let path = dir.join("handler.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nset -u\nline=$(cat)\nsubject=$(printf '%s' \"$line\" | sed -n 's/.*\"subject\":\"\\([^\"]*\\)\".*/\\1/p')\n{body}\n"
        ),
    )
    .unwrap();
    format!("sh {}", path.display())
}

/// Reads `start`/`end` lines: `(kind, key, subject)`.
fn log_lines(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            (
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The next stdout line of `listener` that starts with `prefix`, bounded by HANG.
fn stdout_with(listener: &Running, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = listener
            .stdout
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no stdout line starting with {prefix:?}"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

#[test]
fn commands_run_many_conversations_at_once_and_each_one_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (_dev, base) = dev(&["--api-key", KEY]);
    let handler = script(
        dir.path(),
        // tidy: allow(sleep) the command's own work (a model call), not a wait in the test
        "echo \"start $MAILWIRE_INBOX_ID $subject\" >> \"$LOG\"\nsleep 0.3\necho \"end $MAILWIRE_INBOX_ID $subject\" >> \"$LOG\"\necho \"handled $MAILWIRE_EVENT_ID\"",
    );
    let store = dir.path().join("events.redb");
    let listener = Running::spawn_with(
        &[
            "listen",
            "--ws",
            &ws_url(&base),
            "--api-key",
            KEY,
            "--store",
            store.to_str().unwrap(),
            "--event",
            "message.received",
            "--exec",
            &handler,
            "--concurrency",
            "8",
            "--order-by",
            "inbox",
        ],
        &[("LOG", log.to_str().unwrap())],
    );
    listener.stderr_line("exec: up to 8 at once");
    listener.stderr_seen("websocket: subscribed");
    let inboxes = [
        "a@agentmail.to",
        "b@agentmail.to",
        "c@agentmail.to",
        "d@agentmail.to",
    ];
    let per_inbox = 6;
    for n in 0..per_inbox {
        for inbox in inboxes {
            post_email(&base, KEY, inbox, &format!("{inbox}-{n:02}"));
        }
    }
    for _ in 0..inboxes.len() * per_inbox {
        stdout_with(&listener, "handled ");
    }
    listener.interrupt();

    let lines = log_lines(&log);
    let mut active: HashMap<&str, Option<&str>> = HashMap::new();
    let mut started: HashMap<&str, Vec<&str>> = HashMap::new();
    let (mut running, mut most) = (0, 0);
    for (kind, inbox, subject) in &lines {
        match kind.as_str() {
            "start" => {
                let slot = active.entry(inbox).or_default();
                assert!(
                    slot.is_none(),
                    "{subject} started while {slot:?} ran in {inbox}"
                );
                *slot = Some(subject);
                started.entry(inbox).or_default().push(subject);
                running += 1;
                most = most.max(running);
            }
            _ => {
                active.insert(inbox, None);
                running -= 1;
            }
        }
    }
    for inbox in inboxes {
        let want: Vec<String> = (0..per_inbox).map(|n| format!("{inbox}-{n:02}")).collect();
        assert_eq!(started[inbox], want, "{inbox}: once each, in arrival order");
    }
    assert!(most > 1, "conversations ran at once (at most {most})");
    assert!(most <= inboxes.len(), "one at a time per inbox: {most}");
}

#[test]
fn a_failing_command_is_retried_then_kept_as_a_dead_letter_listed_and_put_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_dev, base) = dev(&["--api-key", KEY]);
    let state = dir.path();
    // Fails twice for "flaky", always for "doomed" until `cured` exists.
    let handler = script(
        state,
        "n=$(cat \"$STATE/$MAILWIRE_EVENT_ID.n\" 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > \"$STATE/$MAILWIRE_EVENT_ID.n\"\ncase \"$subject\" in\n  flaky) [ $n -ge 3 ] || exit 1 ;;\n  doomed) [ -e \"$STATE/cured\" ] || exit 7 ;;\nesac\necho \"handled $subject $MAILWIRE_ATTEMPT\"",
    );
    let store = dir.path().join("events.redb");
    let listen = |handler: &str| {
        let listener = Running::spawn_with(
            &[
                "listen",
                "--ws",
                &ws_url(&base),
                "--api-key",
                KEY,
                "--store",
                store.to_str().unwrap(),
                "--event",
                "message.received",
                "--exec",
                handler,
                "--attempts",
                "3",
                "--retry-delay-ms",
                "20",
            ],
            &[("STATE", state.to_str().unwrap())],
        );
        listener.stderr_seen("websocket: subscribed");
        listener
    };
    let listener = listen(&handler);
    post_email(&base, KEY, "ada@agentmail.to", "flaky");
    post_email(&base, KEY, "bob@agentmail.to", "doomed");
    assert_eq!(stdout_with(&listener, "handled flaky"), "handled flaky 3");
    let buried = listener.stderr_line("kept as a dead letter");
    assert!(
        buried.contains("attempt 3 of 3 failed (exit status 7)"),
        "{buried}"
    );
    let stopped = listener.interrupt();
    assert!(
        stopped.contains("1 events handled, 5 failed attempts, 1 dead letters"),
        "{stopped}"
    );
    drop(listener);

    let listed = run(&[
        "dead-letters",
        "list",
        "--store",
        store.to_str().unwrap(),
        "--json",
    ]);
    assert!(listed.status.success(), "{listed:?}");
    let letters: Vec<serde_json::Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(letters[0]["error"], "exit status 7");
    assert_eq!(letters[0]["type"], "message.received");
    let id = letters[0]["id"].as_str().unwrap().to_owned();

    // An unknown id is an error, not a silent no-op.
    let unknown = run(&[
        "dead-letters",
        "retry",
        "msg_nope",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such dead letter"));

    std::fs::write(state.join("cured"), "").unwrap();
    let retried = run(&[
        "dead-letters",
        "retry",
        &id,
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(retried.status.success(), "{retried:?}");
    let listener = listen(&handler);
    // Handled again from the store's log, with a first attempt; "flaky" is not.
    assert_eq!(stdout_with(&listener, "handled "), "handled doomed 1");
    listener.interrupt();
    let mut listener = listener;
    let (rest, _) = listener.wait_exit();
    assert!(rest.iter().all(|l| !l.starts_with("handled")), "{rest:?}");
    let listed = run(&["dead-letters", "list", "--store", store.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&listed.stdout).trim().is_empty());
}

#[test]
fn sigterm_lets_the_commands_running_finish_and_acknowledges_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_dev, base) = dev(&["--api-key", KEY]);
    let gate = dir.path().join("gate");
    // Each command says it started, then waits for the test to open the gate.
    let handler = script(
        dir.path(),
        "echo \"started $subject\"\nwhile [ ! -e \"$GATE\" ]; do sleep 0.02; done\necho \"handled $subject\"", // tidy: allow(sleep) the command polls a file the test creates
    );
    let store = dir.path().join("events.redb");
    let listen = || {
        let listener = Running::spawn_with(
            &[
                "listen",
                "--ws",
                &ws_url(&base),
                "--api-key",
                KEY,
                "--store",
                store.to_str().unwrap(),
                "--event",
                "message.received",
                "--exec",
                &handler,
                "--concurrency",
                "4",
            ],
            &[("GATE", gate.to_str().unwrap())],
        );
        listener.stderr_seen("websocket: subscribed");
        listener
    };
    let mut listener = listen();
    for n in 0..3 {
        post_email(
            &base,
            KEY,
            &format!("i{n}@agentmail.to"),
            &format!("slow-{n}"),
        );
    }
    for _ in 0..3 {
        stdout_with(&listener, "started ");
    }
    listener.signal("TERM");
    // Stopping: the commands run on; the gate opens; they finish and are acked.
    std::fs::write(&gate, "").unwrap();
    let stopped = listener.stderr_line("stopped");
    assert!(stopped.contains("3 events handled"), "{stopped}");
    let (rest, code) = listener.wait_exit();
    assert_eq!(code, Some(0));
    assert_eq!(rest.iter().filter(|l| l.starts_with("handled")).count(), 3);

    // Nothing is handled again at the next start.
    let listener = listen();
    post_email(&base, KEY, "i9@agentmail.to", "after");
    assert_eq!(stdout_with(&listener, "handled "), "handled after");
    drop(listener);
}

/// Reads the listeners' stdout lines until `done` says enough, bounded by HANG from
/// the last line read.
fn read_all(
    listeners: &[&Running],
    lines: &mut Vec<(usize, String)>,
    done: impl Fn(&[(usize, String)]) -> bool,
) {
    let mut deadline = std::time::Instant::now() + HANG;
    while !done(lines) {
        assert!(
            std::time::Instant::now() < deadline,
            "stalled after {lines:#?}"
        );
        for (k, listener) in listeners.iter().enumerate() {
            while let Ok(line) = listener.stdout.try_recv() {
                lines.push((k, line));
                deadline = std::time::Instant::now() + HANG;
            }
        }
        // Bounded: a line from any listener is waited for at most this long each
        // turn (the listeners' lines come on channels of their own).
        if let Ok(line) = listeners[0]
            .stdout
            .recv_timeout(std::time::Duration::from_millis(20))
        {
            lines.push((0, line));
            deadline = std::time::Instant::now() + HANG;
        }
    }
}

#[test]
fn listeners_sharing_redis_with_a_lease_shorter_than_the_command_handle_each_event_once_and_take_over_a_killed_ones()
 {
    let prefix = format!("mailwire-cli-handlers-{}", std::process::id());
    let _cleanup = RedisCleanup(prefix.clone());
    let dir = tempfile::tempdir().unwrap();
    let (_dev, base) = dev(&["--api-key", KEY]);
    // Three times the lease: renewed while it runs, never handed to another.
    let handler = script(
        dir.path(),
        // tidy: allow(sleep) the command's own work, three times the lease
        "echo \"started $subject\"\nsleep 3\necho \"handled $subject\"",
    );
    let url = redis_url();
    let spawn = |k: usize| {
        let listener = Running::spawn(&[
            "listen",
            "--ws",
            &ws_url(&base),
            "--api-key",
            KEY,
            "--redis",
            &url,
            "--redis-prefix",
            &prefix,
            "--consumer",
            &format!("handler-{k}"),
            "--lease-ms",
            "1000",
            "--no-backfill",
            "--event",
            "message.received",
            "--exec",
            &handler,
            "--concurrency",
            "4",
        ]);
        listener.stderr_seen("websocket: subscribed");
        listener
    };
    let listeners: Vec<Running> = (0..3).map(spawn).collect();
    let refs: Vec<&Running> = listeners.iter().collect();

    // Twelve conversations: each handled once, by one listener.
    let first: Vec<String> = (0..12).map(|n| format!("first-{n:02}")).collect();
    for (n, subject) in first.iter().enumerate() {
        post_email(&base, KEY, &format!("c{n}@agentmail.to"), subject);
    }
    let mut lines = Vec::new();
    let handled = |lines: &[(usize, String)], subjects: &[String]| {
        subjects.iter().all(|s| {
            lines
                .iter()
                .any(|(_, l)| l.strip_prefix("handled ") == Some(s.as_str()))
        })
    };
    read_all(&refs, &mut lines, |l| handled(l, &first));
    for subject in &first {
        let starts: Vec<usize> = lines
            .iter()
            .filter(|(_, l)| l.strip_prefix("started ") == Some(subject.as_str()))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(starts.len(), 1, "{subject} started by {starts:?}");
    }
    let by: std::collections::HashSet<usize> = lines.iter().map(|(k, _)| *k).collect();
    assert!(by.len() > 1, "the work was shared: {by:?}");

    // Listener 0 is killed while its commands run: what it held is taken over by
    // the others once its lease runs out, and handled by one of them.
    let mut listeners = listeners;
    let doomed = listeners.remove(0);
    let survivors: Vec<&Running> = listeners.iter().collect();
    let second: Vec<String> = (0..12).map(|n| format!("second-{n:02}")).collect();
    for (n, subject) in second.iter().enumerate() {
        post_email(&base, KEY, &format!("d{n}@agentmail.to"), subject);
    }
    let mut held = Vec::new();
    let deadline = std::time::Instant::now() + HANG;
    while held.is_empty() {
        let line = doomed
            .stdout
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("listener 0 starts a command");
        if let Some(subject) = line.strip_prefix("started ") {
            held.push(subject.to_owned());
        }
    }
    doomed.kill9();
    let mut after = Vec::new();
    read_all(&survivors, &mut after, |l| {
        handled(l, &second) || {
            // What listener 0 may have finished before its death is not waited for.
            second.iter().filter(|s| !held.contains(s)).all(|s| {
                l.iter()
                    .any(|(_, line)| line.strip_prefix("handled ") == Some(s.as_str()))
            }) && held.iter().all(|s| {
                l.iter()
                    .any(|(_, line)| line.strip_prefix("handled ") == Some(s.as_str()))
            })
        }
    });
    for subject in &second {
        let starts = after
            .iter()
            .filter(|(_, l)| l.strip_prefix("started ") == Some(subject.as_str()))
            .count();
        assert!(
            starts <= 1,
            "{subject} started {starts} times by the survivors"
        );
    }
    for subject in &held {
        assert!(
            after
                .iter()
                .any(|(_, l)| l.strip_prefix("handled ") == Some(subject.as_str())),
            "{subject}, held by the killed listener, was taken over"
        );
    }
}
