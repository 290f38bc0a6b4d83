//! A WebSocket [`EventSource`](mailwire_source::EventSource) for the email-event
//! service: it connects (`wss://` over rustls or plain `ws://`), subscribes, and
//! keeps the events coming through drops, dead connections and server restarts.
//!
//! ```
//! use mailwire_sim::{sample, Simulator};
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
//! sim.emit(sample::message_received("evt_1", "ada@agentmail.to"));
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
//!   "<last delivered id>"` once an event has been delivered, so a server with the
//!   resume extension replays what was missed.
//! - **Gaps are reported, never hidden.** After a reconnect the server either
//!   answers `resumed` (nothing lost) or `gap` (the id is no longer retained), or
//!   answers `subscribed` without either (it does not know the extension). In the
//!   last two cases, and when there was no event id to resume from, a [`Gap`] is sent
//!   on [`WsSource::gaps`], so the application can backfill from its webhook log.
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
//! - **No frame can wedge the stream.** A message over
//!   [`max_message_size`](WsConfig::max_message_size) (1 MiB), or one that is not an
//!   event the source can read, is skipped, counted and reported
//!   ([`WsSource::skipped`]); when it has an event id, the resume point moves past
//!   it, so a replay does not meet it again. Only a message over 64 MiB drops the
//!   connection. Frames are read by the one envelope parser every transport uses;
//!   payloads are read when the consumer asks. Nothing the server sends can panic
//!   the source.
//! - Progress is observable through [`WsSource::status`] ([`Status`]).
//! - **Metrics** through the [`metrics`](https://docs.rs/metrics) facade, for
//!   whatever recorder the application installs (none: they cost a relaxed load):
//!   `mailwire_ws_connects_total`, `mailwire_ws_disconnects_total`,
//!   `mailwire_ws_events_total` (event frames received), `mailwire_ws_gaps_total`
//!   and `mailwire_ws_skipped_frames_total` (label `reason`: `too_large` or
//!   `unreadable`).
//!
//! [`SourceError::Auth`]: mailwire_source::SourceError::Auth
//! [`SourceError::Tls`]: mailwire_source::SourceError::Tls

mod checkpoint;
mod config;
mod connect;
mod metric;
mod session;
mod source;
mod spares;
mod status;
mod supervisor;

pub use checkpoint::{CheckpointError, CheckpointOp, ResumePoint};
pub use config::{AuthStyle, TlsTrust, WsConfig};
pub use mailwire_source::{Backoff, Delays};
pub use source::{Gaps, Shutdown, WsSource};
pub use status::{DisconnectReason, Gap, GapCause, SkipReason, Skipped, SkippedFrames, Status};
