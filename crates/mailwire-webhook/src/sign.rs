//! Producing signatures that [`Verifier`](crate::Verifier) accepts.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};

use crate::keyring::Key;
use crate::parse::MAC_LEN;
use crate::verify::{fmt_i64, itoa_buf, mac, signed_content};
use crate::{HeaderNames, Keyring, Scheme, SignError, Verifier};

/// Signs outgoing webhooks with a [`Keyring`].
///
/// [`sign`](Self::sign) returns the headers to send, exactly as a
/// [`Verifier`] over the same keyring accepts them:
///
/// - `hex`: one header (default `x-signature`) holding the bare lower-case
///   hex MAC of the body, keyed with the first secret (the scheme carries one
///   signature); `id` and `timestamp` are not used.
/// - `standard`: `webhook-id`, `webhook-timestamp` and `webhook-signature`
///   (or the `svix-*` names, see [`with_header_names`](Self::with_header_names))
///   with one `v1` entry per `whsec_` secret and one `v1a` entry per `whsk_`
///   secret, in keyring order (`whpk_` keys cannot sign and are skipped).
/// - `stripe`: `stripe-signature: t=<timestamp>,v1=<hex>` with one `v1` per
///   secret; `id` is not used.
///
/// ```
/// use mailwire_webhook::{Keyring, Signer, Verifier};
///
/// let keyring = || Keyring::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
/// let headers = Signer::new(keyring()?).sign("msg_1", 1_700_000_000, b"{}")?;
/// let verified = Verifier::new(keyring()?)
///     .with_clock(|| 1_700_000_000)
///     .verify(&headers, b"{}")?;
/// assert_eq!(verified.id.as_deref(), Some("msg_1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Clones share the keyring (it is behind an `Arc`), so a clone set up with
/// other header names costs no key parsing.
#[derive(Clone)]
pub struct Signer {
    keyring: Arc<Keyring>,
    signature_header: Option<HeaderName>,
    header_names: HeaderNames,
}

impl Signer {
    /// A signer using the scheme's default header names (for `standard`,
    /// the specification's `webhook-*`).
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring: Arc::new(keyring),
            signature_header: None,
            header_names: HeaderNames::Webhook,
        }
    }

    /// Names the three `standard` headers: [`HeaderNames::Svix`] to sign as
    /// Svix (and so AgentMail) does. Ignored for `hex` and `stripe`.
    ///
    /// ```
    /// use mailwire_webhook::{HeaderNames, Keyring, Signer};
    ///
    /// let signer = Signer::new(Keyring::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?)
    ///     .with_header_names(HeaderNames::Svix);
    /// let headers = signer.sign("msg_1", 1_700_000_000, b"{}")?;
    /// let names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
    /// assert_eq!(names, ["svix-id", "svix-timestamp", "svix-signature"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_header_names(mut self, names: HeaderNames) -> Self {
        self.header_names = names;
        self
    }

    /// The names the `standard` headers are written under.
    pub fn header_names(&self) -> HeaderNames {
        self.header_names
    }

    /// Names the signature header for `hex` or `stripe` (ignored for
    /// `standard`); pair it with [`Verifier::with_signature_header`].
    #[must_use]
    pub fn with_signature_header(mut self, name: HeaderName) -> Self {
        self.signature_header = Some(name);
        self
    }

    /// The keyring this signer uses.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Signs `body` as message `id` sent at `timestamp` (Unix seconds), and
    /// returns the headers to send, in order.
    pub fn sign(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
        match self.keyring.scheme() {
            Scheme::Hex => self.sign_hex(body),
            Scheme::Standard => self.sign_standard(id, timestamp, body),
            Scheme::Stripe => self.sign_stripe(timestamp, body),
        }
    }

    fn signature_header(&self) -> HeaderName {
        self.signature_header.clone().unwrap_or_else(|| {
            HeaderName::from_static(self.keyring.scheme().default_signature_header())
        })
    }

    fn hmac_keys(&self) -> impl Iterator<Item = &ring::hmac::Key> {
        self.keyring.keys().iter().filter_map(|k| match k {
            Key::Hmac(k) => Some(k),
            Key::Ed25519Public(_) | Key::Ed25519Pair(_) => None,
        })
    }

    fn sign_hex(&self, body: &[u8]) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
        let key = self.hmac_keys().next().ok_or(SignError::NoSigningKey)?;
        let tag = mac(key, &[body]);
        Ok(vec![(self.signature_header(), value(hex(&tag)))])
    }

    fn sign_stripe(
        &self,
        timestamp: i64,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
        if timestamp < 0 {
            return Err(SignError::BadTimestamp);
        }
        let mut buf = itoa_buf();
        let ts = fmt_i64(timestamp, &mut buf);
        let mut out = format!("t={timestamp}");
        for key in self.hmac_keys() {
            out.push_str(",v1=");
            out.push_str(&hex(&mac(key, &[ts, b".", body])));
        }
        if out.len() == ts.len() + 2 {
            return Err(SignError::NoSigningKey);
        }
        Ok(vec![(self.signature_header(), value(out))])
    }

    fn sign_standard(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, SignError> {
        if crate::parse::id(id.as_bytes()).is_err() || id.len() > Verifier::MAX_HEADER_LEN {
            return Err(SignError::BadId);
        }
        if timestamp < 0 {
            return Err(SignError::BadTimestamp);
        }
        let mut buf = itoa_buf();
        let ts = fmt_i64(timestamp, &mut buf);
        let mut sigs = Vec::new();
        let mut content = None;
        for key in self.keyring.keys() {
            match key {
                Key::Hmac(key) => {
                    let tag = mac(key, &[id.as_bytes(), b".", ts, b".", body]);
                    sigs.push(format!("v1,{}", STANDARD.encode(tag)));
                }
                Key::Ed25519Pair(pair) => {
                    let msg =
                        content.get_or_insert_with(|| signed_content(id.as_bytes(), ts, body));
                    sigs.push(format!("v1a,{}", STANDARD.encode(pair.sign(msg))));
                }
                Key::Ed25519Public(_) => {}
            }
        }
        if sigs.is_empty() {
            return Err(SignError::NoSigningKey);
        }
        let names = self.header_names;
        Ok(vec![
            (names.id(), value(id.to_owned())),
            (names.timestamp(), value(timestamp.to_string())),
            (names.signature(), value(sigs.join(" "))),
        ])
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("keyring", &self.keyring)
            .field("signature_header", &self.signature_header())
            .field("header_names", &self.header_names)
            .finish()
    }
}

/// Every value built here is visible ASCII (digits, hex, base64, a checked id).
fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn hex(bytes: &[u8; MAC_LEN]) -> String {
    ::hex::encode(bytes)
}
