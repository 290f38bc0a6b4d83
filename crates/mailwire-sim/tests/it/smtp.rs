//! Mail in over SMTP from a raw socket: what a real server answers to what is not
//! mail, and that what it refuses is not stored. (`sdk.rs` sends real mail with
//! Python's smtplib.)

use std::time::Duration;

use mailwire_sim::Simulator;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

const HANG: Duration = Duration::from_secs(20);

/// Writes `session` at once (pipelined) and reads every reply to the end: the last
/// line of each, `code text`.
async fn exchange(addr: std::net::SocketAddr, session: &str) -> Vec<String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut conn = BufReader::new(tcp);
    conn.write_all(session.as_bytes()).await.unwrap();
    let mut replies = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(HANG, conn.read_line(&mut line))
            .await
            .expect("a reply in time")
            .unwrap();
        if n == 0 {
            return replies;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            replies.push(line.trim_end().to_owned());
        }
    }
}

#[tokio::test]
async fn what_is_not_mail_gets_a_real_servers_answer_and_nothing_is_stored() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let smtp = sim.serve_smtp("127.0.0.1:0").await.unwrap();
    let replies = exchange(
        smtp,
        "EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<not-an-address>\r\n\
         RCPT TO:<ada@agentmail.to>\r\nDATA\r\nno header at all, just text\r\n.\r\n\
         MAIL FROM:<a@example.com>\r\nRCPT TO:<ada@agentmail.to>\r\nDATA\r\n\
         Subject: fine\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    )
    .await;
    let codes: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(
        codes,
        [
            "220", "250", "250", "553", "250", "354", "554", "250", "250", "354", "250", "221"
        ],
        "{replies:#?}"
    );
    assert!(replies[3].contains("5.1.3"), "{}", replies[3]);
    assert!(replies[6].contains("5.6.0"), "{}", replies[6]);
    // Only the message that was one is stored: one event, in the one inbox.
    let events = sim.hub().retained_after(None, 10).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let message = events[0].payload().message().unwrap();
    assert_eq!(message.subject.as_deref(), Some("fine"));
    assert_eq!(message.inbox_id.as_deref(), Some("ada@agentmail.to"));
}

#[tokio::test]
async fn one_message_to_two_inboxes_lands_in_both_once() {
    let sim = Simulator::builder().bind("127.0.0.1:0").await.unwrap();
    let smtp = sim.serve_smtp("127.0.0.1:0").await.unwrap();
    let replies = exchange(
        smtp,
        "HELO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<ada@agentmail.to>\r\n\
         RCPT TO:<bo@agentmail.to>\r\nRCPT TO:<ADA@agentmail.to>\r\nDATA\r\n\
         To: ada@agentmail.to, bo@agentmail.to\r\nSubject: both\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    )
    .await;
    assert!(replies[5].starts_with("250"), "{replies:#?}");
    let events = sim.hub().retained_after(None, 10).unwrap();
    let mut inboxes: Vec<String> = events
        .iter()
        .filter_map(|e| e.payload().message()?.inbox_id.clone())
        .collect();
    inboxes.sort();
    assert_eq!(inboxes, ["ada@agentmail.to", "bo@agentmail.to"]);
}
