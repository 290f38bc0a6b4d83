//! One test (at least) per rule of DESIGN.md's "Webhook signatures", and
//! every negative case the contract lists.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use mailwire_webhook::{
    Clock, HeaderKind, HeaderNames, KeyError, Keyring, Scheme, SignError, Signer, Verifier,
    VerifyError,
};

const NOW: i64 = 1_700_000_000;
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WHSEC_OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BODY: &[u8] = br#"{"type":"event","event_type":"message.received","event_id":"evt_1"}"#;

fn verifier(scheme: Scheme, secrets: &[&str]) -> Verifier<impl Clock + use<>> {
    Verifier::new(Keyring::new(scheme, secrets).unwrap()).with_clock(|| NOW)
}

fn signed(scheme: Scheme, secrets: &[&str], ts: i64, body: &[u8]) -> Vec<(String, String)> {
    Signer::new(Keyring::new(scheme, secrets).unwrap())
        .sign("msg_1", ts, body)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// Standard headers with one value replaced.
fn standard_with(name: &str, value: &str) -> Vec<(String, String)> {
    let mut h = signed(Scheme::Standard, &[WHSEC], NOW, BODY);
    for (k, v) in &mut h {
        if k == name {
            *v = value.to_owned();
        }
    }
    h
}

fn standard_sig() -> String {
    signed(Scheme::Standard, &[WHSEC], NOW, BODY)[2].1.clone()
}

// --- keyring: several secrets (rotation) ---------------------------------

#[test]
fn rotation_accepts_any_secret_and_reports_which() {
    for scheme in [Scheme::Hex, Scheme::Stripe, Scheme::Standard] {
        let (new, old) = if scheme == Scheme::Standard {
            (WHSEC, WHSEC_OLD)
        } else {
            ("new-secret", "old-secret")
        };
        let h = signed(scheme, &[old], NOW, BODY);
        let v = verifier(scheme, &[new, old]);
        assert_eq!(v.verify(&h, BODY).unwrap().key_index, 1, "{scheme}");
        let h = signed(scheme, &[new], NOW, BODY);
        assert_eq!(v.verify(&h, BODY).unwrap().key_index, 0, "{scheme}");
        let v = verifier(scheme, &[new]);
        assert_eq!(
            v.verify(&signed(scheme, &[old], NOW, BODY), BODY),
            Err(VerifyError::NoMatchingSignature),
            "{scheme}"
        );
    }
}

#[test]
fn signing_with_a_rotated_keyring_carries_every_signature() {
    let h = signed(Scheme::Standard, &[WHSEC, WHSEC_OLD], NOW, BODY);
    assert_eq!(h[2].1.split(' ').count(), 2);
    assert!(
        verifier(Scheme::Standard, &[WHSEC_OLD])
            .verify(&h, BODY)
            .is_ok()
    );
    let h = signed(Scheme::Stripe, &["a", "b"], NOW, BODY);
    assert_eq!(h[0].1.matches("v1=").count(), 2);
    assert_eq!(
        verifier(Scheme::Stripe, &["b"])
            .verify(&h, BODY)
            .unwrap()
            .key_index,
        0
    );
}

#[test]
fn with_secret_appends() {
    let ring = Keyring::standard(WHSEC)
        .unwrap()
        .with_secret(WHSEC_OLD)
        .unwrap();
    assert_eq!(ring.len(), 2);
    let v = Verifier::new(ring).with_clock(|| NOW);
    let h = signed(Scheme::Standard, &[WHSEC_OLD], NOW, BODY);
    assert_eq!(v.verify(&h, BODY).unwrap().key_index, 1);
}

// --- secrets: errors at construction --------------------------------------

#[test]
fn empty_secret_is_refused_at_construction() {
    for scheme in [Scheme::Hex, Scheme::Standard, Scheme::Stripe] {
        assert_eq!(Keyring::new(scheme, [""]).unwrap_err(), KeyError::Empty);
        assert_eq!(
            Keyring::new(scheme, Vec::<String>::new()).unwrap_err(),
            KeyError::NoSecret
        );
    }
    for empty in ["whsec_", "whpk_", "whsk_"] {
        assert_eq!(Keyring::standard(empty).unwrap_err(), KeyError::Empty);
    }
}

#[test]
fn malformed_secrets_are_refused_at_construction() {
    let cases = [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", KeyError::UnknownPrefix),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", KeyError::Base64),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", KeyError::Base64),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La-aSw", KeyError::Base64),
        ("whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", KeyError::Base64),
        (
            " whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            KeyError::Whitespace,
        ),
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
            KeyError::Whitespace,
        ),
        ("whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", KeyError::Ed25519),
        ("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", KeyError::Ed25519),
    ];
    for (secret, err) in cases {
        assert_eq!(Keyring::standard(secret).unwrap_err(), err, "{secret:?}");
    }
    assert_eq!(Keyring::hex("secret\n").unwrap_err(), KeyError::Whitespace);
    assert_eq!(
        Keyring::stripe("a\u{0}b").unwrap_err(),
        KeyError::Whitespace
    );
    let many = vec!["s"; Keyring::MAX_SECRETS + 1];
    assert_eq!(
        Keyring::new(Scheme::Hex, many).unwrap_err(),
        KeyError::TooMany
    );
    assert_eq!(
        "sha1".parse::<Scheme>().unwrap_err(),
        KeyError::UnknownScheme
    );
}

