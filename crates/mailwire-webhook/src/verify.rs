//! Checking a request's signature.

use std::fmt;
use std::time::Duration;

use http::HeaderName;
use ring::hmac;
use ring::signature::KeyPair as _;
use subtle::{Choice, ConstantTimeEq as _};

use crate::keyring::Key;
use crate::parse::{self, MAC_LEN};
use crate::{
    Clock, HeaderKind, HeaderNames, Headers, Keyring, Lookup, Scheme, SystemClock, VerifyError,
};

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The message id (`standard` only): the idempotency key.
    pub id: Option<String>,
    /// The signed timestamp in Unix seconds (`standard` and `stripe`).
    pub timestamp: Option<i64>,
    /// The scheme that was checked.
    pub scheme: Scheme,
    /// Which secret of the keyring matched (its position, first is 0).
    pub key_index: usize,
}

/// Verifies webhook requests against a [`Keyring`].
///
/// Build it once at start-up and share it (it is `Send + Sync` when the clock
/// is); [`verify`](Self::verify) takes `&self`.
///
/// Order of checks, each failing with its own [`VerifyError`]: the headers
/// are present, single and not too long; the id is visible ASCII; the
/// timestamp is plain digits within tolerance; the signature header is well
/// formed with at most [`MAX_SIGNATURES`](Self::MAX_SIGNATURES) candidates;
/// then one candidate must match one key. The timestamp is checked before any
/// MAC is computed, so a stale replay costs no hashing.
///
/// Standard Webhooks headers may be named `webhook-*` or `svix-*` (see
/// [`HeaderNames`]). The two sets may be mixed, but a header present under
/// both names is rejected as
/// [`VerifyError::DuplicateHeader`]: with two values there is no safe choice
/// of which one was signed.
pub struct Verifier<C = SystemClock> {
    keyring: Keyring,
    past: u64,
    future: u64,
    /// `None`: configured with a name no request can carry.
    signature_header: Option<HeaderName>,
    clock: C,
}

// Prepared once: looking a `HeaderName` up in a `HeaderMap` skips parsing it.
const WEBHOOK_ID: HeaderName = HeaderNames::Webhook.id();
const SVIX_ID: HeaderName = HeaderNames::Svix.id();
const WEBHOOK_TIMESTAMP: HeaderName = HeaderNames::Webhook.timestamp();
const SVIX_TIMESTAMP: HeaderName = HeaderNames::Svix.timestamp();
const WEBHOOK_SIGNATURE: HeaderName = HeaderNames::Webhook.signature();
const SVIX_SIGNATURE: HeaderName = HeaderNames::Svix.signature();

impl Verifier {
    /// The default tolerance for old and for future timestamps: 5 minutes.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
    /// The longest header value accepted, in bytes.
    pub const MAX_HEADER_LEN: usize = 8 * 1024;
    /// The most signature candidates one header may carry.
    pub const MAX_SIGNATURES: usize = parse::MAX_SIGNATURES;

    /// A verifier with the default tolerance and the system clock.
    pub fn new(keyring: Keyring) -> Self {
        Self {
            signature_header: Some(HeaderName::from_static(
                keyring.scheme().default_signature_header(),
            )),
            keyring,
            past: Self::DEFAULT_TOLERANCE.as_secs(),
            future: Self::DEFAULT_TOLERANCE.as_secs(),
            clock: SystemClock,
        }
    }
}

impl<C: Clock> Verifier<C> {
    /// Sets both the past and the future tolerance.
    #[must_use]
    pub fn with_tolerance(self, tolerance: Duration) -> Self {
        self.with_past_tolerance(tolerance)
            .with_future_tolerance(tolerance)
    }

    /// How old a timestamp may be (whole seconds; `now - ts > past` fails).
    #[must_use]
    pub fn with_past_tolerance(mut self, tolerance: Duration) -> Self {
        self.past = tolerance.as_secs();
        self
    }

    /// How far ahead of the clock a timestamp may be (`ts - now > future` fails).
    #[must_use]
    pub fn with_future_tolerance(mut self, tolerance: Duration) -> Self {
        self.future = tolerance.as_secs();
        self
    }

    /// Names the header holding the signature for `hex` (default
    /// `x-signature`, e.g. `x-hub-signature-256` for GitHub) or `stripe`
    /// (default `stripe-signature`). Ignored for `standard`, whose names are
    /// fixed. Matched case-insensitively; takes a `&str` or an
    /// [`http::HeaderName`]. A string that is not a valid header name can
    /// never be present in a request, so every verification then fails with
    /// [`VerifyError::MissingHeader`].
    #[must_use]
    pub fn with_signature_header(mut self, name: impl AsRef<str>) -> Self {
        if self.keyring.scheme() != Scheme::Standard {
            self.signature_header =
                HeaderName::from_bytes(name.as_ref().to_ascii_lowercase().as_bytes()).ok();
        }
        self
    }

