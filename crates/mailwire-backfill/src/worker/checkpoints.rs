//! The two checkpoints: each inbox's progress (`{prefix}:{inbox_id}`) and the
//! subscription's (`{prefix}:*`), loaded once and saved as they move forward.

use std::time::SystemTime;

use mailwire_source::SourceError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{End, Stop, Worker};
use crate::FillError;

/// A saved checkpoint that is not an RFC 3339 time: written by something else.
#[derive(Debug, thiserror::Error)]
#[error("the checkpoint {key:?} holds {value:?}, not an RFC 3339 time")]
struct BadCheckpoint {
    key: String,
    value: String,
    #[source]
    cause: time::error::Parse,
}

impl Worker {
    /// The subscription's checkpoint as saved; on a first start (nothing saved), the
    /// earliest progress of an inbox in scope (a store migrated from a per-inbox
    /// format), else `since`, else the spawn time less the overlap, saved at once so
    /// that a crash before the first pass ends still reads from there. It needs the
    /// scope (the inbox list), hence the API: a run that never reached it saved
    /// nothing, and the next one starts from its own start.
    pub(super) async fn load_subscription(&mut self, scope: &[String]) -> Result<SystemTime, Stop> {
        let key = self.subscription_key();
        let at = match self.checkpoints.load(&key).await {
            Ok(Some(text)) => parse_time(&key, text)?,
            Ok(None) => {
                let at = scope
                    .iter()
                    .filter_map(|i| self.inboxes.get(i).and_then(|s| s.progress))
                    .min()
                    .or(self.config.since)
                    .unwrap_or_else(|| self.less_overlap(self.spawned));
                let saved = match format_time(at) {
                    Some(text) => self.checkpoints.save(&key, &text).await,
                    None => Ok(()),
                };
                saved.map_err(|e| Stop::Failed {
                    error: FillError::Checkpoints(e),
                    retry_after: None,
                })?;
                at
            }
            Err(e) => {
                return Err(Stop::Failed {
                    error: FillError::Checkpoints(e),
                    retry_after: None,
                });
            }
        };
        self.subscription = Some(at);
        Ok(at)
    }

    /// Loads an inbox's progress the first time the inbox is in scope. An error
    /// fails the pass: the subscription's checkpoint derived without it could
    /// start later than the inbox's true progress.
    pub(super) async fn load_progress(&mut self, inbox: &str) -> Result<(), Stop> {
        if self.inboxes.get(inbox).is_some_and(|s| s.loaded) {
            return Ok(());
        }
        let key = self.inbox_key(inbox);
        let progress = match self.checkpoints.load(&key).await {
            Ok(Some(text)) => Some(parse_time(&key, text)?),
            Ok(None) => None,
            Err(e) => {
                return Err(Stop::Failed {
                    error: FillError::Checkpoints(e),
                    retry_after: None,
                });
            }
        };
        let state = self.inboxes.entry(inbox.to_owned()).or_default();
        state.loaded = true;
        state.progress = state.progress.max(progress);
        Ok(())
    }

    /// Moves the subscription's checkpoint up to `cap`, but not past the earliest
    /// time an inbox in scope still owes.
    pub(super) async fn advance_subscription(&mut self, cap: SystemTime) {
        let Some(current) = self.subscription else {
            return;
        };
        let owed = self
            .scope
            .iter()
            .map(|inbox| {
                let state = self.inboxes.get(inbox);
                let progress = state.and_then(|s| s.progress).unwrap_or(current);
                match state.and_then(|s| s.owed) {
                    Some(owed) => progress.min(owed),
                    None => progress,
                }
            })
            .min();
        let to = owed.map_or(cap, |o| o.min(cap));
        if to <= current {
            return;
        }
        let Some(text) = format_time(to) else {
            return;
        };
        match self.checkpoints.save(&self.subscription_key(), &text).await {
            Ok(()) => self.subscription = Some(to),
            Err(e) => {
                tracing::warn!(error = %e, "backfill: cannot save the subscription's checkpoint")
            }
        }
    }

    /// Saves an inbox's progress if it moves forward. A failed save leaves the old
    /// progress: the next read starts earlier (duplicates), never later.
    pub(super) async fn save_progress(&mut self, inbox: &str, at: SystemTime) {
        let state = self.inboxes.entry(inbox.to_owned()).or_default();
        if state.progress.is_some_and(|p| p >= at) {
            return;
        }
        let Some(text) = format_time(at) else {
            return;
        };
        match self.checkpoints.save(&self.inbox_key(inbox), &text).await {
            Ok(()) => {
                let state = self.inboxes.entry(inbox.to_owned()).or_default();
                state.progress = Some(at);
            }
            Err(e) => tracing::warn!(inbox, error = %e, "backfill: cannot save progress"),
        }
    }

    fn inbox_key(&self, inbox: &str) -> String {
        format!("{}:{inbox}", self.config.checkpoint_prefix)
    }

    fn subscription_key(&self) -> String {
        format!("{}:*", self.config.checkpoint_prefix)
    }
}

fn parse_time(key: &str, text: String) -> Result<SystemTime, Stop> {
    match OffsetDateTime::parse(&text, &Rfc3339) {
        Ok(at) => Ok(SystemTime::from(at)),
        Err(cause) => Err(Stop::End(End::Fatal(SourceError::config(BadCheckpoint {
            key: key.to_owned(),
            value: text,
            cause,
        })))),
    }
}

fn format_time(at: SystemTime) -> Option<String> {
    OffsetDateTime::from(at).format(&Rfc3339).ok()
}
