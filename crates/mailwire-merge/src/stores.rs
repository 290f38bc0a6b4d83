//! The durable side of a merge: an event log and a seen-set, both optional.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mailwire_proto::Event;
use mailwire_store::{EventLog, SeenSet, StoreError};

/// The stores a merge writes through. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Stores {
    pub(crate) log: Option<Arc<dyn EventLog>>,
    pub(crate) seen: Option<Arc<dyn SeenSet>>,
    pub(crate) seen_ttl: Duration,
}

/// What the stores say about an event that is new to this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not processed before: logged (when there is a log), to be delivered.
    Fresh,
    /// Processed before this process started (the seen-set knows it).
    Seen,
}

impl Stores {
    pub(crate) fn is_empty(&self) -> bool {
        self.log.is_none() && self.seen.is_none()
    }

    /// Checks the seen-set, then logs the event (unless it came from the log), so
    /// that once it is delivered a crash before its ack replays it.
    pub(crate) async fn admit(&self, event: &Event, from_log: bool) -> Result<Verdict, StoreError> {
        if let Some(seen) = &self.seen
            && seen.contains(event.id()).await?
        {
            return Ok(Verdict::Seen);
        }
        if let Some(log) = &self.log
            && !from_log
        {
            // Idempotent: `false` when a webhook receiver sharing the log had it first.
            log.append(event).await?;
        }
        Ok(Verdict::Fresh)
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("log", &self.log.is_some())
            .field("seen", &self.seen.is_some())
            .field("seen_ttl", &self.seen_ttl)
            .finish()
    }
}
