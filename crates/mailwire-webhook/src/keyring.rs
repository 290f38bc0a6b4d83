//! Secrets, parsed and checked once, when the keyring is built.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::{KeyError, Scheme};

/// One usable key. The HMAC keys are precomputed `ring` keys (the inner and
/// outer pads are hashed once here, not on every request).
pub(crate) enum Key {
    /// HMAC-SHA256: `whsec_` (standard) or the raw secret bytes (hex, stripe).
    Hmac(hmac::Key),
    /// A `whpk_` ed25519 public key: verifies `v1a`, cannot sign.
    Ed25519Public(UnparsedPublicKey<[u8; 32]>),
    /// A `whsk_` ed25519 key pair: signs `v1a` and verifies it.
    Ed25519Pair(Box<Ed25519KeyPair>),
}

/// The secrets of one webhook endpoint under one [`Scheme`].
///
/// Several secrets support rotation: verification accepts a signature made
/// with any of them (and reports which one in
/// [`Verified::key_index`](crate::Verified::key_index)); signing uses all of
/// them where the scheme can carry several signatures (`standard`, `stripe`)
/// and the first one otherwise (`hex`). List the current secret first.
///
/// Secret formats:
///
/// | scheme | secret | key |
/// | --- | --- | --- |
/// | `hex`, `stripe` | any non-empty string | its UTF-8 bytes, whatever its prefix |
/// | `standard` | `whsec_<base64>` | the decoded bytes (HMAC-SHA256, `v1`) |
/// | `standard` | `whpk_<base64>` | a 32-byte ed25519 public key (`v1a`, verify only) |
/// | `standard` | `whsk_<base64>` | a 32-byte ed25519 seed, or 64 bytes seed ‖ public key (`v1a`) |
///
/// Base64 is the standard alphabet with canonical padding; anything else is
/// [`KeyError::Base64`]. A secret with leading or trailing whitespace or a
/// control character is rejected ([`KeyError::Whitespace`]): it is nearly
/// always a stray newline from an environment file, and would otherwise fail
/// every request with no hint why. The Standard Webhooks specification
/// recommends 24 to 64 random bytes for `whsec_`; any non-empty key is
/// accepted, as Svix's libraries do.
///
/// `Debug` shows the scheme and the kinds of keys, never the key material.
///
/// ```
/// use mailwire_webhook::{Keyring, Scheme};
///
/// let ring = Keyring::new(Scheme::Standard, ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?;
/// assert_eq!(ring.len(), 1);
/// assert!(!format!("{ring:?}").contains("MfKQ"));
/// assert!(Keyring::new(Scheme::Standard, ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).is_err());
/// # Ok::<(), mailwire_webhook::KeyError>(())
/// ```
pub struct Keyring {
    scheme: Scheme,
    keys: Vec<Key>,
}

impl Keyring {
    /// The most secrets one keyring holds: rotation needs two or three, and
    /// every key costs one HMAC per request.
    pub const MAX_SECRETS: usize = 16;

    /// Parses `secrets` for `scheme`. Fails on the first unusable secret, or
    /// when there is none.
    pub fn new<I, S>(scheme: Scheme, secrets: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for secret in secrets {
            if keys.len() == Self::MAX_SECRETS {
                return Err(KeyError::TooMany);
            }
            keys.push(parse_secret(scheme, secret.as_ref())?);
        }
        if keys.is_empty() {
            return Err(KeyError::NoSecret);
        }
        Ok(Self { scheme, keys })
    }

    /// A `hex` keyring with one secret.
    pub fn hex(secret: &str) -> Result<Self, KeyError> {
        Self::new(Scheme::Hex, [secret])
    }

    /// A `standard` keyring with one secret.
    pub fn standard(secret: &str) -> Result<Self, KeyError> {
        Self::new(Scheme::Standard, [secret])
    }

    /// A `stripe` keyring with one secret.
    pub fn stripe(secret: &str) -> Result<Self, KeyError> {
        Self::new(Scheme::Stripe, [secret])
    }

