//! The server over real sockets on loopback: the replies a client sees, what the
//! mailbox is handed, and the limits.

use std::net::SocketAddr;

use bytes::Bytes;
use futures::future::BoxFuture;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::session::{MAX_ERRORS, MAX_LINE};
use super::*;

/// Bounds a wait that only a bug would make long.
const HANG: Duration = Duration::from_secs(10);

/// A mailbox that refuses `nobody@…` and sends every message down a channel.
struct Recorder(mpsc::UnboundedSender<Envelope>);

impl Mailbox for Recorder {
    fn recipient(&self, address: &str) -> Result<(), Reply> {
        if address.starts_with("nobody@") {
            Err(Reply::new(550, "5.1.1", "No such user here"))
        } else {
            Ok(())
        }
    }

    fn deliver(&self, envelope: Envelope) -> BoxFuture<'static, Result<String, Reply>> {
        let sent = self.0.send(envelope).is_ok();
        Box::pin(async move {
            if sent {
                Ok("Q1".to_owned())
            } else {
                Err(Reply::new(451, "4.3.0", "Mailbox gone"))
            }
        })
    }
}

/// A running server, stopped on drop.
struct Server {
    addr: SocketAddr,
    envelopes: mpsc::UnboundedReceiver<Envelope>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(settings: SmtpSettings) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, envelopes) = mpsc::unbounded_channel();
        let task = tokio::spawn(serve(listener, Arc::new(settings), Arc::new(Recorder(tx))));
        Self {
            addr,
            envelopes,
            task,
        }
    }

    /// A client past the greeting.
    async fn connect(&self) -> Client<TcpStream> {
        let mut client = Client::new(TcpStream::connect(self.addr).await.unwrap());
        assert_eq!(client.reply().await, "220 mx.test ESMTP mailwire");
        client
    }

    async fn envelope(&mut self) -> Envelope {
        tokio::time::timeout(HANG, self.envelopes.recv())
            .await
            .expect("no message delivered")
            .expect("server gone")
    }
}

fn settings() -> SmtpSettings {
    SmtpSettings {
        max_size: 4096,
        max_recipients: 3,
        max_connections: 8,
        ..SmtpSettings::new("mx.test")
    }
}

