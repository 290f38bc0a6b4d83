//! What `listen` tells its operators: Prometheus metrics scraped over HTTP that match
//! what stdout shows, the summary of a stop with events held for reordering, and
//! tracing spans carrying an event's id from receipt to ack.

use std::io::Read as _;

use crate::commands::send;
use crate::common::{HANG, Running, dev, free_port, register_webhook_with_key, ws_url};

/// `GET /metrics` over a bare TCP socket: the body of the answer.
fn scrape(addr: &str) -> String {
    use std::io::Write as _;
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The value of the sample `name{labels}` (exactly as Prometheus' text has it), or
/// 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

#[test]
fn metrics_scraped_over_http_match_what_was_sent() {
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let listen = Running::spawn(&[
        "listen",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk",
        "--webhook-listen",
        &format!("127.0.0.1:{port}"),
        "--secret",
        secret,
        "--scheme",
        "standard",
        "--metrics",
        &metrics,
    ]);
    listen.stderr_line("websocket: subscribed");
    register_webhook_with_key(
        &base,
        Some("sk"),
        &format!("http://127.0.0.1:{port}/webhooks"),
        secret,
    );
    const N: usize = 5;
    for i in 0..N {
        assert!(send(&base, "sk", &format!("m{i}")).status.success());
    }
    let mut by_ws = 0;
    for _ in 0..N {
        by_ws += usize::from(listen.stdout_line()["origin"] == "websocket");
    }
    // The counter follows the line's write: scrape until it has caught up
    // with the last line read (the deadline only bounds a hang).
    let printed = |text: &str| {
        sample(text, r#"mailwire_listen_printed_total{origin="websocket"}"#)
            + sample(text, r#"mailwire_listen_printed_total{origin="webhook"}"#)
    };
    let deadline = std::time::Instant::now() + HANG;
    let mut text = scrape(&metrics);
    while printed(&text) < N as f64 {
        assert!(std::time::Instant::now() < deadline, "{text}");
        text = scrape(&metrics);
    }
    // Each origin's count is what stdout shows of it.
    let ws = sample(
        &text,
        r#"mailwire_listen_printed_total{origin="websocket"}"#,
    );
    let hooks = sample(&text, r#"mailwire_listen_printed_total{origin="webhook"}"#);
    assert_eq!((ws, hooks), (by_ws as f64, (N - by_ws) as f64), "{text}");
    assert_eq!(sample(&text, "mailwire_ws_connects_total"), 1.0, "{text}");
    // Every event printed from the WebSocket was received on it first.
    assert!(
        sample(&text, "mailwire_ws_events_total") >= by_ws as f64,
        "{text}"
    );
    assert!(
        text.contains("# HELP mailwire_listen_printed_total"),
        "{text}"
    );
}

#[test]
fn a_stop_prints_what_the_reorder_window_holds_and_counts_it_true() {
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.redb");
    let args = [
        "listen",
        "--ws",
        &ws_url(&base),
        "--api-key",
        "sk",
        "--store",
        store.to_str().unwrap(),
        "--no-backfill",
        // Far longer than the test: only the stop can release them.
        "--reorder-ms",
        "3600000",
    ];
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut listen = Running::spawn(&[&args[..], &["--metrics", &metrics]].concat());
    listen.stderr_line("websocket: subscribed");
    for s in ["r1", "r2", "r3"] {
        assert!(send(&base, "sk", s).status.success());
    }
    // All three received, and held: nothing is printed while the window is open.
    let deadline = std::time::Instant::now() + HANG;
    while sample(&scrape(&metrics), "mailwire_merge_held") < 3.0 {
        assert!(std::time::Instant::now() < deadline, "not all received");
    }
    assert!(
        listen.stdout.try_recv().is_err(),
        "printed inside the window"
    );
    listen.signal("INT");
    listen.stderr_line("printing the 3 events held for reordering");
    let summary = listen.stderr_line("stopped");
    assert!(summary.contains("stopped: 3 events printed"), "{summary}");
    let (lines, code) = listen.wait_exit();
    assert_eq!(code, Some(0));
    let subjects: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event"]["message"]["subject"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(subjects, ["r1", "r2", "r3"]);
    // They were acknowledged: a restart prints none of them again.
    let again = Running::spawn(&args);
    again.stderr_line("websocket: subscribed");
    let summary = again.interrupt();
    assert!(summary.contains("stopped: 0 events printed"), "{summary}");
}

#[test]
fn tracing_spans_carry_the_event_id_from_receipt_to_ack() {
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let listen = Running::spawn_with(
        &["listen", "--ws", &ws_url(&base), "--api-key", "sk"],
        &[(
            "RUST_LOG",
            "mailwire=debug,mailwire_source=debug,mailwire_merge=debug",
        )],
    );
    listen.stderr_line("websocket: subscribed");
    let id = String::from_utf8(send(&base, "sk", "traced").stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(listen.stdout_line()["id"], id.as_str());
    listen.signal("INT");
    let logs = listen.rest_of_stderr();
    let span = format!("event{{id={id} origin=websocket}}");
    for step in ["delivered", "printed", "acked"] {
        assert!(
            logs.iter().any(|l| l.contains(&span) && l.contains(step)),
            "no {step:?} inside {span}: {logs:#?}"
        );
    }
}
