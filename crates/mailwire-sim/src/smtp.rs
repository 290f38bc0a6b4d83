//! The simulator's SMTP server (`mailwire dev`'s port 1025): any program that sends
//! mail (Python's `smtplib`, nodemailer, swaks, a framework's mailer) can hand
//! messages to it. It speaks RFC 5321 with PIPELINING, 8BITMIME, SMTPUTF8, SIZE,
//! ENHANCEDSTATUSCODES and, when given a certificate, STARTTLS (RFC 3207). It offers
//! no AUTH: clients only authenticate when told to, and a local simulator has no one
//! to keep out.
//!
//! It does not parse MIME. An accepted message goes to a [`Mailbox`] as an
//! [`Envelope`]: the sender, the recipients and the bytes as they were sent.
//!
//! Every connection is bounded: a command line is at most
//! [`MAX_LINE`](session::MAX_LINE) octets, a message is buffered up to `max_size` and
//! no further (a bigger one is read to its end and refused), a silent client is cut
//! by the timeouts, a client that keeps making mistakes is sent away after
//! [`MAX_ERRORS`](session::MAX_ERRORS), and at most `max_connections` are served at
//! once.
//!
//! The session ([`session`]) reads commands and answers them; [`path`] parses MAIL's
//! and RCPT's arguments, [`data`] a message after DATA.

mod data;
mod mailbox;
mod path;
mod session;
mod settings;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::Instrument as _;

pub(crate) use mailbox::{Envelope, Mailbox, Reply};
pub(crate) use settings::SmtpSettings;

/// How long the accept loop waits after a failed accept (out of file descriptors and
/// the like) instead of spinning, as the HTTP accept loop does.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Accepts connections on `listener` until the task running it is aborted (or
/// dropped); the connections it serves end with it.
pub(crate) async fn serve(
    listener: TcpListener,
    settings: Arc<SmtpSettings>,
    mailbox: Arc<dyn Mailbox>,
) {
    // The sessions live in the set, so aborting `serve` aborts them, and its length
    // is the number of connections being served.
    let mut sessions = JoinSet::new();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "SMTP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        while let Some(ended) = sessions.try_join_next() {
            if let Err(e) = ended {
                tracing::warn!(error = %e, "SMTP session failed");
            }
        }
        if sessions.len() >= settings.max_connections {
            tracing::debug!(%peer, "SMTP connection turned away: too many connections");
            turn_away(tcp);
            continue;
        }
        tracing::debug!(%peer, "SMTP connection accepted");
        let _ = tcp.set_nodelay(true);
        let span = tracing::debug_span!("smtp", %peer);
        sessions
            .spawn(session::connection(tcp, settings.clone(), mailbox.clone()).instrument(span));
    }
}

/// Answers 421 to a connection over the limit and closes it, without waiting on it:
/// the reply fits in a fresh socket's send buffer, so one non-blocking write is all.
fn turn_away(tcp: TcpStream) {
    use std::io::Write as _;
    if let Ok(mut std) = tcp.into_std() {
        let _ = std.write(b"421 4.3.2 too many connections\r\n");
    }
}
