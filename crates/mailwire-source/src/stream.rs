//! Adapters: boxing, and `futures::Stream`.

use std::pin::Pin;

use futures::Stream;

use crate::{BoxSource, Delivery, EventSource, SourceError};

/// A source as a [`Stream`]: it yields each delivery, then at most one error, then
/// ends. Built by [`EventSourceExt::into_stream`].
pub type SourceStream<'a> = Pin<Box<dyn Stream<Item = Result<Delivery, SourceError>> + Send + 'a>>;

/// Conveniences for every [`EventSource`].
pub trait EventSourceExt: EventSource + Sized {
    /// Boxes the source, erasing its type.
    fn boxed<'a>(self) -> BoxSource<'a>
    where
        Self: 'a,
    {
        Box::new(self)
    }

    /// Turns the source into a [`Stream`] of deliveries, for stream combinators.
    /// The stream ends after `Ok(None)` or after yielding an error.
    fn into_stream<'a>(self) -> SourceStream<'a>
    where
        Self: 'a,
    {
        Box::pin(futures::stream::unfold(Some(self), |state| async move {
            let mut source = state?;
            match source.next().await {
                Ok(Some(delivery)) => Some((Ok(delivery), Some(source))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }))
    }
}

impl<S: EventSource> EventSourceExt for S {}
