//! An [`EventSource`](mailwire_source::EventSource) that fills gaps from the email
//! service's REST API: the messages that arrived while no transport delivered them.
//!
//! A WebSocket loses what is sent while it is down; an agent behind NAT or on a laptop
//! has no webhooks to fill that gap. The backfill reads AgentMail's
//! `GET /v0/inboxes/{inbox_id}/messages` (`after` the time it has covered,
//! `ascending=true`, the spam, blocked and unauthenticated flags as subscribed),
//! fetches each received message whole, and hands over the `message.received*` event
//! a WebSocket would have carried, with [`Origin::Backfill`](mailwire_source::Origin).
//! Merged with the WebSocket, a message the WebSocket also delivered is one event:
//! the merge recognises message events by (type, inbox, message id) as well as by id.
//!
//! ```no_run
//! use std::time::Duration;
//! use mailwire_backfill::{Backfill, BackfillConfig, MemoryProgress, Trigger};
//! use mailwire_source::EventSource;
//!
//! # async fn run() -> Result<(), mailwire_source::SourceError> {
//! let config = BackfillConfig::new("https://api.agentmail.to/v0", "am_...")
//!     .inboxes(["ada@agentmail.to"])
//!     .interval(Duration::from_secs(300)); // a safety net besides gap notices
//! let mut backfill = Backfill::spawn(config, MemoryProgress::new())?;
//! // Tie it to a WebSocket: fill on every gap it reports.
//! let handle = backfill.handle();
//! # let (from, to) = (std::time::SystemTime::now(), std::time::SystemTime::now());
//! handle.fill(Trigger::Gap { from, to });
//! while let Some(delivery) = backfill.next().await? {
//!     println!("{} {}", delivery.event.event_type(), delivery.event.id());
//!     delivery.ack().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! # Behaviour
//!
//! - **When it reads**: a start-up pass (from the progress the last run saved), a pass
//!   for every [`Trigger::Gap`] (from the gap's start, less an overlap), one every
//!   [`interval`](BackfillConfig::interval) if set, and on demand
//!   ([`BackfillHandle::fill`]). Fills asked for while a pass runs are merged into
//!   the next one.
//! - **Progress is durable** ([`Progress`]): per inbox, the time up to which every
//!   received message was handed over *and acknowledged*. It moves after each page's
//!   acks and at the end of a pass; a delivery dropped unacknowledged leaves it where
//!   it was, so the next pass reads that message again (at least once). With no
//!   progress yet and no [`since`](BackfillConfig::since), a first start reads no
//!   history: progress starts then. [`BackfillHandle::covered`] moves it without
//!   reading, while a WebSocket stays subscribed.
//! - **Ids**: a backfilled event's id is derived from its type, inbox and message id
//!   (`bf_` and 32 hex digits), the same on every pass and every instance.
//! - **The API's answers**: pages are followed by `next_page_token`; a 429 waits its
//!   `Retry-After` (seconds or an HTTP date); a 5xx or a failed connection retries
//!   with exponential backoff and full jitter; 401 or 403 ends the source with
//!   [`SourceError::Auth`](mailwire_source::SourceError::Auth).
//! - Each pass is reported ([`Backfill::reports`]): why it ran, from when, how many
//!   inboxes, pages and messages.

mod client;
mod config;
mod file;
mod progress;
mod source;

pub use client::RestError;
pub use config::BackfillConfig;
pub use file::FileProgress;
pub use progress::{MemoryProgress, Progress};
pub use source::{Backfill, BackfillHandle, Report, Trigger};
