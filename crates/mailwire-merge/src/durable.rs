//! The durable side of a merge: one store, optional.

use std::fmt;
use std::sync::Arc;

use mailwire_proto::Event;
use mailwire_store::{Store, StoreError};

/// The store a merge writes through, when it has one. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Durable {
    pub(crate) store: Option<Arc<dyn Store>>,
}

/// What the store says about an event that is new to this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// This instance holds it now (appended it, or took it over): to be delivered.
    Fresh,
    /// Acked already, or held (by another instance; or by this store value, which
    /// the merge checks with `holds`).
    Known,
}

impl Durable {
    pub(crate) fn is_empty(&self) -> bool {
        self.store.is_none()
    }

    /// Appends the event (unless it is claimed already: from the store's backlog, or
    /// by a source that logged it in this store), which claims it for this instance.
    pub(crate) async fn admit(&self, event: &Event, from_log: bool) -> Result<Verdict, StoreError> {
        match &self.store {
            Some(store) if !from_log => Ok(if store.append(event).await?.is_claimed() {
                Verdict::Fresh
            } else {
                Verdict::Known
            }),
            _ => Ok(Verdict::Fresh),
        }
    }
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable")
            .field("store", &self.store.is_some())
            .finish()
    }
}
