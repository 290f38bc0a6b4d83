//! The shared EventSource conformance suite, run on merges: of one fake, of two fakes
//! carrying the same events, nested, and with stores.

use std::sync::Arc;

use mailwire_merge::Merge;
use mailwire_proto::Event;
use mailwire_source::{EventSourceExt, Origin, SourceError, async_trait};
use mailwire_store::MemoryStore;
use mailwire_test::conformance::{self, Harness};
use mailwire_test::{FakeHandle, FakeSource};

/// How the merge under test is built around its fakes.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// One fake.
    Single,
    /// Two fakes that both receive every event.
    Twins,
    /// A merge of a merge of one fake.
    Nested,
    /// One fake, with a memory log and seen-set.
    Stored,
}

struct MergeHarness {
    shape: Shape,
    handles: Vec<FakeHandle>,
}

impl MergeHarness {
    fn new(shape: Shape) -> MergeHarness {
        MergeHarness {
            shape,
            handles: Vec::new(),
        }
    }

    fn fake(&mut self, name: &'static str, origin: Origin) -> FakeSource {
        // Twins: the merge never has to take the copy it does not need, so a strict
        // fake would complain at the end of a check.
        let builder = FakeSource::builder().name(name).origin(origin);
        let builder = match self.shape {
            Shape::Twins => builder.lenient(),
            _ => builder,
        };
        let (source, handle) = builder.build();
        self.handles.push(handle);
        source
    }
}

#[async_trait]
impl Harness for MergeHarness {
    type Source = Merge;

    async fn start(&mut self) -> Merge {
        match self.shape {
            Shape::Single => Merge::builder()
                .source(self.fake("ws", Origin::WebSocket))
                .build(),
            Shape::Twins => Merge::builder()
                .source(self.fake("ws", Origin::WebSocket))
                .source(self.fake("hooks", Origin::Webhook))
                .build(),
            Shape::Nested => {
                let inner = Merge::builder()
                    .source(self.fake("ws", Origin::WebSocket))
                    .build();
                Merge::new([inner.boxed()])
            }
            Shape::Stored => {
                let store = Arc::new(MemoryStore::new());
                Merge::builder()
                    .source(self.fake("ws", Origin::WebSocket))
                    .store(store)
                    .build()
            }
        }
    }

    async fn emit(&mut self, events: &[Event]) {
        for handle in &self.handles {
            handle.push_all(events.iter().cloned());
        }
    }

    async fn end(&mut self) -> bool {
        for handle in &self.handles {
            handle.end();
        }
        true
    }

    async fn fail(&mut self) -> bool {
        for handle in &self.handles {
            handle.fail(SourceError::auth("API key revoked"));
        }
        true
    }

    async fn ack_reached(&mut self, id: &str) -> bool {
        // The copy that won is acked in its source: whichever one it was.
        let waits = self.handles.iter().map(|h| Box::pin(h.wait_for_ack(id)));
        futures::future::select_all(waits).await;
        true
    }
}

#[tokio::test]
async fn merge_of_one_fake_passes_the_suite() {
    let report = conformance::run_all(|| MergeHarness::new(Shape::Single)).await;
    assert!(report.all_passed(), "{report}");
}

#[tokio::test]
async fn merge_of_two_fakes_with_the_same_events_passes_the_suite() {
    let report = conformance::run_all(|| MergeHarness::new(Shape::Twins)).await;
    assert!(report.all_passed(), "{report}");
}

#[tokio::test]
async fn nested_merge_passes_the_suite() {
    let report = conformance::run_all(|| MergeHarness::new(Shape::Nested)).await;
    assert!(report.all_passed(), "{report}");
}

#[tokio::test]
async fn merge_with_log_and_seen_set_passes_the_suite() {
    let report = conformance::run_all(|| MergeHarness::new(Shape::Stored)).await;
    assert!(report.all_passed(), "{report}");
}