    /// Adds one more secret (at the end: tried last, used for signing after
    /// the others).
    pub fn with_secret(mut self, secret: &str) -> Result<Self, KeyError> {
        if self.keys.len() == Self::MAX_SECRETS {
            return Err(KeyError::TooMany);
        }
        self.keys.push(parse_secret(self.scheme, secret)?);
        Ok(self)
    }

    /// The scheme these secrets belong to.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// How many secrets the keyring holds (never zero).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a keyring holds at least one secret.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Kinds<'a>(&'a [Key]);
        impl fmt::Debug for Kinds<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.0.iter().map(|k| match k {
                        Key::Hmac(_) => "hmac([redacted])",
                        Key::Ed25519Public(_) => "ed25519-public([redacted])",
                        Key::Ed25519Pair(_) => "ed25519-pair([redacted])",
                    }))
                    .finish()
            }
        }
        f.debug_struct("Keyring")
            .field("scheme", &self.scheme)
            .field("keys", &Kinds(&self.keys))
            .finish()
    }
}

fn parse_secret(scheme: Scheme, secret: &str) -> Result<Key, KeyError> {
    if secret.is_empty() {
        return Err(KeyError::Empty);
    }
    let trimmed = secret.trim();
    if trimmed.len() != secret.len() || secret.chars().any(char::is_control) {
        return Err(KeyError::Whitespace);
    }
    match scheme {
        Scheme::Hex | Scheme::Stripe => Ok(Key::Hmac(hmac::Key::new(
            hmac::HMAC_SHA256,
            secret.as_bytes(),
        ))),
        Scheme::Standard => parse_standard(secret),
    }
}

fn parse_standard(secret: &str) -> Result<Key, KeyError> {
    if let Some(b64) = secret.strip_prefix("whsec_") {
        let bytes = decode(b64)?;
        return Ok(Key::Hmac(hmac::Key::new(hmac::HMAC_SHA256, &bytes)));
    }
    if let Some(b64) = secret.strip_prefix("whpk_") {
        let bytes: [u8; 32] = decode(b64)?
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Ed25519)?;
        return Ok(Key::Ed25519Public(UnparsedPublicKey::new(&ED25519, bytes)));
    }
    if let Some(b64) = secret.strip_prefix("whsk_") {
        let bytes = decode(b64)?;
        let pair = match bytes.len() {
            32 => Ed25519KeyPair::from_seed_unchecked(&bytes),
            64 => Ed25519KeyPair::from_seed_and_public_key(&bytes[..32], &bytes[32..]),
            _ => return Err(KeyError::Ed25519),
        }
        .map_err(|_| KeyError::Ed25519)?;
        return Ok(Key::Ed25519Pair(Box::new(pair)));
    }
    Err(KeyError::UnknownPrefix)
}

fn decode(b64: &str) -> Result<Vec<u8>, KeyError> {
    if b64.is_empty() {
        return Err(KeyError::Empty);
    }
    let bytes = STANDARD.decode(b64).map_err(|_| KeyError::Base64)?;
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(bytes)
}

/// The `whpk_` public key matching a `whsk_` secret, for handing to receivers.
///
/// ```
/// # use mailwire_webhook::public_key_for;
/// let seed = "whsk_".to_owned() + &"A".repeat(43) + "=";
/// assert!(public_key_for(&seed)?.starts_with("whpk_"));
/// # Ok::<(), mailwire_webhook::KeyError>(())
/// ```
pub fn public_key_for(whsk: &str) -> Result<String, KeyError> {
    match parse_secret(Scheme::Standard, whsk)? {
        Key::Ed25519Pair(pair) => Ok(format!(
            "whpk_{}",
            STANDARD.encode(pair.public_key().as_ref())
        )),
        Key::Hmac(_) | Key::Ed25519Public(_) => Err(KeyError::Ed25519),
    }
}
