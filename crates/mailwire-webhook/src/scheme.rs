//! The signature schemes.

use std::fmt;
use std::str::FromStr;

use crate::KeyError;

/// A webhook signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// One header (default `x-signature`) holding the hex HMAC-SHA256 of the
    /// raw body, optionally prefixed `sha256=` or `v1=`. GitHub's
    /// `X-Hub-Signature-256` is this scheme. No timestamp, no id.
    Hex,
    /// [Standard Webhooks](https://www.standardwebhooks.com/) (Svix, and so
    /// AgentMail): `svix-id`, `svix-timestamp`, `svix-signature` or the
    /// `webhook-*` names (see [`HeaderNames`](crate::HeaderNames)), signed
    /// content `{id}.{timestamp}.{body}`.
    Standard,
    /// Stripe's `stripe-signature: t=<unix>,v1=<hex>`, signed content
    /// `{t}.{body}`.
    Stripe,
}

impl Scheme {
    /// The scheme's name as the command line spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Standard => "standard",
            Self::Stripe => "stripe",
        }
    }

    /// The header carrying the signature, unless configured otherwise
    /// (only `hex` and `stripe` can be).
    pub const fn default_signature_header(self) -> &'static str {
        match self {
            Self::Hex => "x-signature",
            Self::Standard => "webhook-signature",
            Self::Stripe => "stripe-signature",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hex" => Ok(Self::Hex),
            "standard" => Ok(Self::Standard),
            "stripe" => Ok(Self::Stripe),
            _ => Err(KeyError::UnknownScheme),
        }
    }
}
