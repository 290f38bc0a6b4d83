//! A crowd of clients dropped by one restart does not come back all at once.

use std::time::Duration;

use mailwire_sim::{Retention, Simulator};
use mailwire_ws::{Backoff, WsConfig, WsSource};

use crate::common;
use common::{HANG, bounded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_spread_their_first_retries_by_jitter() {
    const CLIENTS: usize = 50;
    let base = Duration::from_millis(600);
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    // Each client draws from its own random seed, as in production.
    let backoff = Backoff::default().base(base).cap(base);
    let sources: Vec<WsSource> = (0..CLIENTS)
        .map(|_| WsSource::spawn(WsConfig::new(sim.ws_url()).backoff(backoff.clone())).unwrap())
        .collect();
    bounded("every client subscribed", sim.wait_subscribers(CLIENTS)).await;
    assert_eq!(sim.handshakes().len(), CLIENTS);

    sim.restart(Retention::Keep).await.unwrap();
    let back = tokio::time::timeout(HANG, sim.wait_handshakes(2 * CLIENTS as u64)).await;
    assert!(
        back.is_ok(),
        "only {:?} back; statuses: {:?}",
        sim.stats(),
        sources
            .iter()
            .map(|s| s.status().borrow().clone())
            .collect::<Vec<_>>()
    );
    let mut retries: Vec<_> = sim.handshakes()[CLIENTS..].iter().map(|h| h.at).collect();
    retries.sort();

    // Without jitter all fifty arrive within a few milliseconds of the restart.
    // With full jitter they spread over [0, base): the range of 50 uniform draws is
    // under a quarter of it with probability ~1e-28, and scheduling noise only
    // widens it.
    let spread = retries[CLIENTS - 1] - retries[0];
    assert!(
        spread >= base / 4,
        "first retries spread over only {spread:?}"
    );
    // And no burst: no 30 ms window (1/20 of the range) holds half of them. Noise can
    // bunch a few clients together; a herd is all of them.
    let window = Duration::from_millis(30);
    let densest = (0..CLIENTS)
        .map(|i| {
            retries[i..]
                .iter()
                .take_while(|t| **t - retries[i] <= window)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(densest < CLIENTS / 2, "{densest} retries within {window:?}");
    drop(sources);
}
