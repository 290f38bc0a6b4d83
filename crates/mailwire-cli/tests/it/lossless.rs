//! `mailwire listen` is handed every event type in AgentMail's shapes and the odd but
//! real payloads (an empty `from`, an unclosed `<`, fields of the wrong type, a
//! payload that is not an object, a type nobody has seen), as webhooks signed the way
//! AgentMail signs them (Svix: `svix-id`, `svix-timestamp`, `svix-signature`): each
//! is answered 200 and printed once, its bytes unchanged; a second delivery of each
//! is answered 200 and not printed.

use crate::common;

use common::{HANG, Running};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `mailwire listen` receiving webhooks on a free port, and that address.
fn start() -> (Running, String) {
    let listener = Running::spawn(&[
        "listen",
        "--webhook-listen",
        "127.0.0.1:0",
        "--secret",
        SECRET,
        "--scheme",
        "standard",
    ]);
    let line = listener.stderr_line("webhooks: receiving on http://");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an address")
        .to_owned();
    (listener, addr)
}

/// POSTs a body signed with [`SECRET`] as Svix signs and returns the status code.
fn post(addr: &str, msg_id: &str, body: &[u8]) -> u16 {
    common::post_signed(addr, "/webhooks", SECRET, msg_id, body)
}

/// Every fixture of the wire-types crate: each event type in both envelopes and the
/// odd ones, with its event id.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    mailwire_proto::fixtures::ALL
        .iter()
        .map(|f| {
            let value: serde_json::Value = serde_json::from_slice(f.bytes).unwrap();
            let id = value["event_id"].as_str().or(value["id"].as_str()).unwrap();
            (id.to_owned(), f.bytes.to_vec())
        })
        .collect()
}

#[test]
fn every_event_type_and_odd_payload_is_answered_200_and_printed_once() {
    let all = fixtures();
    assert!(all.len() >= 48, "{} fixtures", all.len());
    let (listener, addr) = start();
    for round in 0..2 {
        for (i, (id, body)) in all.iter().enumerate() {
            // A new Svix message id per delivery, distinct from the event id.
            let status = post(&addr, &format!("msg_{round}_{i}"), body);
            assert_eq!(status, 200, "round {round}: {id}");
        }
    }
    // Copies of one received email (the same inbox and message in both envelopes)
    // are one event: the first copy is printed, the rest are duplicates.
    let mut seen = std::collections::HashSet::new();
    let expected: Vec<&(String, Vec<u8>)> = all
        .iter()
        .filter(|(_, body)| {
            let event = mailwire_proto::Event::parse(body.clone()).expect("an event");
            seen.insert(event.dedup_id().to_owned())
        })
        .collect();
    assert!(expected.len() < all.len(), "both envelopes of one email");
    for (id, body) in &expected {
        let line = listener.stdout.recv_timeout(HANG).expect("a line");
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(line["id"], id.as_str());
        assert_eq!(line["origin"], "webhook");
        let sent: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(line["event"], sent, "{id}: the event is the one sent");
    }
    // The second round was duplicates only: nothing more is printed.
    let summary = listener.interrupt();
    assert!(
        summary.contains(&format!("{} events printed", expected.len())),
        "{summary}"
    );
    assert!(
        listener.stdout.recv_timeout(HANG).is_err(),
        "nothing else printed"
    );
}

#[test]
fn a_body_that_is_not_an_envelope_is_the_only_400() {
    let (listener, addr) = start();
    for body in [
        &br#"{"event_type":"message.received","message":{}}"#[..],
        br#"{"type":"event","event_type":"message.received"}"#,
        br#"[1,2,3]"#,
        br#"{"type":"event""#,
    ] {
        assert_eq!(
            post(&addr, "msg_bad", body),
            400,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Refusals leave a trace on stderr (at most a line a second).
    let line = listener.stderr_line("webhooks: answered 400 to 127.0.0.1");
    assert!(!line.contains(SECRET), "{line}");
    let ok = br#"{"type":"event","event_type":"message.received","event_id":"evt_ok","message":7}"#;
    assert_eq!(post(&addr, "msg_ok", ok), 200);
    let line = listener.stdout.recv_timeout(HANG).expect("a line");
    assert!(line.contains("evt_ok"), "{line}");
}
