//! Email events for agents: know within milliseconds, and without ever losing one,
//! that an email arrived, bounced or was delivered.
//!
//! This crate gathers the mailwire crates behind cargo features; each is usable on
//! its own too.
//!
//! ```
//! use mailwire::{Event, EventType};
//!
//! let event = Event::parse(
//!     &br#"{"id":"evt_1","type":"message.received","data":{"inbox_id":"ada@agentmail.to",
//!          "thread_id":"thr_1","message_id":"msg_1","subject":"Your code is 481516"}}"#[..],
//! )?;
//! assert_eq!(event.event_type(), &EventType::MessageReceived);
//! # Ok::<(), mailwire::proto::ParseError>(())
//! ```
//!
//! | module | crate | feature |
//! | --- | --- | --- |
//! | [`proto`] | `mailwire-proto`: events, payloads, WebSocket frames | always |
//! | [`source`] | `mailwire-source`: the `EventSource` trait, `Delivery`, `Ack` | always |
//! | `webhook` | `mailwire-webhook`: signature verification and signing | `webhook` |
//! | `webhook_http` | `mailwire-webhook-http`: the webhook receiver; its tower `Service` with `tower` (default) | `webhook-http` (default) |
//! | `webhook_sender` | `mailwire-webhook-sender`: the retrying, signing webhook sender | `webhook-sender` |
//! | `ws` | `mailwire-ws`: the WebSocket source | `ws` (default) |
//! | `backfill` | `mailwire-backfill`: a source that fills gaps from the REST API | `backfill` |
//! | `store` | `mailwire-store`: the one store (log, acked ids, claims): memory; redb with `redb` (default); Redis with `redis` | `store` (default) |
//! | `merge` | `mailwire-merge`: one deduplicated stream from many sources | `merge` (default) |
//! | `agent` | `mailwire-agent`: the agent runtime (`Agent`): every transport, the store and the merge, with every guarantee | `agent` |
//! | `sim` | `mailwire-sim`: a local simulator of the service | `sim` |
//! | `test` | `mailwire-test`: fakes and the conformance suite | `test` |
//!
//! ## Features
//!
//! Each engine is a feature, so a program compiles only the ones it uses:
//!
//! - `ws` (default): the WebSocket source (tokio, rustls).
//! - `webhook`: signature verification and signing alone: pure, sync, no tokio.
//! - `webhook-http` (default): the webhook receiver, a hyper server; no HTTP client.
//! - `tower` (default): the receiver as a tower `Service` for an axum or tower router.
//!   `mailwire-webhook-http` turns it on by default too, so today `webhook-http`
//!   alone has it as well.
//! - `webhook-sender`: the retrying, signing webhook sender (an HTTPS client).
//! - `backfill`: the source that fills gaps from the REST API (an HTTPS client).
//! - `store` (default): the store trait and the memory store, no engine.
//! - `redb` (default): the embedded store engine, one redb file.
//! - `redis`: the Redis store, for several instances sharing one log.
//! - `merge` (default): one deduplicated stream from many sources.
//! - `agent`: the agent runtime, `Agent`: WebSocket, webhooks, backfill, store and
//!   merge composed with checkpoints in the store, gaps filled and nothing dropped.
//! - `sim`: a local simulator of the service; `test`: fakes and the conformance suite.
//!
//! With `default-features = false`, only [`proto`] and [`source`] remain.
//!
//! ## The prelude
//!
//! `use mailwire::prelude::*;` brings the types nearly every program names and the
//! traits whose methods it calls ([`EventSource::next`], [`EventSourceExt`]'s
//! adapters), for the features that are on:
//!
//! ```
//! use mailwire::prelude::*;
//!
//! fn describe(delivery: &Delivery) -> String {
//!     format!("{} from {}", delivery.event.event_type(), delivery.origin)
//! }
//! # let _ = describe;
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mailwire_proto as proto;
pub use mailwire_source as source;

pub use mailwire_proto::{Envelope, Event, EventType, Payload};
pub use mailwire_source::{Ack, Delivery, EventSource, EventSourceExt, Origin, SourceError};

#[cfg(feature = "agent")]
pub use mailwire_agent as agent;
#[cfg(feature = "agent")]
pub use mailwire_agent::Agent;
#[cfg(feature = "backfill")]
pub use mailwire_backfill as backfill;
#[cfg(feature = "merge")]
pub use mailwire_merge as merge;
#[cfg(feature = "sim")]
pub use mailwire_sim as sim;
#[cfg(feature = "store")]
pub use mailwire_store as store;
#[cfg(feature = "test")]
pub use mailwire_test as test;
#[cfg(feature = "webhook")]
pub use mailwire_webhook as webhook;
#[cfg(feature = "webhook-http")]
pub use mailwire_webhook_http as webhook_http;
#[cfg(feature = "webhook-sender")]
pub use mailwire_webhook_sender as webhook_sender;
#[cfg(feature = "ws")]
pub use mailwire_ws as ws;

/// The types nearly every program names and the traits whose methods it calls:
/// `use mailwire::prelude::*;`.
pub mod prelude {
    pub use mailwire_proto::{Event, EventType, Payload};
    pub use mailwire_source::{
        Ack, BoxSource, Delivery, EventSource, EventSourceExt, Origin, Shutdown, SourceError,
        TenantId,
    };

    #[cfg(feature = "agent")]
    pub use mailwire_agent::{Agent, Runner};
    #[cfg(feature = "backfill")]
    pub use mailwire_backfill::{Backfill, BackfillConfig};
    #[cfg(feature = "merge")]
    pub use mailwire_merge::Merge;
    #[cfg(feature = "redb")]
    pub use mailwire_store::RedbStore;
    #[cfg(feature = "redis")]
    pub use mailwire_store::RedisStore;
    #[cfg(feature = "store")]
    pub use mailwire_store::{MemoryStore, Store};
    #[cfg(feature = "webhook")]
    pub use mailwire_webhook::{Keyring, Signer, Verifier};
    #[cfg(feature = "webhook-http")]
    pub use mailwire_webhook_http::WebhookReceiver;
    #[cfg(feature = "webhook-sender")]
    pub use mailwire_webhook_sender::{Endpoint, WebhookSender};
    #[cfg(feature = "ws")]
    pub use mailwire_ws::{WsConfig, WsSource};
}
