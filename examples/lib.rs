//! Runnable scenarios, each self-contained against an embedded simulator:
//!
//! | example | what it shows |
//! | --- | --- |
//! | `conversational_agent` | WebSocket first, webhooks as the fallback, merged: each email answered once through a WebSocket outage |
//! | `two_factor_wait` | WebSocket alone, filtered to one inbox: a sign-in code read within a deadline |
//! | `background_worker` | webhooks alone with a redb store: a crash, a restart, nothing lost |
//! | `custom_source` | an `EventSource` of your own: a REST poller of `GET /_sim/events?after=` |
//! | `laptop_agent` | no public URL: the agent runtime with a WebSocket and the REST backfill, nothing missed across restarts |
//! | `platform` | three tenants behind one receiver, one with its own WebSocket, one signing up and one leaving while it runs |
//!
//! `cargo run -p mailwire-examples --example conversational_agent`, and so on.
//! `tests/agent_with_fakes.rs` tests an agent against in-memory fakes.

// The README's snippets compile as doctests here, where the dependencies they use are.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
