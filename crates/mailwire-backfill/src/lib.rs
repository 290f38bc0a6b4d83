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
//! Here against the local simulator (`mailwire dev`, in process), with its
//! checkpoints in memory (an agent passes its store instead):
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use mailwire_backfill::{Backfill, BackfillConfig, Trigger};
//! use mailwire_sim::{IncomingEmail, Simulator};
//! use mailwire_source::{EventSource, MemoryCheckpoints};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::builder().api_key("am_test").bind("127.0.0.1:0").await?;
//! let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
//! // Mail that arrived while nothing listened.
//! sim.receive_email("ada@agentmail.to", IncomingEmail::new("bob@example.com", "Hi", "Code 4815"))?;
//!
//! // The API's root with its version: https://api.agentmail.to/v0 for AgentMail.
//! let config = BackfillConfig::new(format!("http://{}/v0", sim.addr()), "am_test")
//!     .since(an_hour_ago) // on a first start only: later, the checkpoints say
//!     .interval(Duration::from_secs(300)); // a safety net besides gap notices
//! config.check().await?; // a wrong URL or key fails here, before anything runs
//! let checkpoints = MemoryCheckpoints::new(); // a store from mailwire-store, durably
//! let mut backfill = Backfill::spawn(config, checkpoints.clone())?;
//!
//! let delivery = backfill.next().await?.expect("the email that arrived");
//! assert_eq!(delivery.event.event_type().as_str(), "message.received");
//! delivery.ack().await?; // after the side effect: progress moves past it
//!
//! // Tied to a WebSocket: fill on every gap it reports, and say what it covered.
//! let handle = backfill.handle();
//! handle.fill(Trigger::Gap { from: an_hour_ago, to: SystemTime::now() });
//! handle.covered(SystemTime::now() - Duration::from_secs(60));
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! - **Nothing read is lost.** A received message is handed over, and progress moves
//!   past it only once it is acknowledged; a delivery dropped unacknowledged is read
//!   again (same event id) after a backoff. Progress is durable: it lives in the
//!   [`Checkpoints`](mailwire_source::Checkpoints) given to [`Backfill::spawn`],
//!   which every store of `mailwire-store` implements, beside the event log.
//! - **Every gap runs from the last durable checkpoint**, never from the process
//!   start. Two checkpoints are kept: each inbox's progress (`{prefix}:{inbox_id}`)
//!   and the subscription's (`{prefix}:*`: every inbox in scope is covered up to
//!   then; the prefix is [`checkpoint_prefix`](BackfillConfig::checkpoint_prefix),
//!   `backfill` by default). An inbox with progress of its own is read from it; an
//!   inbox new to the backfill (created after the last run, or listed for the first
//!   time) from the subscription's checkpoint; with nothing saved at all, from
//!   [`since`](BackfillConfig::since), else from the start of the run (less the
//!   overlap), saved as the subscription's checkpoint as soon as the API has
//!   answered (a migrated store whose inboxes have progress but the subscription
//!   none starts from the earliest of them).
//! - **One inbox's error does not stop the others.** A 404, a 5xx, a timeout on one
//!   inbox is reported ([`Report::failures`], with the inbox and the typed cause),
//!   and that inbox is tried again by itself after a backoff (a 404, which says the
//!   inbox does not exist for this key, after
//!   [`not_found_retry`](BackfillConfig::not_found_retry): not hammered), while the
//!   others are read and their progress moves.
//! - **Progress never passes what was not read.** An inbox whose last read failed
//!   keeps its progress until a read succeeds; the subscription's checkpoint never
//!   passes the earliest time any inbox in scope still owes; and
//!   [`BackfillHandle::covered`] (a WebSocket that stayed subscribed) moves neither
//!   past it.
//! - **A wrong base URL or key fails at start.** Before its first pass, the backfill
//!   asks `GET {base}/inboxes?limit=1` ([`BackfillConfig::check`], which a command
//!   line can call first): a 404 or an answer that is not the API's is a fatal
//!   [`SourceError::Config`](mailwire_source::SourceError::Config) ([`NotTheApi`]),
//!   401 or 403 a fatal [`SourceError::Auth`](mailwire_source::SourceError::Auth);
//!   a network error is retried with backoff, each attempt reported.
//!
//! # Behaviour
//!
//! - **When it reads**: a start-up pass, a pass for every [`Trigger::Gap`] (from the
//!   gap's start, less an overlap, or earlier where progress is), one every
//!   [`interval`](BackfillConfig::interval) if set, on demand
//!   ([`BackfillHandle::fill`]), and a [`Trigger::Retry`] pass for what failed, when
//!   its backoff elapses. Fills asked for while a pass runs are merged into the next
//!   one.
//! - **Ids**: a backfilled event's id is derived from its type, inbox and message id
//!   (`bf_` and 32 hex digits), the same on every pass and every instance, so what
//!   an overlap reads again is a duplicate the merge drops.
//! - **The API's answers**: pages are followed by `next_page_token`; a 429 waits its
//!   `Retry-After` (seconds or an HTTP date); a 5xx or a failed connection is tried
//!   three times within a pass with exponential backoff and full jitter, then left
//!   to a retry; a 401 or 403 ends the source with
//!   [`SourceError::Auth`](mailwire_source::SourceError::Auth).
//! - Each pass is reported ([`Backfill::reports`]): why it ran, from when, how many
//!   inboxes, pages and messages, what failed and when it is tried again.
//! - [`FileProgress`], the JSON file the command line kept beside a redb store, is
//!   the legacy format: it implements `Checkpoints` so that an old file can be read
//!   once and moved into the store.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod check;
mod client;
mod config;
mod event;
mod file;
mod report;
mod source;
mod worker;

pub use check::NotTheApi;
pub use client::RestError;
pub use config::BackfillConfig;
pub use file::FileProgress;
pub use report::{FillError, InboxFailure, Report, Trigger};
pub use source::{Backfill, BackfillHandle};
