//! `mailwire mcp` over stdio, the built binary, as an MCP client starts it: the time
//! from an email's event leaving the service to `wait_for_email`'s result at the
//! client, against a bare WebSocket client subscribed to the same service (the frame
//! read, nothing parsed): the floor of any client of the WebSocket.
//!
//! One email at a time: the call is sent, then the simulator emits a
//! `message.received` for the inbox waited on, and the clock runs from the emission to
//! the tool's result (or to the bare client's frame). The two use an inbox each (the
//! server is started with `--inbox`, the bare client subscribes with `inbox_ids`), so
//! neither sees the other's emails; rounds alternate between them, so a noisy machine
//! hurts both alike. Prints p50 and p99 and `cargo xtask bench` rows. The goal: at
//! most 5 ms added at p50.
//!
//! `cargo bench -p mailwire-cli --bench mcp` (release build; the binary runs only
//! with cargo bench's `--bench`). `BENCH_LOG` is the server's `RUST_LOG`.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use mailwire_proto::fixtures;
use mailwire_sim::Simulator;
use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest, ServerResult};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::{Peer, RoleClient, ServiceExt as _};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const KEY: &str = "sk_bench_mcp";
/// The inbox `wait_for_email` waits on.
const MCP_INBOX: &str = "waiter@agentmail.to";
/// The inbox the bare client subscribes to.
const BARE_INBOX: &str = "bare@agentmail.to";
/// Rounds of each before the measured ones (connections, caches, the allocator).
const WARM_UP: usize = 10;
/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(60);

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

/// Emails per contender.
fn emails() -> usize {
    if quick() { 20 } else { 200 }
}

/// `mailwire mcp` on stdio, with the MCP session to it.
struct McpServer {
    client: RunningService<RoleClient, ()>,
    child: tokio::process::Child,
    /// What it printed on standard error.
    said: Arc<Mutex<Vec<String>>>,
}

