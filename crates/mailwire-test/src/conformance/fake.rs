//! The harness of [`FakeSource`]: the suite's reference implementation, and an
//! example of a [`Harness`] in full.

use async_trait::async_trait;
use mailwire_proto::Event;
use mailwire_source::SourceError;

use super::Harness;
use crate::{FakeHandle, FakeSource};

/// Runs the suite against [`FakeSource`].
#[derive(Debug, Default)]
pub struct FakeHarness {
    handle: Option<FakeHandle>,
}

impl FakeHarness {
    /// A harness with no source started yet.
    pub fn new() -> FakeHarness {
        FakeHarness::default()
    }

    fn handle(&self) -> &FakeHandle {
        self.handle
            .as_ref()
            .expect("FakeHarness: start() was not called")
    }
}

#[async_trait]
impl Harness for FakeHarness {
    type Source = FakeSource;

    async fn start(&mut self) -> FakeSource {
        let (source, handle) = FakeSource::new();
        self.handle = Some(handle);
        source
    }

    async fn emit(&mut self, events: &[Event]) {
        self.handle().push_all(events.iter().cloned());
    }

    async fn end(&mut self) -> bool {
        self.handle().end();
        true
    }

    async fn fail(&mut self) -> bool {
        self.handle().fail(SourceError::auth("API key revoked"));
        true
    }

    async fn ack_reached(&mut self, id: &str) -> bool {
        self.handle().wait_for_ack(id).await;
        true
    }
}
