//! A WebSocket [`EventSource`](mailwire_source::EventSource) for the email-event
//! service: it connects (`wss://` over rustls or plain `ws://`), subscribes, and
//! keeps the events coming through drops, dead connections and server restarts.
//!
//! ```
//! use mailwire_sim::Simulator;
//! use mailwire_proto::fixtures;
//! use mailwire_source::EventSource;
//! use mailwire_ws::{Status, WsConfig, WsSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::builder().api_key("sk_test").bind("127.0.0.1:0").await?;
//!
//! let mut source = WsSource::spawn(WsConfig::new(sim.ws_url()).api_key("sk_test"))?;
//! source.status().wait_for(|s| matches!(s, Status::Subscribed)).await?;
//!
//! sim.emit(fixtures::message_received("evt_1", "ada@agentmail.to"));
//! let delivery = source.next().await?.expect("an event");
//! assert_eq!(delivery.event.id(), "evt_1");
//! delivery.ack().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Behaviour
//!
//! - **Subscribe on every connect**, with the configured filters, and `"after":
//!   "<last received id>"` once an event has been received, so a server with the
//!   resume extension replays what was missed.
//! - **A durable resume point, moved by the ack**, when the source is given
//!   [`checkpoints`](WsConfig::checkpoints) (see below): a restart resumes after
//!   the last event acked in order, not from now.
//! - **Gaps are reported, never hidden.** After a reconnect the server either
//!   answers `resumed` (nothing lost) or `gap` (the id is no longer retained), or
//!   answers `subscribed` without either (it does not know the extension). In the
//!   last two cases, and when there was no event id to resume from, a [`Gap`] is sent
//!   on [`WsSource::gaps`], so the application can backfill from its webhook log or
//!   the REST API. An event skipped for its size is a gap too
//!   ([`GapCause::TooLarge`]).
//! - **Heartbeat.** A WebSocket ping every [`heartbeat`](WsConfig::heartbeat)
//!   interval (15 s); no frame at all for two intervals means the peer is dead or
//!   half-open, and the connection is replaced. The socket is always read while the
//!   consumer keeps up, so pongs flow.
//! - **Back-pressure, not false alarms.** Events wait in a bounded channel
//!   ([`channel_capacity`](WsConfig::channel_capacity)). When it is full the
//!   connection stops reading (TCP pushes back on the server) and the dead-peer clock
//!   is paused: a slow consumer is never mistaken for a dead peer.
//! - **Reconnect** with exponential backoff and full jitter ([`Backoff`]: base 250
//!   ms, cap 30 s, jitter on the first retry too, the exponent reset only after a
//!   minute of healthy connection), bounded by a connect timeout covering TCP, TLS
//!   and the handshake.
//! - **Fatal without a retry loop.** HTTP 401/403 at the handshake, a close code
//!   4001/4003/4401/4403 (or 1008 naming credentials), or an `error` frame naming
//!   bad credentials end the source with [`SourceError::Auth`]; an untrusted
//!   certificate with [`SourceError::Tls`]. `next()` returns the error after every
//!   event received before it, then `Ok(None)`.
//! - **Authentication** as AgentMail's definition has it: `Authorization: Bearer`
//!   by default, or the `api_key` query parameter, or the `X-API-Key` header that
//!   myagentmail takes ([`AuthStyle`]). The key is never logged by this crate;
//!   tungstenite, underneath, logs the whole handshake request (headers and query
//!   included) at trace level under the target `tungstenite::handshake::client`:
//!   keep that target at `debug` or above where logs are kept (`mailwire listen`
//!   does, whatever `RUST_LOG` says).
//! - **Liveness by WebSocket control frames only**: the definition has no JSON
//!   `ping`/`pong`, so none is sent or expected.
//! - **Large events are delivered while running.** Every event up to
//!   [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES) (4 MiB, the most the one
//!   envelope parser reads) is delivered whole: that is the default
//!   [`max_message_size`](WsConfig::max_message_size). See "Event sizes" below.
//! - **No frame can wedge the stream.** An event over that limit, or a frame that
//!   is not an event the source can read, is skipped, counted and reported
//!   ([`WsSource::skipped`], with the event id when it has one); when it has an
//!   event id, the resume point moves past it (the ack watermark too), so a replay
//!   does not meet it again. Only a message over 64 MiB drops the connection.
//!   Frames are read by the one envelope parser every transport uses; payloads are
//!   read when the consumer asks. Nothing the server sends can panic the source.
//! - Progress is observable through [`WsSource::status`] ([`Status`]).
//! - **Metrics** through the [`metrics`](https://docs.rs/metrics) facade, for
//!   whatever recorder the application installs (none: they cost a relaxed load):
//!   `mailwire_ws_connects_total`, `mailwire_ws_disconnects_total`,
//!   `mailwire_ws_events_total` (event frames received), `mailwire_ws_gaps_total`,
//!   `mailwire_ws_skipped_frames_total` (label `reason`: `too_large` or
//!   `unreadable`) and `mailwire_ws_checkpoint_failures_total` (label `op`: `load`
//!   or `save`).
//!
//!
//! # A durable resume point
//!
//! Without checkpoints the resume point lives as long as the source, and acking a
//! delivery settles nothing. With [`WsConfig::checkpoints`] (any
//! [`Checkpoints`](mailwire_source::Checkpoints): every store of `mailwire-store`
//! is one, so Redis deployments share the point) the ack does what the
//! [`EventSource`](mailwire_source::EventSource) contract promises:
//!
//! - Before the first connection the point saved under the key is loaded (retried
//!   with the backoff while the checkpoints fail) and sent as `"after"`; an
//!   explicit [`resume_after`](WsConfig::resume_after) wins.
//! - Acks move a **watermark**: the id of the latest event such that it and every
//!   event received before it on this source are acked. Deliveries may be acked
//!   in any order; the point never passes one not acked. A delivery dropped
//!   without ack holds it, and is delivered again after a restart (at least once;
//!   the store suppresses what was already handled).
//! - One background writer saves the watermark: the latest value only, never one
//!   write per ack, after the acks and never before them. A failed save is
//!   reported (`tracing`, [`WsSource::resume_point`]) and retried after the backoff
//!   with the value latest then; delivery never stops for it. The last value is
//!   saved by [`WsSource::close`] (or [`WsSource::flush`]), and when the source and
//!   its deliveries are dropped while the runtime runs: a [`ResumeHandle`] taken
//!   before the source went into a merge waits for that last save
//!   ([`ResumeHandle::finished`]).
//! - Memory: the watermark keeps one small entry (the id) per event taken and not
//!   yet passed; a delivery held unacked for long keeps the entries after it.
//!
//! ```
//! use mailwire_sim::Simulator;
//! use mailwire_proto::fixtures;
//! use mailwire_source::{EventSource, MemoryCheckpoints};
//! use mailwire_ws::{Status, WsConfig, WsSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::builder().bind("127.0.0.1:0").await?;
//! let checkpoints = MemoryCheckpoints::new(); // a redb or Redis store in production
//! let config = || WsConfig::new(sim.ws_url()).checkpoints(checkpoints.clone(), "ws:ada");
//!
//! let mut source = WsSource::spawn(config())?;
//! source.status().wait_for(|s| matches!(s, Status::Subscribed)).await?;
//! sim.emit(fixtures::message_received("evt_1", "ada@agentmail.to"));
//! source.next().await?.expect("evt_1").ack().await?;
//! source.close().await?; // the point is saved: evt_1
//!
//! // Sent while nobody listened; a new source resumes after evt_1.
//! sim.emit(fixtures::message_received("evt_2", "ada@agentmail.to"));
//! let mut source = WsSource::spawn(config())?;
//! assert_eq!(source.next().await?.expect("evt_2").event.id(), "evt_2");
//! # Ok(())
//! # }
//! ```
//!
//! # Event sizes
//!
//! An email's event carries its bodies: AgentMail's definition gives
//! `message.received` the whole `Message` (`text`, `html`, `extracted_text`,
//! `extracted_html`), attachments as metadata only (id, name, size, type; their
//! contents come from the REST API). It documents no limit for the WebSocket (its
//! webhooks are capped at 1 MB by dropping `text` and `html`; mail sent by SMTP is
//! limited to 10 MB). Measured through the simulator, which sends the text twice
//! (`text` and `extracted_text`): 1 MiB of text is a 2.0 MiB frame, 5 MiB a 10.0
//! MiB frame, 20 MiB a 40.0 MiB frame.
//!
//! The frame is read in full before any limit applies (a smaller limit saves no
//! memory), so the source delivers every event the parser reads, up to
//! [`MAX_EVENT_BYTES`](mailwire_proto::MAX_EVENT_BYTES): the first email above is
//! delivered while running. The other two are past what `mailwire_proto` parses
//! today: they are skipped, reported with their event id as
//! [`SkipReason::TooLarge`], and the resume point passes them; each is also a
//! [`Gap`] ([`GapCause::TooLarge`]), so the backfill that fills gaps fetches the
//! email from the REST API while the source runs (its listing carries no bodies:
//! `GET /v0/inboxes/{inbox_id}/messages/{message_id}` has them, as AgentMail says
//! of its webhooks over 1 MB). The limit follows `MAX_EVENT_BYTES` if it is
//! raised there, and then delivers such emails whole.
//!
//! [`SourceError::Auth`]: mailwire_source::SourceError::Auth
//! [`SourceError::Tls`]: mailwire_source::SourceError::Tls
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod checkpoint;
mod config;
mod connect;
mod metric;
mod session;
mod source;
mod spares;
mod status;
mod supervisor;

pub use checkpoint::{CheckpointError, CheckpointOp, ResumeHandle, ResumePoint};
pub use config::{AuthStyle, TlsTrust, WsConfig};
pub use mailwire_client::{Backoff, Delays};
pub use mailwire_source::Shutdown;
pub use source::{Gaps, WsSource};
pub use status::{DisconnectReason, Gap, GapCause, SkipReason, Skipped, SkippedFrames, Status};