impl McpServer {
    async fn start(sim: &Simulator) -> McpServer {
        let api = format!("http://{}/v0", sim.addr());
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailwire"))
            .args([
                "mcp",
                "--api-url",
                &api,
                "--api-key",
                KEY,
                "--inbox",
                MCP_INBOX,
            ])
            .env_remove("RUST_LOG")
            .envs(std::env::var("BENCH_LOG").map(|l| ("RUST_LOG", l)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the mailwire binary runs");
        let said = Arc::new(Mutex::new(Vec::new()));
        let keep = said.clone();
        let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let io = (
            child.stdout.take().expect("stdout"),
            child.stdin.take().expect("stdin"),
        );
        let client = match tokio::time::timeout(HANG, ().serve(io)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => failed(&said, &format!("the MCP session does not start: {e}")),
            Err(_) => failed(&said, "the MCP session does not start in time"),
        };
        McpServer {
            client,
            child,
            said,
        }
    }

    /// Closes the session (stdin) and waits for the server to stop.
    async fn stop(mut self) {
        let _ = self.client.cancel().await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Panics with what the server said.
fn failed(said: &Mutex<Vec<String>>, what: &str) -> ! {
    let said = said.lock().unwrap_or_else(|p| p.into_inner());
    panic!("{what}; mailwire mcp said:\n{}", said.join("\n"))
}

/// One round of `wait_for_email`: the call sent, then the email emitted; the time
/// from the emission to the result.
async fn mcp_round(sim: &Simulator, server: &McpServer, id: &str) -> Duration {
    let peer: &Peer<RoleClient> = server.client.peer();
    let Value::Object(arguments) = json!({"inbox_id": MCP_INBOX, "timeout_seconds": 30}) else {
        unreachable!("an object")
    };
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new("wait_for_email").with_arguments(arguments),
    ));
    let handle = peer
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .unwrap_or_else(|e| failed(&server.said, &format!("sending wait_for_email: {e}")));
    let email = fixtures::message_received(id, MCP_INBOX);
    let expected = email.payload().message_id().map(str::to_owned);
    let emitted = Instant::now();
    sim.emit(email);
    let response = tokio::time::timeout(HANG, handle.await_response()).await;
    let took = emitted.elapsed();
    let result = match response {
        Ok(Ok(ServerResult::CallToolResult(result))) => result,
        Ok(Ok(other)) => failed(&server.said, &format!("not a tool result: {other:?}")),
        Ok(Err(e)) => failed(&server.said, &format!("wait_for_email: {e}")),
        Err(_) => failed(&server.said, "wait_for_email does not answer"),
    };
    let returned = result
        .structured_content
        .as_ref()
        .and_then(|s| s.pointer("/email/message_id"))
        .and_then(Value::as_str);
    if result.is_error == Some(true) || returned != expected.as_deref() {
        failed(
            &server.said,
            &format!("wait_for_email returned {result:?}, not the email of {id}"),
        );
    }
    took
}

type Bare = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A bare client subscribed to the received emails of [`BARE_INBOX`].
async fn bare_client(sim: &Simulator) -> Bare {
    let mut request = sim.ws_url().into_client_request().expect("a request");
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        format!("Bearer {KEY}").parse().expect("a header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the bare client connects");
    let subscribe = json!({
        "type": "subscribe",
        "event_types": ["message.received"],
        "inbox_ids": [BARE_INBOX],
    });
    ws.send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    loop {
        match tokio::time::timeout(HANG, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains(r#""type":"subscribed""#) => {
                return ws;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("the bare client is not subscribed: {other:?}"),
        }
    }
}

/// One round of the bare client: the time from the emission to the frame.
async fn bare_round(sim: &Simulator, ws: &mut Bare, id: &str) -> Duration {
    let quoted = format!("\"{id}\"");
    let emitted = Instant::now();
    sim.emit(fixtures::message_received(id, BARE_INBOX));
    loop {
        match tokio::time::timeout(HANG, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains(&quoted) => {
                return emitted.elapsed();
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("the bare client does not receive {id}: {other:?}"),
        }
    }
}

/// Microseconds at the quantile `q` of `v`.
fn quantile(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    let at = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[at].as_secs_f64() * 1e6
}

/// One row of `cargo xtask bench`'s table.
fn row(bench: &str, case: &str, figure: f64, unit: &str, baseline: &str, baseline_figure: f64) {
    println!("bench-row\t{bench}\t{case}\t{figure:.0}\t{unit}\t{baseline}\t{baseline_figure:.0}");
}

fn main() {
    // Only `cargo bench` (which passes `--bench`) runs it: `cargo test --benches`
    // passes no argument to a bench without the libtest harness (or `--test` when
    // asked to), and has no time to spare.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let sim = Simulator::builder()
            .api_key(KEY)
            .bind("127.0.0.1:0")
            .await
            .expect("the simulator binds");
        let server = McpServer::start(&sim).await;
        tokio::time::timeout(HANG, sim.wait_subscribers(1))
            .await
            .unwrap_or_else(|_| failed(&server.said, "mailwire mcp does not subscribe"));
        let mut bare = bare_client(&sim).await;
        sim.wait_subscribers(2).await;

        let n = emails();
        let (mut mcp, mut floor) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..WARM_UP + n {
            let (mcp_id, bare_id) = (format!("evt_mcp_{i}"), format!("evt_bare_{i}"));
            let (ours, theirs) = if i % 2 == 0 {
                let ours = mcp_round(&sim, &server, &mcp_id).await;
                (ours, bare_round(&sim, &mut bare, &bare_id).await)
            } else {
                let theirs = bare_round(&sim, &mut bare, &bare_id).await;
                (mcp_round(&sim, &server, &mcp_id).await, theirs)
            };
            if i >= WARM_UP {
                mcp.push(ours);
                floor.push(theirs);
            }
        }
        let _ = bare.close(None).await;
        server.stop().await;

        let (p50, p99) = (quantile(&mut mcp, 0.5), quantile(&mut mcp, 0.99));
        let (b50, b99) = (quantile(&mut floor, 0.5), quantile(&mut floor, 0.99));
        println!("mailwire mcp: wait_for_email, emit to result, {n} emails one at a time");
        println!("  mailwire mcp (stdio):   p50 {p50:>8.0} µs   p99 {p99:>8.0} µs");
        println!("  bare WebSocket client:  p50 {b50:>8.0} µs   p99 {b99:>8.0} µs");
        println!(
            "  added at p50:           {:>8.0} µs (goal: at most 5000 µs)",
            p50 - b50
        );
        let bench = "mcp: wait_for_email, emit to result";
        for (name, ours, theirs) in [("p50", p50, b50), ("p99", p99, b99)] {
            row(
                bench,
                &format!("mailwire mcp (stdio), {name}"),
                ours,
                "µs",
                &format!("bare WebSocket client, {name}"),
                theirs,
            );
        }
    });
}
