//! Events answered 2xx survive the receiver's process being killed: a child process
//! serves with a redb log, is sent SIGKILL mid-burst, and the file is reopened.

use crate::common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use http::StatusCode;
use mailwire_store::{RedbStore, Store};

const CHILD_ENV: &str = "MAILWIRE_WEBHOOK_CRASH_CHILD";

/// The child's side: serve with a redb log until killed. Passes at once when run
/// as an ordinary test.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        // Nobody consumes: every accepted event stays unacked in the log.
        let (_source, addr) = bind(receiver().store(store).queue_capacity(100_000)).await;
        println!("ADDR {addr}");
        std::future::pending::<()>().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_answered_2xx_are_in_the_log_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // libtest prints "test crash_child ... " before the child's own output.
    let addr: SocketAddr = tokio::task::spawn_blocking(move || {
        let lines = BufReader::new(stdout).lines();
        lines
            .map_while(Result::ok)
            .find_map(|l| Some(l.split_once("ADDR ")?.1.trim().parse().unwrap()))
            .expect("child printed no address")
    })
    .await
    .unwrap();

    // A burst; the child is killed once half of it is answered, so the rest is in
    // flight (or never sent) when the process dies.
    let total = 400;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..total {
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let id = format!("evt_{i}");
            let body = event(&id).raw().clone();
            let headers = sign(&format!("msg_{i}"), &body);
            let url = format!("http://{addr}{PATH}");
            let req = request_fallible(url, headers, body).await;
            let _ = done_tx.send((id, req));
        });
    }
    drop(done_tx);
    let mut answered_2xx = HashSet::new();
    let mut answered = 0;
    while let Some((id, status)) = tokio::time::timeout(HANG, done_rx.recv()).await.unwrap() {
        answered += 1;
        if status == Some(StatusCode::OK) {
            answered_2xx.insert(id);
        }
        if answered == total / 2 {
            child.kill(); // SIGKILL: no shutdown, no flush, no destructor
        }
    }
    assert!(
        answered_2xx.len() >= total / 2 - 1,
        "too few answered before the kill"
    );

    let store = RedbStore::open(&path).unwrap();
    let logged: HashSet<String> = store
        .unacked(total * 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    let lost: Vec<_> = answered_2xx.difference(&logged).collect();
    assert!(lost.is_empty(), "answered 2xx but not in the log: {lost:?}");
    store.close().await.unwrap();
}

/// The child, killed (and reaped) at the latest when the test ends, even failing.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A POST whose failure (the server died) is a `None`, not a panic.
async fn request_fallible(
    url: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    body: bytes::Bytes,
) -> Option<StatusCode> {
    let mut req = http::Request::post(url)
        .body(http_body_util::Full::new(body))
        .unwrap();
    for (name, value) in headers {
        req.headers_mut().append(name, value);
    }
    let res = tokio::time::timeout(HANG, client().request(req))
        .await
        .ok()?
        .ok()?;
    Some(res.status())
}