/// The client side of a session, plain or TLS.
struct Client<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Self {
            io: BufReader::new(stream),
        }
    }

    async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let stream = self.io.get_mut();
        stream.write_all(bytes.as_ref()).await.unwrap();
        stream.flush().await.unwrap();
    }

    /// One reply, the lines of a multi-line one joined by `\n`.
    async fn reply(&mut self) -> String {
        let read = async {
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                let n = self.io.read_line(&mut line).await.unwrap();
                assert!(n > 0, "connection closed after {lines:?}");
                assert!(line.ends_with("\r\n"), "{line:?}");
                let line = line.trim_end().to_owned();
                let last = line.as_bytes().get(3) != Some(&b'-');
                lines.push(line);
                if last {
                    return lines.join("\n");
                }
            }
        };
        tokio::time::timeout(HANG, read).await.expect("no reply")
    }

    /// Sends `command` and returns its reply.
    async fn ask(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n")).await;
        self.reply().await
    }

    /// Waits for the server to close the connection.
    async fn closed(&mut self) {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(HANG, self.io.read_to_end(&mut rest)).await;
        let read = read.expect("connection left open");
        assert!(
            read.is_err() || rest.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// EHLO, MAIL, RCPT and DATA up to the 354.
    async fn start_message(&mut self, from: &str, to: &str) {
        assert!(
            self.ask("EHLO client.test")
                .await
                .starts_with("250-mx.test")
        );
        assert_eq!(
            self.ask(&format!("MAIL FROM:<{from}>")).await,
            "250 2.1.0 Ok"
        );
        assert_eq!(self.ask(&format!("RCPT TO:<{to}>")).await, "250 2.1.5 Ok");
        assert!(self.ask("DATA").await.starts_with("354 "));
    }
}

#[tokio::test]
async fn a_plain_message_is_delivered_with_its_envelope() {
    let mut server = Server::start(settings()).await;
    let mut client = server.connect().await;
    assert_eq!(
        client.ask("EHLO client.test").await,
        "250-mx.test\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n250-SIZE 4096\n\
         250 ENHANCEDSTATUSCODES"
    );
    assert_eq!(
        client.ask("MAIL FROM:<ada@example.com>").await,
        "250 2.1.0 Ok"
    );
    assert_eq!(
        client.ask("RCPT TO:<bob@example.org>").await,
        "250 2.1.5 Ok"
    );
    assert_eq!(
        client.ask("DATA").await,
        "354 End data with <CR><LF>.<CR><LF>"
    );
    client.send("Subject: hi\r\n\r\nHello\r\n.\r\n").await;
    assert_eq!(client.reply().await, "250 2.0.0 Ok: queued as Q1");
    assert_eq!(
        server.envelope().await,
        Envelope {
            mail_from: "ada@example.com".to_owned(),
            rcpt_to: vec!["bob@example.org".to_owned()],
            data: Bytes::from_static(b"Subject: hi\r\n\r\nHello\r\n"),
            helo: "client.test".to_owned(),
            tls: false,
        }
    );
    assert_eq!(client.ask("QUIT").await, "221 2.0.0 Bye");
    client.closed().await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let mut server = Server::start(settings()).await;
    let mut client = server.connect().await;
    client
        .send(
            "EHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n\
             RCPT TO:<nobody@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n",
        )
        .await;
    assert!(client.reply().await.ends_with("250 ENHANCEDSTATUSCODES"));
    assert_eq!(client.reply().await, "250 2.1.0 Ok");
    assert_eq!(client.reply().await, "250 2.1.5 Ok");
    // The mailbox's refusal, as it chose it.
    assert_eq!(client.reply().await, "550 5.1.1 No such user here");
    assert_eq!(client.reply().await, "250 2.1.5 Ok");
    assert!(client.reply().await.starts_with("354 "));
    client.send("Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n").await;
    assert_eq!(client.reply().await, "250 2.0.0 Ok: queued as Q1");
    assert_eq!(client.reply().await, "221 2.0.0 Bye");
    client.closed().await;
    let envelope = server.envelope().await;
    assert_eq!(envelope.rcpt_to, ["b@x.test", "c@x.test"]);
    assert_eq!(envelope.data, "Subject: p\r\n\r\nbody\r\n");
}

#[tokio::test]
async fn data_is_dot_unstuffed_and_kept_byte_for_byte() {
    let mut server = Server::start(settings()).await;
    let mut client = server.connect().await;
    client.start_message("a@x.test", "b@x.test").await;
    let long = "x".repeat(2000);
    let mut sent =
        b"..leading dot\r\n..\r\n...\r\ncaf\xc3\xa9 \xff\x00\x80\r\nbare\nlf\r\n".to_vec();
    sent.extend_from_slice(long.as_bytes());
    sent.extend_from_slice(b"\r\n.\r\n");
    client.send(&sent).await;
    assert_eq!(client.reply().await, "250 2.0.0 Ok: queued as Q1");
    let mut expected =
        b".leading dot\r\n.\r\n..\r\ncaf\xc3\xa9 \xff\x00\x80\r\nbare\nlf\r\n".to_vec();
    expected.extend_from_slice(long.as_bytes());
    expected.extend_from_slice(b"\r\n");
    assert_eq!(server.envelope().await.data, expected);
}

#[tokio::test]
async fn mail_parameters_are_checked() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    client.ask("EHLO client.test").await;
    assert_eq!(
        client.ask("MAIL FROM:<a@x.test> SIZE=4097").await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(
        client
            .ask("MAIL FROM:<a@x.test> SIZE=99999999999999999999999")
            .await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(
        client.ask("MAIL FROM:<a@x.test> SIZE=ten").await,
        "501 5.5.4 Bad SIZE parameter"
    );
    assert_eq!(
        client.ask("MAIL FROM:<a@x.test> RET=HDRS").await,
        "555 5.5.4 Unsupported parameter"
    );
    assert_eq!(
        client.ask("MAIL FROM:<ü@x.test>").await,
        "553 5.6.7 Must declare SMTPUTF8 to send Unicode address"
    );
    assert_eq!(
        client
            .ask("mail from: <ü@x.test> SIZE=4096 BODY=8BITMIME SMTPUTF8")
            .await,
        "250 2.1.0 Ok"
    );
    assert_eq!(client.ask("RCPT TO:<ü@y.test>").await, "250 2.1.5 Ok");
    assert_eq!(
        client.ask("RCPT TO:<b@y.test> NOTIFY=NEVER").await,
        "555 5.5.4 Unsupported parameter"
    );
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_session_goes_on() {
    let mut server = Server::start(settings()).await;
    let mut client = server.connect().await;
    client.start_message("a@x.test", "b@x.test").await;
    let mut big = "y".repeat(100).into_bytes();
    big.extend_from_slice(b"\r\n");
    let big = big.repeat(100);
    client.send(&big).await;
    client.send(".\r\n").await;
    assert_eq!(
        client.reply().await,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(client.ask("RSET").await, "250 2.0.0 Ok");
    assert_eq!(client.ask("MAIL FROM:<>").await, "250 2.1.0 Ok");
    assert_eq!(client.ask("RCPT TO:<b@x.test>").await, "250 2.1.5 Ok");
    assert!(client.ask("DATA").await.starts_with("354 "));
    assert_eq!(client.ask("small\r\n.").await, "250 2.0.0 Ok: queued as Q1");
    // The first message arriving is the small one: the big one was not delivered.
    let envelope = server.envelope().await;
    assert_eq!(envelope.data, "small\r\n");
    assert_eq!(envelope.mail_from, "");
    assert!(server.envelopes.try_recv().is_err());
}

#[tokio::test]
async fn recipients_over_the_limit_are_refused_for_now() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    client.ask("EHLO client.test").await;
    assert_eq!(client.ask("MAIL FROM:<a@x.test>").await, "250 2.1.0 Ok");
    for n in 0..3 {
        assert_eq!(
            client.ask(&format!("RCPT TO:<r{n}@x.test>")).await,
            "250 2.1.5 Ok"
        );
    }
    assert_eq!(
        client.ask("RCPT TO:<r3@x.test>").await,
        "452 4.5.3 Too many recipients"
    );
}

#[tokio::test]
async fn commands_out_of_sequence_are_refused() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    assert_eq!(
        client.ask("MAIL FROM:<a@x.test>").await,
        "503 5.5.1 Send HELO/EHLO first"
    );
    assert_eq!(client.ask("HELO client.test").await, "250 mx.test");
    assert_eq!(
        client.ask("RCPT TO:<b@x.test>").await,
        "503 5.5.1 Need MAIL command"
    );
    assert_eq!(client.ask("DATA").await, "503 5.5.1 Need MAIL command");
    assert_eq!(client.ask("MAIL FROM:<a@x.test>").await, "250 2.1.0 Ok");
    assert_eq!(
        client.ask("MAIL FROM:<a@x.test>").await,
        "503 5.5.1 Nested MAIL command"
    );
    assert_eq!(client.ask("DATA").await, "503 5.5.1 Need RCPT command");
    assert_eq!(
        client.ask("RCPT TO:<nobody@x.test>").await,
        "550 5.1.1 No such user here"
    );
    assert_eq!(client.ask("DATA").await, "554 5.5.1 No valid recipients");
    assert_eq!(client.ask("RSET").await, "250 2.0.0 Ok");
    assert_eq!(
        client.ask("RCPT TO:<b@x.test>").await,
        "503 5.5.1 Need MAIL command"
    );
}

#[tokio::test]
async fn other_commands_get_their_replies() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    assert_eq!(client.ask("NOOP").await, "250 2.0.0 Ok");
    assert!(client.ask("VRFY ada").await.starts_with("252 2.5.0 "));
    assert!(client.ask("HELP").await.starts_with("214 2.0.0 "));
    assert_eq!(
        client.ask("AUTH PLAIN AGFkYQBzZWNyZXQ=").await,
        "503 5.5.1 Authentication not enabled"
    );
    assert_eq!(
        client.ask("STARTTLS").await,
        "502 5.5.1 STARTTLS not available"
    );
    assert_eq!(
        client.ask("BDAT 10 LAST").await,
        "500 5.5.2 Command not recognized"
    );
    assert_eq!(client.ask("").await, "500 5.5.2 Command not recognized");
    assert_eq!(client.ask("EHLO").await, "501 5.5.4 Syntax: EHLO hostname");
    assert!(
        client
            .ask("ehlo client.test")
            .await
            .starts_with("250-mx.test")
    );
    assert_eq!(
        client.ask("MAIL FROM:<a@x.test").await,
        "501 5.5.4 Syntax: MAIL FROM:<address>"
    );
    assert_eq!(
        client.ask("MAIL TO:<a@x.test>").await,
        "501 5.5.4 Syntax: MAIL FROM:<address>"
    );
    assert_eq!(client.ask("QUIT").await, "221 2.0.0 Bye");
    client.closed().await;
}

#[tokio::test]
async fn a_client_making_only_errors_is_sent_away() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    client
        .send("GET / HTTP/1.1\r\n".repeat(MAX_ERRORS as usize))
        .await;
    for _ in 1..MAX_ERRORS {
        assert_eq!(client.reply().await, "500 5.5.2 Command not recognized");
    }
    assert_eq!(client.reply().await, "500 5.5.2 Command not recognized");
    assert_eq!(client.reply().await, "421 4.7.0 mx.test too many errors");
    client.closed().await;
}

