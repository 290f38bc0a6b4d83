//! `mailwire mcp` driven by the official MCP clients (PyPI `mcp` 2.3.0, npm
//! `@modelcontextprotocol/sdk` 1.32.2), over stdio (the client starts the server)
//! and Streamable HTTP, against `mailwire dev`: the tools listed with their schemas,
//! each email tool called, and `wait_for_email` ended by an email, in order, across
//! a restart, and cancelled. The clients are `tests/clients/mcp_client.{py,cjs}`,
//! driven line by line; `crates/mailwire-sim/tests/clients/install-sdks.sh`
//! installs them into `MAILWIRE_SDK_DIR` (default `target/sdk`).
//!
//! A missing SDK fails these tests, unless `MAILWIRE_SDK_TESTS=skip` is set (for a
//! machine without Python or Node); `MAILWIRE_SDK_TESTS=require` never skips.

use crate::common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::{Running, dev, lines, post_sim_email};
use serde_json::{Value, json};

const KEY: &str = "am_mcp_test";
/// Bounds a hung client; a wait in these tests ends within its 30 s timeout.
const CLIENT_HANG: Duration = Duration::from_secs(120);

/// Every tool `mailwire mcp` serves.
const TOOLS: &[&str] = &[
    "wait_for_email",
    "list_inboxes",
    "get_inbox",
    "create_inbox",
    "delete_inbox",
    "list_threads",
    "get_thread",
    "list_messages",
    "get_message",
    "send_message",
    "reply_to_message",
    "forward_message",
    "update_message",
    "get_attachment",
];

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn sdk_dir() -> PathBuf {
    match std::env::var_os("MAILWIRE_SDK_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("../sdk"),
    }
}

/// The installed SDK at `path`, or `None` when this machine skips SDK tests.
fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    if std::env::var("MAILWIRE_SDK_TESTS").unwrap_or_default() == "skip" {
        eprintln!(
            "skipped: {what} is not installed at {} (MAILWIRE_SDK_TESTS=skip)",
            path.display()
        );
        return None;
    }
    panic!(
        "{what} is not installed at {}: run crates/mailwire-sim/tests/clients/install-sdks.sh DIR \
         and set MAILWIRE_SDK_DIR=DIR (or set MAILWIRE_SDK_TESTS=skip on a machine without \
         Python and Node)",
        path.display()
    );
}

