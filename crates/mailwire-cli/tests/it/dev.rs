//! `mailwire dev` as an application's mail server: SMTP in, events out.

use crate::common::{Running, dev, ws_url};

#[test]
fn mail_sent_over_smtp_to_dev_is_printed_by_listen() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let (dev, base) = dev(&["--api-key", "sk", "--smtp", "127.0.0.1:0"]);
    let smtp = dev.stderr_line("smtp: ");
    let smtp = smtp.rsplit(' ').next().unwrap().to_owned();
    let listen = Running::spawn(&["listen", "--ws", &ws_url(&base), "--api-key", "sk"]);
    listen.stderr_line("websocket: subscribed");
    // A whole session in one write, as PIPELINING allows; the answers in order.
    let tcp = std::net::TcpStream::connect(&smtp).unwrap();
    let mut replies = BufReader::new(tcp.try_clone().unwrap());
    (&tcp)
        .write_all(
            b"EHLO app.example.com\r\nMAIL FROM:<app@example.com>\r\n\
              RCPT TO:<signup@agentmail.to>\r\nDATA\r\n\
              From: App <app@example.com>\r\nTo: signup@agentmail.to\r\n\
              Subject: Your code is 481516\r\n\r\nWelcome.\r\n.\r\nQUIT\r\n",
        )
        .unwrap();
    let mut codes = Vec::new();
    let mut line = String::new();
    while replies.read_line(&mut line).unwrap() > 0 {
        if line.as_bytes().get(3) == Some(&b' ') {
            codes.push(line[..3].to_owned());
        }
        line.clear();
    }
    assert_eq!(codes, ["220", "250", "250", "250", "354", "250", "221"]);
    let line = listen.stdout_line();
    let event = &line["event"];
    assert_eq!(event["event_type"], "message.received", "{line}");
    assert_eq!(event["message"]["inbox_id"], "signup@agentmail.to");
    assert_eq!(event["message"]["subject"], "Your code is 481516");
    assert_eq!(event["message"]["from"], "App <app@example.com>");
}
