//! `mailwire verify`: check a webhook body against its headers.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use mailwire_webhook::Verifier;

use super::{SECRET_ENV, SchemeArg, Secret, header_name, keyring, read_body};
use crate::usage::usage;

/// `mailwire verify --scheme S --secret S [--secret S2]... [--header 'name: value']...
/// [--signature-header NAME] [--tolerance SECS] [--now UNIX] < body`
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signature scheme.
    #[arg(long, value_enum)]
    scheme: SchemeArg,
    /// Secret; repeat for rotation (any one may match). `whsec_`/`whpk_`/`whsk_`
    /// base64 for standard; for hex and stripe the string's bytes as given.
    #[arg(
        long = "secret",
        value_name = "SECRET",
        required = true,
        env = SECRET_ENV,
        hide_env_values = true
    )]
    secrets: Vec<Secret>,
    /// A request header, `name: value`; repeat for each.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Header holding the signature for hex (default `x-signature`) or stripe.
    #[arg(long, value_name = "NAME")]
    signature_header: Option<String>,
    /// Accepted age and lead of the timestamp, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    tolerance: u64,
    /// Check the timestamp against this Unix time instead of the clock.
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    now: Option<i64>,
    /// Print the result as one JSON line on stdout, valid or not:
    /// `{"valid":true,"scheme","key","id","timestamp"}` or `{"valid":false,"error"}`.
    #[arg(long)]
    json: bool,
}

/// Exit 0 and a summary on stdout when valid; 1 and the failed rule on
/// stderr when not.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let keyring = keyring(args.scheme, &args.secrets)?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut verifier = Verifier::new(keyring).with_tolerance(Duration::from_secs(args.tolerance));
    if let Some(name) = &args.signature_header {
        verifier = verifier.with_signature_header(header_name(name)?.as_str());
    }
    let body = read_body()?;
    let result = match args.now {
        Some(now) => verifier.with_clock(move || now).verify(&headers, &body),
        None => verifier.verify(&headers, &body),
    };
    if args.json {
        let line = match &result {
            Ok(v) => serde_json::json!({
                "valid": true,
                "scheme": v.scheme.to_string(),
                "key": v.key_index,
                "id": v.id,
                "timestamp": v.timestamp,
            }),
            Err(err) => serde_json::json!({"valid": false, "error": err.to_string()}),
        };
        writeln!(std::io::stdout(), "{line}")?;
        return Ok(if result.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    match result {
        Ok(v) => {
            let mut line = format!("valid: scheme={} key={}", v.scheme, v.key_index);
            if let Some(id) = &v.id {
                line.push_str(&format!(" id={id}"));
            }
            if let Some(ts) = v.timestamp {
                line.push_str(&format!(" timestamp={ts}"));
            }
            writeln!(std::io::stdout(), "{line}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("invalid: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `name: value`, with optional whitespace around the value as in HTTP.
fn parse_header(raw: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| usage(format!("--header {raw:?}: expected 'name: value'")))?;
    let name = name.trim();
    if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(usage(format!("--header {raw:?}: bad header name")));
    }
    Ok((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()))
}
