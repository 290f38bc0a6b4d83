//! Property tests: `sign` → `verify` round trips for every scheme, and the
//! parsers never panic on arbitrary header values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mailwire_webhook::{HeaderNames, Keyring, Scheme, Signer, Verifier, VerifyError};
use proptest::prelude::*;

fn scheme_and_secrets() -> impl Strategy<Value = (Scheme, Vec<String>)> {
    let raw = proptest::collection::vec("[!-~]{1,40}", 1..4);
    let whsec = proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..64)
            .prop_map(|k| format!("whsec_{}", STANDARD.encode(k))),
        1..4,
    );
    let whsk = proptest::collection::vec(any::<[u8; 32]>(), 1..3).prop_map(|seeds| {
        seeds
            .iter()
            .map(|s| format!("whsk_{}", STANDARD.encode(s)))
            .collect()
    });
    prop_oneof![
        raw.clone().prop_map(|s| (Scheme::Hex, s)),
        raw.prop_map(|s| (Scheme::Stripe, s)),
        whsec.prop_map(|s| (Scheme::Standard, s)),
        whsk.prop_map(|s| (Scheme::Standard, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify(
        (scheme, secrets) in scheme_and_secrets(),
        id in "[!-~]{1,64}",
        ts in 0i64..=i64::MAX,
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        flip in any::<prop::sample::Index>(),
        names in prop_oneof![Just(HeaderNames::Webhook), Just(HeaderNames::Svix)],
    ) {
        let headers = Signer::new(Keyring::new(scheme, &secrets).unwrap())
            .with_header_names(names)
            .sign(&id, ts, &body)
            .unwrap();
        if scheme == Scheme::Standard {
            let written: Vec<_> = headers.iter().map(|(name, _)| name.clone()).collect();
            prop_assert_eq!(written, vec![names.id(), names.timestamp(), names.signature()]);
        }
        let verifier = Verifier::new(Keyring::new(scheme, &secrets).unwrap()).with_clock(move || ts);
        let verified = verifier.verify(&headers, &body).unwrap();
        prop_assert_eq!(verified.key_index, 0);
        prop_assert_eq!(verified.scheme, scheme);
        match scheme {
            Scheme::Standard => {
                prop_assert_eq!(verified.id.as_deref(), Some(id.as_str()));
                prop_assert_eq!(verified.timestamp, Some(ts));
            }
            Scheme::Stripe => prop_assert_eq!(verified.timestamp, Some(ts)),
            _ => prop_assert_eq!(verified.timestamp, None),
        }
        // Any later secret alone also verifies (rotation), except for hex,
        // which carries only the first secret's MAC.
        if secrets.len() > 1 && scheme != Scheme::Hex {
            let last = Verifier::new(Keyring::new(scheme, &secrets[secrets.len() - 1..]).unwrap())
                .with_clock(move || ts);
            prop_assert!(last.verify(&headers, &body).is_ok());
        }
        if !body.is_empty() {
            let mut changed = body.clone();
            changed[flip.index(body.len())] ^= 0x80;
            prop_assert_eq!(verifier.verify(&headers, &changed).unwrap_err(), VerifyError::NoMatchingSignature);
        }
    }

    #[test]
    fn verify_never_panics_on_arbitrary_headers(
        (scheme, secrets) in scheme_and_secrets(),
        names in proptest::collection::vec(
            prop_oneof![
                Just("webhook-id".to_owned()), Just("webhook-timestamp".to_owned()),
                Just("webhook-signature".to_owned()), Just("svix-signature".to_owned()),
                Just("x-signature".to_owned()), Just("stripe-signature".to_owned()),
                "[a-z-]{1,20}",
            ],
            0..6,
        ),
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 6),
        now in any::<i64>(),
    ) {
        let headers: Vec<(&str, &[u8])> = names.iter().zip(&values).map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let verifier = Verifier::new(Keyring::new(scheme, &secrets).unwrap()).with_clock(move || now);
        // An attacker without the key never gets Ok.
        let rejected = verifier.verify(&headers, b"{}").is_err();
        prop_assert!(rejected);
    }

    #[test]
    fn signature_header_parsers_never_panic(value in proptest::collection::vec(any::<u8>(), 0..512)) {
        mailwire_webhook::fuzzing::signature_header(&value);
    }
}