#[test]
fn hex_and_stripe_key_with_the_secret_bytes_whatever_the_prefix() {
    // A `whsec_` string for hex is *not* base64-decoded.
    let h = signed(Scheme::Hex, &[WHSEC], NOW, BODY);
    assert!(verifier(Scheme::Hex, &[WHSEC]).verify(&h, BODY).is_ok());
    let standard_key = Keyring::standard(WHSEC).unwrap();
    let std_sig = Signer::new(standard_key).sign("msg_1", NOW, BODY).unwrap();
    assert_ne!(h[0].1, std_sig[2].1.to_str().unwrap());
}

#[test]
fn debug_output_redacts_secrets() {
    let secret = "hunter2-very-secret";
    let ring = Keyring::new(Scheme::Hex, [secret]).unwrap();
    let shown = format!(
        "{ring:?} {:?} {:?}",
        Verifier::new(Keyring::hex(secret).unwrap()),
        Signer::new(Keyring::hex(secret).unwrap())
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redacted"));
    let std = format!("{:?}", Keyring::standard(WHSEC).unwrap());
    assert!(!std.contains("MfKQ"), "{std}");
}

// --- timestamps ----------------------------------------------------------

#[test]
fn tolerance_bounds_are_inclusive_on_both_sides() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let tol = 300;
    for (ts, expect) in [
        (NOW - tol, Ok(())),
        (NOW - tol - 1, Err(VerifyError::TimestampTooOld)),
        (NOW + tol, Ok(())),
        (NOW + tol + 1, Err(VerifyError::TimestampInFuture)),
    ] {
        let h = signed(Scheme::Standard, &[WHSEC], ts, BODY);
        assert_eq!(v.verify(&h, BODY).map(|_| ()), expect, "ts {ts}");
        let h = signed(Scheme::Stripe, &["s"], ts, BODY);
        assert_eq!(
            verifier(Scheme::Stripe, &["s"])
                .verify(&h, BODY)
                .map(|_| ()),
            expect,
            "stripe ts {ts}"
        );
    }
}

#[test]
fn past_and_future_tolerances_are_configured_separately() {
    let v = Verifier::new(Keyring::standard(WHSEC).unwrap())
        .with_past_tolerance(Duration::from_secs(10))
        .with_future_tolerance(Duration::from_secs(0))
        .with_clock(|| NOW);
    let at = |ts| v.verify(&signed(Scheme::Standard, &[WHSEC], ts, BODY), BODY);
    assert!(at(NOW - 10).is_ok());
    assert_eq!(at(NOW - 11).unwrap_err(), VerifyError::TimestampTooOld);
    assert!(at(NOW).is_ok());
    assert_eq!(at(NOW + 1).unwrap_err(), VerifyError::TimestampInFuture);

    let v = Verifier::new(Keyring::standard(WHSEC).unwrap())
        .with_tolerance(Duration::from_secs(3600))
        .with_clock(|| NOW);
    let h = signed(Scheme::Standard, &[WHSEC], NOW - 3600, BODY);
    assert!(v.verify(&h, BODY).is_ok());
}