    /// Replaces the clock, e.g. `with_clock(|| 1_614_265_330)` in tests.
    pub fn with_clock<C2: Clock>(self, clock: C2) -> Verifier<C2> {
        Verifier {
            keyring: self.keyring,
            past: self.past,
            future: self.future,
            signature_header: self.signature_header,
            clock,
        }
    }

    /// The keyring this verifier checks against.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Verifies `body` (the raw bytes, before any parsing) against `headers`.
    pub fn verify<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        match self.keyring.scheme() {
            Scheme::Hex => self.verify_hex(headers, body),
            Scheme::Standard => self.verify_standard(headers, body),
            Scheme::Stripe => self.verify_stripe(headers, body),
        }
    }

    fn verify_hex<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let value = self.signature_value(headers)?;
        let tag = parse::hex_header(value)?;
        // One candidate, body in one slice: ring's own constant-time verify fits.
        for (key_index, key) in self.keyring.keys().iter().enumerate() {
            if let Key::Hmac(key) = key
                && hmac::verify(key, body, &tag).is_ok()
            {
                return Ok(self.verified(None, None, key_index));
            }
        }
        Err(VerifyError::NoMatchingSignature)
    }

    fn verify_stripe<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let value = self.signature_value(headers)?;
        let parsed = parse::stripe_header(value)?;
        self.check_time(parsed.timestamp)?;
        if parsed.v1.is_empty() {
            return Err(VerifyError::NoSupportedSignature);
        }
        let mut ts_buf = itoa_buf();
        let ts = fmt_i64(parsed.timestamp, &mut ts_buf);
        for (key_index, key) in self.keyring.keys().iter().enumerate() {
            if let Key::Hmac(key) = key {
                let tag = mac(key, &[ts, b".", body]);
                if matches_any(parsed.v1.as_slice(), &tag) {
                    return Ok(self.verified(None, Some(parsed.timestamp), key_index));
                }
            }
        }
        Err(VerifyError::NoMatchingSignature)
    }

    fn verify_standard<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let id = single(headers, &[&WEBHOOK_ID, &SVIX_ID], HeaderKind::Id)?;
        let ts_raw = single(
            headers,
            &[&WEBHOOK_TIMESTAMP, &SVIX_TIMESTAMP],
            HeaderKind::Timestamp,
        )?;
        let sig = single(
            headers,
            &[&WEBHOOK_SIGNATURE, &SVIX_SIGNATURE],
            HeaderKind::Signature,
        )?;
        let id = parse::id(id)?;
        let ts = parse::timestamp(ts_raw)?;
        self.check_time(ts)?;
        let sigs = parse::standard_header(sig)?;

        let keys = self.keyring.keys();
        let has_hmac = !sigs.v1.is_empty() && keys.iter().any(|k| matches!(k, Key::Hmac(_)));
        let has_ed = !sigs.v1a.is_empty() && keys.iter().any(|k| !matches!(k, Key::Hmac(_)));
        if !has_hmac && !has_ed {
            return Err(VerifyError::NoSupportedSignature);
        }
        let id_bytes = id.as_bytes();
        let mut content = None;
        for (key_index, key) in keys.iter().enumerate() {
            let ok = match key {
                Key::Hmac(key) if has_hmac => {
                    let tag = mac(key, &[id_bytes, b".", ts_raw, b".", body]);
                    matches_any(sigs.v1.as_slice(), &tag)
                }
                Key::Ed25519Public(pk) if has_ed => {
                    let msg = content.get_or_insert_with(|| signed_content(id_bytes, ts_raw, body));
                    sigs.v1a
                        .as_slice()
                        .iter()
                        .any(|s| pk.verify(msg, s).is_ok())
                }
                Key::Ed25519Pair(pair) if has_ed => {
                    let msg = content.get_or_insert_with(|| signed_content(id_bytes, ts_raw, body));
                    let pk = ring::signature::UnparsedPublicKey::new(
                        &ring::signature::ED25519,
                        pair.public_key().as_ref(),
                    );
                    sigs.v1a
                        .as_slice()
                        .iter()
                        .any(|s| pk.verify(msg, s).is_ok())
                }
                _ => false,
            };
            if ok {
                return Ok(self.verified(Some(id.to_owned()), Some(ts), key_index));
            }
        }
        Err(VerifyError::NoMatchingSignature)
    }

    fn signature_value<'h, H: Headers + ?Sized>(
        &self,
        headers: &'h H,
    ) -> Result<&'h [u8], VerifyError> {
        let name = self
            .signature_header
            .as_ref()
            .ok_or(VerifyError::MissingHeader(HeaderKind::Signature))?;
        single(headers, &[name], HeaderKind::Signature)
    }

    /// Overflow-safe: the difference of two `i64`s always fits in an `i128`.
    fn check_time(&self, ts: i64) -> Result<(), VerifyError> {
        let now = i128::from(self.clock.now_unix());
        let ts = i128::from(ts);
        if now - ts > i128::from(self.past) {
            Err(VerifyError::TimestampTooOld)
        } else if ts - now > i128::from(self.future) {
            Err(VerifyError::TimestampInFuture)
        } else {
            Ok(())
        }
    }

    fn verified(&self, id: Option<String>, timestamp: Option<i64>, key_index: usize) -> Verified {
        Verified {
            id,
            timestamp,
            scheme: self.keyring.scheme(),
            key_index,
        }
    }
}

