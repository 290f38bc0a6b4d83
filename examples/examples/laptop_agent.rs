//! An agent on a laptop: no public URL, so no webhooks; a WebSocket for speed, the
//! REST API to fill every gap, one redb file, and nothing missed across restarts.
//!
//! The agent runs, handles two emails, and is stopped. Three emails arrive while it
//! is away, and the service forgets its WebSocket backlog meanwhile (so resuming
//! cannot replay them). At the next start the agent resumes where it stopped, is
//! told of the gap, and its backfill reads the three from the REST API: each email
//! handled once, none twice.
//!
//! Runs self-contained against an embedded simulator:
//! `cargo run -p mailwire-examples --example laptop_agent`

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailwire::EventSource as _;
use mailwire::EventSourceExt as _;
use mailwire::backfill::{Backfill, BackfillConfig, FileProgress, Trigger};
use mailwire::merge::Merge;
use mailwire::sim::{IncomingEmail, Retention, Simulator};
use mailwire::store::RedbStore;
use mailwire::ws::{Status, WsConfig, WsSource};

const KEY: &str = "sk_laptop";
const INBOX: &str = "agent@agentmail.to";
/// Where the WebSocket's resume point is kept, beside the store.
const RESUME: &str = "websocket:after";

/// One run of the agent: handles `n` emails, then stops. Returns their subjects.
async fn run_agent(sim: &Simulator, dir: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let store = RedbStore::open(dir.join("agent.redb"))?;
    let progress = FileProgress::beside(&dir.join("agent.redb"))?;

    let mut config = WsConfig::new(sim.ws_url()).api_key(KEY);
    if let Some(after) = progress.get(RESUME) {
        config = config.resume_after(after);
    }
    let mut ws = WsSource::spawn(config)?;
    let mut status = ws.status();
    let rest = format!("http://{}/v0", sim.addr());
    let backfill = Backfill::spawn(
        BackfillConfig::new(rest, KEY).inboxes([INBOX]),
        progress.clone(),
    )?;
    // Every gap the WebSocket reports is read from the REST API.
    let fill = backfill.handle();
    let mut gaps = ws.gaps().expect("gaps are taken once");
    tokio::spawn(async move {
        while let Some(gap) = gaps.recv().await {
            println!("  (the WebSocket could not resume: filling from the REST API)");
            fill.fill(Trigger::Gap {
                from: gap.from,
                to: gap.to,
            });
        }
    });
    status.wait_for(|s| matches!(s, Status::Subscribed)).await?;

    let mut merge = Merge::builder()
        .source(ws.boxed())
        .source(backfill.boxed())
        .store(Arc::new(store.clone()))
        .build();
    let mut handled = Vec::new();
    while handled.len() < n {
        let delivery = tokio::time::timeout(Duration::from_secs(10), merge.next())
            .await??
            .expect("the sources do not end");
        let subject = delivery
            .event
            .payload()
            .message()
            .and_then(|m| m.subject.clone())
            .unwrap_or_default();
        println!("  handled {:<28} (by {})", subject, delivery.origin);
        let id = delivery.event.id().to_owned();
        let from_ws = delivery.origin == mailwire::Origin::WebSocket;
        delivery.ack().await?;
        if from_ws {
            progress.set(RESUME, &id).await?;
        }
        handled.push(subject);
    }
    drop(merge);
    store.close().await?;
    Ok(handled)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = Simulator::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await?;
    let dir = tempfile::tempdir()?;
    let email = |subject: &str| IncomingEmail::new("Bob <bob@example.com>", subject, "hello");

    println!("first run:");
    let agent = run_agent(&sim, dir.path(), 2);
    let mail = async {
        sim.wait_subscribers(1).await;
        for s in ["before 1", "before 2"] {
            sim.receive_email(INBOX, email(s))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        anyhow::Ok(())
    };
    let (first, sent) = tokio::join!(agent, mail);
    sent?;
    let mut handled = first?;

    // The laptop sleeps: three emails arrive, and the service's WebSocket backlog
    // is gone by the time it wakes.
    for s in ["while away 1", "while away 2", "while away 3"] {
        sim.receive_email(INBOX, email(s))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    sim.restart(Retention::Clear).await?;

    println!("second run:");
    handled.extend(run_agent(&sim, dir.path(), 3).await?);

    let unique: HashSet<&String> = handled.iter().collect();
    assert_eq!(unique.len(), 5, "each email handled once: {handled:?}");
    println!("5 emails, each handled once, none missed.");
    Ok(())
}
