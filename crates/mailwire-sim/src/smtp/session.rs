//! One SMTP session: commands read from a buffered stream and answered in order,
//! replies written when no command is left to read (what PIPELINING needs), the
//! message after DATA, and the hand-over to TLS after STARTTLS.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use super::data::DataDecoder;
use super::path::{mail_params, parse_path};
use super::{Envelope, Mailbox, Reply, SmtpSettings};

/// The longest command line, its CRLF included (RFC 5321 §4.5.3.1.6's text line).
pub(super) const MAX_LINE: usize = 1000;

/// How much of an overlong command line is read past [`MAX_LINE`] looking for its end
/// before the connection is closed: a client sending an endless line is cut off.
const DISCARD_LIMIT: usize = 64 * 1024;

/// Replies held for a pipelining client before they are written even though more
/// commands are waiting: a client that only writes cannot grow them without bound.
const OUT_LIMIT: usize = 4096;

/// Protocol errors (unknown commands, bad syntax, bad sequence) after which a
/// connection is closed, as Postfix's `smtpd_hard_error_limit` does: something that
/// is not an SMTP client (an HTTP request on the wrong port) is sent away quickly.
pub(super) const MAX_ERRORS: u32 = 20;

/// One connection: a plain session, then, after STARTTLS, a new one over TLS.
pub(super) async fn connection(
    tcp: TcpStream,
    settings: Arc<SmtpSettings>,
    mailbox: Arc<dyn Mailbox>,
) {
    let mut plain = Session::new(tcp, settings.clone(), mailbox.clone(), false);
    plain.greet();
    let tcp = match plain.run().await {
        Ok(End::Closed) => {
            tracing::debug!("SMTP connection closed");
            return;
        }
        Ok(End::StartTls(tcp)) => tcp,
        Err(e) => {
            tracing::debug!(error = %e, "SMTP connection failed");
            return;
        }
    };
    let Some(acceptor) = settings.tls.clone() else {
        return;
    };
    let tls = match tokio::time::timeout(settings.command_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "STARTTLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("STARTTLS handshake timed out");
            return;
        }
    };
    tracing::debug!("STARTTLS established");
    // RFC 3207 §4.2: the session starts over; the client must EHLO again.
    match Session::new(tls, settings, mailbox, true).run().await {
        Ok(_) => tracing::debug!("SMTP connection closed"),
        Err(e) => tracing::debug!(error = %e, "SMTP connection failed"),
    }
}

/// How a session ended.
enum End<S> {
    /// The connection is done.
    Closed,
    /// The client asked for TLS and was told to go ahead; the stream is handed back
    /// with whatever the client pipelined after STARTTLS thrown away (RFC 3207 §4.2).
    StartTls(S),
}

/// What the session does after a command.
enum Next {
    /// Reads the next command.
    Continue,
    /// Writes the pending replies and closes the connection.
    Close,
    /// Writes the pending replies and starts a TLS handshake.
    StartTls,
}

/// A command line as read.
enum Line {
    /// A line within [`MAX_LINE`], its line end removed.
    Command(Vec<u8>),
    /// A line over [`MAX_LINE`] whose end came within [`DISCARD_LIMIT`].
    TooLong,
    /// A line that went on past [`DISCARD_LIMIT`].
    Endless,
    /// The client closed the connection.
    Eof,
}

/// The message being given: between MAIL and the end of DATA.
#[derive(Debug, Default)]
struct Transaction {
    /// The reverse path.
    mail_from: String,
    /// The recipients the mailbox accepted.
    rcpt_to: Vec<String>,
    /// Whether any RCPT was given, accepted or not: DATA with none accepted is then
    /// "no valid recipients" rather than "need RCPT".
    rcpt_given: bool,
    /// Whether MAIL declared SMTPUTF8, which allows addresses that are not ASCII.
    smtputf8: bool,
}

/// One SMTP session over a stream, plain or TLS.
struct Session<S> {
    /// The client's bytes, buffered so that pipelined commands are read in turn; the
    /// stream is written through `get_mut`.
    reader: BufReader<S>,
    /// Replies not yet written: they are written when no command is left to read.
    out: Vec<u8>,
    /// The server's settings.
    settings: Arc<SmtpSettings>,
    /// Where messages go.
    mailbox: Arc<dyn Mailbox>,
    /// The name given in HELO or EHLO; none before either.
    helo: Option<String>,
    /// Whether this session runs over TLS.
    tls: bool,
    /// The message in progress.
    tx: Option<Transaction>,
    /// Protocol errors so far, against [`MAX_ERRORS`].
    errors: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// A session that has seen nothing yet.
    fn new(stream: S, settings: Arc<SmtpSettings>, mailbox: Arc<dyn Mailbox>, tls: bool) -> Self {
        Self {
            reader: BufReader::new(stream),
            out: Vec::new(),
            settings,
            mailbox,
            helo: None,
            tls,
            tx: None,
            errors: 0,
        }
    }

