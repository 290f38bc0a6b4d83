//! The shared EventSource conformance suite, run against WsSource and the simulator.

use crate::common;

use common::*;
use mailwire_proto::Event;
use mailwire_sim::Simulator;
use mailwire_source::async_trait;
use mailwire_test::conformance::{self, Check, Harness, Outcome};
use mailwire_ws::{Shutdown, WsSource};

#[derive(Default)]
struct WsHarness {
    sim: Option<Simulator>,
    shutdown: Option<Shutdown>,
}

impl WsHarness {
    fn sim(&self) -> &Simulator {
        self.sim.as_ref().expect("started")
    }
}

#[async_trait]
impl Harness for WsHarness {
    type Source = WsSource;

    async fn start(&mut self) -> WsSource {
        let sim = Simulator::builder()
            .api_key("sk_suite")
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let source = WsSource::spawn(config(&sim).api_key("sk_suite")).unwrap();
        subscribed(&source).await;
        self.shutdown = Some(source.shutdown_handle());
        self.sim = Some(sim);
        source
    }

    async fn emit(&mut self, events: &[Event]) {
        self.sim().emit_all(events.iter().cloned());
    }

    async fn end(&mut self) -> bool {
        self.shutdown.as_ref().expect("started").shutdown();
        true
    }

    /// The service revokes the key mid-stream.
    async fn fail(&mut self) -> bool {
        self.sim().faults().send_raw(
            r#"{"type":"error","name":"AuthenticationError","message":"API key revoked"}"#,
        );
        true
    }

    /// Nothing to settle without checkpoints (tests/checkpoints.rs covers the ack
    /// watermark, whose point moves only once every earlier event is acked, which
    /// this check's out-of-order acks do not give).
    async fn ack_reached(&mut self, _id: &str) -> bool {
        false
    }
}

#[tokio::test]
async fn ws_source_passes_the_conformance_suite() {
    let report = conformance::run_all(WsHarness::default).await;
    assert_eq!(
        report.outcome(Check::Ack),
        Some(&Outcome::NotApplicable("the source has nothing to settle"))
    );
    for check in [
        Check::Order,
        Check::EndOfStream,
        Check::Fatal,
        Check::CancelInFlight,
    ] {
        assert_eq!(report.outcome(check), Some(&Outcome::Passed), "{check}");
    }
}
