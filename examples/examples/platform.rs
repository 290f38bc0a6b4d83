//! A multi-tenant platform: one webhook receiver and one merge serve every
//! customer, each with its own inbox, webhook secret and path; one customer also
//! has a WebSocket of its own, for speed. A fourth customer signs up while the
//! platform runs, and another leaves: no restart.
//!
//! Every email is handled once, and each delivery says whose it is.
//!
//! Runs self-contained against an embedded simulator:
//! `cargo run -p mailwire-examples --example platform`

use std::collections::BTreeMap;
use std::time::Duration;

use mailwire::prelude::*;
use mailwire::sim::{IncomingEmail, Simulator, WebhookSpec};
use mailwire::webhook_http::{Tenant, Tenants};
use mailwire::ws::Status;

const KEY: &str = "sk_platform";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The email service, with webhook retries in milliseconds.
    let sim = Simulator::builder()
        .api_key(KEY)
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await?;

    // One endpoint for every tenant: /webhooks/<tenant>.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/webhooks", listener.local_addr()?);
    let tenants = Tenants::new();
    for id in ["acme", "globex", "initech"] {
        sign_up(&sim, &tenants, &base, id).await?;
    }
    let store = MemoryStore::new();
    let webhooks = WebhookReceiver::for_tenants(tenants.clone())
        .store(store.clone())
        .serve(listener);

    // Initech also wants speed: a WebSocket of its own, for its inbox only.
    let ws = WsSource::spawn(
        WsConfig::new(sim.ws_url())
            .api_key(KEY)
            .inbox_ids([inbox("initech")]),
    )?;
    ws.status()
        .wait_for(|s| matches!(s, Status::Subscribed))
        .await?;

    let mut platform = Merge::builder()
        .source(webhooks)
        .source(ws.for_tenant(TenantId::new("initech")))
        .store(store)
        .build();

    let mut handled: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in ["acme", "globex", "initech"] {
        for n in 1..=2 {
            let subject = format!("order #{n} for {id}");
            sim.receive_email(
                &inbox(id),
                IncomingEmail::new("Customer <c@example.com>", &subject, "hi"),
            )?;
        }
    }
    handle(&mut platform, &mut handled, 6).await?;

    // Hooli signs up while the platform runs; Globex leaves.
    println!("-- hooli signs up, globex leaves --");
    sign_up(&sim, &tenants, &base, "hooli").await?;
    let globex = tenants.remove("globex");
    sim.receive_email(
        &inbox("hooli"),
        IncomingEmail::new("Customer <c@example.com>", "order #1 for hooli", "hi"),
    )?;
    handle(&mut platform, &mut handled, 1).await?;

    println!();
    for (tenant, subjects) in &handled {
        println!(
            "{tenant:<8} {} handled: {}",
            subjects.len(),
            subjects.join(", ")
        );
    }
    if let Some(stats) = globex {
        println!(
            "globex's receiver counts when it left: {} requests answered",
            stats.requests()
        );
    }
    Ok(())
}

/// The tenant's inbox at the service.
fn inbox(tenant: &str) -> String {
    format!("{tenant}@agentmail.to")
}

/// Registers a tenant's webhook at the service (its inbox only, to the tenant's
/// path) and adds the tenant, with the secret the service gave, to the receiver.
async fn sign_up(sim: &Simulator, tenants: &Tenants, base: &str, id: &str) -> anyhow::Result<()> {
    let mut spec = WebhookSpec::new(format!("{base}/{id}"));
    spec.inbox_ids = Some(vec![inbox(id)]);
    let hook = sim.register_webhook(spec).await?;
    let verifier = Verifier::new(Keyring::standard(&hook.secret)?);
    tenants.insert(Tenant::new(id, verifier))?;
    Ok(())
}

/// Handles `n` emails, each once, whichever transport brings it first.
async fn handle(
    platform: &mut Merge,
    handled: &mut BTreeMap<String, Vec<String>>,
    n: usize,
) -> anyhow::Result<()> {
    let mut done = 0;
    while done < n {
        let delivery = tokio::time::timeout(Duration::from_secs(10), platform.next())
            .await
            .map_err(|_| anyhow::anyhow!("an email never arrived"))??
            .ok_or_else(|| anyhow::anyhow!("the sources ended"))?;
        let tenant = delivery
            .tenant
            .as_ref()
            .map_or("(none)".to_owned(), |t| t.to_string());
        if let Some(message) = delivery.event.payload().message() {
            let subject = message.subject.clone().unwrap_or_default();
            println!("[{tenant:<8}] by {:<9} {subject}", delivery.origin.as_str());
            handled.entry(tenant).or_default().push(subject);
            done += 1;
        }
        delivery.ack().await?;
    }
    Ok(())
}
