//! Reading one inbox: its pages, each received message fetched whole and handed
//! over, progress moved once the page is acknowledged.

use std::time::{Duration, SystemTime};

use mailwire_source::{Ack, Delivery, Origin, SourceError};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::{End, Stop, Worker};
use crate::client::{MessageItem, RestError};
use crate::event::{build_event, received_type};
use crate::{FillError, Report};

/// Attempts of one REST call within a pass before its inbox (or the pass) is left
/// for a retry of its own: enough for a blip, few enough that one sick inbox does
/// not hold up the others.
const ATTEMPTS: u32 = 3;

/// A page's progress stops this far before its newest message: a server whose
/// `after` is exclusive would skip another message of the same time on the next
/// page, and one that truncates `after` to milliseconds would round into it.
const TIE: Duration = Duration::from_millis(1);

/// How a REST call ended, after its attempts.
pub(super) enum CallError {
    /// The consumer went away while it waited.
    Gone,
    /// It failed for good within this pass.
    Rest(RestError),
}

impl From<CallError> for Stop {
    /// A refused key ends the source; anything else fails the inbox (or the pass)
    /// for now.
    fn from(e: CallError) -> Stop {
        match e {
            CallError::Gone => Stop::End(End::Gone),
            CallError::Rest(e @ RestError::Unauthorized(_)) => {
                Stop::End(End::Fatal(SourceError::auth(e)))
            }
            CallError::Rest(e) => Stop::Failed {
                retry_after: e.retry_after(),
                error: FillError::Rest(e),
            },
        }
    }
}

impl Worker {
    /// Reads one inbox from `after` on, page by page, handing each received message
    /// over and waiting for its ack before the progress moves past it.
    pub(super) async fn fill_inbox(
        &mut self,
        inbox: &str,
        after: SystemTime,
        report: &mut Report,
    ) -> Result<(), Stop> {
        let after = OffsetDateTime::from(after);
        let mut token: Option<String> = None;
        loop {
            let listed = self
                .call(|| {
                    self.rest.messages(
                        inbox,
                        after,
                        &self.flags,
                        self.config.page_size,
                        token.as_deref(),
                    )
                })
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(CallError::Rest(e)) if e.status() == Some(404) => {
                    return Err(Stop::Failed {
                        error: FillError::InboxNotFound(e),
                        retry_after: None,
                    });
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            let mut acks = Vec::new();
            let mut newest: Option<OffsetDateTime> = None;
            for item in &page.messages {
                newest = newest.max(item.timestamp);
                let Some(event_type) = self.in_scope(item) else {
                    continue;
                };
                let body = match self
                    .call(|| self.rest.message(inbox, &item.message_id))
                    .await
                {
                    Ok(body) => body,
                    Err(CallError::Rest(e)) if e.status() == Some(404) => {
                        // Deleted between the listing and now: there is nothing left
                        // to hand over, and waiting for it would hold the inbox back
                        // for good.
                        tracing::warn!(inbox, message_id = %item.message_id, "backfill: a listed message is gone");
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let event = match build_event(&event_type, inbox, &item.message_id, &body) {
                    Ok(event) => event,
                    Err(e) => {
                        // Not an event we can build: the service's answer is odd, and
                        // the other transports still carry it. Said, not hidden.
                        tracing::warn!(inbox, message_id = %item.message_id, error = %e, "backfill: skipping a message");
                        continue;
                    }
                };
                let (done, acked) = oneshot::channel();
                let delivery =
                    Delivery::new(event, Origin::Backfill).with_ack(Ack::from_fn(move || {
                        let _ = done.send(());
                    }));
                if self.tx.send(Ok(delivery)).await.is_err() {
                    return Err(Stop::End(End::Gone));
                }
                report.found += 1;
                acks.push(acked);
            }
            for acked in acks {
                if acked.await.is_err() {
                    return Err(Stop::Failed {
                        error: FillError::Unacked,
                        retry_after: None,
                    });
                }
            }
            if let Some(newest) = newest {
                let newest = SystemTime::from(newest);
                self.save_progress(inbox, newest.checked_sub(TIE).unwrap_or(newest))
                    .await;
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() && !page.messages.is_empty() => token = Some(t),
                _ => return Ok(()),
            }
        }
    }

    /// The event type of a listed message, when the subscription wants it.
    fn in_scope(&self, item: &MessageItem) -> Option<mailwire_proto::EventType> {
        let t = received_type(&item.labels)?;
        let wanted = match &self.config.event_types {
            Some(types) => types.contains(&t),
            None => t == mailwire_proto::EventType::MessageReceived,
        };
        wanted.then_some(t)
    }

    /// Runs a REST call up to [`ATTEMPTS`] times, waiting out 429s (`Retry-After`)
    /// and 5xx with exponential backoff and full jitter. `Err` when it failed for
    /// good within this pass (a refused key or a 404 at once).
    /// Shared with the start of a pass (the check, the inbox list).
    pub(super) async fn call<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, RestError>>,
    {
        let mut delays = self.config.backoff.delays();
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    attempt += 1;
                    let jittered = delays.next().unwrap_or_default();
                    let wait = e
                        .retry_after()
                        .map_or(jittered, |asked| asked.max(jittered));
                    tracing::debug!(error = %e, ?wait, "backfill: REST call failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.tx.closed() => return Err(CallError::Gone),
                    }
                }
                Err(e) => return Err(CallError::Rest(e)),
            }
        }
    }
}
