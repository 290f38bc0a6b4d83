//! Where accepted mail goes: the [`Mailbox`] and what it is handed and answers.

use std::fmt;

use bytes::Bytes;
use futures::future::BoxFuture;

/// One message as the client handed it over.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The reverse path without `<>`; empty for the null sender `<>`.
    pub(crate) mail_from: String,
    /// The accepted forward paths without `<>`, in the order they were given.
    pub(crate) rcpt_to: Vec<String>,
    /// The message, dot-unstuffed, its final `.\r\n` removed, line ends as sent.
    pub(crate) data: Bytes,
    /// The name the client gave in HELO or EHLO.
    pub(crate) helo: String,
    /// Whether the message came over STARTTLS.
    pub(crate) tls: bool,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A message can be megabytes: its size says enough in a log or a failed test.
        f.debug_struct("Envelope")
            .field("mail_from", &self.mail_from)
            .field("rcpt_to", &self.rcpt_to)
            .field("data", &format_args!("{} bytes", self.data.len()))
            .field("helo", &self.helo)
            .field("tls", &self.tls)
            .finish()
    }
}

/// An SMTP reply the mailbox chooses: a 4xx or 5xx code, an enhanced status code such
/// as `5.1.1` (RFC 3463; empty for none) and a one-line text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The reply code, 4xx (try again later) or 5xx (refused).
    pub(crate) code: u16,
    /// The enhanced status code, e.g. `5.1.1`; empty for none.
    pub(crate) enhanced: String,
    /// The text; line breaks in it are sent as spaces.
    pub(crate) text: String,
}

impl Reply {
    /// A reply with this code, enhanced status code and text.
    pub(crate) fn new(code: u16, enhanced: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced: enhanced.into(),
            text: text.into(),
        }
    }
}

/// Where accepted mail goes.
pub(crate) trait Mailbox: Send + Sync + 'static {
    /// Checks one RCPT TO address (already stripped of `<>` and parameters): `Ok`, or
    /// the refusal reply.
    fn recipient(&self, address: &str) -> Result<(), Reply>;

    /// Takes a whole message; `Ok` gives 250 with the returned queue id in the text,
    /// `Err` the reply.
    fn deliver(&self, envelope: Envelope) -> BoxFuture<'static, Result<String, Reply>>;
}