#[derive(Clone, Copy, Debug)]
enum Sdk {
    Python,
    Node,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Stdio,
    /// Streamable HTTP; the Python client's mode (`auto`: 2026-07-28 when the
    /// server speaks it, `legacy`: the initialize handshake and a session).
    Http(&'static str),
}

/// A client script, driven by JSON lines on its stdin, answering on its stdout.
struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: mpsc::Receiver<String>,
    /// Its stderr (and, over stdio, the server's), for failure messages.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Client {
    fn start(sdk: Sdk) -> Option<Client> {
        let mut cmd = match sdk {
            Sdk::Python => {
                let python = require(sdk_dir().join("venv/bin/python"), "the Python MCP SDK")?;
                // An older installation has the venv without `mcp`.
                let lib = sdk_dir().join("venv/lib");
                let package = std::fs::read_dir(&lib)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|python| python.path().join("site-packages/mcp"))
                    .find(|package| package.exists())
                    .unwrap_or_else(|| lib.join("python3/site-packages/mcp"));
                require(package, "the Python MCP SDK")?;
                let mut cmd = Command::new(python);
                cmd.arg(clients().join("mcp_client.py"));
                cmd
            }
            Sdk::Node => {
                let sdk = require(
                    sdk_dir().join("node/node_modules/@modelcontextprotocol/sdk"),
                    "the TypeScript MCP SDK",
                )?;
                let modules = sdk.parent()?.parent()?.to_path_buf();
                let mut cmd = Command::new("node");
                cmd.arg(clients().join("mcp_client.cjs"))
                    .env("NODE_PATH", modules);
                cmd
            }
        };
        let mut child = cmd
            .env_remove("AGENTMAIL_API_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the client starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let err_lines = lines(child.stderr.take().expect("piped"));
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in err_lines {
                kept.lock().unwrap().push(line);
            }
        });
        Some(Client {
            child,
            stdin,
            stdout,
            stderr,
        })
    }

    fn send(&mut self, cmd: &Value) {
        writeln!(self.stdin, "{cmd}").expect("the client reads its stdin");
        self.stdin.flush().unwrap();
    }

    fn fail(&self, why: &str) -> ! {
        let stderr = self.stderr.lock().unwrap().join("\n");
        panic!("{why}\n--- client stderr\n{stderr}");
    }

    /// The next line the client prints (a progress notification or an answer).
    fn line(&self) -> Value {
        match self.stdout.recv_timeout(CLIENT_HANG) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| self.fail(&format!("not JSON ({e}): {line}"))),
            Err(e) => self.fail(&format!("no answer from the client: {e}")),
        }
    }

    /// The answer to the last command, `op`, after any progress lines; fails on
    /// an error.
    fn answer(&self, op: &str) -> Value {
        loop {
            let line = self.line();
            if line["op"] == "progress" {
                continue;
            }
            if line["op"] != op || line.get("error").is_some() {
                self.fail(&format!("{op}: {line}"));
            }
            return line;
        }
    }

    /// The first progress notification of the call under way.
    fn progress(&self) -> Value {
        let line = self.line();
        if line["op"] != "progress" {
            self.fail(&format!("a progress notification expected: {line}"));
        }
        line
    }

    /// Calls `tool`: `{is_error, structured, text}`.
    fn call(&mut self, tool: &str, args: Value) -> Value {
        self.send(&json!({"op": "call", "tool": tool, "args": args}));
        self.answer("call")
    }

    /// Calls `tool`, which must succeed: its structured content.
    fn ok(&mut self, tool: &str, args: Value) -> Value {
        let answer = self.call(tool, args);
        if answer["is_error"] != false {
            self.fail(&format!("{tool} failed: {answer}"));
        }
        answer["structured"].clone()
    }

    /// `wait_for_email` with these arguments: `{found, email?}`.
    fn wait(&mut self, args: Value) -> Value {
        self.ok("wait_for_email", args)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The simulator, a client, and (over HTTP) the server the test runs.
struct Session {
    _dev: Running,
    base: String,
    sdk: Sdk,
    transport: Transport,
    /// `mailwire mcp`'s arguments after `mcp`.
    args: Vec<String>,
    server: Option<Running>,
    client: Client,
}

impl Session {
    /// `mailwire dev` with a key, and `sdk`'s client connected to `mailwire mcp
    /// ... extra` over `transport`.
    fn start(sdk: Sdk, transport: Transport, extra: &[&str]) -> Option<Session> {
        let client = Client::start(sdk)?;
        let (dev, base) = dev(&["--api-key", KEY]);
        let mut args: Vec<String> = ["--api-url", &format!("{base}/v0"), "--api-key", KEY]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut session = Session {
            _dev: dev,
            base,
            sdk,
            transport,
            args,
            server: None,
            client,
        };
        session.open();
        Some(session)
    }

    /// Starts the server (over HTTP) and connects the client.
    fn open(&mut self) {
        let open = match self.transport {
            Transport::Stdio => {
                let mut argv = vec![env!("CARGO_BIN_EXE_mailwire").to_owned(), "mcp".into()];
                argv.extend(self.args.iter().cloned());
                json!({"op": "open", "stdio": argv})
            }
            Transport::Http(mode) => {
                let mut argv = vec!["mcp"];
                argv.extend(self.args.iter().map(String::as_str));
                argv.extend(["--http", "127.0.0.1:0"]);
                let server = Running::spawn(&argv);
                let line = server.stderr_line("mcp: serving http://");
                let url = line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .expect("the URL served")
                    .to_owned();
                assert!(url.ends_with("/mcp"), "{line}");
                self.server = Some(server);
                json!({"op": "open", "http": url, "mode": mode})
            }
        };
        self.client.send(&open);
        let opened = self.client.answer("open");
        assert_eq!(opened["server"], "mailwire", "{opened}");
        if let (Sdk::Python, Transport::Http(mode)) = (self.sdk, self.transport) {
            let version = if mode == "legacy" {
                "2025-11-25"
            } else {
                "2026-07-28"
            };
            assert_eq!(opened["protocol"], version, "{opened}");
        }
    }

    /// Disconnects the client and stops the server (a stdio server exits when its
    /// client leaves).
    fn close(&mut self) {
        self.client.send(&json!({"op": "close"}));
        self.client.answer("close");
        if let Some(mut server) = self.server.take() {
            server.interrupt();
            server.wait_exit();
        }
    }

    /// An email from Bob arrives in `inbox`; the simulator's answer.
    fn post(&self, inbox: &str, subject: &str, text: &str) -> Value {
        post_sim_email(
            &self.base,
            KEY,
            inbox,
            &json!({"from": "Bob <bob@example.com>", "subject": subject, "text": text}),
        )
    }
}

/// The email a wait returned, checked to be the one posted (`posted`, the
/// simulator's answer) with this subject.
fn assert_email(waited: &Value, posted: &Value, subject: &str) {
    assert_eq!(waited["found"], true, "{waited}");
    let email = &waited["email"];
    assert_eq!(email["subject"], subject, "{waited}");
    assert_eq!(email["message_id"], posted["message_id"], "{waited}");
    assert_eq!(email["thread_id"], posted["thread_id"], "{waited}");
    assert_eq!(email["inbox_id"], posted["inbox_id"], "{waited}");
    assert!(
        email["from"]
            .as_str()
            .unwrap_or_default()
            .contains("bob@example.com"),
        "{waited}"
    );
}

// ---- scenarios, each run by the tests below on some clients and transports ----

/// Every tool is listed, described, with an object input schema; wait_for_email
/// with its arguments and an output schema.
fn tools_are_listed(s: &mut Session) {
    s.client.send(&json!({"op": "tools"}));
    let tools = s.client.answer("tools")["tools"].clone();
    let tools = tools.as_array().expect("a list of tools");
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|name| !tools.iter().any(|t| t["name"] == *name))
        .collect();
    assert!(missing.is_empty(), "tools missing: {missing:?}");
    for tool in tools {
        let description = tool["description"].as_str().unwrap_or_default();
        assert!(description.len() > 20, "no description: {tool}");
        assert_eq!(tool["input_schema"]["type"], "object", "{tool}");
    }
    let wait = tools
        .iter()
        .find(|t| t["name"] == "wait_for_email")
        .unwrap();
    for arg in ["inbox_id", "from", "subject", "timeout_seconds"] {
        assert!(
            wait["input_schema"]["properties"].get(arg).is_some(),
            "wait_for_email has no {arg}: {wait}"
        );
    }
    let output = &wait["output_schema"];
    assert_eq!(output["type"], "object", "{wait}");
    assert!(output["properties"].get("found").is_some(), "{wait}");
    assert!(output["properties"].get("email").is_some(), "{wait}");
}

