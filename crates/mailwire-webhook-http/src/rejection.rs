//! Notices of the requests a receiver refused, for whoever wants to show them.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::StatusCode;
use mailwire_source::TenantId;
use tokio::sync::mpsc;

/// A request the receiver answered with an error: every 4xx, and 503 (the
/// receiver could not keep a valid event now, so its sender will retry).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The status answered.
    pub status: StatusCode,
    /// Why, in a few words (e.g. `invalid signature: timestamp too old`,
    /// `rate limited: client shut out for failed verifications`). Never holds a
    /// secret, a signature or any part of the body.
    pub reason: String,
    /// The client's address, when known (a [`WebhookService`](crate::WebhookService)
    /// knows it from the request's extensions).
    pub peer: Option<SocketAddr>,
    /// The tenant the request was for, once known (by its path, or by the
    /// event's pod or inbox id).
    pub tenant: Option<TenantId>,
    /// When it was answered.
    pub at: SystemTime,
}

/// One line, e.g. `401 invalid signature: no matching signature from
/// 127.0.0.2:50312 (tenant acme)`: what a log line or a terminal shows.
impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.reason)?;
        if let Some(peer) = self.peer {
            write!(f, " from {peer}")?;
        }
        if let Some(tenant) = &self.tenant {
            write!(f, " (tenant {tenant})")?;
        }
        Ok(())
    }
}

/// How many notices wait for a reader before new ones are dropped (the count
/// stays exact): a flood of bad requests cannot grow memory.
const BACKLOG: usize = 1024;

/// Where the intake records what it refused: an exact count, and the notices
/// for the one [`Rejections`] reader.
#[derive(Debug)]
pub(crate) struct RejectionLog {
    count: Arc<AtomicU64>,
    tx: mpsc::Sender<Rejection>,
    /// The reader, until the source or the service hands it out.
    unread: Arc<Mutex<Option<Rejections>>>,
}

impl RejectionLog {
    pub(crate) fn new() -> RejectionLog {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let count = Arc::new(AtomicU64::new(0));
        let reader = Rejections {
            rx,
            count: count.clone(),
        };
        RejectionLog {
            count,
            tx,
            unread: Arc::new(Mutex::new(Some(reader))),
        }
    }

    /// Records one refusal. The notice (and its reason's text) is only made
    /// when there is room for it: a flood nobody reads costs a count.
    pub(crate) fn record(
        &self,
        status: StatusCode,
        reason: impl FnOnce() -> String,
        peer: Option<SocketAddr>,
        tenant: Option<&TenantId>,
    ) {
        self.count.fetch_add(1, Ordering::Relaxed);
        // Full (nobody reading) or closed (reader dropped): the count says it.
        if let Ok(permit) = self.tx.try_reserve() {
            permit.send(Rejection {
                status,
                reason: reason(),
                peer,
                tenant: tenant.cloned(),
                at: SystemTime::now(),
            });
        }
    }

    /// The slot the reader waits in, shared with the source.
    pub(crate) fn unread(&self) -> Arc<Mutex<Option<Rejections>>> {
        self.unread.clone()
    }
}

/// Takes the reader out of its slot: `Some` the first time only.
pub(crate) fn take(slot: &Mutex<Option<Rejections>>) -> Option<Rejections> {
    // Only ever replaced whole: a poisoned lock holds a consistent value.
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The [`Rejection`] notices of one receiver, from
/// [`WebhookSource::rejections`](crate::WebhookSource::rejections) or
/// [`WebhookService::rejections`](crate::WebhookService::rejections).
///
/// At most 1024 notices wait to be read; beyond that new ones are dropped, and
/// [`count`](Self::count) still counts them.
#[derive(Debug)]
pub struct Rejections {
    rx: mpsc::Receiver<Rejection>,
    count: Arc<AtomicU64>,
}

impl Rejections {
    /// The next notice; `None` once the receiver is gone and every notice was
    /// read. Cancellation safe.
    pub async fn recv(&mut self) -> Option<Rejection> {
        self.rx.recv().await
    }

    /// A notice already recorded, if any.
    pub fn try_recv(&mut self) -> Option<Rejection> {
        self.rx.try_recv().ok()
    }

    /// How many requests were refused in all, including those whose notice was
    /// dropped because nobody read it in time.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(peer: Option<SocketAddr>, tenant: Option<TenantId>) -> Rejection {
        Rejection {
            status: StatusCode::UNAUTHORIZED,
            reason: "invalid signature: no matching signature".to_owned(),
            peer,
            tenant,
            at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn displays_as_one_line() {
        let peer = Some(SocketAddr::from(([127, 0, 0, 2], 50312)));
        assert_eq!(
            rejection(peer, Some(TenantId::new("acme"))).to_string(),
            "401 invalid signature: no matching signature from 127.0.0.2:50312 (tenant acme)"
        );
        assert_eq!(
            rejection(None, None).to_string(),
            "401 invalid signature: no matching signature"
        );
    }

    #[test]
    fn the_backlog_is_bounded_and_the_count_exact() {
        let log = RejectionLog::new();
        let mut made = 0;
        for _ in 0..BACKLOG + 10 {
            log.record(
                StatusCode::NOT_FOUND,
                || {
                    made += 1;
                    "not found".to_owned()
                },
                None,
                None,
            );
        }
        // Reasons beyond the backlog were never formatted.
        assert_eq!(made, BACKLOG);
        let mut reader = take(&log.unread()).unwrap();
        assert!(take(&log.unread()).is_none());
        assert_eq!(reader.count(), (BACKLOG + 10) as u64);
        let mut held = 0;
        while reader.try_recv().is_some() {
            held += 1;
        }
        assert_eq!(held, BACKLOG);
    }
}
