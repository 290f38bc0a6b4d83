//! One event as a source hands it over.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use mailwire_proto::Event;

use crate::{Ack, SourceError};

/// Where a delivery came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Origin {
    /// A WebSocket the agent holds open.
    WebSocket,
    /// A webhook POST from the service.
    Webhook,
    /// A backfill through the service's REST API.
    Backfill,
    /// A durable log replayed at start-up (logged, never acked).
    Log,
    /// A transport of the user's own.
    Custom(Cow<'static, str>),
}

impl Origin {
    /// A custom origin, e.g. `Origin::custom("sqs")`.
    pub fn custom(name: impl Into<Cow<'static, str>>) -> Origin {
        Origin::Custom(name.into())
    }

    /// The stable name: `websocket`, `webhook`, `backfill`, `log`, or the custom one.
    pub fn as_str(&self) -> &str {
        match self {
            Origin::WebSocket => "websocket",
            Origin::Webhook => "webhook",
            Origin::Backfill => "backfill",
            Origin::Log => "log",
            Origin::Custom(name) => name,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which tenant a delivery belongs to, when one source serves several (a
/// platform's customers, or the service's pods): a short name, cheap to clone.
///
/// ```
/// use mailwire_proto::Event;
/// use mailwire_source::{Delivery, Origin, TenantId};
///
/// let event = Event::parse(&br#"{"id":"evt_1","type":"domain.verified","data":{}}"#[..])?;
/// let delivery = Delivery::new(event, Origin::Webhook).with_tenant(Some(TenantId::from("acme")));
/// assert_eq!(delivery.tenant.as_ref().map(TenantId::as_str), Some("acme"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// A tenant id. Sources may restrict which names they accept (a webhook
    /// receiver uses it as a path segment).
    pub fn new(id: impl Into<Arc<str>>) -> TenantId {
        TenantId(id.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TenantId {
    fn from(id: &str) -> TenantId {
        TenantId::new(id)
    }
}

impl From<String> for TenantId {
    fn from(id: String) -> TenantId {
        TenantId::new(id)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for TenantId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// Who answers for a delivery's event until it is acked: the hand-off between a
/// source that logs what it receives (a webhook receiver with a store) and the merge
/// that shares that store. One append and one ack per event, whichever path it took.
///
/// ```
/// use mailwire_proto::Event;
/// use mailwire_source::{Custody, Delivery, Origin};
///
/// let event = Event::parse(&br#"{"id":"evt_1","type":"domain.verified","data":{}}"#[..])?;
/// let delivery = Delivery::new(event, Origin::Webhook);
/// assert_eq!(delivery.custody(), Custody::Source);
/// // A receiver that appended it to its store before answering 200:
/// let delivery = delivery.with_custody(Custody::Claimed);
/// assert_eq!(delivery.custody(), Custody::Claimed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Custody {
    /// Its source alone answers for it: a merge with a store appends it there (one
    /// append, which claims it) before handing it out, and acks it there.
    #[default]
    Source,
    /// Its source appended it to the store the merge shares and holds its claim;
    /// the source's ack is that store's ack of the event's
    /// [`dedup_id`](Event::dedup_id), nothing more. A merge with a store hands it out
    /// without appending it again and acks it in the store itself, once; the
    /// source's ack is then dropped unrun. Give the merge the same store value as the
    /// source (clones share it): a merge whose store does not hold the claim (a
    /// store of its own) treats the delivery as [`Custody::Source`].
    Claimed,
}

/// An event handed over by a source, with where and when it was received and the
/// [`Ack`] that settles it.
#[derive(Debug)]
#[must_use = "a delivery dropped without ack is delivered again after a restart"]
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// Where it came from.
    pub origin: Origin,
    /// When the source received it.
    pub received_at: SystemTime,
    /// The tenant it belongs to, for a source that serves several; `None` otherwise.
    pub tenant: Option<TenantId>,
    custody: Custody,
    ack: Ack,
    span: tracing::Span,
}

impl Delivery {
    /// A delivery received now, with nothing to settle.
    pub fn new(event: Event, origin: Origin) -> Delivery {
        // Nearly free when no subscriber wants it (a cached callsite check).
        let span = tracing::debug_span!("event", id = %event.id(), origin = %origin);
        Delivery {
            event,
            origin,
            received_at: SystemTime::now(),
            tenant: None,
            custody: Custody::Source,
            ack: Ack::none(),
            span,
        }
    }

    /// The event's `tracing` span, `event{id, origin}` at debug level, from the
    /// moment its source received it to its ack: what a source, the merge and the
    /// application log about this event is logged inside it, and the ack runs in
    /// it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Sets what acking does.
    pub fn with_ack(mut self, ack: Ack) -> Delivery {
        self.ack = ack;
        self
    }

    /// Sets when it was received.
    pub fn with_received_at(mut self, at: SystemTime) -> Delivery {
        self.received_at = at;
        self
    }

    /// Sets the tenant it belongs to.
    pub fn with_tenant(mut self, tenant: Option<TenantId>) -> Delivery {
        self.tenant = tenant;
        self
    }

    /// Sets who answers for the event until its ack (default [`Custody::Source`]).
    pub fn with_custody(mut self, custody: Custody) -> Delivery {
        self.custody = custody;
        self
    }

    /// Who answers for the event until its ack.
    pub fn custody(&self) -> Custody {
        self.custody
    }

    /// Settles the delivery: the source marks it processed. Call it after the side
    /// effect, and the event is handled exactly once.
    pub async fn ack(self) -> Result<(), SourceError> {
        use tracing::Instrument as _;
        let span = self.span;
        let acked = self.ack.ack().instrument(span.clone()).await;
        match &acked {
            Ok(()) => tracing::debug!(parent: &span, "acked"),
            Err(e) => tracing::debug!(parent: &span, error = %e, "ack failed"),
        }
        acked
    }

    /// Takes the ack out, leaving none: for wrappers that settle later or add their
    /// own step (see [`Ack::then`]).
    pub fn take_ack(&mut self) -> Ack {
        std::mem::take(&mut self.ack)
    }

    /// Splits the delivery into its parts.
    pub fn into_parts(self) -> (Event, Origin, SystemTime, Ack) {
        (self.event, self.origin, self.received_at, self.ack)
    }
}