impl<C> fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keyring", &self.keyring)
            .field("past_tolerance_secs", &self.past)
            .field("future_tolerance_secs", &self.future)
            .field("signature_header", &self.signature_header)
            .finish_non_exhaustive()
    }
}

/// The one value of a header that may appear under any of `names`.
fn single<'h, H: Headers + ?Sized>(
    headers: &'h H,
    names: &[&HeaderName],
    kind: HeaderKind,
) -> Result<&'h [u8], VerifyError> {
    let mut found = None;
    for name in names {
        match headers.lookup(name) {
            Lookup::Missing => {}
            Lookup::Many => return Err(VerifyError::DuplicateHeader(kind)),
            Lookup::One(v) => {
                if found.is_some() {
                    return Err(VerifyError::DuplicateHeader(kind));
                }
                found = Some(v);
            }
        }
    }
    let value = found.ok_or(VerifyError::MissingHeader(kind))?;
    if value.len() > Verifier::MAX_HEADER_LEN {
        return Err(VerifyError::HeaderTooLong(kind));
    }
    Ok(value)
}

/// HMAC-SHA256 over the concatenation of `parts`, without concatenating.
pub(crate) fn mac(key: &hmac::Key, parts: &[&[u8]]) -> [u8; MAC_LEN] {
    let mut ctx = hmac::Context::with_key(key);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// `{id}.{timestamp}.{body}` in one buffer, for ed25519 (which cannot stream).
pub(crate) fn signed_content(id: &[u8], ts: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
    v.extend_from_slice(id);
    v.push(b'.');
    v.extend_from_slice(ts);
    v.push(b'.');
    v.extend_from_slice(body);
    v
}

/// Whether any of the decoded `candidates` equals `tag`, compared with
/// `subtle` (`ring` deprecated its public comparison, and `ring::hmac::verify`
/// would compute the MAC again for every candidate, over a concatenated
/// copy of the signed content). Every candidate is compared, whatever the
/// earlier ones gave: the time says neither how much of a candidate matched
/// nor which one did.
fn matches_any(candidates: &[[u8; MAC_LEN]], tag: &[u8; MAC_LEN]) -> bool {
    let tag = words(tag);
    let hit = candidates
        .iter()
        .fold(Choice::from(0), |hit, c| hit | words(c)[..].ct_eq(&tag[..]));
    bool::from(hit)
}

/// A MAC as four machine words, for `subtle`: its optimisation barrier is
/// paid per element, so words cost a quarter of what bytes do (about 11 ns
/// against 54 for one comparison; the former `black_box` fold took 14).
fn words(mac: &[u8; MAC_LEN]) -> [u64; MAC_LEN / 8] {
    let (words, _) = mac.as_chunks::<8>();
    std::array::from_fn(|i| u64::from_ne_bytes(words[i]))
}

pub(crate) const fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Decimal digits of a non-negative `i64` into `buf` (negative values are
/// never produced by the parser; they format as `0`).
pub(crate) fn fmt_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = u64::try_from(n).unwrap_or(0);
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        let mut buf = itoa_buf();
        assert_eq!(fmt_i64(0, &mut buf), b"0");
        let mut buf = itoa_buf();
        assert_eq!(fmt_i64(i64::MAX, &mut buf), i64::MAX.to_string().as_bytes());
        let mut buf = itoa_buf();
        assert_eq!(fmt_i64(1_614_265_330, &mut buf), b"1614265330");
    }

    #[test]
    fn compares_every_byte_of_every_candidate() {
        let tag = [7u8; MAC_LEN];
        assert!(!matches_any(&[], &tag));
        assert!(matches_any(&[tag], &tag));
        for i in 0..MAC_LEN {
            let mut other = tag;
            other[i] ^= 1;
            assert!(!matches_any(&[other], &tag), "byte {i}");
            assert!(matches_any(&[other, tag], &tag), "byte {i}, second");
            assert!(matches_any(&[tag, other], &tag), "byte {i}, first");
            assert!(!matches_any(&[other, other], &tag), "byte {i}, neither");
        }
    }
}
