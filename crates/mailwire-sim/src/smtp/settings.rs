//! What the SMTP server is told: its name, limits, timeouts and TLS.

use std::fmt;
use std::time::Duration;

/// What the server is told.
pub(crate) struct SmtpSettings {
    /// The server's name, in the greeting and the EHLO answer.
    pub(crate) hostname: String,
    /// The largest message accepted, in bytes of DATA (dot-unstuffed); advertised as
    /// `SIZE` and enforced. Zero refuses every message that is not empty.
    pub(crate) max_size: usize,
    /// Recipients per message; one more RCPT TO is answered 452 4.5.3.
    pub(crate) max_recipients: usize,
    /// Connections served at once; another one is answered 421 4.3.2 and closed.
    pub(crate) max_connections: usize,
    /// How long a client may stay silent between commands (and take to read our
    /// replies); after it, 421 4.4.2 and the connection is closed. It also bounds a
    /// STARTTLS handshake.
    pub(crate) command_timeout: Duration,
    /// How long a whole DATA transfer may take; after it, 421 4.4.2 and close.
    pub(crate) data_timeout: Duration,
    /// STARTTLS is offered only when this is set.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl SmtpSettings {
    /// Settings for `hostname` with the limits of a usual server: 25 MiB messages,
    /// 100 recipients, 100 connections, 5 minutes between commands (RFC 5321
    /// §4.5.3.2.7) and 10 minutes for DATA; no TLS.
    pub(crate) fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            max_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 100,
            command_timeout: Duration::from_secs(5 * 60),
            data_timeout: Duration::from_secs(10 * 60),
            tls: None,
        }
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The acceptor holds the private key: only whether there is one is shown.
        f.debug_struct("SmtpSettings")
            .field("hostname", &self.hostname)
            .field("max_size", &self.max_size)
            .field("max_recipients", &self.max_recipients)
            .field("max_connections", &self.max_connections)
            .field("command_timeout", &self.command_timeout)
            .field("data_timeout", &self.data_timeout)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}