    /// Queues the greeting.
    fn greet(&mut self) {
        let text = format!("{} ESMTP mailwire", self.settings.hostname);
        self.reply(220, "", &text);
    }

    /// Serves commands until the client leaves, is sent away or asks for TLS.
    async fn run(mut self) -> io::Result<End<S>> {
        loop {
            let idle = self.settings.command_timeout;
            let line = match tokio::time::timeout(idle, self.read_line()).await {
                Ok(line) => line?,
                Err(_) => {
                    tracing::debug!("SMTP client idle too long");
                    self.timed_out();
                    self.close().await;
                    return Ok(End::Closed);
                }
            };
            let mut next = match line {
                Line::Command(line) => self.command(&line).await?,
                Line::TooLong => {
                    self.refuse(500, "5.5.6", "Line too long");
                    Next::Continue
                }
                Line::Endless => {
                    tracing::debug!("SMTP command line without end");
                    self.refuse(500, "5.5.6", "Line too long");
                    Next::Close
                }
                Line::Eof => {
                    tracing::debug!("SMTP client went away");
                    return Ok(End::Closed);
                }
            };
            if matches!(next, Next::Continue) && self.errors >= MAX_ERRORS {
                tracing::debug!("SMTP client made too many errors");
                let text = format!("{} too many errors", self.settings.hostname);
                self.reply(421, "4.7.0", &text);
                next = Next::Close;
            }
            match next {
                Next::Continue => {}
                Next::Close => {
                    self.close().await;
                    return Ok(End::Closed);
                }
                Next::StartTls => {
                    match tokio::time::timeout(idle, self.flush()).await {
                        Ok(flushed) => flushed?,
                        Err(_) => return Ok(End::Closed),
                    }
                    // Dropping the reader drops what was pipelined after STARTTLS.
                    return Ok(End::StartTls(self.reader.into_inner()));
                }
            }
        }
    }

    /// Answers one command line.
    async fn command(&mut self, line: &[u8]) -> io::Result<Next> {
        let Ok(line) = std::str::from_utf8(line) else {
            self.refuse(500, "5.5.2", "Command not recognized");
            return Ok(Next::Continue);
        };
        let (verb, args) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "HELO" => self.hello(args, false),
            "EHLO" => self.hello(args, true),
            "MAIL" => self.mail(args),
            "RCPT" => self.rcpt(args),
            "DATA" => return self.data(args).await,
            "RSET" => {
                self.tx = None;
                self.reply(250, "2.0.0", "Ok");
            }
            "NOOP" => self.reply(250, "2.0.0", "Ok"),
            "QUIT" => {
                self.reply(221, "2.0.0", "Bye");
                return Ok(Next::Close);
            }
            "VRFY" if args.trim().is_empty() => self.refuse(501, "5.5.4", "Syntax: VRFY address"),
            "VRFY" => self.reply(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            "HELP" => self.reply(
                214,
                "2.0.0",
                "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS",
            ),
            "STARTTLS" => return Ok(self.starttls(args)),
            "AUTH" => self.refuse(503, "5.5.1", "Authentication not enabled"),
            _ => self.refuse(500, "5.5.2", "Command not recognized"),
        }
        Ok(Next::Continue)
    }

