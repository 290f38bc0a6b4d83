//! Adapters: boxing, and `futures::Stream`.

use std::pin::Pin;

use futures::Stream;

use async_trait::async_trait;

use crate::{BoxSource, Delivery, EventSource, SourceError, TenantId};

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

    /// Tags every delivery with `tenant` ([`Delivery::tenant`]): for a source that
    /// serves one tenant of many, e.g. a tenant's own WebSocket merged with a
    /// receiver that serves them all.
    ///
    /// ```
    /// use mailwire_source::{EventSource, EventSourceExt, TenantId};
    /// # use mailwire_source::{Delivery, SourceError};
    /// # struct One(Option<Delivery>);
    /// # #[mailwire_source::async_trait]
    /// # impl EventSource for One {
    /// #     async fn next(&mut self) -> Result<Option<Delivery>, SourceError> { Ok(self.0.take()) }
    /// #     fn name(&self) -> &str { "one" }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), SourceError> {
    /// # let event = mailwire_proto::Event::parse(br#"{"type":"event","event_type":"message.received","event_id":"evt_1"}"#.to_vec()).unwrap();
    /// # let source = One(Some(Delivery::new(event, mailwire_source::Origin::WebSocket)));
    /// let mut acme = source.for_tenant(TenantId::new("acme"));
    /// let delivery = acme.next().await?.expect("an event");
    /// assert_eq!(delivery.tenant.as_ref().map(|t| t.as_str()), Some("acme"));
    /// # delivery.ack().await
    /// # }
    /// ```
    fn for_tenant(self, tenant: TenantId) -> ForTenant<Self> {
        ForTenant {
            source: self,
            tenant,
        }
    }
}

/// A source whose deliveries all belong to one tenant; built by
/// [`EventSourceExt::for_tenant`].
#[derive(Debug)]
pub struct ForTenant<S> {
    source: S,
    tenant: TenantId,
}

impl<S> ForTenant<S> {
    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The source inside.
    pub fn into_inner(self) -> S {
        self.source
    }
}

#[async_trait]
impl<S: EventSource> EventSource for ForTenant<S> {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        let next = self.source.next().await?;
        Ok(next.map(|d| d.with_tenant(Some(self.tenant.clone()))))
    }

    fn name(&self) -> &str {
        self.source.name()
    }

    fn demand(&mut self, n: usize) {
        self.source.demand(n);
    }
}

impl<S: EventSource> EventSourceExt for S {}
