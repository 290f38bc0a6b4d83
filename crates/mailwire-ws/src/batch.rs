//! What travels from the connection task to the consumer: the events read in one
//! burst, each with when it was read, and what ends a source.

use std::time::SystemTime;

use mailwire_proto::Event;
use mailwire_source::{Delivery, Origin, SourceError};

/// What the connection task hands over, in the order it was read. (Not a
/// [`Delivery`]: its ack handle is not `Sync`, and the source should be.)
#[derive(Debug)]
pub(crate) enum Item {
    /// An event and when it was read.
    Event(Received),
    /// The id of an event read and skipped (over the size limit): the watermark
    /// passes it as if it were acked.
    Skipped(String),
    /// The error that ended the source.
    Failed(SourceError),
}

/// An event as read from the socket. Only its envelope was read (id and type, by
/// the one parser every transport uses); its payload is read when the consumer asks.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) event: Event,
    pub(crate) at: SystemTime,
}

impl Received {
    pub(crate) fn into_delivery(self) -> Delivery {
        Delivery::new(self.event, Origin::WebSocket).with_received_at(self.at)
    }
}

/// What travels from the connection task to [`WsSource::next`](crate::WsSource):
/// the events read in one burst.
pub(crate) type Batch = Vec<Item>;
