//! Published test vectors, and vectors computed independently with OpenSSL.

use http::{HeaderMap, HeaderName, HeaderValue};
use mailwire_webhook::{Keyring, Scheme, Signer, Verified, Verifier, VerifyError, public_key_for};

// The Standard Webhooks specification's example (also Svix's documentation).
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TS: i64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// GitHub's documented X-Hub-Signature-256 example.
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

// RFC 8032 section 7.1 TEST 1 key pair; signature over the spec example's
// signed content computed with `openssl pkeyutl -sign -rawin`.
const ED_SEED: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const ED_PUBLIC: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const ED_SIG: &str =
    "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw==";

// Stripe: HMAC-SHA256("whsec_test_secret", "1492774577.{\"id\":\"evt_test\"}")
// computed with `openssl dgst -sha256 -hmac`.
const STRIPE_SECRET: &str = "whsec_test_secret";
const STRIPE_BODY: &[u8] = br#"{"id":"evt_test"}"#;
const STRIPE_HEX: &str = "22f7d74836ddad3284a2b80853dd2fe731655c1bfddcff3c3666a500cf3abd80";

fn spec_verifier(secrets: &[&str]) -> Verifier<impl mailwire_webhook::Clock + use<>> {
    Verifier::new(Keyring::new(Scheme::Standard, secrets).unwrap()).with_clock(|| SPEC_TS)
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

#[test]
fn standard_spec_example_verifies_under_both_header_names() {
    let v = spec_verifier(&[SPEC_SECRET]);
    let ts = SPEC_TS.to_string();
    for prefix in ["webhook", "svix", "Webhook", "SVIX"] {
        let pairs = [
            (format!("{prefix}-id"), SPEC_ID),
            (format!("{prefix}-timestamp"), ts.as_str()),
            (format!("{prefix}-signature"), SPEC_SIG),
        ];
        let verified = v.verify(&pairs, SPEC_BODY).unwrap();
        assert_eq!(verified.id.as_deref(), Some(SPEC_ID));
        assert_eq!(verified.timestamp, Some(SPEC_TS));
        assert_eq!(verified.scheme, Scheme::Standard);
        assert_eq!(verified.key_index, 0);

        let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(v.verify(&map(&headers), SPEC_BODY).unwrap(), verified);
    }
}

#[test]
fn standard_spec_example_is_what_sign_produces() {
    let headers = Signer::new(Keyring::standard(SPEC_SECRET).unwrap())
        .sign(SPEC_ID, SPEC_TS, SPEC_BODY)
        .unwrap();
    let text: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        text,
        [
            ("webhook-id".to_owned(), SPEC_ID.to_owned()),
            ("webhook-timestamp".to_owned(), "1614265330".to_owned()),
            ("webhook-signature".to_owned(), SPEC_SIG.to_owned()),
        ]
    );
}

#[test]
fn github_example_verifies_and_signs() {
    let v = Verifier::new(Keyring::hex(GH_SECRET).unwrap())
        .with_signature_header("X-Hub-Signature-256");
    let headers = [("X-Hub-Signature-256", format!("sha256={GH_HEX}"))];
    assert_eq!(
        v.verify(&headers, GH_BODY).unwrap(),
        v.verify(&[("x-hub-signature-256", GH_HEX)], GH_BODY)
            .unwrap()
    );
    let verified = v.verify(&headers, GH_BODY).unwrap();
    assert_eq!((verified.id, verified.timestamp), (None, None));

    let signed = Signer::new(Keyring::hex(GH_SECRET).unwrap())
        .with_signature_header(HeaderName::from_static("x-hub-signature-256"))
        .sign("ignored", 0, GH_BODY)
        .unwrap();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].0.as_str(), "x-hub-signature-256");
    assert_eq!(signed[0].1.to_str().unwrap(), GH_HEX);
}

#[test]
fn ed25519_vector_verifies_with_public_and_secret_key() {
    let headers = [
        ("webhook-id", SPEC_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", ED_SIG),
    ];
    for secret in [ED_PUBLIC, ED_SEED] {
        let verified = spec_verifier(&[secret])
            .verify(&headers, SPEC_BODY)
            .unwrap();
        assert_eq!(verified.key_index, 0);
    }
    assert_eq!(public_key_for(ED_SEED).unwrap(), ED_PUBLIC);
    // ed25519 is deterministic: signing reproduces the OpenSSL signature.
    let signed = Signer::new(Keyring::standard(ED_SEED).unwrap())
        .sign(SPEC_ID, SPEC_TS, SPEC_BODY)
        .unwrap();
    assert_eq!(signed[2].1.to_str().unwrap(), ED_SIG);
    // Both signatures in one header, as the specification's example shows.
    let both = format!("{SPEC_SIG} {ED_SIG}");
    let headers = [
        ("webhook-id", SPEC_ID),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", both.as_str()),
    ];
    let v = spec_verifier(&[ED_PUBLIC]);
    assert!(v.verify(&headers, SPEC_BODY).is_ok());
    assert_eq!(
        v.verify(&headers, b"{}").unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}

#[test]
fn stripe_vector_verifies_and_signs() {
    let v = Verifier::new(Keyring::stripe(STRIPE_SECRET).unwrap()).with_clock(|| 1_492_774_577);
    let value = format!(
        "t=1492774577,v1={STRIPE_HEX},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    );
    let verified: Verified = v
        .verify(&[("Stripe-Signature", value.as_str())], STRIPE_BODY)
        .unwrap();
    assert_eq!(verified.timestamp, Some(1_492_774_577));
    let signed = Signer::new(Keyring::stripe(STRIPE_SECRET).unwrap())
        .sign("ignored", 1_492_774_577, STRIPE_BODY)
        .unwrap();
    assert_eq!(signed[0].0.as_str(), "stripe-signature");
    assert_eq!(
        signed[0].1.to_str().unwrap(),
        format!("t=1492774577,v1={STRIPE_HEX}")
    );
}
