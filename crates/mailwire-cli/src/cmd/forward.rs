//! `mailwire forward`: events from the WebSocket, POSTed to a local endpoint as
//! signed webhooks: the webhook loop without a tunnel.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use base64::Engine as _;
use mailwire_source::EventSource as _;
use mailwire_webhook::Signer;
use mailwire_webhook_http::{Endpoint, Outcome, WebhookSender};
use mailwire_ws::WsConfig;
use tokio::sync::Semaphore;

use super::runtime::{block_on, connect_ws, interrupted, status};
use super::{AuthArg, SchemeArg, keyring};

/// How many events may be in delivery (retries included) at once.
const IN_FLIGHT: usize = 64;

/// `mailwire forward --ws URL --api-key KEY --to URL [--secret S | --print-secret]
/// [--scheme S]`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Receives events on the WebSocket and POSTs each one, its bytes \
unchanged, to a local endpoint as a signed webhook, retrying on failure (at once, 5 s, \
5 min, ...). No tunnel, no public URL.\n\nWithout --secret, the secret is derived from \
the API key and the --to URL, so it stays the same from run to run: print it with \
--print-secret and configure your endpoint with it."
)]
pub(crate) struct Args {
    /// WebSocket URL, e.g. ws://127.0.0.1:8787/v0.
    #[arg(long, value_name = "URL")]
    ws: String,
    /// API key for the WebSocket.
    #[arg(long = "api-key", value_name = "KEY")]
    api_key: String,
    /// How the key is presented: `bearer` (AgentMail), `query` (`?api_key=`), or
    /// `x-api-key` (myagentmail).
    #[arg(long, value_enum, default_value_t = AuthArg::Bearer)]
    auth: AuthArg,
    /// The endpoint to POST to, e.g. http://127.0.0.1:3000/webhooks.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Signing secret (default: derived from the API key and --to).
    #[arg(long, value_name = "S", conflicts_with = "print_secret")]
    secret: Option<String>,
    /// Print the derived signing secret and exit.
    #[arg(long)]
    print_secret: bool,
    /// Signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Standard)]
    scheme: SchemeArg,
}

/// Forwards until Ctrl-C.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let secret = args
        .secret
        .clone()
        .unwrap_or_else(|| derived_secret(&args.api_key, &args.to));
    if args.print_secret {
        println!("{secret}");
        return Ok(ExitCode::SUCCESS);
    }
    let signer = Signer::new(keyring(args.scheme, &[secret])?);
    let endpoint = Endpoint::new(&args.to, signer)
        .map_err(|e| crate::cli::usage(format!("--to {:?}: {e}", args.to)))?;
    block_on(async move {
        let sender = WebhookSender::new().map_err(|e| anyhow!("{e}"))?;
        status!("websocket: connecting to {}", args.ws);
        let config = WsConfig::new(args.ws.as_str())
            .api_key(args.api_key.as_str())
            .auth_style(args.auth.into());
        let mut source = connect_ws(config, &args.ws, true, None).await?;
        status!(
            "forwarding to {} ({} signatures)",
            args.to,
            SchemeArg::name(args.scheme)
        );
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        // One listener for the whole loop, so a Ctrl-C between two polls is kept.
        let interrupted = interrupted();
        tokio::pin!(interrupted);
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
            let (sender, endpoint) = (sender.clone(), endpoint.clone());
            tokio::spawn(async move {
                let (event, ..) = delivery.into_parts();
                let outcome = sender.send_event(&endpoint, &event).await;
                match outcome {
                    Outcome::Delivered { attempts, status } => status!(
                        "{} {} -> {status} ({attempts} attempt{})",
                        event.id(),
                        event.event_type(),
                        if attempts == 1 { "" } else { "s" }
                    ),
                    other => status!(
                        "{} {} -> not delivered: {other:?}",
                        event.id(),
                        event.event_type()
                    ),
                }
                drop(slot);
            });
        }
        Ok(ExitCode::SUCCESS)
    })
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
