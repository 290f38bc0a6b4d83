//! The agent runtime against the real simulator on 127.0.0.1, with a real redb file
//! and the real Redis: checkpoints kept in the store (none beside it), restarts that
//! lose nothing and double nothing, every gap filled by the backfill from the last
//! durable checkpoint, and misconfigurations reported at start.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use mailwire_agent::{Agent, AgentError};
use mailwire_backfill::BackfillConfig;
use mailwire_sim::Simulator;
use mailwire_source::EventSource as _;
use mailwire_store::{RedbStore, RedisStore, Store};
use mailwire_ws::WsConfig;

mod runner;

/// Bounds a hang; never the expected duration of anything.
const HANG: Duration = Duration::from_secs(30);
const KEY: &str = "am_agent_tests";

/// An inbound email through the simulator's control route, as the internet would
/// send it: stored (the REST API lists it) and published (WebSocket, webhooks).
fn post_email(sim: &Simulator, inbox: &str, subject: &str) {
    let addr = sim.addr();
    let body = format!(r#"{{"from":"Bob <bob@example.com>","subject":"{subject}","text":"hi"}}"#);
    let mut tcp = std::net::TcpStream::connect(addr).expect("the simulator listens");
    tcp.set_read_timeout(Some(HANG)).expect("a timeout");
    write!(
        tcp,
        "POST /_sim/inboxes/{inbox}/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("the request is written");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
}

fn rest_url(sim: &Simulator) -> String {
    format!("http://{}/v0", sim.addr())
}

fn websocket(sim: &Simulator) -> WsConfig {
    WsConfig::new(sim.ws_url()).api_key(KEY)
}

/// The subject of every received email the agent delivers, acked, until `n` came;
/// then nothing more for a moment.
async fn receive(agent: &mut Agent, n: usize, seen: &mut HashMap<String, usize>) {
    let mut got = 0;
    while got < n {
        let delivery = tokio::time::timeout(HANG, agent.next())
            .await
            .expect("an event before the hang bound")
            .expect("no error")
            .expect("the agent goes on");
        let received = delivery
            .event
            .event_type()
            .as_str()
            .starts_with("message.received");
        if let Some(message) = delivery.event.payload().message()
            && received
        {
            let subject = message.subject.clone().unwrap_or_default();
            *seen.entry(subject).or_default() += 1;
            got += 1;
        }
        delivery.ack().await.expect("acked");
    }
}

fn assert_once(seen: &HashMap<String, usize>, want: &[String]) {
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    let mut got: Vec<&String> = seen.keys().collect();
    got.sort();
    let mut want: Vec<&String> = want.iter().collect();
    want.sort();
    assert_eq!(got, want);
}

/// Down, then up again on the same store: `keep` retained events on the server, so a
/// resume from the checkpoint closes the gap (`keep` large, no backfill) or the
/// backfill must, from its checkpoint (`keep` 0).
async fn restart_loses_nothing(
    store: impl Fn() -> (Arc<dyn Store>, Option<RedbStore>),
    keep: usize,
    inbox: &str,
) {
    let sim = Simulator::builder()
        .api_key(KEY)
        .retain(keep)
        .bind("127.0.0.1:0")
        .await
        .expect("the simulator starts");
    // With the server retaining the backlog, the resume point alone must close the
    // gap (no backfill to hide a lost one); without, the backfill must.
    let start = |store: Arc<dyn Store>| {
        let mut agent = Agent::builder().store(store).websocket(websocket(&sim));
        if keep == 0 {
            agent = agent.backfill(BackfillConfig::new(rest_url(&sim), KEY));
        }
        agent.start()
    };
    let mut seen = HashMap::new();
    let mut want = Vec::new();

    let (opened, redb) = store();
    let mut first = start(opened).await.expect("the agent starts");
    for i in 0..3 {
        let subject = format!("up-{i}");
        post_email(&sim, inbox, &subject);
        want.push(subject);
    }
    receive(&mut first, 3, &mut seen).await;
    first.stop().await;
    drop(first);
    // A redb file is closed before it is opened again (the agent's tasks may hold
    // clones of the store a moment longer).
    if let Some(redb) = redb {
        redb.close().await.expect("the store closes");
    }

    // While it is down: emails to the inbox it knew, and to one it never saw.
    for i in 0..4 {
        let subject = format!("down-{i}");
        post_email(&sim, inbox, &subject);
        want.push(subject);
    }
    for i in 0..3 {
        let subject = format!("new-inbox-{i}");
        post_email(&sim, "latecomer@agentmail.to", &subject);
        want.push(subject);
    }

    let mut second = start(store().0).await.expect("the agent starts again");
    receive(&mut second, 7, &mut seen).await;
    assert_once(&seen, &want);
    // Nothing more: none of what the first run acked comes back.
    let more = tokio::time::timeout(Duration::from_millis(300), second.next()).await;
    assert!(more.is_err(), "nothing more: {:?}", more.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_a_redb_store_resumes_from_the_checkpoint_it_keeps() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("agent.redb");
    // Only one opener at a time: the first agent's store is dropped before the second
    // opens it.
    let open = || {
        let store = RedbStore::open(&path).expect("the store opens");
        (Arc::new(store.clone()) as Arc<dyn Store>, Some(store))
    };
    restart_loses_nothing(open, 10_000, "ada@agentmail.to").await;
    // The checkpoints are in the store: nothing beside it.
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("readable")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(files, ["agent.redb"], "nothing beside the store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_server_no_longer_retains_is_read_by_the_backfill_from_the_store_checkpoint() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("agent.redb");
    let open = || {
        let store = RedbStore::open(&path).expect("the store opens");
        (Arc::new(store.clone()) as Arc<dyn Store>, Some(store))
    };
    restart_loses_nothing(open, 0, "grace@agentmail.to").await;
}

fn redis_url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_a_redis_store_resumes_from_the_checkpoint_kept_in_redis() {
    let prefix = format!("mailwire-agent-test-{}", std::process::id());
    for keep in [10_000, 0] {
        let prefix = format!("{prefix}-{keep}");
        let url = redis_url();
        let open = || -> (Arc<dyn Store>, Option<RedbStore>) {
            let url = url.clone();
            let prefix = prefix.clone();
            // Connected on its own thread's runtime: `open` is called from async code.
            (
                std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime")
                        .block_on(async {
                            RedisStore::builder(url.as_str())
                                .key_prefix(prefix.as_str())
                                .consumer("agent-test")
                                .connect()
                                .await
                        })
                })
                .join()
                .expect("connected")
                .map(|s| Arc::new(s) as Arc<dyn Store>)
                .expect("the Redis store connects"),
                None,
            )
        };
        restart_loses_nothing(open, keep, &format!("redis-{keep}@agentmail.to")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_url_that_is_not_the_rest_api_fails_at_start() {
    let sim = Simulator::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .expect("the simulator starts");
    // The base without /v0: every path answers 404.
    let err = Agent::builder()
        .websocket(websocket(&sim))
        .backfill(BackfillConfig::new(format!("http://{}", sim.addr()), KEY))
        .start()
        .await
        .expect_err("refused at start");
    assert!(matches!(err, AgentError::Backfill { .. }), "{err}");
    assert!(
        err.to_string().contains("/v0"),
        "says what a base looks like: {err}"
    );

    let err = Agent::builder()
        .websocket(WsConfig::new(sim.ws_url()).api_key("am_wrong"))
        .start()
        .await
        .expect_err("a refused key is refused at start");
    assert!(
        matches!(
            err,
            AgentError::Unreachable { .. } | AgentError::WebSocket { .. }
        ),
        "{err}"
    );
}
