//! How a delivery ended.

use std::fmt;

use http::StatusCode;
use mailwire_webhook::SignError;

/// The end of one delivery, after all its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A 2xx answer, on attempt number `attempts` (1 = first try).
    Delivered {
        /// Attempts made, this one included.
        attempts: u32,
        /// The 2xx status.
        status: StatusCode,
    },
    /// Every attempt of the schedule failed, or the message could not be signed.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last attempt failed.
        last: Failure,
    },
    /// The endpoint answered 410 Gone (on attempt `attempts`) or was already
    /// disabled (`attempts == 0`): it gets no more deliveries.
    Disabled {
        /// Attempts made by this delivery.
        attempts: u32,
    },
}

impl Outcome {
    /// True for [`Outcome::Delivered`].
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered { .. })
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Outcome::Delivered { attempts, .. }
            | Outcome::GaveUp { attempts, .. }
            | Outcome::Disabled { attempts } => *attempts,
        }
    }
}

/// One failed attempt of a delivery, as
/// [`WebhookSender::send_observed`](crate::WebhookSender::send_observed) reports it.
#[derive(Debug)]
#[non_exhaustive]
pub struct FailedAttempt<'a> {
    /// Its number within the delivery (1 = the first try).
    pub attempt: u32,
    /// Why it failed.
    pub failure: &'a Failure,
    /// When the next attempt comes; `None` when this was the last one (the
    /// delivery gives up).
    pub retry_in: Option<std::time::Duration>,
}

/// One attempt of a delivery, whatever its end, as
/// [`WebhookSender::send_watched`](crate::WebhookSender::send_watched) reports it:
/// what a delivery console shows of each try.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt<'a> {
    /// Its number within the delivery (1 = the first try).
    pub attempt: u32,
    /// The status the endpoint answered; `None` when it gave no answer.
    pub status: Option<StatusCode>,
    /// Why it failed; `None` for a 2xx.
    pub failure: Option<&'a Failure>,
    /// From the request's start to the answer's end (or the failure).
    pub latency: std::time::Duration,
    /// The answer's body, its first 64 KiB (empty without an answer, or when the
    /// answer was longer).
    pub response: &'a [u8],
    /// When the next attempt comes; `None` when there is none (delivered, given
    /// up, or the endpoint disabled).
    pub retry_in: Option<std::time::Duration>,
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The endpoint answered with a status other than 2xx and 410.
    Status(StatusCode),
    /// No answer within the attempt timeout.
    Timeout,
    /// Connecting, TLS or the exchange failed (the message says which).
    Transport(String),
    /// The message could not be signed (no signing key, a malformed id); not retried.
    Sign(SignError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(status) => write!(f, "answered {status}"),
            Failure::Timeout => f.write_str("timed out"),
            Failure::Transport(e) => write!(f, "transport: {e}"),
            Failure::Sign(e) => write!(f, "signing: {e}"),
        }
    }
}
