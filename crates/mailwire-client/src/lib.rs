//! What every mailwire client shares, in one place so they agree: how long to wait
//! before trying again ([`Backoff`], [`full_jitter`], [`retry_after`]), how an id
//! goes into a URL ([`segment`]), which certificate authorities to trust
//! ([`tls::TlsTrust`], feature `tls`) and the HTTP(S) client itself
//! ([`https::client`], feature `https`).
//!
//! The WebSocket source, the backfill's REST reads, the webhook sender, the
//! simulator's relay and the command line all build on it; the core
//! (`mailwire-source`) does not, so a source of your own compiles no HTTP client.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//!
//! use mailwire_client::{Backoff, parse_retry_after, segment};
//!
//! // Reconnect delays: full jitter under a doubling ceiling, capped.
//! let mut delays = Backoff::default().base(Duration::from_millis(100)).seed(1).delays();
//! assert!(delays.next().unwrap() <= Duration::from_millis(100));
//! assert!(delays.next().unwrap() <= Duration::from_millis(200));
//!
//! // A server's "come back in 30 s" is a floor on the next wait.
//! let asked = parse_retry_after("30", SystemTime::now()).unwrap();
//! assert_eq!(asked, Duration::from_secs(30));
//!
//! // An inbox id is one path segment, whatever it holds.
//! let path = format!("/v0/inboxes/{}/messages", segment("agent@example.com"));
//! assert_eq!(path, "/v0/inboxes/agent%40example.com/messages");
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod encode;
#[cfg(feature = "https")]
pub mod https;
mod retry_after;
#[cfg(feature = "tls")]
pub mod tls;

pub use backoff::{Backoff, Delays, full_jitter};
pub use encode::{COMPONENT, segment};
pub use retry_after::{parse_retry_after, retry_after};
