//! AgentMail's official SDKs (PyPI `agentmail` 2.0.18, npm `agentmail` 0.5.27) and
//! the article's Node code, unchanged but for the base URL, against the simulator on
//! a loopback port. The scripts are in `tests/clients/`; `tests/clients/install-sdks.sh`
//! installs what they import into `MAILWIRE_SDK_DIR` (default `target/sdk`), as
//! `.ci/run` does.
//!
//! A missing SDK fails these tests, unless `MAILWIRE_SDK_TESTS=skip` is set (for a
//! machine without Python or Node); `.ci/run` sets `MAILWIRE_SDK_TESTS=require`,
//! which never skips.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mailwire_proto::Envelope;
use mailwire_sim::Simulator;
use tokio::process::Command;

/// Bounds a hung client; the scripts take a few seconds.
const HANG: Duration = Duration::from_secs(180);
const KEY: &str = "am_sdk_test";

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn sdk_dir() -> PathBuf {
    match std::env::var_os("MAILWIRE_SDK_DIR") {
        Some(dir) => PathBuf::from(dir),
        // `target/sdk` of the build this test belongs to (the workspace's, or a
        // packaged crate's own).
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("../sdk"),
    }
}

/// The installed tool at `path`, or `None` when this machine skips SDK tests.
fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let mode = std::env::var("MAILWIRE_SDK_TESTS").unwrap_or_default();
    if mode == "skip" {
        eprintln!(
            "skipped: {what} is not installed at {} (MAILWIRE_SDK_TESTS=skip)",
            path.display()
        );
        return None;
    }
    panic!(
        "{what} is not installed at {}: run {}/install-sdks.sh DIR and set MAILWIRE_SDK_DIR=DIR \
         (or set MAILWIRE_SDK_TESTS=skip on a machine without Python and Node)",
        path.display(),
        clients().display()
    );
}

async fn simulator(envelope: Envelope) -> Simulator {
    Simulator::builder()
        .api_key(KEY)
        .envelope(envelope)
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await
        .expect("simulator")
}

