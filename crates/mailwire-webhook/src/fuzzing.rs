//! Entry points for the cargo-fuzz targets in `fuzz/`. Not part of the API.

use std::sync::OnceLock;

use crate::{Keyring, Scheme, Signer, Verifier, parse};

const NOW: i64 = 1_700_000_000;
const HEX_SECRET: &str = "It's a Secret to Everybody";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
// The public half of the all-zero seed `whsk_AAAA...A=`.
const WHSK: &str = "whsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// Runs every scheme's header parser over `data`; none may panic.
pub fn signature_header(data: &[u8]) {
    let _ = parse::hex_header(data);
    let _ = parse::standard_header(data);
    let _ = parse::stripe_header(data);
    let _ = parse::timestamp(data);
    let _ = parse::id(data);
}

struct Fixture {
    verifier: Verifier<fn() -> i64>,
    signer: Signer,
}

fn now() -> i64 {
    NOW
}

fn fixtures() -> &'static [Fixture; 3] {
    static F: OnceLock<[Fixture; 3]> = OnceLock::new();
    F.get_or_init(|| {
        let make = |scheme: Scheme, secrets: &[&str]| -> Fixture {
            let ring = || Keyring::new(scheme, secrets).expect("fixed fuzz secrets are valid");
            Fixture {
                verifier: Verifier::new(ring()).with_clock(now as fn() -> i64),
                signer: Signer::new(ring()),
            }
        };
        [
            make(Scheme::Hex, &[HEX_SECRET]),
            make(Scheme::Standard, &[WHSEC, WHSK]),
            make(Scheme::Stripe, &[HEX_SECRET, "second"]),
        ]
    })
}

/// Interprets `data` as a request and verifies it; then checks that a
/// signature made over the same body verifies. Layout: one byte choosing the
/// scheme, then `name: value` lines, an empty line, and the body.
pub fn verify(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let fixture = &fixtures()[usize::from(selector % 3)];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&rest[..0], rest),
    };
    let headers: Vec<(&str, &[u8])> = head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            let value = &line[colon + 1..];
            Some((name, value.strip_prefix(b" ").unwrap_or(value)))
        })
        .collect();
    let _ = fixture.verifier.verify(&headers, body);

    let signed = fixture
        .signer
        .sign("msg_fuzz", NOW, body)
        .expect("signing a body with fixed inputs succeeds");
    let verified = fixture.verifier.verify(&signed, body);
    assert!(verified.is_ok(), "sign() output rejected: {verified:?}");
    if let Some((last, rest)) = body.split_last() {
        let mut changed = rest.to_vec();
        changed.push(last ^ 1);
        assert!(
            fixture.verifier.verify(&signed, &changed).is_err(),
            "altered body accepted"
        );
    }
}
