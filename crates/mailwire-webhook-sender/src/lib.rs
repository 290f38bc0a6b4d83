//! A retrying, signing webhook sender: what an email service does to deliver its
//! events, for the simulator, for `mailwire forward`, and for an application that
//! sends webhooks of its own.
//!
//! ```
//! use mailwire_source::EventSource;
//! use mailwire_webhook::{Keyring, Signer, Verifier};
//! use mailwire_webhook_http::WebhookReceiver;
//! use mailwire_webhook_sender::{Endpoint, WebhookSender};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! // A receiver to send to (any HTTP endpoint would do).
//! let mut receiver = WebhookReceiver::new(Verifier::new(Keyring::standard(SECRET)?))
//!     .bind("127.0.0.1:0")
//!     .await?;
//! let url = format!("http://{}/webhooks", receiver.local_addr().unwrap());
//!
//! let endpoint = Endpoint::new(&url, Signer::new(Keyring::standard(SECRET)?))?;
//! let body = br#"{"id":"evt_1","type":"domain.verified","data":{"domain":"example.com"}}"#;
//! let outcome = WebhookSender::new()?.send(&endpoint, "evt_1", body.to_vec().into()).await;
//! assert!(outcome.is_delivered());
//! assert_eq!(receiver.next().await?.expect("one event").event.id(), "evt_1");
//! # Ok(())
//! # }
//! ```
//!
//! [`WebhookSender`] signs with any scheme (a [`Signer`](mailwire_webhook::Signer)
//! per [`Endpoint`]) and POSTs over `http` or `https` (rustls with ring; the
//! system's and the webpki roots by default, as every mailwire client, or your own:
//! [`TlsTrust`](mailwire_client::tls::TlsTrust)). It retries on the Standard
//! Webhooks schedule with full jitter ([`STANDARD_SCHEDULE`]; a time scale runs it
//! in milliseconds in tests), 15 s per attempt, the same webhook id each time with
//! a fresh timestamp. 2xx is success, 410 disables the endpoint, 429 and 503 are
//! retried no sooner than their `Retry-After` (delta-seconds or an HTTP-date).
//! Each delivery ends in an [`Outcome`]; [`WebhookSender::send_observed`] reports
//! each failed attempt as it happens.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod endpoint;
mod error;
mod outcome;
mod schedule;
mod sender;

pub use endpoint::Endpoint;
pub use error::SenderError;
pub use outcome::{Attempt, FailedAttempt, Failure, Outcome};
pub use schedule::{Jitter, STANDARD_SCHEDULE, full_jitter};
pub use sender::{SenderBuilder, WebhookSender};