#[test]
fn tolerance_arithmetic_cannot_overflow() {
    // The clock at the extremes of i64, timestamps at the extremes of what
    // parses, tolerance at u64::MAX: answers, never a panic or a wrap.
    let ts_max = i64::MAX.to_string();
    for (now, ts, tol, expect) in [
        (
            i64::MIN,
            ts_max.as_str(),
            300,
            Err(VerifyError::TimestampInFuture),
        ),
        (i64::MAX, "0", 300, Err(VerifyError::TimestampTooOld)),
        (
            i64::MIN,
            ts_max.as_str(),
            u64::MAX,
            Err(VerifyError::NoMatchingSignature),
        ),
        (
            i64::MAX,
            "0",
            u64::MAX,
            Err(VerifyError::NoMatchingSignature),
        ),
    ] {
        let v = Verifier::new(Keyring::standard(WHSEC).unwrap())
            .with_tolerance(Duration::from_secs(tol))
            .with_clock(move || now);
        let h = standard_with("webhook-timestamp", ts);
        assert_eq!(v.verify(&h, BODY).map(|_| ()), expect, "now {now} ts {ts}");
    }
    // A signature made at i64::MAX verifies when the clock agrees.
    let h = signed(Scheme::Standard, &[WHSEC], i64::MAX, BODY);
    let v = Verifier::new(Keyring::standard(WHSEC).unwrap()).with_clock(|| i64::MAX);
    assert!(v.verify(&h, BODY).is_ok());
}

#[test]
fn timestamp_is_ascii_digits_only() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    for ts in [
        "-9223372036854775808",
        "+123",
        "0123",
        "+1700000000",
        "01700000000",
        " 1700000000",
        "1700000000 ",
        "1700000000.0",
        "1.7e9",
        "",
        "9223372036854775808",
        "99999999999999999999999999",
        "\u{661}\u{667}",
    ] {
        let h = standard_with("webhook-timestamp", ts);
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::BadTimestamp,
            "{ts:?}"
        );
    }
    let far_future = "99999999999";
    let h = standard_with("webhook-timestamp", far_future);
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::TimestampInFuture
    );

    let stripe = verifier(Scheme::Stripe, &["s"]);
    for t in ["-1", "+1700000000", "01700000000", ""] {
        let value = format!("t={t},v1={}", "00".repeat(32));
        assert_eq!(
            stripe
                .verify(&[("stripe-signature", value)], BODY)
                .unwrap_err(),
            VerifyError::BadTimestamp,
            "{t:?}"
        );
    }
}

#[test]
fn stale_timestamp_is_refused_before_the_signature_is_even_parsed() {
    let mut h = standard_with("webhook-timestamp", "1");
    h[2].1 = "garbage".to_owned();
    let v = verifier(Scheme::Standard, &[WHSEC]);
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::TimestampTooOld
    );
}

// --- signature encoding ----------------------------------------------------

#[test]
fn v1_with_an_empty_signature_is_malformed() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    for sig in ["v1,", "v1, ", "v1a,", ",abc", "v1"] {
        let h = standard_with("webhook-signature", sig);
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::MalformedSignature,
            "{sig:?}"
        );
    }
}

#[test]
fn truncated_or_wrongly_padded_base64_is_malformed() {
    let good = standard_sig();
    let b64 = good.strip_prefix("v1,").unwrap();
    assert!(b64.ends_with('=') && !b64.ends_with("=="));
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let unpadded = &b64[..b64.len() - 1];
    let cases = [
        format!("v1,{unpadded}"),
        format!("v1,{b64}="),
        format!("v1,{}", &b64[..40]),
        format!("v1,{}==", &b64[..42]),
        format!("v1,{}", b64.replace('+', "-").replace('/', "_")),
        format!("v1,{b64}AAAA"),
        format!("v1, {b64}"),
    ];
    for sig in cases {
        // a case without '+' or '/' would not test the url alphabet; skip it
        if sig == good {
            continue;
        }
        let h = standard_with("webhook-signature", &sig);
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::MalformedSignature,
            "{sig:?}"
        );
    }
    // Non-canonical trailing bits: same bytes decode "loosely", refused here.
    let last = b64.as_bytes()[42];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let idx = alphabet.iter().position(|&c| c == last).unwrap();
    let loose = char::from(alphabet[idx | 1]);
    if alphabet[idx | 1] != last {
        let sig = format!("v1,{}{loose}=", &b64[..42]);
        let h = standard_with("webhook-signature", &sig);
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::MalformedSignature
        );
    }
}

