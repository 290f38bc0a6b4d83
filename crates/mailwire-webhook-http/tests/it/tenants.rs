//! Tenants over real loopback sockets: paths and keyrings of their own, routing
//! by pod and inbox, changes while traffic flows, rotation, budgets and stats.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use common::*;
use http::StatusCode;
use mailwire_webhook::{Keyring, Scheme, Verifier};
use mailwire_webhook_http::{
    ConfigError, Rate, RateLimits, Tenant, TenantConfig, Tenants, TenantsConfig, WebhookReceiver,
};

const ACME: &str = "whsec_dGVuYW50LWFjbWUtc2VjcmV0LTAwMDAx";
const ACME_NEW: &str = "whsec_dGVuYW50LWFjbWUtcm90YXRlZC0wMDAx";
const GLOBEX: &str = "whsec_dGVuYW50LWdsb2JleC1zZWNyZXQtMDAx";

fn tenant(id: &str, secret: &str) -> Tenant {
    Tenant::new(id, Verifier::new(Keyring::standard(secret).unwrap()))
}

/// The event `id`, signed with `secret`, POSTed to `path` from 127.0.0.`from`.
async fn post_to(
    from: u8,
    addr: std::net::SocketAddr,
    path: &str,
    secret: &str,
    id: &str,
) -> Reply {
    let body = event(id).raw().clone();
    post_from(
        ip(from),
        addr,
        path,
        sign_with(secret, &format!("msg_{id}"), &body),
        &body,
    )
    .await
}

