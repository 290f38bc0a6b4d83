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
