//! Append throughput: memory, redb with group commit, and redb with one transaction
//! per append (the baseline), under the same 64 concurrent appenders, side by side.
//!
//! Every redb append is durable (fsync'd) before it returns; the question is how many
//! appends share one fsync. Each variant prints its store's commit counters to stderr
//! at the end, so the group sizes behind the numbers are visible.
//!
//! `redb_checkpoint_save` saves checkpoints (each a value that moved) from the same
//! 64 tasks: a save goes through the same committer as an append and should cost no
//! more than one.

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mailwire_proto::Event;
use mailwire_store::{Checkpoints, MemoryStore, RedbStore, Store};
use tokio::runtime::Runtime;

const APPENDERS: usize = 64;

/// A `message.received` event of about 1 KiB, the common case.
fn event(n: u64) -> Event {
    let text = "Hello, your verification code is 481516. ".repeat(16);
    let raw = format!(
        r#"{{"type":"event","event_type":"message.received","event_id":"evt_{n:016}","message":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{n}","message_id":"msg_{n}","labels":["received"],"timestamp":"2026-11-29T10:00:00Z","from":"Bob <bob@example.com>","to":["ada@agentmail.to"],"subject":"Your code","text":"{text}","size":1024,"created_at":"2026-11-29T10:00:00Z","updated_at":"2026-11-29T10:00:00Z"}}}}"#
    );
    Event::parse(raw.into_bytes()).expect("a valid event")
}

/// Appends `count` new events from `APPENDERS` tasks (each its share, one after the
/// other) and returns how long the burst took; building the events is not timed.
fn burst<S: Store + Clone>(runtime: &Runtime, store: &S, next: &mut u64, count: usize) -> Duration {
    let mut shares: Vec<Vec<Event>> = vec![Vec::new(); APPENDERS];
    for i in 0..count {
        shares[i % APPENDERS].push(event(*next));
        *next += 1;
    }
    runtime.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for share in shares {
            let store = store.clone();
            tasks.spawn(async move {
                for event in share {
                    assert!(store.append(&event).await.expect("append").is_new());
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("an appender");
        }
        start.elapsed()
    })
}

/// Saves `count` checkpoints from `APPENDERS` tasks, each task under a key of its
/// own and each value new (so each is written), and returns how long it took.
fn saves(runtime: &Runtime, store: &RedbStore, next: &mut u64, count: usize) -> Duration {
    let first = *next;
    *next += count as u64;
    runtime.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..APPENDERS as u64 {
            let store = store.clone();
            tasks.spawn(async move {
                let key = format!("ws:tenant-{task}:default");
                let mut n = first + task;
                while n < first + count as u64 {
                    let value = format!("evt_{n:016}");
                    store.save(&key, &value).await.expect("save");
                    n += APPENDERS as u64;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a saver");
        }
        start.elapsed()
    })
}

fn append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut next = 0u64;

    let mut group = c.benchmark_group("append_64_appenders");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if quick() { 100 } else { 2000 }))
        .measurement_time(Duration::from_millis(if quick() { 500 } else { 10_000 }));

    const BURST: usize = 256;
    group.throughput(Throughput::Elements(BURST as u64));
    let memory = MemoryStore::new();
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, &memory, &mut next, BURST))
                .sum()
        })
    });

    let grouped = RedbStore::open(dir.path().join("grouped.redb")).expect("a store");
    group.bench_function("redb_group_commit", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, &grouped, &mut next, BURST))
                .sum()
        })
    });
    eprintln!("redb_group_commit: {:?}", grouped.stats());

    let checkpoints = RedbStore::open(dir.path().join("checkpoints.redb")).expect("a store");
    group.bench_function("redb_checkpoint_save", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| saves(&runtime, &checkpoints, &mut next, BURST))
                .sum()
        })
    });
    eprintln!("redb_checkpoint_save: {:?}", checkpoints.stats());

    // One fsync per append: a smaller burst keeps the run short; throughput is per
    // element either way.
    const BASELINE_BURST: usize = APPENDERS;
    group.throughput(Throughput::Elements(BASELINE_BURST as u64));
    let single = RedbStore::builder()
        .max_group(1)
        .open(dir.path().join("single.redb"))
        .expect("a store");
    group.bench_function("redb_txn_per_append", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, &single, &mut next, BASELINE_BURST))
                .sum()
        })
    });
    eprintln!("redb_txn_per_append: {:?}", single.stats());
    group.finish();
}

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

/// Criterion's settings; under `--quick`, few resamples (the analysis, not the
/// measurement, is what takes time in an unoptimised build).
fn config() -> Criterion {
    if quick() {
        Criterion::default().nresamples(1000).sample_size(10)
    } else {
        Criterion::default()
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = append
}
criterion_main!(benches);