#[tokio::test]
async fn each_tenant_path_verifies_with_its_own_keyring() {
    let tenants = Tenants::new();
    tenants.insert(tenant("acme", ACME)).unwrap();
    tenants
        .insert(tenant("globex", GLOBEX).path("/hooks/globex"))
        .unwrap();
    let (mut source, addr) = bind(receiver().tenants(tenants.clone())).await;

    let r = post_to(2, addr, "/webhooks/acme", ACME, "evt_1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let delivery = next(&mut source).await;
    assert_eq!(delivery.event.id(), "evt_1");
    assert_eq!(delivery.tenant.as_ref().unwrap(), "acme");

    // Another tenant's secret, or the receiver's own, is not acme's.
    let r = post_to(2, addr, "/webhooks/acme", GLOBEX, "evt_2").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = post_to(2, addr, "/webhooks/acme", SECRET, "evt_2").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A tenant with a path of its own is served there, not under the receiver's.
    let r = post_to(2, addr, "/hooks/globex", GLOBEX, "evt_3").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(next(&mut source).await.tenant.unwrap(), "globex");
    let r = post_to(2, addr, "/webhooks/globex", GLOBEX, "evt_4").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post_to(2, addr, "/webhooks/initech", GLOBEX, "evt_4").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The receiver's own path and keyring work as without tenants.
    let r = post_to(2, addr, PATH, SECRET, "evt_5").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(next(&mut source).await.tenant.is_none());

    let acme = tenants.stats("acme").unwrap();
    assert_eq!(
        (acme.accepted, acme.unauthorized, acme.requests()),
        (1, 2, 3)
    );
    let globex = tenants.stats("globex").unwrap();
    assert_eq!((globex.accepted, globex.requests()), (1, 1));
    let all = source.stats();
    assert_eq!((all.accepted, all.unauthorized, all.rejected), (3, 2, 2));
}

#[tokio::test]
async fn a_tenant_added_and_removed_while_traffic_flows() {
    let tenants = Tenants::new();
    tenants.insert(tenant("acme", ACME)).unwrap();
    let (mut source, addr) = bind(receiver().tenants(tenants.clone())).await;

    // acme's sender posts without pause until told to stop, then 20 more.
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut statuses = Vec::new();
            let mut started_tx = Some(started_tx);
            let mut extra = 20;
            for i in 0..5_000 {
                let r = post_to(2, addr, "/webhooks/acme", ACME, &format!("evt_acme_{i}")).await;
                statuses.push(r.status);
                if i == 10 {
                    let _ = started_tx.take().map(|tx| tx.send(()));
                }
                if stop.load(Ordering::SeqCst) {
                    extra -= 1;
                    if extra == 0 {
                        break;
                    }
                }
            }
            statuses
        }
    });
    tokio::time::timeout(HANG, started).await.unwrap().unwrap();

    // globex joins while acme's requests flow, is served, and leaves.
    tenants.insert(tenant("globex", GLOBEX)).unwrap();
    let r = post_to(3, addr, "/webhooks/globex", GLOBEX, "evt_globex_1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let stats = tenants.remove("globex").unwrap();
    assert_eq!(stats.accepted, 1);
    let r = post_to(3, addr, "/webhooks/globex", GLOBEX, "evt_globex_2").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(tenants.stats("globex").is_none());
    stop.store(true, Ordering::SeqCst);

    let statuses = traffic.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let mut acme = 0;
    let mut globex = 0;
    for _ in 0..statuses.len() + 1 {
        let delivery = next(&mut source).await;
        match delivery.tenant.as_ref().map(|t| t.as_str()) {
            Some("acme") => acme += 1,
            Some("globex") => {
                assert_eq!(delivery.event.id(), "evt_globex_1");
                globex += 1;
            }
            other => panic!("delivery of {other:?}"),
        }
    }
    assert_eq!((acme, globex), (statuses.len(), 1));
    assert_eq!(
        tenants.stats("acme").unwrap().accepted,
        statuses.len() as u64
    );
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_beside_the_old_one_then_alone() {
    let tenants = Tenants::new();
    tenants.insert(tenant("acme", ACME)).unwrap();
    let (mut source, addr) = bind(receiver().tenants(tenants.clone())).await;
    let path = "/webhooks/acme";
    assert_eq!(
        post_to(2, addr, path, ACME, "evt_1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        post_to(2, addr, path, ACME_NEW, "evt_2").await.status,
        StatusCode::UNAUTHORIZED
    );

    // During the rotation both secrets verify.
    let both = Keyring::new(Scheme::Standard, [ACME, ACME_NEW]).unwrap();
    tenants
        .update("acme", |t| t.verifier(Verifier::new(both)))
        .unwrap();
    assert_eq!(
        post_to(2, addr, path, ACME, "evt_3").await.status,
        StatusCode::OK
    );
    assert_eq!(
        post_to(2, addr, path, ACME_NEW, "evt_4").await.status,
        StatusCode::OK
    );

    // Once the sender signs with the new one, the old one is refused.
    let new = Keyring::standard(ACME_NEW).unwrap();
    tenants
        .update("acme", |t| t.verifier(Verifier::new(new)))
        .unwrap();
    assert_eq!(
        post_to(2, addr, path, ACME, "evt_5").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_to(2, addr, path, ACME_NEW, "evt_6").await.status,
        StatusCode::OK
    );

    for id in ["evt_1", "evt_3", "evt_4", "evt_6"] {
        assert_eq!(next(&mut source).await.event.id(), id);
    }
    // Its stats carried over both updates.
    let stats = tenants.stats("acme").unwrap();
    assert_eq!((stats.accepted, stats.unauthorized), (4, 2));
    assert!(matches!(
        tenants.update("initech", |t| t),
        Err(ConfigError::UnknownTenant(_))
    ));
}

#[tokio::test]
async fn a_tenant_budget_is_its_own() {
    let tenants = Tenants::new();
    let tight = RateLimits::off().per_address(Some(Rate::per_hour(2)));
    tenants.insert(tenant("acme", ACME).limits(tight)).unwrap();
    tenants.insert(tenant("globex", GLOBEX)).unwrap();
    let (_source, addr) = bind(receiver().tenants(tenants.clone())).await;
    for id in ["evt_1", "evt_2"] {
        let r = post_to(2, addr, "/webhooks/acme", ACME, id).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = post_to(2, addr, "/webhooks/acme", ACME, "evt_3").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    // The same address, another tenant: not limited.
    for i in 0..5 {
        let r = post_to(2, addr, "/webhooks/globex", GLOBEX, &format!("evt_g{i}")).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(tenants.stats("acme").unwrap().rate_limited, 1);
    assert_eq!(tenants.stats("globex").unwrap().rate_limited, 0);

    // Replacing the tenant with the same limits keeps its budget spent.
    tenants
        .update("acme", |t| {
            t.verifier(Verifier::new(Keyring::standard(ACME).unwrap()))
        })
        .unwrap();
    let r = post_to(2, addr, "/webhooks/acme", ACME, "evt_4").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn events_at_the_receivers_own_path_are_routed_by_pod_and_inbox() {
    let tenants = Tenants::new();
    tenants
        .insert(Tenant::routed("ada").inbox(mailwire_test::fixtures::INBOX))
        .unwrap();
    tenants
        .insert(Tenant::routed("pods").pod("pod_42"))
        .unwrap();
    let (mut source, addr) = bind(receiver().tenants(tenants.clone())).await;

    // A message event names its inbox.
    let r = post_to(2, addr, PATH, SECRET, "evt_1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(next(&mut source).await.tenant.unwrap(), "ada");

    // A domain event names its pod.
    let body = Bytes::from_static(
        br#"{"type":"event","event_type":"domain.verified","event_id":"evt_d","domain":{"pod_id":"pod_42","domain_id":"dom_1","domain":"example.com","status":"VERIFIED"}}"#,
    );
    let r = post_from(ip(2), addr, PATH, sign("msg_d", &body), &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(next(&mut source).await.tenant.unwrap(), "pods");

    // Another inbox belongs to no tenant.
    let other = mailwire_test::fixtures::message_received("evt_2", "bob@agentmail.to");
    let body = other.raw().clone();
    let r = post_from(ip(2), addr, PATH, sign("msg_2", &body), &body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(next(&mut source).await.tenant.is_none());

    // A tenant routed by inbox has no path of its own.
    let r = post_to(2, addr, "/webhooks/ada", SECRET, "evt_3").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(tenants.stats("ada").unwrap().accepted, 1);
    assert_eq!(tenants.stats("pods").unwrap().accepted, 1);
}

#[tokio::test]
async fn a_receiver_for_tenants_only_has_no_path_of_its_own() {
    let tenants = Tenants::new();
    tenants.insert(tenant("acme", ACME)).unwrap();
    let (mut source, addr) = bind(WebhookReceiver::for_tenants(tenants)).await;
    let r = post_to(2, addr, PATH, SECRET, "evt_1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post_to(2, addr, "/webhooks/acme", ACME, "evt_2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(next(&mut source).await.tenant.unwrap(), "acme");
}

#[tokio::test]
async fn a_reloaded_configuration_replaces_the_tenants_and_keeps_the_stats_of_those_kept() {
    let config = |ids: &[(&str, &str)]| {
        TenantsConfig::new(
            ids.iter()
                .map(|(id, secret)| TenantConfig::new(*id, Scheme::Standard, [*secret])),
        )
    };
    let tenants = Tenants::from_config(&config(&[("acme", ACME), ("globex", GLOBEX)])).unwrap();
    let (mut source, addr) = bind(receiver().tenants(tenants.clone())).await;
    let r = post_to(2, addr, "/webhooks/acme", ACME, "evt_1").await;
    assert_eq!(r.status, StatusCode::OK);
    drop(next(&mut source).await);

    // Reload: globex leaves, initech joins, acme rotates.
    let reloaded = config(&[("acme", ACME_NEW), ("initech", GLOBEX)]);
    tenants.replace_all(reloaded.to_tenants().unwrap()).unwrap();
    assert_eq!(tenants.ids(), ["acme", "initech"]);
    let r = post_to(2, addr, "/webhooks/globex", GLOBEX, "evt_2").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post_to(2, addr, "/webhooks/initech", GLOBEX, "evt_3").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = post_to(2, addr, "/webhooks/acme", ACME_NEW, "evt_4").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(tenants.stats("acme").unwrap().accepted, 2);

    // A refused reload changes nothing.
    let bad = config(&[("acme", ACME), ("acme", GLOBEX)]);
    assert!(matches!(
        tenants.replace_all(bad.to_tenants().unwrap()),
        Err(ConfigError::DuplicateTenant(_))
    ));
    assert_eq!(tenants.ids(), ["acme", "initech"]);
    let r = post_to(2, addr, "/webhooks/acme", ACME, "evt_5").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn tenant_configurations_are_checked() {
    let tenants = Tenants::new();
    let refused = |t: Tenant| tenants.insert(t).unwrap_err();
    assert!(matches!(
        refused(tenant("a/b", ACME)),
        ConfigError::InvalidTenantId(_)
    ));
    assert!(matches!(
        refused(tenant("", ACME)),
        ConfigError::InvalidTenantId(_)
    ));
    assert!(matches!(
        refused(tenant("acme", ACME).path("hooks")),
        ConfigError::InvalidPath(_)
    ));
    assert!(matches!(
        refused(Tenant::routed("lost")),
        ConfigError::Unroutable(_)
    ));
    tenants
        .insert(tenant("acme", ACME).path("/hooks/a").pod("pod_1"))
        .unwrap();
    assert!(matches!(
        refused(tenant("globex", GLOBEX).path("/hooks/a")),
        ConfigError::Taken { kind: "path", .. }
    ));
    assert!(matches!(
        refused(tenant("globex", GLOBEX).pod("pod_1")),
        ConfigError::Taken { kind: "pod", .. }
    ));
    // Re-inserting the same tenant with the same routes replaces it.
    assert!(
        tenants
            .insert(tenant("acme", ACME).path("/hooks/a"))
            .unwrap()
    );

    // A configuration with a bad secret is refused, and says which tenant.
    let config: TenantsConfig =
        serde_json::from_str(r#"{"tenant": [{"id": "acme", "secrets": ["not-a-whsec"]}]}"#)
            .unwrap();
    let err = config.to_tenants().unwrap_err();
    assert!(err.to_string().contains("acme"), "{err}");
    assert!(!format!("{config:?}").contains("not-a-whsec"));
    // Unknown fields and bad rates are refused when parsed.
    assert!(
        serde_json::from_str::<TenantsConfig>(r#"{"tenant": [{"id": "a", "secret": "x"}]}"#)
            .is_err()
    );
    assert!(
        serde_json::from_str::<TenantsConfig>(
            r#"{"tenant": [{"id": "a", "secrets": [], "limits": {"total": "fast"}}]}"#
        )
        .is_err()
    );
}
