//! `mailwire listen --tenants FILE`: one receiver and one merge for several
//! tenants, each with its own secret and path, one also on a WebSocket of its own;
//! the file rewritten while it runs (a secret rotated, a tenant added, one removed
//! with its WebSocket), and read again on SIGHUP: no restart, every line saying its
//! tenant.

use crate::common;

use common::{Running, free_port, post_email, post_signed};

const KEY: &str = "sk_tenants";
const ACME: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ACME_NEW: &str = "whsec_QUNNRSBuZXcgc2VjcmV0IGZvciB0ZXN0cyEh";
const GLOBEX: &str = "whsec_R0xPQkVYIHNlY3JldCBmb3IgdGhlIHRlc3Q=";
const INITECH: &str = "whsec_SU5JVEVDSCBzZWNyZXQgZm9yIHRoZSB0ZXN0";

fn event(id: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"event","event_type":"message.received","event_id":"{id}","message":{{"inbox_id":"x@agentmail.to","message_id":"<{id}@x>","subject":"{id}"}}}}"#
    )
    .into_bytes()
}

/// The next line printed: its id and tenant.
fn next(listen: &Running) -> (String, String) {
    let line = listen.stdout_line();
    (
        line["id"].as_str().unwrap_or_default().to_owned(),
        line["tenant"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn tenants_are_served_rotated_added_and_removed_without_a_restart() {
    let (_dev, base) = common::dev(&["--api-key", KEY]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.toml");
    let ws = common::ws_url(&base);
    std::fs::write(
        &file,
        format!(
            "[[tenant]]\nid = \"acme\"\nsecrets = [\"{ACME}\"]\n\n\
             [[tenant]]\nid = \"globex\"\nsecrets = [\"{GLOBEX}\"]\n\
             [tenant.websocket]\nurl = \"{ws}\"\napi_key_env = \"GLOBEX_API_KEY\"\n"
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let listen = Running::spawn_with(
        &[
            "listen",
            "--tenants",
            file.to_str().unwrap(),
            "--webhook-listen",
            &addr,
        ],
        &[("GLOBEX_API_KEY", KEY)],
    );
    listen.stderr_line("tenants: 2 from");
    listen.stderr_line("webhooks: tenant acme on http://");
    // Printed by the tenant's own task, which may subscribe before the receiver's
    // lines are printed.
    listen.stderr_seen("tenant globex: websocket subscribed");

    // Each tenant at its own path with its own secret; the other's secret fails.
    assert_eq!(
        post_signed(&addr, "/webhooks/acme", ACME, "msg_1", &event("evt_a1")),
        200
    );
    assert_eq!(next(&listen), ("evt_a1".into(), "acme".into()));
    assert_eq!(
        post_signed(&addr, "/webhooks/acme", GLOBEX, "msg_2", &event("evt_x")),
        401
    );
    // The refusal leaves one line on stderr, naming the tenant, never the secret.
    let refused = listen.stderr_line("webhooks: answered 401 to 127.0.0.1 for tenant acme");
    assert!(
        !refused.contains(GLOBEX) && !refused.contains(ACME),
        "{refused}"
    );
    assert_eq!(
        post_signed(&addr, "/webhooks", ACME, "msg_3", &event("evt_x")),
        404
    );
    // Globex's own WebSocket: an email arriving at the service.
    let answer = post_email(&base, KEY, "ada@agentmail.to", "for globex");
    let sent: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let (id, tenant) = next(&listen);
    assert_eq!(
        (id.as_str(), tenant.as_str()),
        (sent["event_id"].as_str().unwrap(), "globex")
    );

    // Rewritten while running: acme rotates to a new secret (the old one kept for
    // the rotation), initech arrives, globex leaves with its WebSocket.
    std::fs::write(
        &file,
        format!(
            "[[tenant]]\nid = \"acme\"\nsecrets = [\"{ACME_NEW}\", \"{ACME}\"]\n\n\
             [[tenant]]\nid = \"initech\"\nsecrets = [\"{INITECH}\"]\n"
        ),
    )
    .unwrap();
    let lines = listen.stderr_until("tenants: reloaded (the file changed)");
    let reloaded = lines.last().unwrap();
    assert!(
        reloaded.contains("2 tenants, 1 added, 1 removed"),
        "{reloaded}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("tenant globex: websocket closed")),
        "{lines:#?}"
    );
    assert_eq!(
        post_signed(&addr, "/webhooks/acme", ACME_NEW, "msg_4", &event("evt_a2")),
        200
    );
    assert_eq!(next(&listen), ("evt_a2".into(), "acme".into()));
    assert_eq!(
        post_signed(&addr, "/webhooks/acme", ACME, "msg_5", &event("evt_a3")),
        200
    );
    assert_eq!(next(&listen), ("evt_a3".into(), "acme".into()));
    assert_eq!(
        post_signed(
            &addr,
            "/webhooks/initech",
            INITECH,
            "msg_6",
            &event("evt_i1")
        ),
        200
    );
    assert_eq!(next(&listen), ("evt_i1".into(), "initech".into()));
    assert_eq!(
        post_signed(&addr, "/webhooks/globex", GLOBEX, "msg_7", &event("evt_g")),
        404
    );

    // The rotation ends: the old secret is refused. A file that cannot be used
    // changes nothing; SIGHUP reads it again.
    std::fs::write(
        &file,
        "[[tenant]]\nid = \"acme\"\nsecrets = [\"not base64!\"]\n",
    )
    .unwrap();
    let refused = listen.stderr_line("tenants: not reloaded");
    assert!(
        !refused.contains("not base64!"),
        "the secret is not printed: {refused}"
    );
    assert_eq!(
        post_signed(
            &addr,
            "/webhooks/initech",
            INITECH,
            "msg_8",
            &event("evt_i2")
        ),
        200
    );
    assert_eq!(next(&listen), ("evt_i2".into(), "initech".into()));
    std::fs::write(
        &file,
        format!("[[tenant]]\nid = \"acme\"\nsecrets = [\"{ACME_NEW}\"]\n"),
    )
    .unwrap();
    listen.stderr_line("tenants: reloaded");
    listen.signal("HUP");
    listen.stderr_line("tenants: reloaded (SIGHUP)");
    assert_eq!(
        post_signed(&addr, "/webhooks/acme", ACME, "msg_9", &event("evt_a4")),
        401
    );
    assert_eq!(
        post_signed(
            &addr,
            "/webhooks/initech",
            INITECH,
            "msg_10",
            &event("evt_i3")
        ),
        404
    );
    assert_eq!(
        post_signed(
            &addr,
            "/webhooks/acme",
            ACME_NEW,
            "msg_11",
            &event("evt_a5")
        ),
        200
    );
    assert_eq!(next(&listen), ("evt_a5".into(), "acme".into()));
    let summary = listen.interrupt();
    assert!(summary.contains("stopped: 7 events printed"), "{summary}");
}
