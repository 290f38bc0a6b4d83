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
use std::time::Duration;

use mailwire::prelude::*;
use mailwire::sim::{IncomingEmail, Retention, Simulator};

const KEY: &str = "sk_laptop";
const INBOX: &str = "agent@agentmail.to";

/// One run of the agent: handles `n` emails, then stops. Returns their subjects.
async fn run_agent(sim: &Simulator, dir: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    // The store keeps the events, and the checkpoints that say where to resume:
    // the WebSocket's resume point and the backfill's progress.
    let store = RedbStore::open(dir.join("agent.redb"))?;
    let mut agent = Agent::builder()
        .store(store.clone())
        .websocket(WsConfig::new(sim.ws_url()).api_key(KEY))
        .backfill(BackfillConfig::new(format!("http://{}/v0", sim.addr()), KEY).inboxes([INBOX]))
        .start()
        .await?;
    let mut gaps = agent.take_gaps().expect("gaps are taken once");
    tokio::spawn(async move {
        while gaps.recv().await.is_some() {
            println!("  (the WebSocket could not resume: the backfill reads the REST API)");
        }
    });

    let mut handled = Vec::new();
    while handled.len() < n {
        let delivery = tokio::time::timeout(Duration::from_secs(10), agent.next())
            .await??
            .expect("the sources do not end");
        let subject = delivery
            .event
            .payload()
            .message()
            .and_then(|m| m.subject.clone())
            .unwrap_or_default();
        println!("  handled {:<28} (by {})", subject, delivery.origin);
        delivery.ack().await?; // moves the WebSocket's resume point too
        handled.push(subject);
    }
    agent.stop().await;
    drop(agent);
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
