//! What can go wrong setting up a sender.

/// A sender or endpoint that cannot be built. Per-delivery failures are not errors
/// but [`Outcome`](crate::Outcome)s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SenderError {
    /// The endpoint URL does not parse, or is not `http://` or `https://`.
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(String),
    /// The TLS configuration could not be built (no usable root certificate).
    #[error("TLS: {0}")]
    Tls(#[source] mailwire_client::tls::TlsError),
}