#[tokio::test]
async fn an_overlong_command_line_is_refused_and_an_endless_one_cut() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    // At the limit: 1000 octets with the CRLF.
    let at_limit = format!("NOOP {}", "x".repeat(MAX_LINE - 7));
    assert_eq!(client.ask(&at_limit).await, "250 2.0.0 Ok");
    let over = format!("NOOP {}", "x".repeat(MAX_LINE - 6));
    assert_eq!(client.ask(&over).await, "500 5.5.6 Line too long");
    assert_eq!(
        client.ask(&format!("NOOP {}", "x".repeat(20_000))).await,
        "500 5.5.6 Line too long"
    );
    assert_eq!(client.ask("NOOP").await, "250 2.0.0 Ok");

    let (mut read, mut write) = tokio::io::split(client.io);
    let endless = tokio::spawn(async move {
        let chunk = vec![b'z'; 16 * 1024];
        // Ends when the server closes the connection.
        while write.write_all(&chunk).await.is_ok() {}
    });
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(HANG, read.read_to_end(&mut seen)).await;
    assert!(ended.is_ok(), "the endless line was not cut");
    tokio::time::timeout(HANG, endless).await.unwrap().unwrap();
    // The reply may be lost to the reset the close causes; when it came, it says why.
    assert!(
        seen.is_empty() || seen == b"500 5.5.6 Line too long\r\n",
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_connection_over_the_limit_gets_421() {
    let server = Server::start(SmtpSettings {
        max_connections: 2,
        ..settings()
    })
    .await;
    let mut first = server.connect().await;
    let _second = server.connect().await;
    let mut third = Client::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(third.reply().await, "421 4.3.2 too many connections");
    third.closed().await;

    // A slot freed is taken again.
    assert_eq!(first.ask("QUIT").await, "221 2.0.0 Bye");
    first.closed().await;
    let admitted = async {
        loop {
            let mut client = Client::new(TcpStream::connect(server.addr).await.unwrap());
            if client.reply().await.starts_with("220 ") {
                return;
            }
        }
    };
    tokio::time::timeout(HANG, admitted)
        .await
        .expect("never admitted");
}

#[tokio::test]
async fn an_idle_client_is_cut_with_421() {
    let server = Server::start(SmtpSettings {
        command_timeout: Duration::from_millis(200),
        ..settings()
    })
    .await;
    let mut client = server.connect().await;
    assert_eq!(client.reply().await, "421 4.4.2 mx.test timeout");
    client.closed().await;
}

#[tokio::test]
async fn a_slow_data_transfer_is_cut_with_421() {
    let server = Server::start(SmtpSettings {
        data_timeout: Duration::from_millis(200),
        ..settings()
    })
    .await;
    let mut client = server.connect().await;
    client.start_message("a@x.test", "b@x.test").await;
    client.send("Subject: never ends\r\n").await;
    assert_eq!(client.reply().await, "421 4.4.2 mx.test timeout");
    client.closed().await;
}

#[tokio::test]
async fn stopping_the_server_ends_its_sessions() {
    let server = Server::start(settings()).await;
    let mut client = server.connect().await;
    assert_eq!(client.ask("NOOP").await, "250 2.0.0 Ok");
    drop(server);
    client.closed().await;
}

#[tokio::test]
async fn starttls_restarts_the_session_over_tls() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut server = Server::start(SmtpSettings {
        tls: Some(tokio_rustls::TlsAcceptor::from(Arc::new(server_config))),
        ..settings()
    })
    .await;

    let mut client = server.connect().await;
    assert!(
        client
            .ask("EHLO client.test")
            .await
            .ends_with("250-ENHANCEDSTATUSCODES\n250 STARTTLS")
    );
    assert_eq!(client.ask("MAIL FROM:<a@x.test>").await, "250 2.1.0 Ok");
    // What is pipelined after STARTTLS is dropped, not answered inside TLS.
    client.send("STARTTLS\r\nNOOP\r\n").await;
    assert_eq!(client.reply().await, "220 2.0.0 Ready to start TLS");
    assert!(client.io.buffer().is_empty());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(HANG, connector.connect(name, client.io.into_inner()))
        .await
        .unwrap()
        .unwrap();
    let mut client = Client::new(tls);

    assert_eq!(
        client.ask("MAIL FROM:<a@x.test>").await,
        "503 5.5.1 Send HELO/EHLO first"
    );
    assert_eq!(
        client.ask("EHLO secure.test").await,
        "250-mx.test\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n250-SIZE 4096\n\
         250 ENHANCEDSTATUSCODES"
    );
    assert_eq!(client.ask("STARTTLS").await, "503 5.5.1 TLS already active");
    assert_eq!(client.ask("MAIL FROM:<a@x.test>").await, "250 2.1.0 Ok");
    assert_eq!(client.ask("RCPT TO:<b@x.test>").await, "250 2.1.5 Ok");
    assert!(client.ask("DATA").await.starts_with("354 "));
    assert_eq!(
        client.ask("Subject: tls\r\n\r\nsecret\r\n.").await,
        "250 2.0.0 Ok: queued as Q1"
    );
    let envelope = server.envelope().await;
    assert!(envelope.tls);
    assert_eq!(envelope.helo, "secure.test");
    assert_eq!(envelope.data, "Subject: tls\r\n\r\nsecret\r\n");
    assert_eq!(client.ask("QUIT").await, "221 2.0.0 Bye");
    client.closed().await;
}
