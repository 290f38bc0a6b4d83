//! What can go wrong, in the caller's terms.
//!
//! Three enums rather than one: a [`KeyError`] happens once, when secrets are
//! loaded at start-up; a [`VerifyError`] happens per request and maps to a 401;
//! a [`SignError`] happens on the sending side. Folding them together would make
//! every `match` on a verification result carry arms that cannot happen there.

use std::fmt;

/// Which of a scheme's headers an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderKind {
    /// The message id (`webhook-id` / `svix-id`).
    Id,
    /// The timestamp (`webhook-timestamp` / `svix-timestamp`).
    Timestamp,
    /// The header carrying the signature(s).
    Signature,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Id => "id",
            Self::Timestamp => "timestamp",
            Self::Signature => "signature",
        })
    }
}

/// A secret that cannot be used, reported when a [`Keyring`](crate::Keyring) is built.
///
/// The message never contains the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The keyring was given no secret at all.
    #[error("no secret given")]
    NoSecret,
    /// The secret is the empty string (or decodes to no bytes).
    #[error("secret is empty")]
    Empty,
    /// The secret starts or ends with whitespace or holds a control character:
    /// almost always a copy-paste or environment-file accident.
    #[error("secret has surrounding whitespace or control characters")]
    Whitespace,
    /// A `standard` secret without a known prefix (`whsec_`, `whpk_`, `whsk_`).
    #[error("standard secret must start with whsec_, whpk_ or whsk_")]
    UnknownPrefix,
    /// The part after the prefix is not strict, padded, standard base64.
    #[error("secret is not valid base64")]
    Base64,
    /// An ed25519 key of the wrong length, or a key pair that does not match.
    #[error("secret is not a valid ed25519 key")]
    Ed25519,
    /// More secrets than [`Keyring::MAX_SECRETS`](crate::Keyring::MAX_SECRETS).
    #[error("too many secrets in one keyring")]
    TooMany,
    /// The scheme name is not one of `hex`, `standard`, `stripe`.
    #[error("unknown scheme (expected hex, standard or stripe)")]
    UnknownScheme,
}

/// Why a request failed verification: each variant is one rule.
///
/// Display strings are short, safe to send back in a 401 body, and never
/// contain secrets or computed MACs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing {0} header")]
    MissingHeader(HeaderKind),
    /// A header appears more than once (including under both its `webhook-`
    /// and `svix-` names).
    #[error("duplicate {0} header")]
    DuplicateHeader(HeaderKind),
    /// A header is longer than [`Verifier::MAX_HEADER_LEN`](crate::Verifier::MAX_HEADER_LEN).
    #[error("{0} header too long")]
    HeaderTooLong(HeaderKind),
    /// The id is empty or holds bytes other than visible ASCII.
    #[error("malformed id")]
    BadId,
    /// The timestamp is not plain ASCII digits without sign or leading zero,
    /// or does not fit in an `i64`.
    #[error("malformed timestamp")]
    BadTimestamp,
    /// The timestamp is older than the past tolerance.
    #[error("timestamp too old")]
    TimestampTooOld,
    /// The timestamp is further ahead than the future tolerance.
    #[error("timestamp in the future")]
    TimestampInFuture,
    /// More signature candidates than [`Verifier::MAX_SIGNATURES`](crate::Verifier::MAX_SIGNATURES).
    #[error("too many signatures")]
    TooManySignatures,
    /// The signature header does not follow the scheme's syntax, or a
    /// signature is not strict hex/base64 of the right length.
    #[error("malformed signature")]
    MalformedSignature,
    /// The header is well formed but carries no signature of a version this
    /// keyring can check (for example only `v1a` entries and no `whpk_` key).
    #[error("no supported signature")]
    NoSupportedSignature,
    /// No signature matched any key: wrong secret or altered content.
    #[error("no matching signature")]
    NoMatchingSignature,
}

/// Why a message could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The keyring holds only public keys (`whpk_`), which cannot sign.
    #[error("keyring holds no signing key")]
    NoSigningKey,
    /// The id is empty, too long, or not visible ASCII: it would not survive
    /// as a header value, or would not verify.
    #[error("malformed id")]
    BadId,
    /// The timestamp is negative: the schemes carry unsigned decimal seconds.
    #[error("negative timestamp")]
    BadTimestamp,
    /// The system's random source failed, so no message id could be made
    /// ([`new_message_id`](crate::new_message_id)).
    #[error("no system randomness for a message id")]
    NoRandomness,
}
