//! `mailwire forward` with a store, against the simulator (`mailwire dev`) and an
//! endpoint of the test's own: a delivery that gives up is kept as a dead letter
//! (listed by `mailwire dead-letters`), and what arrives while `forward` is stopped
//! is delivered after its restart, each email once.

use crate::common;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::mpsc;

use common::{HANG, Running, dev, post_email, run, ws_url};

/// A local endpoint for `forward`, on 127.0.0.1: answers 500 to every POST whose
/// body contains `refuse`, 200 to the others, and reports each POST (its email's
/// subject and the status answered) on `posts` before answering.
struct Endpoint {
    url: String,
    posts: mpsc::Receiver<(String, u16)>,
}

impl Endpoint {
    fn start(refuse: &'static str) -> Endpoint {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
        let (tx, posts) = mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let tx = tx.clone();
                std::thread::spawn(move || Endpoint::serve(conn, refuse, &tx));
            }
        });
        Endpoint { url, posts }
    }

    /// Answers the requests of one (kept-alive) connection until it closes.
    fn serve(conn: std::net::TcpStream, refuse: &str, tx: &mpsc::Sender<(String, u16)>) {
        use std::io::{BufRead as _, Write as _};
        let mut writer = conn.try_clone().unwrap();
        let mut reader = std::io::BufReader::new(conn);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut length = 0;
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let subject = event["message"]["subject"].as_str().unwrap_or_default();
            let status = if subject.contains(refuse) { 500 } else { 200 };
            let _ = tx.send((subject.to_owned(), status));
            let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    /// The next POST, bounded by [`HANG`].
    fn next(&self) -> (String, u16) {
        self.posts
            .recv_timeout(HANG)
            .expect("a POST to the endpoint")
    }
}

/// `forward` with a redb store at `store`, of the received emails only.
fn forward_with_store(base: &str, to: &str, store: &Path, extra: &[&str]) -> Running {
    let mut args = vec![
        "forward",
        "--ws",
        &ws_url(base),
        "--api-key",
        "sk",
        "--to",
        to,
        "--store",
        store.to_str().unwrap(),
        "--event",
        "message.received",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let forward = Running::spawn(&args);
    forward.stderr_line("ready: forwarding");
    forward
}

/// Counts the POSTs per subject.
fn tally(posts: &[(String, u16)]) -> BTreeMap<&str, Vec<u16>> {
    let mut tally = BTreeMap::<&str, Vec<u16>>::new();
    for (subject, status) in posts {
        tally.entry(subject.as_str()).or_default().push(*status);
    }
    tally
}

#[test]
fn forward_keeps_what_it_gave_up_on_as_a_dead_letter_and_delivers_the_rest_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("forward.redb");
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let endpoint = Endpoint::start("doomed");
    let mut forward = forward_with_store(
        &base,
        &endpoint.url,
        &store,
        &["--max-attempts", "2", "--retry-scale", "0.001"],
    );
    post_email(&base, "sk", "ada@agentmail.to", "first");
    let answer = post_email(&base, "sk", "bob@agentmail.to", "doomed");
    let doomed: serde_json::Value = serde_json::from_str(&answer).unwrap();
    post_email(&base, "sk", "cyd@agentmail.to", "second");
    // Two POSTs for "doomed" (both refused), one for each of the others.
    let want: BTreeMap<&str, Vec<u16>> = [
        ("doomed", vec![500, 500]),
        ("first", vec![200]),
        ("second", vec![200]),
    ]
    .into();
    let mut posts = Vec::new();
    while posts.len() < 4 {
        posts.push(endpoint.next());
    }
    assert_eq!(tally(&posts), want);
    let kept = forward.stderr_line("kept as dead letter");
    assert!(
        kept.contains(doomed["event_id"].as_str().unwrap()),
        "{kept}"
    );
    let stopped = forward.interrupt();
    assert!(stopped.contains("2 delivered, 1 dead letters"), "{stopped}");
    let (_, code) = forward.wait_exit();
    assert_eq!(code, Some(0));
    posts.extend(endpoint.posts.try_iter());
    assert_eq!(tally(&posts), want, "no POST after the dead letter");

    let listed = run(&[
        "dead-letters",
        "list",
        "--store",
        store.to_str().unwrap(),
        "--json",
    ]);
    assert!(listed.status.success(), "{listed:?}");
    let letters: Vec<serde_json::Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["event_id"], doomed["event_id"]);
    assert_eq!(letters[0]["event"]["message"]["subject"], "doomed");
    let id = letters[0]["id"].as_str().unwrap();
    assert!(kept.contains(&format!("dead letter {id} ")), "{kept}");
    let error = letters[0]["error"].as_str().unwrap();
    assert!(error.contains("gave up after 2 attempts"), "{error}");
}

#[test]
fn forward_delivers_what_arrived_while_it_was_stopped_after_a_restart_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("forward.redb");
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let endpoint = Endpoint::start("never");
    let mut forward = forward_with_store(&base, &endpoint.url, &store, &[]);
    post_email(&base, "sk", "ada@agentmail.to", "before");
    let mut posts = vec![endpoint.next()];
    let stopped = forward.interrupt();
    assert!(stopped.contains("1 delivered, 0 dead letters"), "{stopped}");
    forward.wait_exit();

    let missed = ["while-1", "while-2", "while-3"];
    for (n, subject) in missed.iter().enumerate() {
        post_email(&base, "sk", &format!("i{n}@agentmail.to"), subject);
    }
    let mut forward = forward_with_store(&base, &endpoint.url, &store, &[]);
    while !missed.iter().all(|s| tally(&posts).contains_key(s)) {
        posts.push(endpoint.next());
    }
    let stopped = forward.interrupt();
    assert!(stopped.contains("3 delivered, 0 dead letters"), "{stopped}");
    forward.wait_exit();
    posts.extend(endpoint.posts.try_iter());
    let want: BTreeMap<&str, Vec<u16>> = ["before"]
        .iter()
        .chain(&missed)
        .map(|s| (*s, vec![200]))
        .collect();
    assert_eq!(tally(&posts), want, "each email once");
}

#[test]
fn forward_also_receiving_the_services_webhooks_delivers_each_email_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("forward.redb");
    let (_dev, base) = dev(&["--api-key", "sk"]);
    let endpoint = Endpoint::start("never");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let listen = format!("127.0.0.1:{}", common::free_port());
    common::register_webhook_with_key(&base, Some("sk"), &format!("http://{listen}/hooks"), secret);
    let mut forward = forward_with_store(
        &base,
        &endpoint.url,
        &store,
        &[
            "--webhook-listen",
            &listen,
            "--webhook-path",
            "/hooks",
            "--webhook-secret",
            secret,
        ],
    );
    forward.stderr_seen(&format!("webhooks: receiving on http://{listen}/hooks"));
    let subjects = ["hook-1", "hook-2", "hook-3"];
    for (n, subject) in subjects.iter().enumerate() {
        post_email(&base, "sk", &format!("h{n}@agentmail.to"), subject);
    }
    let mut posts = Vec::new();
    while !subjects.iter().all(|s| tally(&posts).contains_key(s)) {
        posts.push(endpoint.next());
    }
    let stopped = forward.interrupt();
    assert!(stopped.contains("3 delivered, 0 dead letters"), "{stopped}");
    forward.wait_exit();
    posts.extend(endpoint.posts.try_iter());
    let want: BTreeMap<&str, Vec<u16>> = subjects.iter().map(|s| (*s, vec![200])).collect();
    assert_eq!(
        tally(&posts),
        want,
        "each email once, whichever transport brought it"
    );
}