#[test]
fn hex_must_be_exactly_64_digits() {
    let h = signed(Scheme::Hex, &["s"], NOW, BODY);
    let hex = h[0].1.clone();
    let v = verifier(Scheme::Hex, &["s"]);
    for bad in [
        hex[..63].to_owned(),
        format!("{hex}0"),
        format!("sha256={}", &hex[..62]),
        format!("SHA256={hex}"),
        format!("sha1={hex}"),
        format!("sha256= {hex}"),
        format!(" {hex}"),
        format!("{}g", &hex[..63]),
        String::new(),
    ] {
        assert_eq!(
            v.verify(&[("x-signature", bad.as_str())], BODY)
                .unwrap_err(),
            VerifyError::MalformedSignature,
            "{bad:?}"
        );
    }
}

#[test]
fn uppercase_hex_is_accepted_and_compared_as_bytes() {
    let h = signed(Scheme::Hex, &["s"], NOW, BODY);
    let lower = h[0].1.clone();
    assert_eq!(lower, lower.to_ascii_lowercase(), "sign writes lower case");
    let upper = lower.to_ascii_uppercase();
    let v = verifier(Scheme::Hex, &["s"]);
    for value in [
        lower.clone(),
        upper.clone(),
        format!("sha256={upper}"),
        format!("v1={lower}"),
    ] {
        assert!(
            v.verify(&[("x-signature", value.as_str())], BODY).is_ok(),
            "{value}"
        );
    }
    // Case is not a free pass: the upper-case form of a wrong MAC still fails.
    let wrong = signed(Scheme::Hex, &["t"], NOW, BODY)[0]
        .1
        .to_ascii_uppercase();
    assert_eq!(
        v.verify(&[("x-signature", wrong)], BODY).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
    // Stripe's hex follows the same rule.
    let s = signed(Scheme::Stripe, &["s"], NOW, BODY)[0]
        .1
        .to_ascii_uppercase();
    let s = s.replace("T=", "t=").replace("V1=", "v1=");
    assert!(
        verifier(Scheme::Stripe, &["s"])
            .verify(&[("stripe-signature", s)], BODY)
            .is_ok()
    );
}

// --- duplicates -------------------------------------------------------------

#[test]
fn duplicate_signature_id_or_timestamp_headers_are_refused() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let base = signed(Scheme::Standard, &[WHSEC], NOW, BODY);
    for (i, kind) in [HeaderKind::Id, HeaderKind::Timestamp, HeaderKind::Signature]
        .into_iter()
        .enumerate()
    {
        // same name twice, with the same value: still refused
        let mut h = base.clone();
        h.push(base[i].clone());
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::DuplicateHeader(kind)
        );
        // same name in a different case
        let mut h = base.clone();
        h.push((base[i].0.to_ascii_uppercase(), base[i].1.clone()));
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::DuplicateHeader(kind)
        );
        // webhook-* and svix-* together
        let mut h = base.clone();
        h.push((base[i].0.replace("webhook-", "svix-"), base[i].1.clone()));
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::DuplicateHeader(kind)
        );
        // and in an http::HeaderMap
        let mut m = HeaderMap::new();
        for (k, val) in base.iter().chain(std::iter::once(&base[i])) {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(val).unwrap(),
            );
        }
        assert_eq!(
            v.verify(&m, BODY).unwrap_err(),
            VerifyError::DuplicateHeader(kind)
        );
    }
    for scheme in [Scheme::Hex, Scheme::Stripe] {
        let mut h = signed(scheme, &["s"], NOW, BODY);
        h.push(h[0].clone());
        assert_eq!(
            verifier(scheme, &["s"]).verify(&h, BODY).unwrap_err(),
            VerifyError::DuplicateHeader(HeaderKind::Signature)
        );
    }
}

