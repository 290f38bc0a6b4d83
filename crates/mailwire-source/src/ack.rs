//! Settling a delivery.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::SourceError;

/// What a source does when a delivery is acked: mark it processed in a store, move a
/// checkpoint, delete it upstream.
#[async_trait]
pub trait Settle: Send + 'static {
    /// Settles the delivery. Called at most once.
    async fn settle(self: Box<Self>) -> Result<(), SourceError>;
}

/// The handle that settles one [`Delivery`](crate::Delivery). Acking consumes it, so a
/// delivery is settled at most once; dropping it leaves the delivery unsettled.
#[must_use = "an ack does nothing until `ack().await`"]
pub struct Ack(Option<Box<dyn Settle>>);

impl Ack {
    /// An ack that does nothing: for sources with nothing to settle.
    pub fn none() -> Ack {
        Ack(None)
    }

    /// An ack that runs a [`Settle`] implementation.
    pub fn new(settle: impl Settle) -> Ack {
        Ack(Some(Box::new(settle)))
    }

    /// An ack that runs a closure.
    pub fn from_fn(f: impl FnOnce() + Send + 'static) -> Ack {
        Ack::from_future(async move {
            f();
            Ok(())
        })
    }

    /// An ack that awaits a future. The future does nothing until the ack runs.
    pub fn from_future(fut: impl Future<Output = Result<(), SourceError>> + Send + 'static) -> Ack {
        struct Lazy(Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>);
        #[async_trait]
        impl Settle for Lazy {
            async fn settle(self: Box<Self>) -> Result<(), SourceError> {
                self.0.await
            }
        }
        Ack::new(Lazy(Box::pin(fut)))
    }

    /// True when acking does nothing.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Settles the delivery.
    pub async fn ack(self) -> Result<(), SourceError> {
        match self.0 {
            Some(settle) => settle.settle().await,
            None => Ok(()),
        }
    }

    /// An ack that runs `self`, then `next` if `self` succeeded: how a wrapper (a
    /// merge, a store) adds its own settling in front of the source's.
    pub fn then(self, next: Ack) -> Ack {
        match (self.0.is_none(), next.0.is_none()) {
            (_, true) => self,
            (true, false) => next,
            (false, false) => Ack::from_future(async move {
                self.ack().await?;
                next.ack().await
            }),
        }
    }
}

impl Default for Ack {
    fn default() -> Self {
        Ack::none()
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Ack" } else { "Ack(none)" })
    }
}