/// A wait with progress ends with the email posted once the first progress
/// notification arrived: that email, its code found.
fn a_wait_ends_with_an_email(s: &mut Session) {
    let inbox = "signup@agentmail.to";
    s.client.send(&json!({
        "op": "call",
        "tool": "wait_for_email",
        "args": {"inbox_id": inbox, "timeout_seconds": 30},
        "progress": true,
    }));
    let progress = s.client.progress();
    assert_eq!(progress["total"], 30.0, "{progress}");
    assert!(
        progress["progress"].as_f64().unwrap_or_default() >= 1.0,
        "{progress}"
    );
    let posted = s.post(
        inbox,
        "Verify your email",
        "Welcome!\nYour verification code is 481516. It expires in 10 minutes.",
    );
    let answer = s.client.answer("call");
    assert_eq!(answer["is_error"], false, "{answer}");
    let waited = &answer["structured"];
    assert_email(waited, &posted, "Verify your email");
    assert_eq!(waited["email"]["codes"][0], "481516", "{waited}");
    assert!(
        waited["email"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("481516"),
        "{waited}"
    );
    // The text copy of the result holds the same JSON.
    let text: Value = serde_json::from_str(answer["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, waited);
}

/// Three emails posted before three waits: each returned once, in order; a fourth
/// wait times out.
fn waits_return_emails_in_order_once(s: &mut Session) {
    let inbox = "orders@agentmail.to";
    let posted: Vec<Value> = ["one", "two", "three"]
        .iter()
        .map(|subject| s.post(inbox, &format!("Order {subject}"), "Thanks for your order"))
        .collect();
    for (subject, posted) in ["one", "two", "three"].iter().zip(&posted) {
        let waited = s
            .client
            .wait(json!({"inbox_id": inbox, "timeout_seconds": 30}));
        assert_email(&waited, posted, &format!("Order {subject}"));
    }
    let waited = s
        .client
        .wait(json!({"inbox_id": inbox, "timeout_seconds": 1}));
    assert_eq!(waited, json!({"found": false}));
}

/// A cancelled wait: the session goes on, and the email posted after the cancel is
/// the next wait's. It is posted once that wait reported progress: a client's
/// cancel reaches the server a little after the client gave up (no answer confirms
/// it), and an email arriving in between would be the cancelled wait's.
fn a_cancelled_wait_takes_nothing(s: &mut Session) {
    let inbox = "cancel@agentmail.to";
    s.client.send(&json!({
        "op": "call",
        "tool": "wait_for_email",
        "args": {"inbox_id": inbox, "timeout_seconds": 30},
        "cancel_after": 1,
    }));
    let answer = s.client.answer("call");
    assert_eq!(
        answer,
        json!({"op": "call", "cancelled": true, "progress_seen": 1})
    );
    // The session still works.
    let inboxes = s.client.ok("list_inboxes", json!({}));
    assert!(inboxes["inboxes"].is_array(), "{inboxes}");
    s.client.send(&json!({
        "op": "call",
        "tool": "wait_for_email",
        "args": {"inbox_id": inbox, "timeout_seconds": 30},
        "progress": true,
    }));
    s.client.progress();
    let posted = s.post(inbox, "After the cancel", "Your code is 2718");
    let answer = s.client.answer("call");
    assert_eq!(answer["is_error"], false, "{answer}");
    assert_email(&answer["structured"], &posted, "After the cancel");
    assert_eq!(answer["structured"]["email"]["codes"], json!(["2718"]));
}

/// With `--store`: an email returned before a restart is not returned after it; one
/// that arrived while the server was stopped is, once.
fn a_restart_keeps_what_was_returned(s: &mut Session) {
    let inbox = "restart@agentmail.to";
    let before = s.post(inbox, "Before the restart", "first");
    let waited = s
        .client
        .wait(json!({"inbox_id": inbox, "timeout_seconds": 30}));
    assert_email(&waited, &before, "Before the restart");
    s.close();
    let stopped = s.post(inbox, "While stopped", "second");
    s.open();
    let waited = s
        .client
        .wait(json!({"inbox_id": inbox, "timeout_seconds": 30}));
    assert_email(&waited, &stopped, "While stopped");
    let waited = s
        .client
        .wait(json!({"inbox_id": inbox, "timeout_seconds": 1}));
    assert_eq!(waited, json!({"found": false}));
}

/// Each email tool once against the simulator, and a tool error.
fn the_email_tools_work(s: &mut Session) {
    let c = &mut s.client;
    let inbox = c.ok(
        "create_inbox",
        json!({"username": "mcp-tools", "display_name": "MCP tools"}),
    );
    let id = inbox["inbox_id"].as_str().expect("an inbox_id").to_owned();
    assert!(id.starts_with("mcp-tools@"), "{inbox}");
    let got = c.ok("get_inbox", json!({"inbox_id": id}));
    assert_eq!(got["inbox_id"], id.as_str(), "{got}");
    assert_eq!(got["display_name"], "MCP tools", "{got}");
    let list = c.ok("list_inboxes", json!({}));
    let listed = list["inboxes"].as_array().expect("inboxes");
    assert!(
        listed.iter().any(|i| i["inbox_id"] == id.as_str()),
        "{list}"
    );

    let sent = c.ok(
        "send_message",
        json!({"inbox_id": id, "to": ["carol@example.com"], "subject": "Hello from MCP", "text": "First"}),
    );
    let sent_id = sent["message_id"]
        .as_str()
        .expect("a message_id")
        .to_owned();
    let sent_thread = sent["thread_id"].as_str().expect("a thread_id").to_owned();
    let threads = c.ok("list_threads", json!({"inbox_id": id}));
    let threads = threads["threads"].as_array().expect("threads").clone();
    assert!(
        threads
            .iter()
            .any(|t| t["thread_id"] == sent_thread.as_str()),
        "{threads:?}"
    );
    let thread = c.ok(
        "get_thread",
        json!({"inbox_id": id, "thread_id": sent_thread}),
    );
    assert_eq!(
        thread["messages"][0]["message_id"],
        sent_id.as_str(),
        "{thread}"
    );
    assert_eq!(thread["subject"], "Hello from MCP", "{thread}");

    // An email with an attachment arrives.
    let posted = post_sim_email(
        &s.base,
        KEY,
        &id,
        &json!({
            "from": "Bob <bob@example.com>",
            "subject": "The report",
            "text": "Attached.",
            "attachments": [{"filename": "report.txt", "content_type": "text/plain",
                             "content": "cXVhcnRlcmx5IG51bWJlcnM="}],
        }),
    );
    let received = posted["message_id"].as_str().unwrap().to_owned();
    let c = &mut s.client;
    let messages = c.ok("list_messages", json!({"inbox_id": id}));
    let messages = messages["messages"].as_array().expect("messages").clone();
    for wanted in [&sent_id, &received] {
        assert!(
            messages.iter().any(|m| m["message_id"] == wanted.as_str()),
            "{wanted} not in {messages:?}"
        );
    }
    let message = c.ok(
        "get_message",
        json!({"inbox_id": id, "message_id": received}),
    );
    assert_eq!(message["subject"], "The report", "{message}");
    assert_eq!(message["text"], "Attached.", "{message}");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["filename"], "report.txt", "{message}");
    let attachment = c.ok(
        "get_attachment",
        json!({"inbox_id": id, "thread_id": posted["thread_id"],
               "attachment_id": attachment["attachment_id"]}),
    );
    assert_eq!(attachment["filename"], "report.txt", "{attachment}");
    assert_eq!(attachment["size"], 17, "{attachment}");

    let reply = c.ok(
        "reply_to_message",
        json!({"inbox_id": id, "message_id": received, "text": "Thanks"}),
    );
    assert_eq!(reply["thread_id"], posted["thread_id"], "{reply}");
    assert!(reply["message_id"].is_string(), "{reply}");
    let forward = c.ok(
        "forward_message",
        json!({"inbox_id": id, "message_id": received, "to": ["dave@example.com"], "text": "FYI"}),
    );
    assert!(forward["message_id"].is_string(), "{forward}");
    let forwarded = c.ok(
        "get_message",
        json!({"inbox_id": id, "message_id": forward["message_id"]}),
    );
    assert_eq!(forwarded["to"][0], "dave@example.com", "{forwarded}");
    let updated = c.ok(
        "update_message",
        json!({"inbox_id": id, "message_id": received,
               "add_labels": ["done"], "remove_labels": ["unread"]}),
    );
    let labels = updated["labels"].as_array().expect("labels");
    assert!(labels.iter().any(|l| l == "done"), "{updated}");
    assert!(!labels.iter().any(|l| l == "unread"), "{updated}");

    // The service's error, as a tool error the agent reads.
    let unknown = c.call("get_inbox", json!({"inbox_id": "nobody@agentmail.to"}));
    assert_eq!(unknown["is_error"], true, "{unknown}");
    assert!(
        unknown["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Inbox not found"),
        "{unknown}"
    );
    c.ok("delete_inbox", json!({"inbox_id": id}));
    let gone = c.call("get_inbox", json!({"inbox_id": id}));
    assert_eq!(gone["is_error"], true, "{gone}");
}

// ---- the tests ----

#[test]
fn python_over_stdio_lists_the_tools_and_calls_each_email_tool() {
    let Some(mut s) = Session::start(Sdk::Python, Transport::Stdio, &[]) else {
        return;
    };
    tools_are_listed(&mut s);
    the_email_tools_work(&mut s);
}

#[test]
fn python_over_stdio_waits_for_emails() {
    let Some(mut s) = Session::start(Sdk::Python, Transport::Stdio, &[]) else {
        return;
    };
    a_wait_ends_with_an_email(&mut s);
    waits_return_emails_in_order_once(&mut s);
    a_cancelled_wait_takes_nothing(&mut s);
}

#[test]
fn python_over_stdio_returns_an_email_that_arrived_while_stopped_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("mcp.redb");
    let store = store.to_str().unwrap();
    let Some(mut s) = Session::start(Sdk::Python, Transport::Stdio, &["--store", store]) else {
        return;
    };
    a_restart_keeps_what_was_returned(&mut s);
}

#[test]
fn python_over_http_lists_the_tools_and_waits_for_emails() {
    let Some(mut s) = Session::start(Sdk::Python, Transport::Http("auto"), &[]) else {
        return;
    };
    tools_are_listed(&mut s);
    a_wait_ends_with_an_email(&mut s);
    waits_return_emails_in_order_once(&mut s);
    a_cancelled_wait_takes_nothing(&mut s);
}

#[test]
fn python_over_http_with_a_session_waits_and_cancels() {
    let Some(mut s) = Session::start(Sdk::Python, Transport::Http("legacy"), &[]) else {
        return;
    };
    a_wait_ends_with_an_email(&mut s);
    a_cancelled_wait_takes_nothing(&mut s);
}

#[test]
fn python_over_http_returns_an_email_that_arrived_while_stopped_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("mcp.redb");
    let store = store.to_str().unwrap();
    let Some(mut s) = Session::start(Sdk::Python, Transport::Http("auto"), &["--store", store])
    else {
        return;
    };
    a_restart_keeps_what_was_returned(&mut s);
}

