//! Strict parsers for header values. Nothing here allocates: candidates are
//! decoded into fixed-size arrays on the stack.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::VerifyError;

/// The most signature candidates one header may carry (all versions counted).
pub(crate) const MAX_SIGNATURES: usize = 16;

/// HMAC-SHA256 output length.
pub(crate) const MAC_LEN: usize = 32;
/// ed25519 signature length.
pub(crate) const ED25519_SIG_LEN: usize = 64;

/// A fixed-capacity list of decoded signatures.
pub(crate) struct Candidates<const N: usize> {
    items: [[u8; N]; MAX_SIGNATURES],
    len: usize,
}

impl<const N: usize> Candidates<N> {
    pub(crate) const fn new() -> Self {
        Self {
            items: [[0; N]; MAX_SIGNATURES],
            len: 0,
        }
    }

    fn push(&mut self, item: [u8; N]) {
        // Callers bound the total count before pushing; stay panic-free anyway.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = item;
            self.len += 1;
        }
    }

    pub(crate) fn as_slice(&self) -> &[[u8; N]] {
        &self.items[..self.len]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The parsed `webhook-signature` header.
pub(crate) struct StandardSignatures {
    pub(crate) v1: Candidates<MAC_LEN>,
    pub(crate) v1a: Candidates<ED25519_SIG_LEN>,
}

/// The parsed `stripe-signature` header.
pub(crate) struct StripeSignature {
    pub(crate) timestamp: i64,
    pub(crate) v1: Candidates<MAC_LEN>,
}

/// A Unix timestamp: ASCII digits only, no sign, no leading zero (except
/// `0` itself), fitting in an `i64`.
pub(crate) fn timestamp(value: &[u8]) -> Result<i64, VerifyError> {
    let (&first, _) = value.split_first().ok_or(VerifyError::BadTimestamp)?;
    if first == b'0' && value.len() > 1 {
        return Err(VerifyError::BadTimestamp);
    }
    let mut n: i64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(VerifyError::BadTimestamp);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(b - b'0')))
            .ok_or(VerifyError::BadTimestamp)?;
    }
    Ok(n)
}

