//! `dev`, `send`, `listen` and `forward` run as the built binary, over loopback, and
//! the errors a user can cause: one clear line, a non-zero exit, never a panic.

use crate::common;

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use common::{
    HANG, Running, dev, free_port, lines, mailwire, register_webhook, register_webhook_with_key,
    run, ws_url,
};

pub(crate) fn send(base: &str, key: &str, subject: &str) -> Output {
    run(&[
        "send",
        "--server",
        base,
        "--api-key",
        key,
        "--inbox",
        "ada@agentmail.to",
        "--from",
        "Bob <bob@example.com>",
        "--subject",
        subject,
        "--text",
        "Your code is 481516",
    ])
}

/// One line on stderr, exit status `code`, no panic, no backtrace.
fn assert_clean_failure(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("mailwire: ") && last.contains(needle),
        "{stderr}"
    );
}

#[test]
fn dev_send_listen_prints_each_event_once_as_a_json_line() {
    let (_dev, base) = dev(&["--api-key", "sk_test"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.redb");
    let listen = Running::spawn(&[
        "listen",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk_test",
        "--store",
        store.to_str().unwrap(),
    ]);
    // With logging off (no RUST_LOG), stderr holds the command's own status lines
    // and nothing a library logs (tungstenite's handshake was printed at DEBUG).
    let start = listen.stderr_until("websocket: subscribed");
    let foreign: Vec<_> = start
        .iter()
        .filter(|l| !l.starts_with("mailwire: "))
        .collect();
    assert!(foreign.is_empty(), "not a status line: {foreign:?}");

    let first = send(&base, "sk_test", "one");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let id = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("evt_"));
    let line = listen.stdout_line();
    assert_eq!(line["id"], id.as_str());
    assert_eq!(line["type"], "message.received");
    assert_eq!(line["origin"], "websocket");
    assert!(line["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(line["event"]["event_id"], id.as_str());
    assert_eq!(line["event"]["message"]["subject"], "one");

    let second = send(&base, "sk_test", "two");
    let id2 = String::from_utf8(second.stdout).unwrap().trim().to_owned();
    assert_eq!(listen.stdout_line()["id"], id2.as_str());
}

#[test]
fn listen_on_both_transports_prints_the_webhook_copy_never() {
    let (_dev, base) = dev(&[]);
    let hook_port = free_port();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let listen = Running::spawn(&[
        "listen",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "any",
        "--webhook-listen",
        &format!("127.0.0.1:{hook_port}"),
        "--secret",
        secret,
        "--scheme",
        "standard",
    ]);
    listen.stderr_line("websocket: subscribed");
    // Register the webhook through the REST API, as a user would with curl.
    let out = run(&[
        "send",
        "--server",
        &base,
        "--api-key",
        "any",
        "--inbox",
        "a@x.to",
        "--from",
        "b@x.to",
        "--subject",
        "before",
        "--text",
        "t",
    ]);
    assert!(out.status.success());
    assert_eq!(
        listen.stdout_line()["event"]["message"]["subject"],
        "before"
    );
    register_webhook(
        &base,
        &format!("http://127.0.0.1:{hook_port}/webhooks"),
        secret,
    );
    for subject in ["a", "b", "c"] {
        assert!(send(&base, "any", subject).status.success());
    }
    let mut subjects: Vec<String> = (0..3)
        .map(|_| {
            listen.stdout_line()["event"]["message"]["subject"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["a", "b", "c"]);
    // Each event also came as a webhook: stop, and nothing more was printed.
    let stopped = listen.interrupt();
    assert!(stopped.contains("4 events printed"), "{stopped}");
    assert!(
        listen.stdout.recv_timeout(HANG).is_err(),
        "a line printed twice"
    );
}

#[test]
fn forward_posts_signed_webhooks_to_a_local_endpoint() {
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let port = free_port();
    let secret_out = run(&[
        "forward",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk",
        "--to",
        &format!("http://127.0.0.1:{port}/webhooks"),
        "--print-secret",
    ]);
    let secret = String::from_utf8(secret_out.stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    // The local endpoint is `mailwire listen` itself, verifying with that secret.
    let listen = Running::spawn(&[
        "listen",
        "--webhook-listen",
        &format!("127.0.0.1:{port}"),
        "--secret",
        &secret,
        "--scheme",
        "standard",
    ]);
    listen.stderr_line("webhooks: receiving");
    let forward = Running::spawn(&[
        "forward",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk",
        "--to",
        &format!("http://127.0.0.1:{port}/webhooks"),
    ]);
    forward.stderr_line("websocket: subscribed");
    let id = String::from_utf8(send(&base, "sk", "fwd").stdout)
        .unwrap()
        .trim()
        .to_owned();
    let line = listen.stdout_line();
    assert_eq!(
        (line["id"].as_str(), line["origin"].as_str()),
        (Some(id.as_str()), Some("webhook"))
    );
    forward.stderr_line("200 OK");
}

#[test]
fn user_errors_are_one_clear_line_and_a_nonzero_exit() {
    let (_dev, base) = dev(&["--api-key", "sk_good"]);
    let ws = ws_url(&base);
    assert_clean_failure(
        &run(&["listen", "--ws", &ws, "--api-key", "sk_bad"]),
        1,
        "credentials refused",
    );
    assert_clean_failure(&send(&base, "sk_bad", "x"), 1, "refused the API key");
    let dead = format!("127.0.0.1:{}", free_port());
    assert_clean_failure(
        &run(&[
            "listen",
            "--ws",
            &format!("ws://{dead}/v0"),
            "--api-key",
            "k",
        ]),
        1,
        "cannot reach",
    );
    assert_clean_failure(
        &send(&format!("http://{dead}"), "k", "x"),
        1,
        "cannot reach",
    );
    let taken = base.trim_start_matches("http://");
    assert_clean_failure(&run(&["dev", "--listen", taken]), 1, "cannot listen on");
    // A port asked for must be free; the default one may be taken (SMTP off, said).
    assert_clean_failure(
        &run(&["dev", "--listen", "127.0.0.1:0", "--smtp", taken]),
        1,
        "(--smtp)",
    );
    assert_clean_failure(
        &run(&[
            "listen",
            "--webhook-listen",
            taken,
            "--secret",
            "s",
            "--scheme",
            "hex",
        ]),
        1,
        "cannot listen on",
    );
    let dir = tempfile::tempdir().unwrap();
    let unwritable = dir.path().join("missing-dir").join("events.redb");
    assert_clean_failure(
        &run(&[
            "listen",
            "--ws",
            &ws,
            "--api-key",
            "sk_good",
            "--store",
            unwritable.to_str().unwrap(),
        ]),
        2,
        "missing-dir does not exist",
    );
    // A file where the store's folder should be: refused when opened.
    std::fs::write(dir.path().join("a-file"), b"x").unwrap();
    let under_a_file = dir.path().join("a-file").join("events.redb");
    assert_clean_failure(
        &run(&[
            "listen",
            "--ws",
            &ws,
            "--api-key",
            "sk_good",
            "--store",
            under_a_file.to_str().unwrap(),
        ]),
        2,
        "a-file is not a folder",
    );
    assert_clean_failure(
        &run(&[
            "listen",
            "--webhook-listen",
            "127.0.0.1:0",
            "--secret",
            "not-whsec",
            "--scheme",
            "standard",
        ]),
        2,
        "--secret",
    );
    assert_clean_failure(
        &run(&[
            "send",
            "--server",
            "ftp://x",
            "--api-key",
            "k",
            "--inbox",
            "a",
            "--from",
            "b",
            "--subject",
            "s",
            "--text",
            "t",
        ]),
        2,
        "--server",
    );
    // clap's own usage errors: exit 2.
    assert_eq!(run(&["listen"]).status.code(), Some(2));
    assert_eq!(
        run(&["listen", "--ws", &ws]).status.code(),
        Some(2),
        "--ws needs --api-key"
    );
    assert_eq!(
        run(&["listen", "--webhook-listen", "127.0.0.1:0"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn every_command_has_complete_help() {
    let flags: &[(&str, &[&str])] = &[
        (
            "dev",
            &[
                "--listen",
                "--smtp",
                "--smtp-max-size",
                "--api-key",
                "--retain",
                "--envelope",
            ],
        ),
        (
            "listen",
            &[
                "--ws",
                "--api-key",
                "--inbox",
                "--event",
                "--webhook-listen",
                "--webhook-path",
                "--secret",
                "--scheme",
                "--signature-header",
                "--store",
                "--reorder-ms",
            ],
        ),
        (
            "forward",
            &[
                "--ws",
                "--api-key",
                "--to",
                "--secret",
                "--print-secret",
                "--scheme",
            ],
        ),
        (
            "send",
            &[
                "--server",
                "--api-key",
                "--inbox",
                "--from",
                "--subject",
                "--text",
            ],
        ),
        (
            "verify",
            &[
                "--scheme",
                "--secret",
                "--header",
                "--signature-header",
                "--tolerance",
                "--now",
            ],
        ),
        (
            "sign",
            &[
                "--scheme",
                "--secret",
                "--signature-header",
                "--id",
                "--timestamp",
            ],
        ),
        ("demo", &[]),
    ];
    for (command, expected) in flags {
        let out = run(&[command, "--help"]);
        assert!(out.status.success(), "{command} --help");
        let help = String::from_utf8(out.stdout).unwrap();
        for flag in *expected {
            assert!(help.contains(flag), "{command} --help lacks {flag}");
        }
    }
}

#[test]
fn demo_runs_and_reports_nothing_lost() {
    let out = run(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "2FA code 583920 extracted",
        "the WebSocket gateway goes down",
        "emails sent            30 (30 distinct event ids)",
        "delivered to the agent 30:",
        "lost                   none: every event id delivered exactly once",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn an_event_never_written_is_printed_again_after_a_restart() {
    let (_dev, base) = dev(&[]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.redb");
    let port = free_port();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    register_webhook(&base, &format!("http://127.0.0.1:{port}/webhooks"), secret);
    let listen_args = [
        "listen",
        "--webhook-listen",
        &format!("127.0.0.1:{port}"),
        "--secret",
        secret,
        "--scheme",
        "standard",
        "--store",
        store.to_str().unwrap(),
    ];

    // Whoever reads stdout goes away: the line cannot be written, so the event is
    // not acked, and `listen` stops.
    let mut first = mailwire()
        .args(listen_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(first.stderr.take().unwrap());
    while !stderr
        .recv_timeout(HANG)
        .expect("listen starts")
        .contains("webhooks: receiving")
    {}
    drop(first.stdout.take()); // the read end closes
    let id = String::from_utf8(send(&base, "any", "kept").stdout)
        .unwrap()
        .trim()
        .to_owned();
    let (tx, exited) = mpsc::channel();
    std::thread::spawn(move || tx.send(first.wait()));
    let status = exited.recv_timeout(HANG).expect("listen stops").unwrap();
    assert!(status.success(), "a closed stdout is not an error");

    // The next start prints it, from the log.
    let second = Running::spawn(&listen_args);
    let line = second.stdout_line();
    assert_eq!(
        (line["id"].as_str(), line["origin"].as_str()),
        (Some(id.as_str()), Some("log"))
    );
    assert_eq!(line["event"]["message"]["subject"], "kept");
}

#[test]
fn listen_with_a_redis_store_prints_and_acks_through_redis() {
    // A key prefix of its own: nothing else in the developer's Redis is touched.
    let redis = std::env::var("MAILWIRE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("mailwire-cli-test-{}", std::process::id());
    let redis_cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .arg("-u")
            .arg(&redis)
            .args(args)
            .output()
            .expect("redis-cli runs (a Redis is needed: MAILWIRE_TEST_REDIS_URL)");
        assert!(out.status.success(), "Redis answers");
        String::from_utf8(out.stdout).unwrap()
    };

    let (_dev, base) = dev(&["--api-key", "sk_test"]);
    let listen = Running::spawn(&[
        "listen",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk_test",
        "--redis",
        &redis,
        "--redis-prefix",
        &prefix,
    ]);
    // Both status lines, in whichever order they come.
    let mut waiting = vec!["store: Redis", "websocket: subscribed"];
    while !waiting.is_empty() {
        let line = listen.stderr.recv_timeout(HANG).expect("listen starts");
        waiting.retain(|needle| !line.contains(needle));
    }
    let id = String::from_utf8(send(&base, "sk_test", "via redis").stdout)
        .unwrap()
        .trim()
        .to_owned();
    let line = listen.stdout_line();
    assert_eq!(line["id"], id.as_str());
    assert_eq!(line["event"]["message"]["subject"], "via redis");
    listen.interrupt();

    // The event went through the Redis log and was acked there: nothing is pending.
    let stream = format!("{{{prefix}:events}}:stream");
    let ids = redis_cli(&["--scan", "--pattern", &format!("{{{prefix}:events}}:id:*")]);
    assert_eq!(
        ids.lines().count(),
        1,
        "the event went through Redis: {ids}"
    );
    let info = redis_cli(&["XPENDING", &stream, "mailwire"]);
    assert_eq!(info.lines().next(), Some("0"), "nothing pending: {info}");
    assert_eq!(
        redis_cli(&["XLEN", &stream]).trim(),
        "0",
        "acked bytes dropped"
    );
    for key in redis_cli(&["--scan", "--pattern", &format!("*{prefix}*")]).lines() {
        redis_cli(&["DEL", key]);
    }
}

#[test]
fn listen_with_an_unreachable_redis_fails_cleanly() {
    let port = free_port();
    let out = run(&[
        "listen",
        "--webhook-listen",
        "127.0.0.1:0",
        "--secret",
        "s3cret",
        "--scheme",
        "hex",
        "--redis",
        &format!("redis://127.0.0.1:{port}"),
    ]);
    assert_clean_failure(&out, 1, "Redis");
}

#[test]
fn forward_prints_its_secret_and_every_failed_attempt_and_give_up() {
    let (_dev, base) = dev(&["--api-key", "sk"]);
    // Nothing listens at the target: every attempt is refused.
    let to = format!("http://127.0.0.1:{}/webhooks", free_port());
    let secret_out = run(&[
        "forward",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk",
        "--to",
        &to,
        "--print-secret",
    ]);
    let secret = String::from_utf8(secret_out.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let forward = Running::spawn(&[
        "forward",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk",
        "--to",
        &to,
        "--max-attempts",
        "3",
        "--retry-scale",
        "0.001",
        "--json",
    ]);
    let ready = forward.stderr_line("ready: forwarding");
    assert!(ready.contains(&secret), "{ready}");
    let id = String::from_utf8(send(&base, "sk", "nobody home").stdout)
        .unwrap()
        .trim()
        .to_owned();
    let lines = forward.stderr_until("gave up");
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains(&id)).collect();
    assert_eq!(ours.len(), 4, "{lines:#?}");
    for (n, line) in ours[..2].iter().enumerate() {
        assert!(
            line.contains(&format!("attempt {} failed", n + 1)) && line.contains("next in"),
            "{line}"
        );
    }
    assert!(ours[2].contains("attempt 3 failed") && !ours[2].contains("next in"));
    assert!(ours[3].contains("gave up after 3 attempts"), "{}", ours[3]);
    let end = forward.stdout_line();
    assert_eq!(end["event_id"], id.as_str());
    assert_eq!(end["outcome"], "gave_up");
    assert_eq!(end["attempts"], 3);
}

#[test]
fn keys_and_secrets_come_from_the_environment_and_are_never_printed() {
    const KEY: &str = "sk_from_the_environment_1234";
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let env = [
        ("AGENTMAIL_API_KEY", KEY),
        ("MAILWIRE_WEBHOOK_SECRET", SECRET),
    ];
    let dev = Running::spawn_with(&["dev", "--listen", "127.0.0.1:0", "--json"], &env);
    let urls = dev.stdout_line();
    let base = urls["http"].as_str().unwrap().to_owned();
    let dev_lines = dev.stderr_until("try");
    let port = free_port();
    let listen = Running::spawn_with(
        &[
            "listen",
            "--ws",
            urls["ws"].as_str().unwrap(),
            "--webhook-listen",
            &format!("127.0.0.1:{port}"),
            "--scheme",
            "standard",
        ],
        // Every library's log at its most verbose: still no key, no secret.
        &[&env[..], &[("RUST_LOG", "trace")]].concat(),
    );
    let mut listen_lines = listen.stderr_until("websocket: subscribed");
    // A webhook signed with the secret from the environment is accepted.
    register_webhook_with_key(
        &base,
        Some(KEY),
        &format!("http://127.0.0.1:{port}/webhooks"),
        SECRET,
    );
    let mut sent = mailwire()
        .args([
            "send",
            "--server",
            &base,
            "--inbox",
            "ada@agentmail.to",
            "--from",
            "bob@example.com",
            "--subject",
            "env",
            "--text",
            "hi",
            "--json",
        ])
        .envs(env)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    let id = answer["event_id"].as_str().unwrap().to_owned();
    let line = listen.stdout_line();
    assert_eq!(line["id"], id.as_str());
    listen.signal("INT");
    listen_lines.extend(listen.rest_of_stderr());
    assert!(
        listen_lines.iter().any(|l| l.contains("TRACE")),
        "trace logging was on"
    );
    // Help, status lines, logs and outputs never show either value.
    let help = run(&["listen", "--help"]);
    sent.stdout.extend_from_slice(&help.stdout);
    let everything = [dev_lines, listen_lines, vec![line.to_string()]]
        .concat()
        .join("\n")
        + &String::from_utf8_lossy(&sent.stdout)
        + &String::from_utf8_lossy(&sent.stderr);
    assert!(
        !everything.contains(KEY) && !everything.contains(SECRET),
        "{everything}"
    );
}

#[test]
fn option_values_are_checked_before_anything_starts() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "listen",
                "--webhook-listen",
                "127.0.0.1:0",
                "--secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "--scheme",
                "standard",
                "--rate-limit-per-address",
                "lots",
            ],
            "--rate-limit-per-address \"lots\": invalid rate",
        ),
        (
            &[
                "listen",
                "--webhook-listen",
                "127.0.0.1:0",
                "--webhook-path",
                "webhooks",
                "--secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "--scheme",
                "standard",
            ],
            "--webhook-path \"webhooks\": expected a path starting with /",
        ),
        (
            &[
                "listen",
                "--webhook-listen",
                "3000",
                "--secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "--scheme",
                "standard",
            ],
            "--webhook-listen \"3000\": expected HOST:PORT",
        ),
        (
            &["listen", "--ws", "http://127.0.0.1:1/v0", "--api-key", "k"],
            "expected a ws:// or wss:// URL",
        ),
        (
            &[
                "forward",
                "--ws",
                "ws://127.0.0.1:1/v0",
                "--api-key",
                "k",
                "--to",
                "127.0.0.1:3000",
            ],
            "--to \"127.0.0.1:3000\"",
        ),
    ];
    for (args, needle) in cases {
        assert_clean_failure(&run(args), 2, needle);
    }
}

#[test]
fn sign_and_verify_speak_json_for_scripts() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"type":"event","event_type":"message.received","event_id":"evt_1"}"#;
    let piped = |args: &[&str], input: &[u8]| {
        let mut child = mailwire()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    };
    let signed = piped(
        &["sign", "--scheme", "standard", "--secret", SECRET, "--json"],
        body,
    );
    assert!(signed.status.success());
    let headers: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
    let mut args = vec![
        "verify", "--scheme", "standard", "--secret", SECRET, "--json",
    ];
    let pairs: Vec<String> = headers
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap()))
        .collect();
    for pair in &pairs {
        args.extend(["--header", pair]);
    }
    let ok = piped(&args, body);
    assert_eq!(ok.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        (v["valid"].as_bool(), v["key"].as_u64()),
        (Some(true), Some(0))
    );
    assert_eq!(v["id"], headers["svix-id"]);
    let bad = piped(&args, b"{\"tampered\":1}");
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
}
