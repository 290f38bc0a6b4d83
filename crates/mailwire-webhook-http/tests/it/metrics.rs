//! What the receiver counts through the `metrics` facade, read back from a
//! real recorder after real requests over loopback.
//!
//! The recorder is installed for this test's thread only, and the receiver runs
//! on a current-thread runtime on that thread: its server and connection tasks
//! count into it, and no other test's requests do.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use common::*;
use http::StatusCode;
use mailwire_webhook_http::{Rate, RateLimits, Tenant, Tenants};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// `name{k=v,...}` with the labels sorted, as the assertions spell series.
fn series(key: &metrics_util::CompositeKey) -> String {
    let mut labels: Vec<String> = key
        .key()
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.key().name(), labels.join(","))
}

async fn valid(from: u8, addr: std::net::SocketAddr, path: &str, id: &str) -> Reply {
    let body = event(id).raw().clone();
    post_from(
        ip(from),
        addr,
        path,
        sign(&format!("msg_{id}"), &body),
        &body,
    )
    .await
}

async fn forged(from: u8, addr: std::net::SocketAddr, id: &str) -> Reply {
    let body = event(id).raw().clone();
    post_from(
        ip(from),
        addr,
        PATH,
        bad_signature(&format!("msg_{id}"), &body),
        &body,
    )
    .await
}

#[test]
fn counts_match_the_requests_sent() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let stats = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let log = FlakyLog::default();
            let tenants = Tenants::new();
            tenants
                .insert(
                    Tenant::new("acme", verifier())
                        .limits(RateLimits::off().per_address(Some(Rate::per_hour(1)))),
                )
                .unwrap();
            let limits = RateLimits::default().failures_per_address(Some(Rate::per_hour(1)));
            let (mut source, addr) = bind(
                receiver()
                    .store(log.clone())
                    .tenants(tenants)
                    .rate_limits(limits),
            )
            .await;

            for id in ["evt_1", "evt_2", "evt_3"] {
                assert_eq!(valid(3, addr, PATH, id).await.status, StatusCode::OK);
            }
            // Another delivery of evt_1: a duplicate.
            let body = event("evt_1").raw().clone();
            let r = post_from(ip(3), addr, PATH, sign("msg_again", &body), &body).await;
            assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "duplicate"));

            // Two failures spend 127.0.0.2's budget of one; the next is shut out.
            for i in 0..2 {
                let r = forged(2, addr, &format!("evt_forged_{i}")).await;
                assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            }
            let r = forged(2, addr, "evt_forged_2").await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

            let get = raw_exchange(
                addr,
                b"GET /webhooks HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            )
            .await;
            assert_eq!(parse_reply(&get).status, StatusCode::METHOD_NOT_ALLOWED);
            let r = valid(3, addr, "/elsewhere", "evt_4").await;
            assert_eq!(r.status, StatusCode::NOT_FOUND);

            // The tenant's budget of one per address.
            let r = valid(4, addr, "/webhooks/acme", "evt_acme_1").await;
            assert_eq!(r.status, StatusCode::OK);
            let r = valid(4, addr, "/webhooks/acme", "evt_acme_2").await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

            // The store fails: 503, and its append is timed as an error.
            log.failing.store(true, Ordering::SeqCst);
            let r = valid(3, addr, PATH, "evt_5").await;
            assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);

            for _ in 0..4 {
                next(&mut source).await.ack().await.unwrap();
            }
            source.stats()
        })
    });

    let mut counters = HashMap::new();
    let mut histograms = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        match value {
            DebugValue::Counter(n) => {
                counters.insert(series(&key), n);
            }
            DebugValue::Histogram(values) => {
                histograms.insert(series(&key), values);
            }
            DebugValue::Gauge(_) => {}
        }
    }
    let requests = |outcome: &str, status: u16, tenant: &str| {
        let name = format!(
            "mailwire_webhook_requests_total{{outcome={outcome},status={status},tenant={tenant}}}"
        );
        counters.get(&name).copied().unwrap_or(0)
    };
    assert_eq!(requests("accepted", 200, ""), 3, "{counters:#?}");
    assert_eq!(requests("duplicate", 200, ""), 1);
    assert_eq!(requests("unauthorized", 401, ""), 2);
    assert_eq!(requests("rate_limited", 429, ""), 1);
    assert_eq!(requests("rejected", 405, ""), 1);
    assert_eq!(requests("rejected", 404, ""), 1);
    assert_eq!(requests("accepted", 200, "acme"), 1);
    assert_eq!(requests("rate_limited", 429, "acme"), 1);
    assert_eq!(requests("unavailable", 503, ""), 1);
    // Nothing else was counted, and the sum is what the receiver's stats say.
    let total: u64 = counters
        .iter()
        .filter(|(name, _)| name.starts_with("mailwire_webhook_requests_total{"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 12);
    assert_eq!(total, stats.requests());

    let budget = |b: &str| {
        counters
            .get(&format!(
                "mailwire_webhook_rate_limited_total{{budget={b}}}"
            ))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!((budget("failures"), budget("tenant")), (1, 1));
    assert_eq!((budget("per_address"), budget("total")), (0, 0));

    // Five appends went through (three new, the duplicate, acme's), one failed.
    let appends = |outcome: &str| {
        histograms
            .get(&format!(
                "mailwire_webhook_store_seconds{{outcome={outcome}}}"
            ))
            .map_or(0, Vec::len)
    };
    assert_eq!((appends("ok"), appends("error")), (5, 1), "{histograms:#?}");
    for values in histograms.values() {
        assert!(values.iter().all(|v| v.into_inner() >= 0.0));
    }
}

#[test]
fn the_per_address_and_total_budgets_are_told_apart() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let limits = RateLimits::off()
                .per_address(Some(Rate::per_hour(1)))
                .total(Some(Rate::per_hour(2)));
            let (_source, addr) = bind(receiver().rate_limits(limits)).await;
            assert_eq!(valid(2, addr, PATH, "evt_1").await.status, StatusCode::OK);
            // 127.0.0.2's own budget is spent; 127.0.0.3 spends the total's last.
            let r = valid(2, addr, PATH, "evt_2").await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(valid(3, addr, PATH, "evt_3").await.status, StatusCode::OK);
            let r = valid(4, addr, PATH, "evt_4").await;
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        })
    });
    let counters: HashMap<String, u64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => Some((series(&key), n)),
            _ => None,
        })
        .collect();
    let budget = |b: &str| {
        counters
            .get(&format!(
                "mailwire_webhook_rate_limited_total{{budget={b}}}"
            ))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        (budget("per_address"), budget("total")),
        (1, 1),
        "{counters:#?}"
    );
    assert_eq!(
        counters.get("mailwire_webhook_requests_total{outcome=rate_limited,status=429,tenant=}"),
        Some(&2)
    );
}
