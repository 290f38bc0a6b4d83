//! `mailwire forward`: events from the WebSocket, POSTed to a local endpoint as
//! signed webhooks: the webhook loop without a tunnel.

use std::io::Write as _;
use std::process::ExitCode;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::anyhow;
use base64::Engine as _;
use mailwire_source::EventSource as _;
use mailwire_webhook::Signer;
use mailwire_webhook_http::{Endpoint, Outcome, STANDARD_SCHEDULE, WebhookSender};
use mailwire_ws::WsConfig;
use tokio::sync::Semaphore;

use super::runtime::{Hangup, block_on, check_url, connect_ws, interrupted, status};
use super::{API_KEY_ENV, AuthArg, SECRET_ENV, SchemeArg, Secret, keyring};

/// How many events may be in delivery (retries included) at once.
const IN_FLIGHT: usize = 64;

/// `mailwire forward --ws URL --api-key KEY --to URL [--secret S | --print-secret]
/// [--scheme S] [--max-attempts N] [--json]`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Receives events on the WebSocket and POSTs each one, its bytes \
unchanged, to a local endpoint as a signed webhook, retrying on failure (at once, 5 s, \
5 min, 30 min, ...). No tunnel, no public URL.\n\nWithout --secret, the secret is \
derived from the API key and the --to URL, so it stays the same from run to run; it is \
printed at start (stderr), and alone by --print-secret: configure your endpoint with \
it. A secret you give (--secret or MAILWIRE_WEBHOOK_SECRET) is never printed, nor is \
the API key.\n\nStatus goes to stderr: a line per delivery, per failed attempt (with \
when the next comes) and per give-up. With --json, stdout gets one JSON line per \
delivery's end: {\"event_id\",\"type\",\"outcome\":\"delivered|gave_up|disabled\",\
\"attempts\",\"status\"}."
)]
pub(crate) struct Args {
    /// WebSocket URL, e.g. ws://127.0.0.1:8787/v0.
    #[arg(long, value_name = "URL")]
    ws: String,
    /// API key for the WebSocket.
    #[arg(long = "api-key", value_name = "KEY", env = API_KEY_ENV, hide_env_values = true)]
    api_key: Secret,
    /// How the key is presented: `bearer` (AgentMail), `query` (`?api_key=`), or
    /// `x-api-key` (myagentmail).
    #[arg(long, value_enum, default_value_t = AuthArg::Bearer)]
    auth: AuthArg,
    /// The endpoint to POST to, e.g. http://127.0.0.1:3000/webhooks.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Signing secret (default: derived from the API key and --to).
    #[arg(
        long,
        value_name = "S",
        env = SECRET_ENV,
        hide_env_values = true,
        conflicts_with = "print_secret"
    )]
    secret: Option<Secret>,
    /// Print the derived signing secret and exit.
    #[arg(long)]
    print_secret: bool,
    /// Signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Standard)]
    scheme: SchemeArg,
    /// Give a delivery up after this many attempts (1 to 8, the standard schedule's
    /// first N).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=8))]
    max_attempts: u32,
    /// One JSON line on stdout per delivery's end.
    #[arg(long)]
    json: bool,
    /// Multiplies the retry delays (for tests and demos).
    #[arg(long, value_name = "F", default_value_t = 1.0, hide = true)]
    retry_scale: f64,
}

