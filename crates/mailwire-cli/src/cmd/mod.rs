//! One module per subcommand, plus what several of them share.

pub(crate) mod dead_letters;
pub(crate) mod demo;
pub(crate) mod dev;
pub(crate) mod forward;
pub(crate) mod listen;
pub(crate) mod mcp;
pub(crate) mod metrics;
pub(crate) mod runtime;
pub(crate) mod send;
pub(crate) mod sign;
pub(crate) mod tenants;
pub(crate) mod verify;

use std::fmt;
use std::io::Read as _;
use std::str::FromStr;

use anyhow::Context as _;
use clap::ValueEnum;
use mailwire_webhook::{Keyring, Scheme};

use crate::usage::usage;

/// `--scheme` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemeArg {
    /// Hex HMAC-SHA256 of the body in one header (GitHub style).
    Hex,
    /// Standard Webhooks as Svix (and AgentMail) send it: `svix-id`,
    /// `-timestamp`, `-signature` (or the `webhook-*` names).
    Standard,
    /// Stripe (`stripe-signature: t=...,v1=...`).
    Stripe,
}

impl From<SchemeArg> for Scheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::Hex => Scheme::Hex,
            SchemeArg::Standard => Scheme::Standard,
            SchemeArg::Stripe => Scheme::Stripe,
        }
    }
}

/// `--auth` values: how the API key is presented at the WebSocket handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum AuthArg {
    /// `Authorization: Bearer <key>`, as AgentMail's definition has it.
    #[default]
    Bearer,
    /// An `api_key=<key>` query parameter (AgentMail's alternative).
    Query,
    /// An `X-API-Key: <key>` header (myagentmail).
    XApiKey,
}

impl From<AuthArg> for mailwire_ws::AuthStyle {
    fn from(a: AuthArg) -> Self {
        match a {
            AuthArg::Bearer => mailwire_ws::AuthStyle::Bearer,
            AuthArg::Query => mailwire_ws::AuthStyle::Query,
            AuthArg::XApiKey => mailwire_ws::AuthStyle::XApiKey,
        }
    }
}

/// The environment variable an API key is read from when `--api-key` is not given.
pub(crate) const API_KEY_ENV: &str = "AGENTMAIL_API_KEY";
/// The environment variable a webhook secret is read from when `--secret` is not
/// given.
pub(crate) const SECRET_ENV: &str = "MAILWIRE_WEBHOOK_SECRET";

/// An API key or a webhook secret, from argv or the environment: never printed,
/// its `Debug` included, so no log line at any level shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The value, for the one place that needs it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err("empty".to_owned());
        }
        Ok(Secret(s.to_owned()))
    }
}

/// Parses the `--secret` values; a bad one is a usage error naming which.
pub(crate) fn keyring(scheme: SchemeArg, secrets: &[Secret]) -> anyhow::Result<Keyring> {
    let scheme = Scheme::from(scheme);
    for (i, secret) in secrets.iter().enumerate() {
        if let Err(err) = Keyring::new(scheme, [secret.expose()]) {
            return Err(usage(format!("--secret #{}: {err}", i + 1)));
        }
    }
    Keyring::new(scheme, secrets.iter().map(Secret::expose))
        .map_err(|err| usage(format!("--secret: {err}")))
}

/// The whole of standard input, as raw bytes.
pub(crate) fn read_body() -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut body)
        .context("reading the body from standard input")?;
    Ok(body)
}

/// Checks a `--signature-header` value and lower-cases it.
pub(crate) fn header_name(name: &str) -> anyhow::Result<http::HeaderName> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| usage(format!("--signature-header: {name:?} is not a header name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let secret: Secret = "whsec_c2VjcmV0".parse().unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert_eq!(secret.expose(), "whsec_c2VjcmV0");
        assert!(" ".parse::<Secret>().is_err());
    }
}