#[test]
fn typescript_over_http_lists_the_tools_calls_them_and_waits() {
    let Some(mut s) = Session::start(Sdk::Node, Transport::Http("auto"), &[]) else {
        return;
    };
    tools_are_listed(&mut s);
    a_wait_ends_with_an_email(&mut s);
    waits_return_emails_in_order_once(&mut s);
    a_cancelled_wait_takes_nothing(&mut s);
    the_email_tools_work(&mut s);
}

#[test]
fn typescript_over_stdio_waits_and_cancels() {
    let Some(mut s) = Session::start(Sdk::Node, Transport::Stdio, &[]) else {
        return;
    };
    tools_are_listed(&mut s);
    a_wait_ends_with_an_email(&mut s);
    a_cancelled_wait_takes_nothing(&mut s);
}

/// `mailwire dev` serves the same tools at its own `/mcp`, over its own mail.
#[test]
fn the_simulator_serves_mcp_itself() {
    let Some(mut client) = Client::start(Sdk::Python) else {
        return;
    };
    let (dev, base) = dev(&["--api-key", KEY]);
    // The tools are served once built, after the simulator listens.
    let line = dev.stderr_line("mcp: ");
    let url = format!("{base}/mcp");
    assert!(line.ends_with(&url), "{line}");
    client.send(&json!({"op": "open", "http": url}));
    let opened = client.answer("open");
    assert_eq!(opened["server"], "mailwire", "{opened}");
    let inbox = client.ok("create_inbox", json!({"username": "dev-mcp"}));
    let inbox = inbox["inbox_id"].as_str().expect("an inbox_id").to_owned();
    client.send(&json!({
        "op": "call",
        "tool": "wait_for_email",
        "args": {"inbox_id": inbox, "timeout_seconds": 30},
        "progress": true,
    }));
    client.progress();
    let posted = post_sim_email(
        &base,
        KEY,
        &inbox,
        &json!({"from": "Bob <bob@example.com>", "subject": "Sign in", "text": "Code: 905113"}),
    );
    let answer = client.answer("call");
    assert_eq!(answer["is_error"], false, "{answer}");
    assert_email(&answer["structured"], &posted, "Sign in");
    assert_eq!(answer["structured"]["email"]["codes"], json!(["905113"]));
}

