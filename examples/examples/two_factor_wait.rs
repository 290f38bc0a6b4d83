//! Wait for a sign-in code by email, over the WebSocket alone, within a deadline.
//!
//! An agent signing in somewhere triggers a code by email and must read it within
//! seconds: the WebSocket is the fast path. The subscription is narrowed to one inbox
//! and one event type, and the wait is bounded.
//!
//! Runs self-contained against an embedded simulator:
//! `cargo run -p mailwire-examples --example two_factor_wait`

use std::time::{Duration, Instant};

use mailwire::prelude::*;
use mailwire::sim::{IncomingEmail, Simulator};
use mailwire::ws::Status;

const INBOX: &str = "agent@agentmail.to";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = Simulator::builder()
        .api_key("sk_example")
        .bind("127.0.0.1:0")
        .await?;

    // Only this inbox's received messages: nothing else crosses the wire.
    let config = WsConfig::new(sim.ws_url())
        .api_key("sk_example")
        .inbox_ids([INBOX])
        .event_types([EventType::MessageReceived]);
    let mut source = WsSource::spawn(config)?;
    source
        .status()
        .wait_for(|s| matches!(s, Status::Subscribed))
        .await?;

    // The login flow: the site emails a code a moment later (and someone else
    // writes meanwhile).
    let started = Instant::now();
    let sim_for_site = std::sync::Arc::new(sim);
    let site = sim_for_site.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let noise = IncomingEmail::new(
            "Newsletter <news@example.com>",
            "This week",
            "Nothing urgent.",
        );
        let _ = site.receive_email(INBOX, noise);
        let code = IncomingEmail::new(
            "Acme <no-reply@acme.example>",
            "Your Acme sign-in code",
            "Your verification code is 583920. It expires in 10 minutes.",
        );
        let _ = site.receive_email(INBOX, code);
    });

    let code = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(delivery) = source.next().await? {
            let text = delivery
                .event
                .payload()
                .message()
                .and_then(|m| m.text.clone());
            delivery.ack().await?;
            if let Some(code) = text.as_deref().and_then(six_digits) {
                return Ok::<_, anyhow::Error>(code.to_owned());
            }
        }
        anyhow::bail!("the WebSocket closed before the code arrived")
    })
    .await
    .map_err(|_| anyhow::anyhow!("no code within 10 s"))??;

    println!(
        "sign-in code {code}, {} ms after the login started",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// The first run of exactly six digits.
fn six_digits(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
}
