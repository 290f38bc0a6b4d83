//! `mailwire demo`: the whole system in one process. A simulator with chaos on its
//! webhooks, an agent on both transports merged over a redb store, a burst of
//! emails, a WebSocket drop in the middle, and a report computed from what happened.

mod agent;
mod emails;
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use mailwire_merge::Merge;
use mailwire_sim::{Chaos, Simulator};
use mailwire_store::{RedbStore, Store};
use mailwire_webhook::{Keyring, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_ws::WsConfig;
use tokio::sync::watch;

use super::runtime::{block_on, connect_ws, error_text, exchange};
use agent::{CountingLog, Journal, lock};
use emails::{BURST, DROP_AFTER, SENT_WHILE_DOWN};

const API_KEY: &str = "sk_demo";
/// Small on purpose: after the drop, resume cannot close the gap, so the webhooks
/// must.
const RETAIN: usize = 4;
/// Webhook retries in milliseconds instead of seconds and minutes.
const TIME_SCALE: f64 = 0.002;
const CHAOS: &str = r#"{"seed":7,"webhook_failure_rate":0.3,"webhook_max_failures":2}"#;
/// The merge's reorder window: held this long, each inbox's events go out in order.
const REORDER: Duration = Duration::from_millis(25);
/// Time between two emails.
const PACE: Duration = Duration::from_millis(40);
/// The most the demo waits for every event to arrive.
const DEADLINE: Duration = Duration::from_secs(25);

/// `mailwire demo`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Runs everything in one process, on loopback, with the embedded \
defaults: a simulator of the email service (chaos: 30% of webhook attempts fail), an \
agent listening on both the WebSocket and webhooks, merged and deduplicated over a redb \
store in a temporary directory, a burst of 30 emails (one carrying a sign-in code the \
agent extracts), a WebSocket drop in the middle, and a closing report computed from what \
actually happened. Takes a few seconds; exits 1 if an event was lost or handled twice."
)]
pub(crate) struct Args {}

/// Runs the demo.
pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    block_on(demo())
}

async fn demo() -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let store_path = dir.path().join("agent.redb");

    // The service.
    let sim = Simulator::builder()
        .api_key(API_KEY)
        .retain(RETAIN)
        .webhook_time_scale(TIME_SCALE)
        .bind("127.0.0.1:0")
        .await
        .context("starting the simulator")?;
    let base = sim.http_url();

    // The agent: a redb store, a webhook receiver logging to it, a WebSocket.
    let store = RedbStore::open(&store_path).map_err(|e| anyhow!("opening the store: {e}"))?;
    let log: Arc<dyn Store> = Arc::new(store.clone());
    let absorbed = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/webhooks", listener.local_addr()?);

    println!("mailwire demo: the whole system in one process, on loopback\n");
    println!("  service   simulator at {base} (chaos: 30% of webhook attempts fail)");
    let hook = post(
        &base,
        "/v0/webhooks",
        &serde_json::json!({ "url": hook_url, "event_types": ["message.received"] }).to_string(),
    )
    .await?;
    let secret = hook["secret"]
        .as_str()
        .ok_or_else(|| anyhow!("no webhook secret"))?;
    post(&base, "/_sim/chaos", CHAOS).await?;
    let receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(secret)?))
        .store(Arc::new(CountingLog {
            inner: log.clone(),
            duplicates: absorbed.clone(),
        }))
        .serve(listener);
    let mut ws = connect_ws(
        WsConfig::new(sim.ws_url()).api_key(API_KEY),
        &sim.ws_url(),
        false,
    )
    .await?;
    let status = ws.status();
    let gaps = ws.gaps();
    println!(
        "  agent     WebSocket {} + webhooks at {hook_url}, merged",
        sim.ws_url()
    );
    println!("  store     {} (redb)\n", store_path.display());

    let merge = Merge::builder()
        .source(ws)
        .source(receiver)
        .store(log)
        .reorder(REORDER)
        .build();
    let journal = Arc::new(std::sync::Mutex::new(Journal::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let agent = tokio::spawn(agent::run(merge, journal.clone(), start, stop_rx));
    let ws_summary = report::SharedWs::default();
    let ws_watch = tokio::spawn(report::watch_websocket(
        status,
        gaps,
        start,
        ws_summary.clone(),
    ));

    // The burst, with the WebSocket dropped in the middle.
    let mut sent = Vec::with_capacity(BURST.len());
    for (i, email) in BURST.iter().enumerate() {
        if i == DROP_AFTER {
            println!(
                "[{:>5.2}s] -- the WebSocket gateway goes down while {SENT_WHILE_DOWN} emails arrive --",
                start.elapsed().as_secs_f64()
            );
            sim.set_chaos(chaos().ws_down(true).drop_now())
                .map_err(|e| anyhow!(e))?;
        }
        if i == DROP_AFTER + SENT_WHILE_DOWN {
            println!(
                "[{:>5.2}s] -- the WebSocket gateway is back --",
                start.elapsed().as_secs_f64()
            );
            sim.set_chaos(chaos()).map_err(|e| anyhow!(e))?;
        }
        let body = serde_json::json!({
            "from": email.from, "to": [email.inbox], "subject": email.subject, "text": email.text,
        });
        let path = format!("/_sim/inboxes/{}/messages", email.inbox.replace('@', "%40"));
        let answer = post(&base, &path, &body.to_string()).await?;
        let id = answer["event_id"]
            .as_str()
            .ok_or_else(|| anyhow!("the simulator answered without an event id"))?
            .to_owned();
        lock(&journal).sent_at.insert(id.clone(), Instant::now());
        sent.push(id);
        tokio::time::sleep(PACE).await;
    }

    // Wait for every event, and for every webhook delivery to end (so the copies are
    // counted), within the deadline.
    let all_in = async {
        loop {
            let missing = {
                let j = lock(&journal);
                sent.iter()
                    .filter(|id| !j.delivered.contains_key(*id))
                    .count()
            };
            if missing == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sim.wait_webhooks(|s| s.pending() == 0).await
    };
    let timed_out = tokio::time::timeout(DEADLINE, all_in).await.is_err();
    stop_tx.send_replace(true);
    let merge = agent.await.context("the agent task")??;
    ws_watch.abort();

    let report = report::Report::new(
        &sent,
        &lock(&journal),
        merge.stats(),
        absorbed.load(std::sync::atomic::Ordering::Relaxed),
        sim.webhook_stats(),
        sim.chaos_stats(),
        ws_summary.lock().map(|s| s.clone()).unwrap_or_default(),
        start.elapsed(),
    );
    drop(merge);
    store
        .close()
        .await
        .map_err(|e| anyhow!("closing the store: {e}"))?;
    println!("{report}");
    if timed_out || !report.exactly_once() {
        bail!("some events were lost or handled twice (see the report)");
    }
    Ok(ExitCode::SUCCESS)
}

/// The chaos of the whole demo: 30% of webhook attempts fail (at most twice each).
fn chaos() -> Chaos {
    Chaos::seeded(7).webhook_failures(0.3, 2)
}

/// POSTs JSON to the simulator's REST API.
async fn post(base: &str, path: &str, body: &str) -> anyhow::Result<serde_json::Value> {
    let req = http::Request::post(format!("{base}{path}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-api-key", API_KEY)
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let (status, answer) = exchange(req).await?;
    if !status.is_success() {
        bail!("POST {path}: {status}: {}", error_text(&answer));
    }
    Ok(serde_json::from_slice(&answer)?)
}