/// Runs a client to its end and fails the test with its output when it fails.
async fn run(mut cmd: Command) -> String {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("the client starts");
    let out = tokio::time::timeout(HANG, child.wait_with_output())
        .await
        .expect("the client hung")
        .expect("the client ran");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// The webhook counters once nothing is pending.
async fn settled(sim: &Simulator) -> mailwire_sim::WebhookStats {
    tokio::time::timeout(HANG, sim.wait_webhooks(|s| s.pending() == 0))
        .await
        .expect("webhooks settle")
}

fn ws_base(sim: &Simulator) -> String {
    sim.ws_url().trim_end_matches("/v0").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_runs_unchanged() {
    let Some(python) = require(sdk_dir().join("venv/bin/python"), "the Python SDK") else {
        return;
    };
    let sim = simulator(Envelope::AgentMail).await;
    let mut cmd = Command::new(python);
    cmd.arg(clients().join("python_sdk.py"))
        .arg(sim.http_url())
        .arg(ws_base(&sim))
        .arg(KEY);
    let out = run(cmd).await;
    assert!(out.contains("python sdk: ok"), "{out}");
    // Every webhook delivery was accepted: signatures verified.
    let stats = settled(&sim).await;
    assert_eq!(
        (stats.gave_up, stats.attempts),
        (0, stats.delivered),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agentmail_toolkit_calls_every_tool() {
    let Some(python) = require(sdk_dir().join("venv/bin/python"), "the Python SDK") else {
        return;
    };
    let sim = simulator(Envelope::AgentMail).await;
    let mut cmd = Command::new(python);
    cmd.arg(clients().join("toolkit.py"))
        .arg(sim.http_url())
        .arg(KEY);
    let out = run(cmd).await;
    assert!(out.contains("toolkit: ok"), "{out}");
}

fn node(script: &str) -> Option<Command> {
    let modules = require(
        sdk_dir().join("node/node_modules/agentmail"),
        "the TypeScript SDK",
    )?;
    let modules = modules.parent().map(Path::to_path_buf)?;
    let mut cmd = Command::new("node");
    cmd.arg(clients().join(script)).env("NODE_PATH", &modules);
    Some(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_runs_unchanged() {
    let Some(mut cmd) = node("typescript_sdk.cjs") else {
        return;
    };
    let sim = simulator(Envelope::AgentMail).await;
    cmd.arg(sim.http_url()).arg(ws_base(&sim)).arg(KEY);
    let out = run(cmd).await;
    assert!(out.contains("typescript sdk: ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_articles_client_and_handler_run_unchanged_under_the_simple_envelope() {
    let Some(mut cmd) = node("article.mjs") else {
        return;
    };
    let sim = simulator(Envelope::Simple).await;
    let node_dir = sdk_dir().join("node");
    cmd.arg(sim.http_url())
        .arg(ws_base(&sim))
        .arg(&node_dir)
        .env("MYAGENTMAIL_API_KEY", KEY)
        .env("WEBHOOK_SECRET", "your-webhook-secret");
    let out = run(cmd).await;
    assert!(out.contains("article: ok"), "{out}");
    // Each webhook was accepted at its first attempt: the handler's
    // `JSON.stringify(req.body)` rebuilt exactly the signed bytes.
    let stats = settled(&sim).await;
    assert_eq!(
        (stats.gave_up, stats.attempts),
        (0, stats.delivered),
        "{stats:?}"
    );
    assert!(stats.delivered >= 3, "{stats:?}");
}

/// `GET` on the simulator with the test key: the status and the body.
async fn get(url: &str) -> (u16, bytes::Bytes) {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let req = hyper::Request::get(url)
        .header("authorization", format!("Bearer {KEY}"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = tokio::time::timeout(HANG, client.request(req))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let status = res.status().as_u16();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

/// A message id as a path segment.
fn escaped(id: &str) -> String {
    id.replace('<', "%3C")
        .replace('>', "%3E")
        .replace('@', "%40")
}

async fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The next `message.*` event frame on a WebSocket.
async fn next_message_event(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> serde_json::Value {
    use futures::StreamExt as _;
    loop {
        let frame = tokio::time::timeout(HANG, ws.next())
            .await
            .expect("an event in time")
            .expect("the socket open")
            .expect("a frame");
        let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if json["type"] == "event" {
            return json;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_with_pythons_smtplib_arrives_on_the_websocket_the_webhooks_and_the_api() {
    use base64::Engine as _;
    use futures::SinkExt as _;
    use mailwire_source::EventSource as _;
    const MAX_SIZE: usize = 64 * 1024;
    let sim = Simulator::builder()
        .api_key(KEY)
        .smtp_max_size(MAX_SIZE)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let smtp = sim.serve_smtp("127.0.0.1:0").await.unwrap();
    // A signed webhook, verified by the real receiver.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
    let hook = sim
        .register_webhook(mailwire_sim::WebhookSpec::new(url))
        .await
        .unwrap();
    let keyring =
        mailwire_webhook::Keyring::new(mailwire_webhook::Scheme::Standard, [hook.secret]).unwrap();
    let mut receiver =
        mailwire_webhook_http::WebhookReceiver::new(mailwire_webhook::Verifier::new(keyring))
            .serve(listener);
    let url = format!("{}?api_key={KEY}", sim.ws_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"subscribe"}"#,
    ))
    .await
    .unwrap();
    tokio::time::timeout(HANG, sim.wait_subscribers(1))
        .await
        .unwrap();

    let mut cmd = Command::new("python3");
    cmd.arg(clients().join("smtp.py"))
        .arg(smtp.ip().to_string())
        .arg(smtp.port().to_string())
        .arg(MAX_SIZE.to_string());
    let out = run(cmd).await;
    let sent: serde_json::Value = serde_json::from_str(out.trim()).expect("the sent bytes");
    let sent = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(sent[name].as_str().unwrap())
            .unwrap()
    };

    // On the WebSocket, in order: the three messages, none of the refused ones.
    let first = next_message_event(&mut ws).await;
    let reply = next_message_event(&mut ws).await;
    let eight = next_message_event(&mut ws).await;
    for e in [&first, &reply, &eight] {
        assert_eq!(e["event_type"], "message.received", "{e}");
        assert_eq!(e["message"]["inbox_id"], "ada@agentmail.to", "{e}");
    }
    let m = &first["message"];
    assert_eq!(m["from"], "Bob Sender <bob@example.com>");
    assert_eq!(m["subject"], "Quarterly report");
    assert_eq!(m["message_id"], "<q1@example.com>");
    assert_eq!(m["text"], "Numbers attached.\r\n");
    assert!(
        m["html"].as_str().unwrap().contains("<b>attached</b>"),
        "{m}"
    );
    let files: Vec<(&str, &str)> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["content_type"].as_str().unwrap(),
                a["content_disposition"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [("image/png", "inline"), ("application/pdf", "attachment")],
        "{m}"
    );
    // Threaded by In-Reply-To and References; the quoted history left out.
    let r = &reply["message"];
    assert_eq!(r["thread_id"], m["thread_id"]);
    assert_eq!(reply["thread"]["message_count"], 2);
    assert_eq!(r["extracted_text"], "One more thing.");
    // 8-bit headers and body, and a leading dot, exactly.
    let e = &eight["message"];
    assert_eq!(e["subject"], "Été à Zürich — déjà vu");
    assert_eq!(e["from"], "Zoë <zoe@example.com>");
    assert_eq!(
        e["text"],
        "Grüße aus Zürich.\r\n.a line that starts with a dot\r\n"
    );

    // The same three as signed webhooks.
    let mut hooked = Vec::new();
    while hooked.len() < 3 {
        let delivery = tokio::time::timeout(HANG, receiver.next())
            .await
            .expect("a webhook in time")
            .expect("the receiver open")
            .expect("a verified webhook");
        hooked.push(delivery.event.id().to_owned());
    }
    assert_eq!(
        hooked,
        [&first, &reply, &eight].map(|e| e["event_id"].as_str().unwrap().to_owned())
    );

    // Through the API: the raw `.eml` is what was sent, byte for byte, and the
    // attachment's content is the file's.
    let base = sim.http_url();
    for (event, name) in [(&first, "first"), (&reply, "reply"), (&eight, "eight")] {
        let id = event["message"]["message_id"].as_str().unwrap();
        let path = format!(
            "{base}/v0/inboxes/ada@agentmail.to/messages/{}",
            escaped(id)
        );
        let raw = get_json(&format!("{path}/raw")).await;
        let (status, eml) = get(raw["download_url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(eml, sent(name), "{name}: the raw .eml is the bytes sent");
        let message = get_json(&path).await;
        assert_eq!(message["headers"]["Message-ID"], *id, "{message}");
    }
    let pdf = m["attachments"][1]["attachment_id"].as_str().unwrap();
    let id = escaped(m["message_id"].as_str().unwrap());
    let link = get_json(&format!(
        "{base}/v0/inboxes/ada@agentmail.to/messages/{id}/attachments/{pdf}"
    ))
    .await;
    let (_, content) = get(link["download_url"].as_str().unwrap()).await;
    assert_eq!(&content[..], b"%PDF-1.4 fake pdf");
    let list = get_json(&format!("{base}/v0/inboxes/ada@agentmail.to/messages")).await;
    assert_eq!(
        list["count"], 3,
        "the refused messages were not stored: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_shows_mail_live_and_redelivers_in_a_real_headless_browser() {
    let driver = std::env::var_os("CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    let Some(driver) = require(driver, "chromedriver (Debian's chromium-driver)") else {
        return;
    };
    let sim = simulator(Envelope::AgentMail).await;
    let mut cmd = Command::new("python3");
    cmd.arg(clients().join("inspector.py"))
        .arg(sim.http_url())
        .arg(KEY)
        .env("CHROMEDRIVER", driver);
    let out = run(cmd).await;
    assert!(out.contains("inspector: ok"), "{out}");
    // The redelivery really went out, and was accepted (the first delivery may
    // still be retrying against the receiver, gone with the script).
    let delivered = sim.wait_webhooks(|s| s.delivered >= 1);
    tokio::time::timeout(HANG, delivered)
        .await
        .expect("the redelivery accepted");
}
