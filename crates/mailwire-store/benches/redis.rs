//! Redis append throughput under 64 concurrent appenders, against a bare `XADD` on
//! the same kind of connection (the baseline: one round trip, no idempotency), with
//! the memory and redb stores side by side. Needs Redis at 127.0.0.1:6379.
//!
//! The gap between `bare_xadd` and `redis_store` is what the atomic id check costs
//! (one script: `EXISTS`, `XADD`, `SET`).

use std::future::Future;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mailwire_proto::Event;
use mailwire_store::{MemoryStore, RedbStore, RedisStore, Store};
use redis::Commands;
use tokio::runtime::Runtime;

const APPENDERS: usize = 64;
const BURST: usize = 256;
/// The Redis to measure against: `MAILWIRE_TEST_REDIS_URL`, by default 127.0.0.1:6379.
fn url() -> String {
    std::env::var("MAILWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A `message.received` event of about 1 KiB, the common case.
fn event(n: u64) -> Event {
    let text = "Hello, your verification code is 481516. ".repeat(16);
    let raw = format!(
        r#"{{"type":"event","event_type":"message.received","event_id":"evt_{n:016}","message":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{n}","message_id":"msg_{n}","labels":["received"],"timestamp":"2026-11-29T10:00:00Z","from":"Bob <bob@example.com>","to":["ada@agentmail.to"],"subject":"Your code","text":"{text}","size":1024,"created_at":"2026-11-29T10:00:00Z","updated_at":"2026-11-29T10:00:00Z"}}}}"#
    );
    Event::parse(raw.into_bytes()).expect("a valid event")
}

/// Runs `append` on `count` new events from `APPENDERS` tasks and returns how long the
/// burst took; building the events is not timed.
fn burst<F, Fut>(runtime: &Runtime, append: F, next: &mut u64) -> Duration
where
    F: Fn(Event) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut shares: Vec<Vec<Event>> = vec![Vec::new(); APPENDERS];
    for i in 0..BURST {
        shares[i % APPENDERS].push(event(*next));
        *next += 1;
    }
    runtime.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for share in shares {
            let append = append.clone();
            tasks.spawn(async move {
                for event in share {
                    append(event).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("an appender");
        }
        start.elapsed()
    })
}

fn store_append<S: Store + Clone>(store: &S) -> impl Fn(Event) -> BoxFut + Clone + 'static {
    let store = store.clone();
    move |event| {
        let store = store.clone();
        Box::pin(async move {
            assert!(store.append(&event).await.expect("append").is_new());
        })
    }
}

type BoxFut = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

fn append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let prefix = format!("mailwire-bench-{:016x}", fastrand::u64(..));
    let redis = runtime
        .block_on(RedisStore::builder(url()).key_prefix(&prefix).connect())
        .expect("this benchmark needs Redis at 127.0.0.1:6379");
    let bare = runtime
        .block_on(
            redis::Client::open(url())
                .expect("a URL")
                .get_connection_manager(),
        )
        .expect("a connection");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut next = 0u64;

    let mut group = c.benchmark_group("redis_append_64_appenders");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(if quick() { 100 } else { 2000 }))
        .measurement_time(Duration::from_millis(if quick() { 500 } else { 10_000 }))
        .throughput(Throughput::Elements(BURST as u64));

    let bare_key = format!("{prefix}:bare");
    let xadd = move |event: Event| {
        let mut conn = bare.clone();
        let key = bare_key.clone();
        Box::pin(async move {
            let _: String = redis::cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("event")
                .arg(event.raw().as_ref())
                .query_async(&mut conn)
                .await
                .expect("XADD");
        }) as BoxFut
    };
    group.bench_function("bare_xadd", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, xadd.clone(), &mut next))
                .sum()
        })
    });
    let to_redis = store_append(&redis);
    group.bench_function("redis_store", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, to_redis.clone(), &mut next))
                .sum()
        })
    });
    let memory = store_append(&MemoryStore::new());
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, memory.clone(), &mut next))
                .sum()
        })
    });
    let redb = RedbStore::open(dir.path().join("grouped.redb")).expect("a store");
    let to_redb = store_append(&redb);
    group.bench_function("redb_group_commit", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| burst(&runtime, to_redb.clone(), &mut next))
                .sum()
        })
    });
    group.finish();

    // Leave nothing behind in the shared Redis.
    if let Ok(mut conn) = redis::Client::open(url()).and_then(|c| c.get_connection()) {
        let keys: Vec<Vec<u8>> = conn
            .scan_match(format!("*{prefix}*"))
            .map(|iter| iter.filter_map(Result::ok).collect())
            .unwrap_or_default();
        for chunk in keys.chunks(1000) {
            let _: Result<i64, _> = conn.del(chunk);
        }
    }
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