/// Forwards until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let derived = args.secret.is_none();
    let secret = match &args.secret {
        Some(secret) => secret.expose().to_owned(),
        None => derived_secret(args.api_key.expose(), &args.to),
    };
    check_url("--to", &args.to, &["http", "https"])?;
    if args.print_secret {
        println!("{secret}");
        return Ok(ExitCode::SUCCESS);
    }
    check_url("--ws", &args.ws, &["ws", "wss"])?;
    if !(args.retry_scale.is_finite() && args.retry_scale >= 0.0) {
        return Err(crate::cli::usage("--retry-scale: expected a number >= 0"));
    }
    let signer = Signer::new(keyring(
        args.scheme,
        &[Secret::from_str(&secret).map_err(|e| crate::cli::usage(format!("--secret: {e}")))?],
    )?);
    let endpoint = Endpoint::new(&args.to, signer)
        .map_err(|e| crate::cli::usage(format!("--to {:?}: {e}", args.to)))?;
    let schedule = STANDARD_SCHEDULE[..args.max_attempts as usize].to_vec();
    block_on(async move {
        // Before anything else: a signal while starting stops gracefully too.
        let mut interrupted = interrupted(Hangup::Stops);
        let sender = WebhookSender::builder()
            .schedule(schedule)
            .time_scale(args.retry_scale)
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        status!("websocket: connecting to {}", args.ws);
        let config = WsConfig::new(args.ws.as_str())
            .api_key(args.api_key.expose())
            .auth_style(args.auth.into());
        let mut source = connect_ws(config, &args.ws, true).await?;
        let scheme = SchemeArg::name(args.scheme);
        if derived {
            status!(
                "ready: forwarding to {} ({scheme} signatures); your webhook signing secret \
is {secret} (Ctrl-C to quit)",
                args.to
            );
        } else {
            status!(
                "ready: forwarding to {} ({scheme} signatures, with the secret you gave) \
(Ctrl-C to quit)",
                args.to
            );
        }
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        loop {
            let next = tokio::select! {
                next = source.next() => next,
                () = &mut interrupted => break,
            };
            let delivery = match next {
                Ok(Some(delivery)) => delivery,
                Ok(None) => break,
                Err(e) => return Err(anyhow!("{}: {e}", args.ws)),
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (sender, endpoint, json) = (sender.clone(), endpoint.clone(), args.json);
            tokio::spawn(async move {
                let (event, ..) = delivery.into_parts();
                let (id, kind) = (event.id(), event.event_type());
                let outcome = sender
                    .send_observed(&endpoint, id, event.raw().clone(), |failed| {
                        match failed.retry_in {
                            Some(wait) => status!(
                                "{id} {kind} -> attempt {} failed ({}); next in {:.1} s",
                                failed.attempt,
                                failed.failure,
                                wait.as_secs_f64()
                            ),
                            None => status!(
                                "{id} {kind} -> attempt {} failed ({})",
                                failed.attempt,
                                failed.failure
                            ),
                        }
                    })
                    .await;
                match &outcome {
                    Outcome::Delivered { attempts, status } => status!(
                        "{id} {kind} -> {status} ({attempts} attempt{})",
                        if *attempts == 1 { "" } else { "s" }
                    ),
                    Outcome::GaveUp { attempts, last } => status!(
                        "{id} {kind} -> gave up after {attempts} attempt{} (last: {last})",
                        if *attempts == 1 { "" } else { "s" }
                    ),
                    Outcome::Disabled { .. } => status!(
                        "{id} {kind} -> not sent: the endpoint answered 410 Gone, \
forwarding to it is disabled"
                    ),
                    other => status!("{id} {kind} -> not delivered: {other:?}"),
                }
                if json {
                    print_outcome(id, kind.as_str(), &outcome);
                }
                drop(slot);
            });
        }
        status!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// One JSON line on stdout for a delivery's end.
fn print_outcome(id: &str, kind: &str, outcome: &Outcome) {
    let (name, status) = match outcome {
        Outcome::Delivered { status, .. } => ("delivered", Some(status.as_u16())),
        Outcome::GaveUp { .. } => ("gave_up", None),
        _ => ("disabled", None),
    };
    let line = serde_json::json!({
        "event_id": id,
        "type": kind,
        "outcome": name,
        "attempts": outcome.attempts(),
        "status": status,
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

impl SchemeArg {
    fn name(self) -> &'static str {
        mailwire_webhook::Scheme::from(self).as_str()
    }
}

/// `whsec_` + base64 of HMAC-SHA256(API key, "mailwire forward\n" + URL): stable per
/// key and endpoint, never the key itself, valid for every scheme.
fn derived_secret(api_key: &str, to: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, api_key.as_bytes());
    let mut msg = b"mailwire forward\n".to_vec();
    msg.extend_from_slice(to.as_bytes());
    let tag = ring::hmac::sign(&key, &msg);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&tag.as_ref()[..24])
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_derived_secret_is_stable_and_depends_on_key_and_url() {
        let a = super::derived_secret("sk_1", "http://127.0.0.1:3000/h");
        assert_eq!(a, super::derived_secret("sk_1", "http://127.0.0.1:3000/h"));
        assert_ne!(a, super::derived_secret("sk_2", "http://127.0.0.1:3000/h"));
        assert_ne!(a, super::derived_secret("sk_1", "http://127.0.0.1:3001/h"));
        assert!(a.starts_with("whsec_") && !a.contains("sk_1"));
        assert!(mailwire_webhook::Keyring::standard(&a).is_ok());
    }
}
