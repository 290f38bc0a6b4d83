//! What can stop a source.

/// A boxed error from a lower layer (a socket, a store).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a source could not deliver, or an ack could not settle.
///
/// [`is_fatal`](SourceError::is_fatal) tells a caller whether to give up or try again:
/// credentials, configuration, TLS trust and a closed source are fatal; a store or
/// transport hiccup is transient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The service refused the credentials. Retrying will not help.
    #[error("credentials refused: {0}")]
    Auth(#[source] BoxError),
    /// The source is configured wrongly (a bad URL, an unreadable certificate).
    #[error("invalid configuration: {0}")]
    Config(#[source] BoxError),
    /// The peer's certificate is not trusted, or TLS could not be set up; the cause
    /// (e.g. rustls' own certificate error) is kept as the source.
    #[error("TLS: {0}")]
    Tls(#[source] BoxError),
    /// The source was closed or shut down.
    #[error("source closed")]
    Closed,
    /// The durable store failed; the operation may succeed later.
    #[error("store: {0}")]
    Store(#[source] BoxError),
    /// The network failed; the operation may succeed later.
    #[error("transport: {0}")]
    Transport(#[source] BoxError),
    /// The peer sent something that breaks the protocol.
    #[error("protocol: {0}")]
    Protocol(#[source] BoxError),
}

impl SourceError {
    /// True when the source cannot go on: retrying the same call will fail again.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SourceError::Auth(_)
                | SourceError::Config(_)
                | SourceError::Tls(_)
                | SourceError::Closed
        )
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        !self.is_fatal()
    }

    /// Credentials refused: a message, or the error that says so.
    pub fn auth(e: impl Into<BoxError>) -> Self {
        SourceError::Auth(e.into())
    }

    /// A configuration error: a message, or the error behind it (a URL's parse
    /// error, ...).
    pub fn config(e: impl Into<BoxError>) -> Self {
        SourceError::Config(e.into())
    }

    /// A TLS failure, keeping its cause.
    pub fn tls(e: impl Into<BoxError>) -> Self {
        SourceError::Tls(e.into())
    }

    /// A store failure.
    pub fn store(e: impl Into<BoxError>) -> Self {
        SourceError::Store(e.into())
    }

    /// A transport failure.
    pub fn transport(e: impl Into<BoxError>) -> Self {
        SourceError::Transport(e.into())
    }

    /// A protocol violation.
    pub fn protocol(e: impl Into<BoxError>) -> Self {
        SourceError::Protocol(e.into())
    }
}
