//! Verify and sign webhook signatures: hex HMAC (GitHub-style), Standard
//! Webhooks (Svix, AgentMail) with HMAC `v1` and ed25519 `v1a`, and Stripe.
//!
//! Pure and synchronous: no I/O, no async runtime, no web framework. Hand it
//! the raw body bytes (before any JSON parsing) and the request headers, as an
//! [`http::HeaderMap`] or as `(name, value)` pairs.
//!
//! ```
//! use mailwire_webhook::{Keyring, Scheme, Verifier, VerifyError};
//!
//! // Built once at start-up: secrets are decoded and checked here.
//! let keyring = Keyring::new(Scheme::Standard, ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?;
//! let verifier = Verifier::new(keyring).with_clock(|| 1_614_265_330);
//!
//! // Per request.
//! let headers = [
//!     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
//!     ("webhook-timestamp", "1614265330"),
//!     ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
//! ];
//! let verified = verifier.verify(&headers, br#"{"test": 2432232314}"#)?;
//! assert_eq!(verified.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
//! assert_eq!(verified.key_index, 0);
//!
//! // One changed byte and the request is refused, naming the rule.
//! let err = verifier.verify(&headers, br#"{"test": 2432232315}"#).unwrap_err();
//! assert_eq!(err, VerifyError::NoMatchingSignature);
//! assert_eq!(err.to_string(), "no matching signature");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rules
//!
//! - A [`Keyring`] holds one or more secrets of one [`Scheme`] (rotation);
//!   an empty or malformed secret fails at construction ([`KeyError`]), not
//!   on the first request.
//! - Timestamps are ASCII digits only (no sign, no leading zero, no spaces)
//!   and must lie within a past and a future tolerance (5 minutes each by
//!   default); the arithmetic cannot overflow. The clock is injectable.
//! - Hex and base64 are decoded strictly (base64: standard alphabet,
//!   canonical padding; hex: exactly 64 digits) and the *decoded* MAC is
//!   compared in constant time (by `ring` or `subtle`, never by hand),
//!   never the text.
//! - **Hex case**: upper- and lower-case hex digits are both accepted. The
//!   comparison is on decoded bytes, so case carries no information, and
//!   common senders differ (.NET's `Convert.ToHexString` writes upper case).
//!   [`Signer`] writes lower case.
//! - Header values longer than [`Verifier::MAX_HEADER_LEN`] and headers with
//!   more than [`Verifier::MAX_SIGNATURES`] candidates are refused before any
//!   MAC is computed. Unknown signature versions are skipped (but counted).
//! - A signature, id or timestamp header that appears twice, including once
//!   as `webhook-*` and once as `svix-*`, is refused.
//! - [`Signer`] writes the `webhook-*` names unless told
//!   [`HeaderNames::Svix`], the names AgentMail's webhooks (sent by Svix)
//!   carry; [`new_message_id`] makes a `msg_` id as Svix's look.
//! - Every failure is a [`VerifyError`] variant naming the rule; its message
//!   never contains a secret or a computed MAC.
//! - [`Signer::sign`] produces exactly what [`Verifier::verify`] accepts.
//!
//! # Schemes and secrets
//!
//! | scheme | headers | signed content | secret |
//! | --- | --- | --- | --- |
//! | `hex` | `x-signature` (configurable): `[sha256=\|v1=]<hex>` | body | UTF-8 bytes of the secret |
//! | `standard` | `svix-id`, `svix-timestamp`, `svix-signature` or the `webhook-*` names | `{id}.{ts}.{body}` | `whsec_` / `whpk_` / `whsk_` base64 |
//! | `stripe` | `stripe-signature`: `t=<ts>,v1=<hex>[,v1=...]` | `{ts}.{body}` | UTF-8 bytes of the secret |
//!
//! # Performance
//!
//! HMAC keys are prepared once per keyring (ring's precomputed pads), the
//! signed content is streamed into the MAC rather than concatenated, and
//! candidates are decoded into stack buffers: verification costs one HMAC
//! per key plus a few hundred nanoseconds. Measured side by side on one
//! machine (`cargo bench -p mailwire-webhook --bench interleaved`; the
//! floor is raw `ring::hmac::sign` over the concatenated signed content):
//!
//! | scheme | body | mailwire | svix 2.9 | standardwebhooks 1.0 |
//! | --- | ---: | ---: | ---: | ---: |
//! | standard | 256 B | 1.87x | 6.91x | 6.49x |
//! | standard | 4 KiB | 1.11x | 5.59x | 5.53x |
//! | standard | 64 KiB | 1.01x | 5.51x | 5.52x |
//! | hex | 256 B / 4 KiB / 64 KiB | 1.14x / 1.02x / 1.00x | n/a | n/a |
//!
//! See `BENCHMARKS.md` at the repository root for absolute times and method.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
mod headers;
mod keyring;
mod message_id;
mod names;
mod parse;
mod scheme;
mod sign;
mod verify;

#[doc(hidden)]
pub mod fuzzing;

pub use clock::{Clock, SystemClock};
pub use error::{HeaderKind, KeyError, SignError, VerifyError};
pub use headers::{Headers, Lookup};
pub use keyring::{Keyring, public_key_for};
pub use message_id::{new_message_id, new_secret};
pub use names::HeaderNames;
pub use scheme::Scheme;
pub use sign::Signer;
pub use verify::{Verified, Verifier};