#[test]
fn a_server_scoped_to_one_inbox_refuses_others_and_waits_only_on_its_own() {
    let scoped = "scoped@agentmail.to";
    let Some(mut s) = Session::start(Sdk::Python, Transport::Stdio, &["--inbox", scoped]) else {
        return;
    };
    let other = s
        .client
        .call("get_inbox", json!({"inbox_id": "other@agentmail.to"}));
    assert_eq!(other["is_error"], true, "{other}");
    assert!(
        other["text"]
            .as_str()
            .unwrap_or_default()
            .contains("not one this server may use"),
        "{other}"
    );
    let refused = s.client.call(
        "wait_for_email",
        json!({"inbox_id": "other@agentmail.to", "timeout_seconds": 1}),
    );
    assert_eq!(refused["is_error"], true, "{refused}");
    // An email to another inbox is not returned; one to the scoped inbox is, with
    // no inbox_id given.
    s.post("other@agentmail.to", "Not yours", "Code: 111111");
    let posted = s.post(scoped, "Yours", "Code: 222222");
    let waited = s.client.wait(json!({"timeout_seconds": 30}));
    assert_email(&waited, &posted, "Yours");
    let none = s.client.wait(json!({"timeout_seconds": 1}));
    assert_eq!(none["found"], false, "{none}");
    s.close();
}
