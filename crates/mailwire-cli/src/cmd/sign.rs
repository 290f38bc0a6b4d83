//! `mailwire sign`: print the headers that make a body verify.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use mailwire_webhook::{Clock as _, HeaderNames, Signer, SystemClock, new_message_id};

use super::{SECRET_ENV, SchemeArg, Secret, header_name, keyring, read_body};
use crate::usage::usage;

/// `mailwire sign --scheme S --secret S [--signature-header NAME]
/// [--header-names svix|webhook] [--id ID] [--timestamp UNIX] < body`
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signature scheme.
    #[arg(long, value_enum)]
    scheme: SchemeArg,
    /// Secret; repeat to sign with several (standard and stripe carry one
    /// signature per secret, hex only the first).
    #[arg(
        long = "secret",
        value_name = "SECRET",
        required = true,
        env = SECRET_ENV,
        hide_env_values = true
    )]
    secrets: Vec<Secret>,
    /// Header to carry the signature for hex (default `x-signature`) or stripe.
    #[arg(long, value_name = "NAME")]
    signature_header: Option<String>,
    /// Names of the standard headers: `svix-*`, as AgentMail's webhooks
    /// carry them, or the specification's `webhook-*`.
    #[arg(long, value_enum, value_name = "NAMES", default_value_t = HeaderNamesArg::Svix)]
    header_names: HeaderNamesArg,
    /// Message id (standard); a random `msg_...` by default.
    #[arg(long)]
    id: Option<String>,
    /// Unix timestamp to sign (standard, stripe); now by default.
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<i64>,
    /// Print the headers as one JSON object instead of `name: value` lines.
    #[arg(long)]
    json: bool,
}

/// `--header-names` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HeaderNamesArg {
    /// `svix-id`, `svix-timestamp`, `svix-signature`.
    Svix,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Webhook,
}

impl From<HeaderNamesArg> for HeaderNames {
    fn from(names: HeaderNamesArg) -> Self {
        match names {
            HeaderNamesArg::Svix => HeaderNames::Svix,
            HeaderNamesArg::Webhook => HeaderNames::Webhook,
        }
    }
}

/// Prints one `name: value` line per header.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut signer = Signer::new(keyring(args.scheme, &args.secrets)?)
        .with_header_names(args.header_names.into());
    if let Some(name) = &args.signature_header {
        signer = signer.with_signature_header(header_name(name)?);
    }
    let id = match args.id {
        Some(id) => id,
        None => new_message_id()?,
    };
    let timestamp = args.timestamp.unwrap_or_else(|| SystemClock.now_unix());
    let body = read_body()?;
    let headers = signer
        .sign(&id, timestamp, &body)
        .map_err(|err| usage(err.to_string()))?;
    let mut out = std::io::stdout().lock();
    let mut object = serde_json::Map::new();
    for (name, value) in headers {
        let value = value.to_str().context("header value is not text")?;
        if args.json {
            object.insert(name.to_string(), value.into());
        } else {
            writeln!(out, "{name}: {value}")?;
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::Value::Object(object))?;
    }
    Ok(ExitCode::SUCCESS)
}
