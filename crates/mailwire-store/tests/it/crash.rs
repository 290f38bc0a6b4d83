//! The gold standard for durability: a child process appends as fast as it can,
//! prints each id once `append` returned `Ok`, and is killed with SIGKILL mid-flight.
//! Every id it printed must be in the file when it is reopened.
//!
//! The child is this test binary itself, run with `CHILD` set to the store's path.

#![cfg(unix)]

use crate::suite;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use mailwire_store::{RedbStore, Store};
use suite::{HANG, event};

const CHILD: &str = "MAILWIRE_STORE_CRASH_CHILD";
/// Which kill round the child is in: its ids carry it, so rounds never collide.
const ROUND: &str = "MAILWIRE_STORE_CRASH_ROUND";
/// Kill, reopen, check, and again: each reopen recovers from a kill.
const ROUNDS: usize = 3;
/// Ids whose number is a multiple of this are acked right after their append.
const ACK_EVERY: u64 = 4;
/// How many answered appends the parent waits for before it kills the child.
const KILL_AFTER: usize = 2000;

/// The child's body. Without `CHILD` set (a normal test run) it returns at once.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD) else {
        return;
    };
    let round = std::env::var(ROUND).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = RedbStore::open(path).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..16u64 {
            let store = store.clone();
            let round = round.clone();
            tasks.spawn(async move {
                for n in 0u64.. {
                    let id = format!("evt_{round}_{task}_{n}");
                    store.append(&event(&id, n)).await.unwrap();
                    say(&format!("appended {id}"));
                    if n.is_multiple_of(ACK_EVERY) {
                        store.ack(&id).await.unwrap();
                        say(&format!("acked {id}"));
                    }
                }
            });
        }
        // Runs until killed.
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    });
}

/// One line straight to the pipe (not through the test harness's capture), flushed.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

#[test]
fn appends_answered_before_sigkill_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut appended = HashSet::new();
    let mut acked = HashSet::new();
    for round in 0..ROUNDS {
        // Vary where in its work the child dies.
        let kill_after = KILL_AFTER + round * 333;
        run_and_kill(&path, round, kill_after, &mut appended, &mut acked);
        check(&path, &appended, &acked);
    }
}

/// Runs one child on the file, kills it once it has said `kill_after` appends, and
/// collects every line it said before it died.
fn run_and_kill(
    path: &std::path::Path,
    round: usize,
    kill_after: usize,
    appended: &mut HashSet<String>,
    acked: &mut HashSet<String>,
) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::crash_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, path)
        .env(ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                // A line cut short by the kill was not fully said: ignore it.
                Ok(n) if n > 0 && line.ends_with('\n') => {
                    let _ = lines_tx.send(line.trim_end().to_owned());
                }
                _ => break,
            }
        }
    });

    let mut record = |line: String| {
        if let Some(id) = line.strip_prefix("appended ") {
            appended.insert(id.to_owned());
        } else if let Some(id) = line.strip_prefix("acked ") {
            acked.insert(id.to_owned());
        }
    };
    let mut said = 0;
    while said < kill_after {
        let line = lines.recv_timeout(HANG).expect("the child appends");
        said += usize::from(line.starts_with("appended "));
        record(line);
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no close
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was killed, not done: {status:?}"
    );
    reader.join().unwrap();
    // Everything the child said before it died.
    for line in lines.try_iter() {
        record(line);
    }
}

/// Every append answered Ok is in the file; every ack answered Ok holds.
fn check(path: &std::path::Path, appended: &HashSet<String>, acked: &HashSet<String>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = RedbStore::open(path).expect("the file opens after a crash");
        let unacked: HashSet<String> = store
            .unacked(usize::MAX)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id().to_owned())
            .collect();
        for id in appended {
            assert!(
                store.contains(id).await.unwrap(),
                "{id} answered Ok, then lost"
            );
            let n: u64 = id.rsplit('_').next().unwrap().parse().unwrap();
            if acked.contains(id) {
                assert!(
                    !unacked.contains(id),
                    "{id} acked, yet unacked after the crash"
                );
            } else if !n.is_multiple_of(ACK_EVERY) {
                assert!(unacked.contains(id), "{id} never acked, yet not unacked");
            }
            // An id whose ack was sent but not answered may be either.
        }
        // The log still takes appends after the crash.
        assert!(
            store
                .append(&event(&format!("after_{}", appended.len()), 0))
                .await
                .unwrap()
                .is_new()
        );
        store.close().await.unwrap();
    });
}
