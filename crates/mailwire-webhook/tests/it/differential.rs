//! Differential tests: the `svix` and `standardwebhooks` crates sign, we
//! verify; we sign, they verify; and all three agree on tampered input.
//!
//! Both peers read the wall clock, so messages are stamped with the current
//! time (well inside every tolerance); nothing here measures time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use mailwire_webhook::{
    Clock, HeaderNames, Keyring, Signer, SystemClock, Verifier, VerifyError, new_message_id,
};
use proptest::prelude::*;

fn now() -> i64 {
    SystemClock.now_unix()
}

fn to_map(pairs: &[(HeaderName, HeaderValue)]) -> HeaderMap {
    pairs.iter().cloned().collect()
}

fn peer_headers(prefix: &str, id: &str, ts: i64, sig: &str) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (name, value) in [
        ("id", id.to_owned()),
        ("timestamp", ts.to_string()),
        ("signature", sig.to_owned()),
    ] {
        m.insert(
            HeaderName::from_bytes(format!("{prefix}-{name}").as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    m
}

fn secret_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 1..64)
        .prop_map(|key| format!("whsec_{}", STANDARD.encode(key)))
}

fn id_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn peers_sign_we_verify(secret in secret_strategy(), id in id_strategy(), body in ".{0,512}") {
        let ts = now();
        let ours = Verifier::new(Keyring::standard(&secret).unwrap());

        let sig = svix::webhooks::Webhook::new(&secret).unwrap().sign(&id, ts, body.as_bytes()).unwrap();
        for prefix in ["svix", "webhook"] {
            let v = ours.verify(&peer_headers(prefix, &id, ts, &sig), body.as_bytes()).unwrap();
            prop_assert_eq!(v.id.as_deref(), Some(id.as_str()));
            prop_assert_eq!(v.timestamp, Some(ts));
        }

        let sig2 = standardwebhooks::Webhook::new(&secret).unwrap().sign(&id, ts, body.as_bytes()).unwrap();
        prop_assert_eq!(&sig, &sig2);
        prop_assert!(ours.verify(&peer_headers("webhook", &id, ts, &sig2), body.as_bytes()).is_ok());
    }

    #[test]
    fn we_sign_peers_verify(secret in secret_strategy(), id in id_strategy(), body in ".{0,512}") {
        let ts = now();
        let headers = to_map(&Signer::new(Keyring::standard(&secret).unwrap()).sign(&id, ts, body.as_bytes()).unwrap());
        prop_assert!(svix::webhooks::Webhook::new(&secret).unwrap().verify(body.as_bytes(), &headers).is_ok());
        prop_assert!(standardwebhooks::Webhook::new(&secret).unwrap().verify(body.as_bytes(), &headers).is_ok());
    }

    /// Signed as AgentMail's webhooks are (`svix-*` names, a fresh `msg_`
    /// id), the headers verify with the official `svix` crate, which reads
    /// the `svix-*` names first; no `webhook-*` header is there to fall
    /// back on.
    #[test]
    fn svix_verifies_what_we_sign_under_its_names(secret in secret_strategy(), body in ".{0,512}") {
        let ts = now();
        let id = new_message_id().unwrap();
        let signed = Signer::new(Keyring::standard(&secret).unwrap())
            .with_header_names(HeaderNames::Svix)
            .sign(&id, ts, body.as_bytes())
            .unwrap();
        let headers = to_map(&signed);
        let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        prop_assert_eq!(names, ["svix-id", "svix-timestamp", "svix-signature"]);
        prop_assert_eq!(&headers["svix-id"], id.as_str());
        let svix = svix::webhooks::Webhook::new(&secret).unwrap();
        prop_assert!(svix.verify(body.as_bytes(), &headers).is_ok());
        // svix checks the id it reads: another one fails there.
        let mut other = headers.clone();
        other.insert("svix-id", HeaderValue::from_str(&new_message_id().unwrap()).unwrap());
        prop_assert!(svix.verify(body.as_bytes(), &other).is_err());
    }

    #[test]
    fn all_three_refuse_a_changed_body(
        secret in secret_strategy(),
        id in id_strategy(),
        body in ".{1,256}",
        other in ".{0,256}",
    ) {
        prop_assume!(body != other);
        let ts = now();
        let headers = to_map(&Signer::new(Keyring::standard(&secret).unwrap()).sign(&id, ts, body.as_bytes()).unwrap());
        let ours = Verifier::new(Keyring::standard(&secret).unwrap());
        prop_assert_eq!(ours.verify(&headers, other.as_bytes()).unwrap_err(), VerifyError::NoMatchingSignature);
        prop_assert!(svix::webhooks::Webhook::new(&secret).unwrap().verify(other.as_bytes(), &headers).is_err());
        prop_assert!(standardwebhooks::Webhook::new(&secret).unwrap().verify(other.as_bytes(), &headers).is_err());
    }

    #[test]
    fn all_three_refuse_a_different_secret(
        secret in secret_strategy(),
        wrong in secret_strategy(),
        id in id_strategy(),
        body in ".{0,256}",
    ) {
        prop_assume!(STANDARD.decode(&secret[6..]).unwrap() != STANDARD.decode(&wrong[6..]).unwrap());
        let ts = now();
        let sig = svix::webhooks::Webhook::new(&secret).unwrap().sign(&id, ts, body.as_bytes()).unwrap();
        let headers = peer_headers("webhook", &id, ts, &sig);
        let ours = Verifier::new(Keyring::standard(&wrong).unwrap());
        prop_assert_eq!(ours.verify(&headers, body.as_bytes()).unwrap_err(), VerifyError::NoMatchingSignature);
        prop_assert!(svix::webhooks::Webhook::new(&wrong).unwrap().verify(body.as_bytes(), &headers).is_err());
    }

    /// Whatever a peer accepts with a well-formed id and timestamp, we accept
    /// too when the signature header is exactly what a peer produces: the
    /// extra strictness is in parsing, not in the MAC.
    #[test]
    fn rotated_headers_from_peers_verify(
        a in secret_strategy(),
        b in secret_strategy(),
        id in id_strategy(),
        body in ".{0,128}",
    ) {
        let ts = now();
        let sa = svix::webhooks::Webhook::new(&a).unwrap().sign(&id, ts, body.as_bytes()).unwrap();
        let sb = standardwebhooks::Webhook::new(&b).unwrap().sign(&id, ts, body.as_bytes()).unwrap();
        let headers = peer_headers("webhook", &id, ts, &format!("{sa} {sb}"));
        let only_b = Verifier::new(Keyring::standard(&b).unwrap());
        prop_assert!(only_b.verify(&headers, body.as_bytes()).is_ok());
        prop_assert!(svix::webhooks::Webhook::new(&b).unwrap().verify(body.as_bytes(), &headers).is_ok());
    }
}
