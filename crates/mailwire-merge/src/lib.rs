//! Merge several event sources into one stream that yields each event id once: the
//! WebSocket for speed, webhooks for durability, both at once, nothing lost, nothing
//! twice.
//!
//! ```
//! use mailwire_merge::Merge;
//! use mailwire_source::{EventSource, Origin, SourceError};
//! use mailwire_test::{fixtures, FakeSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), SourceError> {
//! let (ws, ws_feed) = FakeSource::builder().name("websocket").origin(Origin::WebSocket).build();
//! let (hooks, hook_feed) = FakeSource::builder().name("webhook").origin(Origin::Webhook).build();
//! let (evt_1, evt_2) = (
//!     fixtures::message_received("evt_1", "ada@agentmail.to"),
//!     fixtures::message_received("evt_2", "ada@agentmail.to"),
//! );
//! // The WebSocket brings evt_1 first, then drops before evt_2; the webhooks bring both.
//! ws_feed.push(evt_1.clone()).end();
//! hook_feed.push(evt_1).push(evt_2).end();
//!
//! let mut merge = Merge::builder().source(ws).source(hooks).build();
//! let mut seen = Vec::new();
//! while let Some(delivery) = merge.next().await? {
//!     seen.push((delivery.event.id().to_owned(), delivery.origin.to_string()));
//!     delivery.ack().await?; // after the side effect: each event handled once
//! }
//!
//! assert_eq!(seen, [("evt_1".into(), "websocket".into()), ("evt_2".into(), "webhook".into())]);
//! let stats = merge.stats();
//! assert_eq!(stats.origin(&Origin::Webhook).duplicates, 1);
//! assert_eq!(stats.origin(&Origin::WebSocket).won, 1);
//! // The suppressed copy was settled in its own source when evt_1 was acked.
//! assert_eq!(hook_feed.acked(), ["evt_1", "evt_2"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Semantics
//!
//! - **Fair.** Sources are polled in turn, starting after the one that delivered
//!   last: a source that always has events ready cannot starve another.
//! - **Cancellation safe.** Each source's pending `next()` is kept inside the merge,
//!   as is every store call in progress, so dropping a `Merge::next()` future loses
//!   nothing. Merges nest: a `Merge` is an [`EventSource`](mailwire_source::EventSource).
//! - **Dedup by event id.** An id is *in flight* from the moment a first copy arrives
//!   until its delivery is acked; copies arriving meanwhile are suppressed and their
//!   acks held. Acking settles the event (below) and then the held copies in their
//!   own sources. Acked ids stay in an in-memory dedup window (bounded by count and
//!   age, about 21 bytes per id, never growing) and, with a store, in the store.
//! - **One store** ([`MergeBuilder::store`]), the same value the receivers feeding
//!   the merge were given. Every new event is appended before it is delivered: the
//!   append claims it for this instance, so of several instances sharing the store
//!   (each with its own WebSocket and receivers) exactly one delivers it. An event a
//!   receiver sharing the store appended before its 200 comes marked so
//!   ([`Custody::Claimed`](mailwire_source::Custody::Claimed)): it is neither
//!   appended nor acked a second time, one append and one ack per event. A copy
//!   from another source that the store finds held by this very store value (the
//!   receiver's copy is on its way) goes out under that claim, and the receiver's
//!   copy is then suppressed in memory. At start-up, events the store holds unacked are claimed a page
//!   at a time and delivered first, with `Origin::Log`; while the merge runs it
//!   claims, every [`MergeBuilder::take_over_every`], the events whose holder's
//!   lease ran out (another instance died or hung), without any restart.
//! - **Ack.** Acking a delivery acks it in the store (one write: out of the log, the
//!   id remembered as acked), then runs the source's own ack
//!   ([`Ack::then`](mailwire_source::Ack::then)). So a new event costs one durable
//!   write before delivery and one at its ack; a duplicate costs none.
//! - **A delivery dropped without ack** (or whose ack failed) releases its id and its
//!   claim: the next copy from any source, or the next claim of the backlog, is
//!   delivered in this process; the copies held for it stay unsettled in their
//!   sources (a durable one redelivers them).
//! - **Failures.** By default a source that fails is dropped, recorded in
//!   [`MergeStats::failed_sources`] and logged, and the others carry on; its error
//!   is returned once every source is gone ([`OnSourceFailure`]). A store that
//!   fails is waited for, never passed over: see below.
//! - **Reorder.** With [`MergeBuilder::reorder`], events are held up to W and
//!   delivered in timestamp order per inbox; later arrivals go out at once and are
//!   counted as late.
//! - **Stats.** Per origin: delivered, duplicates suppressed, wins (delivered first
//!   what another origin brought later) and by how much; late events; failed
//!   sources. See [`Merge::stats`] and [`StatsHandle`].
//!   The same counts go to the [`metrics`](https://docs.rs/metrics) facade, for the
//!   recorder the application installs: `mailwire_merge_delivered_total` (labels
//!   `origin`, `tenant`), `mailwire_merge_duplicates_total` (`origin`),
//!   `mailwire_merge_late_total`, and the gauge `mailwire_merge_held` (events the
//!   reorder window holds).
//! - **The end.** `Ok(None)` once every source has ended and everything held went out.
//!   A consumer that stops first can take what the reorder window holds at once
//!   with [`Merge::take_held`].
//!
//! # Nothing handed to the merge is lost: what is retried where
//!
//! The merge assumes nothing of its sources beyond the
//! [`EventSource`](mailwire_source::EventSource) contract:
//! once a source handed it a delivery, keeping that event is the merge's job.
//! Whether a source delivers an event again by itself (after a restart, after a
//! delivery dropped unacked) is part of *that source's* contract, documented by
//! it: a webhook receiver with a store does (its event is in the log before its
//! 200), the service retries a webhook it got no 2xx for, a WebSocket does not (its
//! gaps are the resume point's and the backfill's to fill).
//!
//! - **An append that fails** (Redis down, a full disk) does not drop the event.
//!   It stays at the head of the merge's ordered admissions, and its append is
//!   retried with [`MergeBuilder::store_backoff`] (100 ms, doubling to 3 s, full
//!   jitter) until the store answers. Meanwhile nothing behind it moves and no
//!   source is polled: back-pressure. A WebSocket source's bounded channel fills
//!   and its reader stops reading (the server buffers); a webhook receiver sharing
//!   the store answers 503 when its own append fails or its queue is full, and the
//!   service retries. When the store answers, the held events flow out in their
//!   order, each once.
//! - **The outage is reported once.** `next()` returns one transient
//!   [`SourceError::Store`](mailwire_source::SourceError::Store) when an outage
//!   starts (a caller prints it and calls `next()` again), then keeps retrying
//!   inside; a `tracing` warning marks the start, an info line the end, and
//!   [`MergeStats::store_outages`], [`MergeStats::store_down`] and
//!   [`MergeStats::store_retries`] (metrics `mailwire_merge_store_outages_total`,
//!   `mailwire_merge_store_down`, `mailwire_merge_store_retries_total`) count it. A
//!   store that fails again after it answered is a new outage, reported again.
//! - **The backlog claim** (at start-up and every
//!   [`take_over_every`](MergeBuilder::take_over_every)) that fails is tried again
//!   after a backoff delay (at most the tick), within the same outage report; at
//!   start-up the live sources keep waiting for it.
//! - **An ack whose store write fails** is retried with the same backoff for up to
//!   [`MergeBuilder::ack_retry_for`] (default half the store's lease, so the claim
//!   does not lapse meanwhile); then `ack()` returns the error. The event is still
//!   unacked in the store's log and its claim is released, so the backlog claim
//!   delivers it again, in this instance or another: at least once, never lost.
//!   The source's own ack runs only after the store's succeeded.
//! - **A closed store** ([`StoreError::Closed`](mailwire_store::StoreError::Closed))
//!   is not an outage: the application closed it, nothing can be kept any more, so
//!   the merge returns the error and ends. What it held is unacked in its source.
//! - **Cancellation.** The held event, its retry and its backoff timer live in the
//!   merge: dropping a `next()` future loses nothing.
//!
//! # Dedup cost
//!
//! `cargo bench -p mailwire-merge --bench dedup`: 1M distinct 30-byte ids, a stream
//! of 2M deliveries (each id twice, 1,000 deliveries apart), each checked and
//! remembered when new; `fresh` into empty structures, `steady` into ones already
//! holding 1M earlier ids (the window full and forgetting). Ratios against a
//! `HashSet<String>` in the same run (higher is faster; a loaded machine, so read
//! the ratios):
//!
//! | structure | bytes per id | memory | fresh speed | steady speed |
//! | --- | ---: | ---: | ---: | ---: |
//! | `HashSet<String>` (baseline) | 82.4 | 1.00x | 1.00x | 1.00x |
//! | `HashSet<u128>` of the hashes (never forgets) | 35.7 | 0.43x | 1.44x | 1.44x |
//! | the dedup window, 1M ids, count and age bounded | 20.6 | 0.25x | 3.24x | 1.24x |
//!
//! A second run on a quieter machine: the dedup window 4.10x fresh, 1.49x steady.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admission;
mod builder;
mod durable;
mod merge;
mod metric;
mod reorder;
mod retry;
mod settle;
mod shared;
mod stats;
mod window;

pub use builder::{MergeBuilder, OnSourceFailure};
pub use merge::Merge;
pub use stats::{FailedSource, MergeStats, OriginStats, StatsHandle};
// The dedup window itself, public for the crate's benchmark and model test only.
#[doc(hidden)]
pub use window::{IdHasher, IdKey, IdWindow};