/// A message id: non-empty visible ASCII (no spaces, no control bytes).
pub(crate) fn id(value: &[u8]) -> Result<&str, VerifyError> {
    if value.is_empty() || !value.iter().all(|b| b.is_ascii_graphic()) {
        return Err(VerifyError::BadId);
    }
    std::str::from_utf8(value).map_err(|_| VerifyError::BadId)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Exactly 64 hex digits, either case, into 32 bytes. Kept by hand, not
/// `hex::decode_to_slice`: on every verification of the hex scheme, and the crate's
/// version measured 50 ns (12%) slower per 256-byte request in `benches/verify.rs`.
pub(crate) fn hex32(value: &[u8]) -> Option<[u8; MAC_LEN]> {
    if value.len() != MAC_LEN * 2 {
        return None;
    }
    let mut out = [0u8; MAC_LEN];
    for (o, pair) in out.iter_mut().zip(value.chunks_exact(2)) {
        *o = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

/// Strict, padded, canonical standard base64 of exactly `N` bytes.
pub(crate) fn base64_exact<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    // Padded base64 of N bytes is exactly this long; checking first rejects
    // truncated input before decoding.
    if value.len() != N.div_ceil(3) * 4 {
        return None;
    }
    // The decoder wants room for its estimate (up to 2 bytes over N).
    let mut buf = [0u8; 96];
    let n = STANDARD.decode_slice(value, &mut buf).ok()?;
    if n != N {
        return None;
    }
    let mut out = [0u8; N];
    out.copy_from_slice(buf.get(..N)?);
    Some(out)
}

/// A `hex` scheme value: optional `sha256=` or `v1=`, then 64 hex digits.
pub(crate) fn hex_header(value: &[u8]) -> Result<[u8; MAC_LEN], VerifyError> {
    let digits = value
        .strip_prefix(b"sha256=")
        .or_else(|| value.strip_prefix(b"v1="))
        .unwrap_or(value);
    hex32(digits).ok_or(VerifyError::MalformedSignature)
}

/// A `webhook-signature` value: space-separated `version,signature` entries.
/// `v1` and `v1a` are decoded; other versions are skipped but counted.
/// Runs of spaces are tolerated.
pub(crate) fn standard_header(value: &[u8]) -> Result<StandardSignatures, VerifyError> {
    let mut out = StandardSignatures {
        v1: Candidates::new(),
        v1a: Candidates::new(),
    };
    let mut count = 0;
    for entry in value.split(|&b| b == b' ').filter(|e| !e.is_empty()) {
        count += 1;
        if count > MAX_SIGNATURES {
            return Err(VerifyError::TooManySignatures);
        }
        let comma = entry
            .iter()
            .position(|&b| b == b',')
            .ok_or(VerifyError::MalformedSignature)?;
        let (version, sig) = (&entry[..comma], &entry[comma + 1..]);
        match version {
            b"v1" => out
                .v1
                .push(base64_exact(sig).ok_or(VerifyError::MalformedSignature)?),
            b"v1a" => out
                .v1a
                .push(base64_exact(sig).ok_or(VerifyError::MalformedSignature)?),
            b"" => return Err(VerifyError::MalformedSignature),
            _ => {}
        }
    }
    Ok(out)
}

/// A `stripe-signature` value: `t=<unix>,v1=<hex>[,v1=<hex>]...`; other keys
/// (`v0`, ...) are skipped but counted. Exactly one `t`.
pub(crate) fn stripe_header(value: &[u8]) -> Result<StripeSignature, VerifyError> {
    let mut v1 = Candidates::new();
    let mut ts = None;
    let mut count = 0;
    for item in value.split(|&b| b == b',') {
        let eq = item
            .iter()
            .position(|&b| b == b'=')
            .ok_or(VerifyError::MalformedSignature)?;
        let (key, val) = (&item[..eq], &item[eq + 1..]);
        match key {
            b"t" => {
                if ts.is_some() {
                    return Err(VerifyError::MalformedSignature);
                }
                ts = Some(timestamp(val)?);
            }
            b"" => return Err(VerifyError::MalformedSignature),
            _ => {
                count += 1;
                if count > MAX_SIGNATURES {
                    return Err(VerifyError::TooManySignatures);
                }
                if key == b"v1" {
                    v1.push(hex32(val).ok_or(VerifyError::MalformedSignature)?);
                }
            }
        }
    }
    let timestamp = ts.ok_or(VerifyError::MalformedSignature)?;
    Ok(StripeSignature { timestamp, v1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(b"0"), Ok(0));
        assert_eq!(timestamp(b"1614265330"), Ok(1_614_265_330));
        assert_eq!(timestamp(b"9223372036854775807"), Ok(i64::MAX));
        for bad in [
            &b""[..],
            b"9223372036854775808",
            b"99999999999999999999999",
            b"-9223372036854775808",
            b"-1",
            b"+123",
            b"0123",
            b"00",
            b" 123",
            b"123 ",
            b"12a",
            b"1e9",
            b"\xd9\xa1",
        ] {
            assert_eq!(timestamp(bad), Err(VerifyError::BadTimestamp), "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        assert_eq!(id(b"msg_1"), Ok("msg_1"));
        for bad in [&b""[..], b"a b", b"a\tb", b"\x7f", b"\xc3\xa9"] {
            assert_eq!(id(bad), Err(VerifyError::BadId), "{bad:?}");
        }
    }

    #[test]
    fn hex_is_exact_and_case_insensitive() {
        let lower = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let upper = lower.to_ascii_uppercase();
        assert_eq!(hex32(lower.as_bytes()), hex32(upper.as_bytes()));
        assert!(hex32(lower.as_bytes()).is_some());
        assert!(hex32(&lower.as_bytes()[..63]).is_none());
        assert!(hex32(format!("{lower}0").as_bytes()).is_none());
        assert!(hex32(lower.replace('e', "g").as_bytes()).is_none());
        assert!(hex32(format!("+{}", &lower[1..]).as_bytes()).is_none());
    }

    #[test]
    fn base64_is_strict() {
        let good = b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(base64_exact::<32>(good).is_some());
        // unpadded, truncated, over-padded, non-canonical trailing bits, url alphabet
        assert!(base64_exact::<32>(&good[..43]).is_none());
        assert!(base64_exact::<32>(&good[..40]).is_none());
        assert!(base64_exact::<32>(b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==").is_none());
        assert!(base64_exact::<32>(b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=").is_none());
        assert!(base64_exact::<32>(b"g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=").is_none());
        assert!(base64_exact::<32>(b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O==").is_none());
    }

    #[test]
    fn stripe_items() {
        let sig = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
        let parsed = stripe_header(format!("t=1492774577,v1={sig},v0=xyz").as_bytes())
            .ok()
            .map(|s| (s.timestamp, s.v1.as_slice().len()));
        assert_eq!(parsed, Some((1_492_774_577, 1)));
        for bad in [
            format!("v1={sig}"),
            format!("t=1,t=2,v1={sig}"),
            format!("t=1,,v1={sig}"),
            format!("t=1,v1={sig},"),
            "t=1,v1".to_owned(),
            "t=1,=x".to_owned(),
            "t=1,v1=".to_owned(),
        ] {
            assert!(stripe_header(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