#[test]
fn a_request_signed_under_both_families_is_refused() {
    let signer = |names| {
        Signer::new(Keyring::standard(WHSEC).unwrap())
            .with_header_names(names)
            .sign("msg_1", NOW, BODY)
            .unwrap()
    };
    let svix = signer(HeaderNames::Svix);
    let webhook = signer(HeaderNames::Webhook);
    let v = verifier(Scheme::Standard, &[WHSEC]);
    // Each family alone verifies; both together are two ids, two timestamps
    // and two signatures, the first of which is reported.
    assert!(v.verify(&svix, BODY).is_ok());
    assert!(v.verify(&webhook, BODY).is_ok());
    let both: Vec<_> = svix.iter().chain(&webhook).cloned().collect();
    assert_eq!(
        v.verify(&both, BODY).unwrap_err(),
        VerifyError::DuplicateHeader(HeaderKind::Id)
    );
    let both: HeaderMap = webhook.into_iter().chain(svix).collect();
    assert_eq!(
        v.verify(&both, BODY).unwrap_err(),
        VerifyError::DuplicateHeader(HeaderKind::Id)
    );
}

#[test]
fn mixed_brands_without_duplicates_are_accepted() {
    let mut h = signed(Scheme::Standard, &[WHSEC], NOW, BODY);
    h[0].0 = "svix-id".to_owned();
    h[2].0 = "Svix-Signature".to_owned();
    assert!(
        verifier(Scheme::Standard, &[WHSEC])
            .verify(&h, BODY)
            .is_ok()
    );
}

#[test]
fn duplicate_timestamp_inside_a_stripe_header_is_refused() {
    let h = signed(Scheme::Stripe, &["s"], NOW, BODY);
    let value = format!("t={NOW},{}", h[0].1);
    assert_eq!(
        verifier(Scheme::Stripe, &["s"])
            .verify(&[("stripe-signature", value)], BODY)
            .unwrap_err(),
        VerifyError::MalformedSignature
    );
}

// --- bounds -------------------------------------------------------------------

#[test]
fn more_candidates_than_the_bound_are_refused() {
    let good = standard_sig();
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let filler = "v2,AAAA";
    let at_bound = vec![filler; Verifier::MAX_SIGNATURES - 1].join(" ") + " " + &good;
    assert!(
        v.verify(&standard_with("webhook-signature", &at_bound), BODY)
            .is_ok()
    );
    let over = vec![filler; Verifier::MAX_SIGNATURES].join(" ") + " " + &good;
    assert_eq!(
        v.verify(&standard_with("webhook-signature", &over), BODY)
            .unwrap_err(),
        VerifyError::TooManySignatures
    );
    let stripe = signed(Scheme::Stripe, &["s"], NOW, BODY)[0].1.clone();
    let over = stripe.clone() + &",v0=00".repeat(Verifier::MAX_SIGNATURES);
    assert_eq!(
        verifier(Scheme::Stripe, &["s"])
            .verify(&[("stripe-signature", over)], BODY)
            .unwrap_err(),
        VerifyError::TooManySignatures
    );
}

#[test]
fn an_over_long_header_is_refused() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let long = format!(
        "{} {}",
        standard_sig(),
        " ".repeat(Verifier::MAX_HEADER_LEN)
    );
    assert_eq!(
        v.verify(&standard_with("webhook-signature", &long), BODY)
            .unwrap_err(),
        VerifyError::HeaderTooLong(HeaderKind::Signature)
    );
    let id = "m".repeat(Verifier::MAX_HEADER_LEN + 1);
    assert_eq!(
        v.verify(&standard_with("webhook-id", &id), BODY)
            .unwrap_err(),
        VerifyError::HeaderTooLong(HeaderKind::Id)
    );
    let hex = "0".repeat(Verifier::MAX_HEADER_LEN + 1);
    assert_eq!(
        verifier(Scheme::Hex, &["s"])
            .verify(&[("x-signature", hex)], BODY)
            .unwrap_err(),
        VerifyError::HeaderTooLong(HeaderKind::Signature)
    );
    // Exactly at the bound is fine (padding with spaces is tolerated).
    let sig = standard_sig();
    let padded = format!("{sig}{}", " ".repeat(Verifier::MAX_HEADER_LEN - sig.len()));
    assert!(
        v.verify(&standard_with("webhook-signature", &padded), BODY)
            .is_ok()
    );
}