    /// HELO and EHLO: a new session state, and the extensions for EHLO.
    fn hello(&mut self, args: &str, extended: bool) {
        let name = args.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            let syntax = if extended {
                "Syntax: EHLO hostname"
            } else {
                "Syntax: HELO hostname"
            };
            self.refuse(501, "5.5.4", syntax);
            return;
        }
        self.helo = Some(name.to_owned());
        self.tx = None;
        if !extended {
            let hostname = self.settings.hostname.clone();
            self.reply(250, "", &hostname);
            return;
        }
        let mut lines = vec![
            self.settings.hostname.clone(),
            "PIPELINING".to_owned(),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            format!("SIZE {}", self.settings.max_size),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.settings.tls.is_some() && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let separator = if i == last { ' ' } else { '-' };
            self.out
                .extend_from_slice(format!("250{separator}{line}\r\n").as_bytes());
        }
    }

    /// MAIL FROM: starts a transaction.
    fn mail(&mut self, args: &str) {
        if self.helo.is_none() {
            return self.refuse(503, "5.5.1", "Send HELO/EHLO first");
        }
        if self.tx.is_some() {
            return self.refuse(503, "5.5.1", "Nested MAIL command");
        }
        let Some((from, params)) = parse_path(args, "FROM:") else {
            return self.refuse(501, "5.5.4", "Syntax: MAIL FROM:<address>");
        };
        if from.chars().any(char::is_control) {
            return self.refuse(501, "5.1.7", "Bad sender address syntax");
        }
        let smtputf8 = match mail_params(params, self.settings.max_size) {
            Ok(smtputf8) => smtputf8,
            Err(reply) => {
                // Too big is the client's honest answer, not a protocol error.
                if reply.code != 552 {
                    self.errors += 1;
                }
                return self.send(&reply);
            }
        };
        if !from.is_ascii() && !smtputf8 {
            return self.refuse(
                553,
                "5.6.7",
                "Must declare SMTPUTF8 to send Unicode address",
            );
        }
        self.tx = Some(Transaction {
            mail_from: from.to_owned(),
            smtputf8,
            ..Transaction::default()
        });
        self.reply(250, "2.1.0", "Ok");
    }

    /// RCPT TO: one recipient, checked by the mailbox.
    fn rcpt(&mut self, args: &str) {
        let Some(smtputf8) = self.tx.as_ref().map(|tx| tx.smtputf8) else {
            return self.refuse(503, "5.5.1", "Need MAIL command");
        };
        let Some((to, params)) = parse_path(args, "TO:") else {
            return self.refuse(501, "5.5.4", "Syntax: RCPT TO:<address>");
        };
        if to.is_empty() || to.chars().any(char::is_control) {
            return self.refuse(501, "5.1.3", "Bad recipient address syntax");
        }
        if !params.is_empty() {
            return self.refuse(555, "5.5.4", "Unsupported parameter");
        }
        if !to.is_ascii() && !smtputf8 {
            return self.refuse(
                553,
                "5.6.7",
                "Must declare SMTPUTF8 to send Unicode address",
            );
        }
        let max_recipients = self.settings.max_recipients;
        let verdict = match self.tx.as_mut() {
            Some(tx) => {
                tx.rcpt_given = true;
                if tx.rcpt_to.len() >= max_recipients {
                    Err(Reply::new(452, "4.5.3", "Too many recipients"))
                } else {
                    let verdict = self.mailbox.recipient(to);
                    if verdict.is_ok() {
                        tx.rcpt_to.push(to.to_owned());
                    }
                    verdict
                }
            }
            None => return,
        };
        match verdict {
            Ok(()) => self.reply(250, "2.1.5", "Ok"),
            Err(reply) => {
                tracing::debug!(code = reply.code, "SMTP recipient refused");
                self.send(&reply);
            }
        }
    }

    /// DATA: reads the message and hands it to the mailbox.
    async fn data(&mut self, args: &str) -> io::Result<Next> {
        if !args.trim().is_empty() {
            self.refuse(501, "5.5.4", "Syntax: DATA");
            return Ok(Next::Continue);
        }
        match &self.tx {
            None => {
                self.refuse(503, "5.5.1", "Need MAIL command");
                return Ok(Next::Continue);
            }
            Some(tx) if tx.rcpt_to.is_empty() && tx.rcpt_given => {
                self.reply(554, "5.5.1", "No valid recipients");
                return Ok(Next::Continue);
            }
            Some(tx) if tx.rcpt_to.is_empty() => {
                self.refuse(503, "5.5.1", "Need RCPT command");
                return Ok(Next::Continue);
            }
            Some(_) => {}
        }
        self.reply(354, "", "End data with <CR><LF>.<CR><LF>");
        let read = tokio::time::timeout(self.settings.data_timeout, self.read_data()).await;
        let body = match read {
            Ok(body) => body?,
            Err(_) => {
                tracing::debug!("SMTP DATA took too long");
                self.timed_out();
                return Ok(Next::Close);
            }
        };
        let Some(body) = body else {
            tracing::debug!("SMTP client went away during DATA");
            return Ok(Next::Close);
        };
        let Some(tx) = self.tx.take() else {
            return Ok(Next::Continue);
        };
        let data = match body {
            Ok(data) => data,
            Err(size) => {
                tracing::debug!(size, max = self.settings.max_size, "SMTP message too big");
                self.reply(
                    552,
                    "5.3.4",
                    "Message size exceeds fixed maximum message size",
                );
                return Ok(Next::Continue);
            }
        };
        let envelope = Envelope {
            mail_from: tx.mail_from,
            rcpt_to: tx.rcpt_to,
            data: Bytes::from(data),
            helo: self.helo.clone().unwrap_or_default(),
            tls: self.tls,
        };
        let (size, recipients) = (envelope.data.len(), envelope.rcpt_to.len());
        match self.mailbox.deliver(envelope).await {
            Ok(id) => {
                tracing::debug!(size, recipients, id = %id, "SMTP message accepted");
                self.reply(250, "2.0.0", &format!("Ok: queued as {id}"));
            }
            Err(reply) => {
                tracing::debug!(
                    size,
                    code = reply.code,
                    "SMTP message refused by the mailbox"
                );
                self.send(&reply);
            }
        }
        Ok(Next::Continue)
    }

    /// STARTTLS: go ahead, or why not.
    fn starttls(&mut self, args: &str) -> Next {
        if !args.trim().is_empty() {
            self.refuse(501, "5.5.4", "Syntax: STARTTLS");
        } else if self.tls {
            self.refuse(503, "5.5.1", "TLS already active");
        } else if self.settings.tls.is_none() {
            self.refuse(502, "5.5.1", "STARTTLS not available");
        } else {
            self.reply(220, "2.0.0", "Ready to start TLS");
            return Next::StartTls;
        }
        Next::Continue
    }

    /// Reads one command line, keeping at most [`MAX_LINE`] octets of it.
    async fn read_line(&mut self) -> io::Result<Line> {
        let mut line = Vec::new();
        let mut length = 0usize;
        loop {
            let buffered = self.fill().await?;
            if buffered.is_empty() {
                return Ok(Line::Eof);
            }
            let (chunk, ended) = match buffered.iter().position(|&b| b == b'\n') {
                Some(end) => (&buffered[..=end], true),
                None => (buffered, false),
            };
            let taken = chunk.len();
            length = length.saturating_add(taken);
            if length <= MAX_LINE {
                line.extend_from_slice(chunk);
            }
            self.reader.consume(taken);
            if ended {
                if length > MAX_LINE {
                    return Ok(Line::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Command(line));
            }
            if length > DISCARD_LIMIT {
                return Ok(Line::Endless);
            }
        }
    }

    /// Reads a message after 354 up to its final `.`: `None` when the client went
    /// away first, `Err(size)` when it was bigger than `max_size`.
    async fn read_data(&mut self) -> io::Result<Option<Result<Vec<u8>, usize>>> {
        let mut decoder = DataDecoder::new(self.settings.max_size);
        loop {
            let buffered = self.fill().await?;
            if buffered.is_empty() {
                return Ok(None);
            }
            let length = buffered.len();
            let end = decoder.feed(buffered);
            self.reader.consume(end.unwrap_or(length));
            if end.is_some() {
                return Ok(Some(decoder.finish()));
            }
        }
    }

    /// The buffered input, read from the client when there is none. The replies held
    /// so far are written first: a client waits for them before it sends more.
    async fn fill(&mut self) -> io::Result<&[u8]> {
        if !self.out.is_empty() && (self.reader.buffer().is_empty() || self.out.len() >= OUT_LIMIT)
        {
            self.flush().await?;
        }
        self.reader.fill_buf().await
    }

    /// Writes the held replies.
    async fn flush(&mut self) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(&self.out).await?;
        stream.flush().await?;
        self.out.clear();
        Ok(())
    }

    /// Writes the held replies and closes the stream, giving up on a client that does
    /// not read within the command timeout.
    async fn close(&mut self) {
        let idle = self.settings.command_timeout;
        let closed = tokio::time::timeout(idle, async {
            self.flush().await?;
            self.reader.get_mut().shutdown().await
        })
        .await;
        if let Ok(Err(e)) = closed {
            tracing::debug!(error = %e, "SMTP connection not closed cleanly");
        }
    }

    /// Queues the timeout reply.
    fn timed_out(&mut self) {
        let text = format!("{} timeout", self.settings.hostname);
        self.reply(421, "4.4.2", &text);
    }

    /// Queues a reply to a protocol error and counts it.
    fn refuse(&mut self, code: u16, enhanced: &str, text: &str) {
        self.errors += 1;
        self.reply(code, enhanced, text);
    }

    /// Queues a reply the mailbox chose.
    fn send(&mut self, reply: &Reply) {
        self.reply(reply.code, &reply.enhanced, &reply.text);
    }

    /// Queues one reply line; line breaks in its text are sent as spaces.
    fn reply(&mut self, code: u16, enhanced: &str, text: &str) {
        let line = if enhanced.is_empty() {
            format!("{code} {text}")
        } else {
            format!("{code} {enhanced} {text}")
        };
        self.out.extend(
            line.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.out.extend_from_slice(b"\r\n");
    }
}
