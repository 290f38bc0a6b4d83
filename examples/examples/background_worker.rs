//! A background worker on webhooks alone, with a durable redb store: every webhook is
//! logged before it is answered 200, so a worker that crashes loses nothing. At
//! restart, what was logged and never acked is handed over first (origin `log`).
//!
//! The worker keeps a suppression list from bounces. It crashes half-way through
//! (an event taken and never acked), restarts on the same file, and carries on.
//!
//! Runs self-contained against an embedded simulator:
//! `cargo run -p mailwire-examples --example background_worker`

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mailwire::prelude::*;
use mailwire::sim::{Simulator, WebhookSpec};
use mailwire::test::fixtures;

/// One run of the worker: its stream, the receiver's shutdown handle, its store.
struct Worker {
    events: Merge,
    receiver: Shutdown,
    store: RedbStore,
}

async fn start(path: &Path, addr: SocketAddr, secret: &str) -> anyhow::Result<Worker> {
    let store = RedbStore::open(path)?;
    let receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(secret)?))
        .store(store.clone())
        .bind(addr)
        .await?;
    let handle = receiver
        .shutdown_handle()
        .ok_or_else(|| anyhow::anyhow!("a bound receiver has a handle"))?;
    let events = Merge::builder()
        .source(receiver)
        .store(store.clone())
        .build();
    Ok(Worker {
        events,
        receiver: handle,
        store,
    })
}

impl Worker {
    /// Handles `n` events: bounced addresses go to the suppression list.
    async fn handle(&mut self, n: usize, suppressed: &mut BTreeSet<String>) -> anyhow::Result<()> {
        for _ in 0..n {
            let delivery = tokio::time::timeout(Duration::from_secs(10), self.events.next())
                .await
                .map_err(|_| anyhow::anyhow!("no event within 10 s"))??
                .ok_or_else(|| anyhow::anyhow!("the receiver stopped"))?;
            let event = &delivery.event;
            print!(
                "[{:<7}] {} {}",
                delivery.origin,
                event.id(),
                event.event_type()
            );
            if let Payload::Bounced(bounce) = event.payload() {
                // A recipient without an address (the service left it out) has
                // nothing to suppress.
                let addresses: Vec<&str> = bounce
                    .recipients
                    .iter()
                    .filter_map(|r| r.address.as_deref())
                    .collect();
                suppressed.extend(addresses.iter().map(|a| a.to_string()));
                print!(" -> suppress {addresses:?}");
            }
            println!();
            delivery.ack().await?; // after the side effect
        }
        Ok(())
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.receiver.shutdown();
        self.receiver.finished().await;
        drop(self.events);
        self.store.close().await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("worker.redb");
    let sim = Simulator::builder()
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await?;

    // Pick the worker's address, register it, and start the worker.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let hook = sim
        .register_webhook(WebhookSpec::new(format!("http://{addr}/webhooks")))
        .await?;
    let mut worker = start(&path, addr, &hook.secret).await?;

    sim.emit(fixtures::message_received("evt_1", "ops@agentmail.to"));
    sim.emit(fixtures::message_bounced("evt_2", "ops@agentmail.to"));
    sim.emit(fixtures::message_received("evt_3", "ops@agentmail.to"));
    sim.emit(fixtures::message_bounced("evt_4", "ops@agentmail.to"));
    // Every webhook answered: all four are in the store, logged before each 200.
    sim.wait_webhooks(|s| s.pending() == 0).await;
    println!("-- 4 webhooks received and logged; the worker starts on them --");

    let mut suppressed = BTreeSet::new();
    worker.handle(2, &mut suppressed).await?;
    // Crash: the next event is taken, and the process dies before acking it.
    let taken = worker.events.next().await?;
    println!(
        "-- crash while handling {}: restart on the same file --",
        taken.map_or_else(String::new, |d| d.event.id().to_owned())
    );
    worker.stop().await?;

    // Restart on the same file and the same address: what was never acked comes
    // first, from the log; then a new webhook.
    let mut worker = start(&path, addr, &hook.secret).await?;
    sim.emit(fixtures::message_bounced("evt_5", "ops@agentmail.to"));
    worker.handle(3, &mut suppressed).await?;
    worker.stop().await?;

    println!("\nsuppression list: {suppressed:?}");
    Ok(())
}