// --- matching -------------------------------------------------------------------

#[test]
fn wrong_key_is_refused() {
    for scheme in [Scheme::Hex, Scheme::Stripe] {
        let h = signed(scheme, &["right"], NOW, BODY);
        assert_eq!(
            verifier(scheme, &["wrong"]).verify(&h, BODY).unwrap_err(),
            VerifyError::NoMatchingSignature
        );
    }
    let h = signed(Scheme::Standard, &[WHSEC], NOW, BODY);
    assert_eq!(
        verifier(Scheme::Standard, &[WHSEC_OLD])
            .verify(&h, BODY)
            .unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[test]
fn a_body_changed_by_one_byte_is_refused() {
    for (scheme, secret) in [
        (Scheme::Hex, "s"),
        (Scheme::Stripe, "s"),
        (Scheme::Standard, WHSEC),
    ] {
        let h = signed(scheme, &[secret], NOW, BODY);
        let v = verifier(scheme, &[secret]);
        assert!(v.verify(&h, BODY).is_ok());
        for i in [0, BODY.len() / 2, BODY.len() - 1] {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(
                v.verify(&h, &body).unwrap_err(),
                VerifyError::NoMatchingSignature,
                "{scheme} byte {i}"
            );
        }
        assert_eq!(
            v.verify(&h, &BODY[..BODY.len() - 1]).unwrap_err(),
            VerifyError::NoMatchingSignature
        );
    }
}

#[test]
fn id_and_timestamp_are_covered_by_the_signature() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let h = standard_with("webhook-id", "msg_2");
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
    let h = standard_with("webhook-timestamp", &(NOW + 1).to_string());
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[test]
fn unknown_versions_are_skipped() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let sig = format!("v2,whatever v1b,xyz {}", standard_sig());
    assert!(
        v.verify(&standard_with("webhook-signature", &sig), BODY)
            .is_ok()
    );
    let only_unknown = "v2,whatever v3,AAAA";
    assert_eq!(
        v.verify(&standard_with("webhook-signature", only_unknown), BODY)
            .unwrap_err(),
        VerifyError::NoSupportedSignature
    );
    // A v1a signature and only HMAC keys: nothing this keyring can check.
    let ed = format!("v1a,{}", "A".repeat(86) + "==");
    assert_eq!(
        v.verify(&standard_with("webhook-signature", &ed), BODY)
            .unwrap_err(),
        VerifyError::NoSupportedSignature
    );
    let stripe = verifier(Scheme::Stripe, &["s"]);
    assert_eq!(
        stripe
            .verify(&[("stripe-signature", format!("t={NOW},v0=00"))], BODY)
            .unwrap_err(),
        VerifyError::NoSupportedSignature
    );
}

#[test]
fn missing_headers_are_named() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    let full = signed(Scheme::Standard, &[WHSEC], NOW, BODY);
    for (i, kind) in [HeaderKind::Id, HeaderKind::Timestamp, HeaderKind::Signature]
        .into_iter()
        .enumerate()
    {
        let mut h = full.clone();
        h.remove(i);
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::MissingHeader(kind)
        );
    }
    let none: [(&str, &str); 0] = [];
    assert_eq!(
        verifier(Scheme::Hex, &["s"])
            .verify(&none, BODY)
            .unwrap_err(),
        VerifyError::MissingHeader(HeaderKind::Signature)
    );
    // The configured header name, not the default, is what counts.
    let h = signed(Scheme::Hex, &["s"], NOW, BODY);
    let v = verifier(Scheme::Hex, &["s"]).with_signature_header("X-Hub-Signature-256");
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::MissingHeader(HeaderKind::Signature)
    );
    // A name no request can carry: always missing, never a panic.
    let v = verifier(Scheme::Hex, &["s"]).with_signature_header("bad name");
    let h = [("bad name", h[0].1.as_str())];
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::MissingHeader(HeaderKind::Signature)
    );
    // Standard names are fixed: the setting is ignored.
    let h = signed(Scheme::Standard, &[WHSEC], NOW, BODY);
    let v = verifier(Scheme::Standard, &[WHSEC]).with_signature_header("x-other");
    assert!(v.verify(&h, BODY).is_ok());
}

