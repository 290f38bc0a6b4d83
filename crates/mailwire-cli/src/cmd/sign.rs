//! `mailwire sign`: print the headers that make a body verify.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use mailwire_webhook::{Clock as _, Signer, SystemClock};
use ring::rand::SecureRandom as _;

use super::{SchemeArg, header_name, keyring, read_body};
use crate::cli::usage;

/// `mailwire sign --scheme S --secret S [--signature-header NAME] [--id ID]
/// [--timestamp UNIX] < body`
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signature scheme.
    #[arg(long, value_enum)]
    scheme: SchemeArg,
    /// Secret; repeat to sign with several (standard and stripe carry one
    /// signature per secret, hex only the first).
    #[arg(long = "secret", value_name = "SECRET", required = true)]
    secrets: Vec<String>,
    /// Header to carry the signature for hex (default `x-signature`) or stripe.
    #[arg(long, value_name = "NAME")]
    signature_header: Option<String>,
    /// Message id (standard); a random `msg_...` by default.
    #[arg(long)]
    id: Option<String>,
    /// Unix timestamp to sign (standard, stripe); now by default.
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<i64>,
}

/// Prints one `name: value` line per header.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut signer = Signer::new(keyring(args.scheme, &args.secrets)?);
    if let Some(name) = &args.signature_header {
        signer = signer.with_signature_header(header_name(name)?);
    }
    let id = match args.id {
        Some(id) => id,
        None => random_id()?,
    };
    let timestamp = args.timestamp.unwrap_or_else(|| SystemClock.now_unix());
    let body = read_body()?;
    let headers = signer
        .sign(&id, timestamp, &body)
        .map_err(|err| usage(err.to_string()))?;
    let mut out = std::io::stdout().lock();
    for (name, value) in headers {
        let value = value.to_str().context("header value is not text")?;
        writeln!(out, "{name}: {value}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn random_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness for a message id"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("msg_{hex}"))
}
