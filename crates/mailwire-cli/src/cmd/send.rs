//! `mailwire send`: an email arrives in an inbox of the simulator.

use std::process::ExitCode;

use anyhow::bail;
use bytes::Bytes;
use http_body_util::Full;

use super::runtime::{block_on, error_text, exchange, rest_base};
use super::{API_KEY_ENV, Secret};

/// `mailwire send --server URL --api-key KEY --inbox ID --from ADDR --subject S --text T`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Makes an email arrive in an inbox of a simulator (`mailwire dev`): \
POST /_sim/inboxes/ID/messages. The simulator stores it (the inbox is created if \
missing) and emits a message.received event on its WebSocket and to its webhooks. \
Prints the event id (with --json, the whole answer: {\"event_id\", \"message_id\", ...})."
)]
pub(crate) struct Args {
    /// The simulator's URL, e.g. http://127.0.0.1:8787 (a ws:// URL works too).
    #[arg(long, value_name = "URL")]
    server: String,
    /// API key.
    #[arg(long = "api-key", value_name = "KEY", env = API_KEY_ENV, hide_env_values = true)]
    api_key: Secret,
    /// The receiving inbox, e.g. ada@agentmail.to.
    #[arg(long, value_name = "ID")]
    inbox: String,
    /// The sender, `addr` or `Name <addr>`.
    #[arg(long, value_name = "ADDR")]
    from: String,
    /// Subject line.
    #[arg(long, value_name = "S")]
    subject: String,
    /// Plain-text body.
    #[arg(long, value_name = "T")]
    text: String,
    /// Print the simulator's whole answer as one JSON line instead of the event id.
    #[arg(long)]
    json: bool,
}

/// Prints the new event's id on stdout.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = rest_base(&args.server)?;
    let url = format!("{base}/_sim/inboxes/{}/messages", encode(&args.inbox));
    let body = serde_json::json!({
        "from": args.from,
        "to": [args.inbox],
        "subject": args.subject,
        "text": args.text,
    });
    let req = http::Request::post(url.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", args.api_key.expose()).as_str(),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| crate::usage::usage(format!("--server/--inbox: {e}")))?;
    block_on(async move {
        let (status, answer) = exchange(req).await?;
        match status.as_u16() {
            200..=299 => {}
            401 | 403 => bail!("{base} refused the API key ({status})"),
            _ => bail!("{base} answered {status}: {}", error_text(&answer)),
        }
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        match answer["event_id"].as_str() {
            Some(_) if args.json => println!("{answer}"),
            Some(id) => println!("{id}"),
            None => bail!("{base} answered without an event id"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Percent-encodes a path segment (inbox ids hold `@`, maybe more).
fn encode(segment: &str) -> String {
    mailwire_client::segment(segment)
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_path_segments() {
        assert_eq!(super::encode("ada@agentmail.to"), "ada%40agentmail.to");
        assert_eq!(super::encode("a/b c"), "a%2Fb%20c");
    }
}