#[test]
fn a_malformed_id_is_refused() {
    let v = verifier(Scheme::Standard, &[WHSEC]);
    for id in ["", "msg 1", "msg\t1"] {
        let h = standard_with("webhook-id", id);
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::BadId,
            "{id:?}"
        );
    }
    let mut m = HeaderMap::new();
    for (k, val) in signed(Scheme::Standard, &[WHSEC], NOW, BODY) {
        m.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&val).unwrap(),
        );
    }
    m.insert("webhook-id", HeaderValue::from_bytes(b"msg_\xe9").unwrap());
    assert_eq!(v.verify(&m, BODY).unwrap_err(), VerifyError::BadId);
}

#[test]
fn sign_refuses_what_verify_would_refuse() {
    let s = Signer::new(Keyring::standard(WHSEC).unwrap());
    assert_eq!(s.sign("", NOW, BODY).unwrap_err(), SignError::BadId);
    assert_eq!(s.sign("a b", NOW, BODY).unwrap_err(), SignError::BadId);
    assert_eq!(
        s.sign("msg", -1, BODY).unwrap_err(),
        SignError::BadTimestamp
    );
    let stripe = Signer::new(Keyring::stripe("s").unwrap());
    assert_eq!(
        stripe.sign("", -5, BODY).unwrap_err(),
        SignError::BadTimestamp
    );
    let public_only = Signer::new(
        Keyring::standard("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap(),
    );
    assert_eq!(
        public_only.sign("m", NOW, BODY).unwrap_err(),
        SignError::NoSigningKey
    );
}

#[test]
fn error_messages_are_short_and_never_echo_secrets() {
    let secret = "hunter2-very-secret";
    let v = verifier(Scheme::Hex, &[secret]);
    let h = signed(Scheme::Hex, &["other"], NOW, BODY);
    let err = v.verify(&h, BODY).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("hunter2") && !msg.contains(&h[0].1), "{msg}");
    assert!(msg.len() < 40);
    for e in [
        VerifyError::MissingHeader(HeaderKind::Id),
        VerifyError::DuplicateHeader(HeaderKind::Timestamp),
        VerifyError::HeaderTooLong(HeaderKind::Signature),
        VerifyError::BadTimestamp,
        VerifyError::TimestampTooOld,
        VerifyError::TimestampInFuture,
        VerifyError::TooManySignatures,
        VerifyError::MalformedSignature,
        VerifyError::NoMatchingSignature,
    ] {
        assert!(e.to_string().len() < 40, "{e}");
    }
    assert_eq!(
        VerifyError::DuplicateHeader(HeaderKind::Timestamp).to_string(),
        "duplicate timestamp header"
    );
}

#[test]
fn bodies_need_not_be_utf8() {
    let body = [0xff, 0xfe, 0x00, 0x80];
    for (scheme, secret) in [
        (Scheme::Hex, "s"),
        (Scheme::Stripe, "s"),
        (Scheme::Standard, WHSEC),
    ] {
        let h = signed(scheme, &[secret], NOW, &body);
        assert!(verifier(scheme, &[secret]).verify(&h, &body).is_ok());
    }
}

#[test]
fn system_clock_is_the_default() {
    let now = mailwire_webhook::SystemClock.now_unix();
    let h = signed(Scheme::Standard, &[WHSEC], now, BODY);
    let v = Verifier::new(Keyring::standard(WHSEC).unwrap());
    assert!(v.verify(&h, BODY).is_ok());
    let h = signed(Scheme::Standard, &[WHSEC], 1_000_000_000, BODY);
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::TimestampTooOld
    );
}
