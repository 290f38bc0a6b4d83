//! Webhooks over HTTP for mailwire: a receiver that is an
//! [`EventSource`](mailwire_source::EventSource). The sender that delivers to it
//! is its own crate, `mailwire-webhook-sender`.
//!
//! ```
//! use mailwire_source::EventSource;
//! use mailwire_store::{MemoryStore, Store};
//! use mailwire_webhook::{Keyring, Signer, Verifier};
//! use mailwire_webhook_http::WebhookReceiver;
//! use mailwire_webhook_sender::{Endpoint, WebhookSender};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//!
//! // The receiving side: verify, log (and claim) before the 2xx, hand over.
//! let store = MemoryStore::new();
//! let mut source = WebhookReceiver::new(Verifier::new(Keyring::standard(SECRET)?))
//!     .store(store.clone())
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let url = format!("http://{}/webhooks", source.local_addr().unwrap());
//!
//! // The sending side (the email service, or `mailwire forward`): sign and POST.
//! let endpoint = Endpoint::new(&url, Signer::new(Keyring::standard(SECRET)?))?;
//! let body = br#"{"id":"evt_1","type":"domain.verified","data":{"domain":"example.com"}}"#;
//! let outcome = WebhookSender::new()?.send(&endpoint, "evt_1", body.to_vec().into()).await;
//! assert!(outcome.is_delivered());
//!
//! let delivery = source.next().await?.expect("one event");
//! assert_eq!(delivery.event.id(), "evt_1");
//! delivery.ack().await?; // after the side effect: it will not be replayed
//! assert!(store.unacked(10).await?.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! # Receiver
//!
//! [`WebhookReceiver`] configures it, [`bind`](WebhookReceiver::bind) serves it
//! (hyper 1, HTTP/1.1) and returns the [`WebhookSource`]. For each request:
//!
//! | condition | answer |
//! | --- | --- |
//! | over a [rate limit](#rate-limits) (per client address, in total, or the tenant's), or from an address shut out for its failures | 429 with `Retry-After`, before any body is read or MAC computed; the connection closes |
//! | another path (not the receiver's, nor one of its [tenants](#tenants)') | 404 |
//! | not POST | 405 |
//! | declared or streamed body over the limit (4 MiB) | 413 and the connection closes: the rest is never read |
//! | body that would take the bodies held at once over their bound (64 MiB in total) | 503 with `Retry-After` and the connection closes: the sender retries |
//! | body not received within the body timeout | 408 and the connection closes |
//! | missing or bad signature, stale or future timestamp | 401 `invalid signature: <rule>` (no secret echoed) |
//! | valid signature, body not an event | 400 (logged: retrying will not help) |
//! | valid, id already seen | 200 `duplicate`, not emitted again |
//! | valid, new | appended to the log (when configured) *before* the 200 `ok`, then emitted |
//! | log or seen-set failing, or the queue to the consumer full | 503 with `Retry-After`: never a 2xx for what was not kept |
//! | unknown event type | 200, emitted as [`EventType::Other`](mailwire_proto::EventType::Other) |
//!
//! Deduplication: with a [`Store`](mailwire_store::Store), its append is the
//! authority: it claims the event for this instance, and of concurrent deliveries
//! of one id (to this receiver, or to another instance's sharing the store) exactly
//! one is emitted; without one, a seen-set (in memory by default). Room in the queue
//! is reserved *before* the append, so an event is never logged and then refused.
//! Acking a delivery acks it in the store; dropping it unacked releases its claim.
//! Each delivery emitted after a store's append says so
//! ([`Custody::Claimed`](mailwire_source::Custody::Claimed)): give the merge this
//! receiver feeds the same store value, and it hands the event out without a
//! second append, acks it there once, and claims what was logged and never acked
//! (as [`Origin::Log`](mailwire_source::Origin::Log)).
//!
//! Slow and greedy clients: an idle timeout (a connection waiting longer for
//! its next request is closed), a header timeout (from a request's first byte),
//! a body read timeout, a cap on connections (connections beyond it wait
//! unaccepted in the listen backlog), and a cap on connections per client
//! address (connections beyond it are closed at once), so one address cannot
//! hold every slot; see [`WebhookReceiver`]'s Connections and Memory. Shutdown
//! ([`WebhookSource::shutdown`]) stops accepting, lets requests in flight finish,
//! then the source hands over what it holds and ends. Every new event is durable
//! before its 2xx, so there is nothing to flush; close the store after the
//! source has ended. Dropping the source stops the server at once.
//!
//! What the receiver answered, by kind of answer, is in
//! [`WebhookSource::stats`] ([`ReceiverStats`]), and each tenant's share in
//! [`Tenants::stats`].
//!
//! # Rejections
//!
//! Each refused request (every 4xx, and 503) is also a [`Rejection`] notice:
//! its status, a short reason (the rule a signature broke, the budget that was
//! spent, the store being down; never a secret, a signature or any part of the
//! body), the client's address, the tenant when known, and when. Take the
//! notices once with [`WebhookSource::rejections`] (or
//! [`WebhookService::rejections`]), e.g. to print a line per refusal. Up to
//! 1024 notices wait for a reader; beyond that new ones are dropped (a flood
//! nobody reads costs no memory and no formatting) while
//! [`Rejections::count`] stays exact.
//!
//! ```
//! use mailwire_webhook::{Keyring, Verifier};
//! use mailwire_webhook_http::WebhookReceiver;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = WebhookReceiver::new(Verifier::new(Keyring::hex("s3cret")?))
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let mut rejections = source.rejections().expect("taken once");
//! tokio::spawn(async move {
//!     while let Some(rejection) = rejections.recv().await {
//!         // e.g. "webhook refused: 401 invalid signature: timestamp too old from 10.0.0.7:50312"
//!         eprintln!("webhook refused: {rejection}");
//!     }
//! });
//! # drop(source);
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! The receiver counts through the [`metrics`] facade: install any recorder
//! (e.g. `metrics-exporter-prometheus`) and these appear; with none installed a
//! count costs a thread-local read (every key is prepared once, so nothing is
//! allocated per request).
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `mailwire_webhook_requests_total` | counter | `outcome` (`accepted`, `duplicate`, `rate_limited`, `unauthorized`, `rejected`, `unavailable`: the fields of [`ReceiverStats`]), `status` (the HTTP status, e.g. `401`), `tenant` (its id, empty when none) |
//! | `mailwire_webhook_rate_limited_total` | counter | `budget`: `per_address`, `total`, `failures` (the address is shut out for its failures), `tenant` (one of the tenant's budgets) |
//! | `mailwire_webhook_connections_refused_total` | counter | `limit`: `per_address` (a connection closed at once, its client address holding its cap of connections already) |
//! | `mailwire_webhook_store_seconds` | histogram | `outcome`: `ok`, `error`; the latency of the [`Store`](mailwire_store::Store)'s append, in seconds |
//!
//! The labels take few values: a tenant adds one series per answer it gets.
//!
//! # Rate limits
//!
//! Exposed to the internet, a receiver must not let one client spend its CPU:
//! each request is first checked against [`RateLimits`], enforced with
//! [`governor`]'s GCRA, before its body is read or a MAC computed:
//!
//! - **per client address** (an IPv6 address counts by its /64), default
//!   `1000/s burst 5000`;
//! - **in total**, default `20000/s burst 40000`;
//! - **failures per client address**, default `10/min burst 20`: requests that
//!   failed verification (401) or sent a body over the limit (413) spend it, and
//!   once it is spent every request from that address gets 429 until it has
//!   room again (one more try every 6 s by default). A client spraying bad
//!   signatures is shut out, and costs one budget check per request, while a
//!   sender on another address keeps getting 200.
//!
//! A request over a budget gets 429 with `Retry-After` (whole seconds until the
//! budget has room, at least 1), which AgentMail's Svix and the Standard
//! Webhooks senders honour. The defaults are far above what a legitimate sender
//! sends, its retries after an outage included; [`RateLimits::off`] turns them
//! off (e.g. behind a proxy, where every request comes from the proxy's
//! address). Memory for the budgets per address follows the addresses active
//! within a burst's time: stale keys are swept every 1024 requests.
//!
//! ```
//! use mailwire_webhook::{Keyring, Verifier};
//! use mailwire_webhook_http::{Rate, RateLimits, WebhookReceiver};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limits = RateLimits::default()
//!     .per_address(Some("200/s burst 500".parse()?))
//!     .failures_per_address(Some(Rate::per_minute(5)));
//! let receiver = WebhookReceiver::new(Verifier::new(Keyring::hex("s3cret")?))
//!     .rate_limits(limits);
//! # drop(receiver);
//! # Ok(())
//! # }
//! ```
//!
//! # Tenants
//!
//! One receiver serves many tenants (a platform's customers, or AgentMail pods):
//! each [`Tenant`] has its own keyring (several secrets at once during a
//! rotation), its own path (`<receiver path>/<tenant id>` unless it names one)
//! or routing keys (events verified at the receiver's own path belong to the
//! tenant of their pod id or inbox id), its own [`RateLimits`] on top of the
//! receiver's, and its own [`ReceiverStats`]. A [`Tenants`] handle, cheap to
//! clone, adds, rotates and removes them while the receiver serves, and
//! [`Tenants::from_config`] / [`Tenants::replace_all`] load and reload them from
//! a [`TenantsConfig`] read from a file (serde). Each delivery says its tenant in
//! [`Delivery::tenant`]. A receiver without tenants answers exactly as before.
//!
//! ```
//! use mailwire_source::EventSource;
//! use mailwire_webhook::{Keyring, Signer, Verifier};
//! use mailwire_webhook_http::{Tenant, Tenants, WebhookReceiver};
//! use mailwire_webhook_sender::{Endpoint, WebhookSender};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const ACME: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let tenants = Tenants::new();
//! tenants.insert(Tenant::new("acme", Verifier::new(Keyring::standard(ACME)?)))?;
//! let mut source = WebhookReceiver::for_tenants(tenants.clone())
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let url = format!("http://{}/webhooks/acme", source.local_addr().unwrap());
//!
//! let endpoint = Endpoint::new(&url, Signer::new(Keyring::standard(ACME)?))?;
//! let body = br#"{"id":"evt_1","type":"domain.verified","data":{"domain":"acme.example"}}"#;
//! assert!(WebhookSender::new()?.send(&endpoint, "evt_1", body.to_vec().into()).await.is_delivered());
//!
//! let delivery = source.next().await?.expect("one event");
//! assert_eq!(delivery.tenant.as_ref().unwrap(), "acme");
//! delivery.ack().await?;
//! assert_eq!(tenants.stats("acme").unwrap().accepted, 1);
//!
//! // At run time, without a restart: acme leaves, its path answers 404.
//! tenants.remove("acme");
//! # Ok(())
//! # }
//! ```
//!
//! With the `tower` feature (on by default), [`WebhookReceiver::into_service`]
//! gives a [`WebhookService`] to mount in your own axum or tower router instead;
//! see `examples/axum_router.rs`.
//!
//! # Sending
//!
//! `mailwire-webhook-sender` signs and POSTs webhooks as the service does, with
//! its retry schedule: the examples above deliver with it, and `mailwire forward`
//! relays WebSocket events to a receiver with it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod config;
mod error;
mod intake;
mod limiter;
mod limits;
mod metric;
mod receiver;
mod rejection;
mod reply;
mod server;
#[cfg(feature = "tower")]
mod service;
mod settings;
mod source;
mod stats;
mod tenant;
mod verify;

pub use config::{TenantConfig, TenantsConfig};
pub use error::ConfigError;
pub use limits::{Rate, RateLimits};
pub use mailwire_source::Delivery;
pub use mailwire_source::Shutdown;
pub use receiver::WebhookReceiver;
pub use rejection::{Rejection, Rejections};
pub use reply::ReplyBody;
#[cfg(feature = "tower")]
pub use service::WebhookService;
pub use source::WebhookSource;
pub use stats::ReceiverStats;
pub use tenant::{Tenant, TenantId, Tenants};
