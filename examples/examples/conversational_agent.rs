//! A conversational agent: WebSocket first, webhooks as the durable fallback, merged
//! into one stream that yields each email once.
//!
//! The agent answers every email. Half-way, the WebSocket gateway goes down: the
//! emails that arrive meanwhile reach the agent by webhook, and none is answered twice
//! when the WebSocket comes back.
//!
//! Runs self-contained against an embedded simulator:
//! `cargo run -p mailwire-examples --example conversational_agent`

use std::time::Duration;

use mailwire::prelude::*;
use mailwire::sim::{Chaos, IncomingEmail, Simulator, WebhookSpec};
use mailwire::ws::Status;

const INBOX: &str = "concierge@agentmail.to";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The service, with webhook retries in milliseconds.
    let sim = Simulator::builder()
        .api_key("sk_example")
        .webhook_time_scale(0.001)
        .bind("127.0.0.1:0")
        .await?;

    // The webhook endpoint: bind first, register it, verify with its secret.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    let hook = sim.register_webhook(WebhookSpec::new(url)).await?;
    let store = MemoryStore::new();
    let webhooks = WebhookReceiver::new(Verifier::new(Keyring::standard(&hook.secret)?))
        .store(store.clone())
        .serve(listener);

    // The WebSocket.
    let ws = WsSource::spawn(WsConfig::new(sim.ws_url()).api_key("sk_example"))?;
    let mut ws_status = ws.status();
    ws_status
        .wait_for(|s| matches!(s, Status::Subscribed))
        .await?;

    // Both, merged: each event once, whichever transport brings it first.
    let mut inbox = Merge::builder()
        .source(ws)
        .source(webhooks)
        .store(store)
        .build();

    let questions = [
        (
            "Grace <grace@example.com>",
            "Opening hours?",
            "Are you open on Sunday?",
        ),
        (
            "Alan <alan@example.co.uk>",
            "Table for two",
            "Can I book a table for two at 8pm?",
        ),
        (
            "Ada <ada@example.com>",
            "Allergies",
            "Do you have gluten-free options?",
        ),
        (
            "Linus <linus@example.org>",
            "Parking",
            "Is there parking nearby?",
        ),
        ("Hedy <hedy@example.com>", "Thanks", "See you tonight!"),
    ];
    for (i, (from, subject, text)) in questions.iter().enumerate() {
        match i {
            2 => {
                println!("-- the WebSocket gateway goes down --");
                sim.set_chaos(Chaos::seeded(1).ws_down(true).drop_now())
                    .map_err(anyhow::Error::msg)?;
            }
            4 => {
                sim.clear_chaos();
                ws_status
                    .wait_for(|s| matches!(s, Status::Subscribed))
                    .await?;
                println!("-- the WebSocket gateway is back, the agent reconnected --");
            }
            _ => {}
        }
        sim.receive_email(INBOX, IncomingEmail::new(*from, *subject, *text))?;
        answer_next(&mut inbox).await?;
    }
    let stats = inbox.stats();
    println!(
        "\nanswered {} emails, each once: {} by websocket, {} by webhook",
        questions.len(),
        stats.origin(&mailwire::Origin::WebSocket).delivered,
        stats.origin(&mailwire::Origin::Webhook).delivered,
    );
    Ok(())
}

/// Waits for the next email and answers it; acks once the reply is sent.
async fn answer_next(inbox: &mut Merge) -> anyhow::Result<()> {
    loop {
        let delivery = tokio::time::timeout(Duration::from_secs(10), inbox.next())
            .await
            .map_err(|_| anyhow::anyhow!("an email never arrived"))??
            .ok_or_else(|| anyhow::anyhow!("the sources ended"))?;
        let answered = match delivery.event.payload().message() {
            Some(message) => {
                let from = message
                    .from
                    .as_ref()
                    // The address itself, or the text as sent when it is not one.
                    .map_or("someone", |a| a.email().unwrap_or(a.as_str()));
                let subject = message.subject.as_deref().unwrap_or("(no subject)");
                println!("[{:<9}] {from}: {subject}", delivery.origin.as_str());
                println!("            -> reply sent: \"Re: {subject}\"");
                true
            }
            None => false,
        };
        // After the side effect: acked, it is never handled again.
        delivery.ack().await?;
        if answered {
            return Ok(());
        }
    }
}
