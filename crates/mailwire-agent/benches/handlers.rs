//! Handlers that wait on the network, as an agent's do (a model call): each sleeps
//! 100 ms. Side by side in one run:
//!
//! 1. **Concurrency**: handled events per second by one agent at concurrency 32
//!    against concurrency 1 (goal: at least 25x).
//! 2. **Instances**: three agents sharing a Redis at concurrency 8 each, each with its
//!    own WebSocket to one simulator, against one such agent (goal: at least 2.7x).
//! 3. **What the runner adds**: at half the load of (1), from the event's emission to
//!    its handler's end, minus the handler's 100 ms, p50 and p99, against a bare
//!    `tokio::spawn` per event read from the same WebSocket.
//!
//! `cargo bench -p mailwire-agent --bench handlers` (release). The Redis row uses
//! `MAILWIRE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) under a key prefix of
//! its own, deleted after the run; it is skipped when no Redis answers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailwire_agent::{Agent, OrderBy};
use mailwire_proto::Event;
use mailwire_sim::Simulator;
use mailwire_source::EventSource as _;
use mailwire_store::{RedisStore, Store};
use mailwire_ws::WsConfig;

const HANDLER: Duration = Duration::from_millis(100);
const KEY: &str = "sk_bench_handlers";

fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

fn row(bench: &str, case: &str, figure: f64, unit: &str, baseline: &str, baseline_figure: f64) {
    println!("bench-row\t{bench}\t{case}\t{figure:.1}\t{unit}\t{baseline}\t{baseline_figure:.1}");
}

fn event(run: &str, n: usize) -> Event {
    Event::parse(format!(
        r#"{{"id":"evt_{run}_{n:06}","type":"message.delivered","data":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_{run}_{n}","message_id":"msg_{n}"}}}}"#
    ).into_bytes())
    .expect("an event")
}

async fn simulator() -> Simulator {
    Simulator::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .expect("the simulator binds")
}

async fn agent(sim: &Simulator, store: Option<Arc<dyn Store>>) -> Agent {
    let mut builder = Agent::builder().websocket(WsConfig::new(sim.ws_url()).api_key(KEY));
    if let Some(store) = store {
        builder = builder.store(store);
    }
    builder.start().await.expect("the agent starts")
}

/// Runs `agents` at `concurrency` each until `n` events emitted (all at once, or
/// `per_second` of them a second) are handled; returns events/s and, per event,
/// the time from its emission to its handler's end.
async fn handle(
    sim: &Simulator,
    agents: Vec<Agent>,
    concurrency: usize,
    run: &str,
    n: usize,
    per_second: Option<f64>,
) -> (f64, Vec<Duration>) {
    let emitted: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n]));
    let done: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (finished_tx, mut finished_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for mut agent in agents {
        let (emitted, done, finished) = (emitted.clone(), done.clone(), finished_tx.clone());
        let mut stop = stop_tx.subscribe();
        tasks.push(tokio::spawn(async move {
            agent
                .runner()
                .concurrency(concurrency)
                .order_by(OrderBy::Thread)
                .stop_on(async move {
                    let _ = stop.recv().await;
                })
                .run(move |work| {
                    let (emitted, done, finished) =
                        (emitted.clone(), done.clone(), finished.clone());
                    async move {
                        tokio::time::sleep(HANDLER).await;
                        let n: usize = work.event.id().rsplit('_').next().unwrap().parse().unwrap();
                        if let Some(at) = emitted.lock().unwrap()[n] {
                            done.lock().unwrap().push(at.elapsed());
                        }
                        let _ = finished.send(());
                        Ok::<(), String>(())
                    }
                })
                .await
                .expect("the run ends");
            agent.stop().await;
        }));
    }
    let start = Instant::now();
    let mut sent = 0;
    let mut handled = 0;
    while handled < n {
        let due = match per_second {
            Some(rate) => ((start.elapsed().as_secs_f64() * rate) as usize + 1).min(n),
            None => n,
        };
        if sent < due {
            let now = Instant::now();
            for k in sent..due {
                emitted.lock().unwrap()[k] = Some(now);
            }
            sim.emit_all((sent..due).map(|k| event(run, k)));
            sent = due;
        }
        let wait = if sent < n {
            Duration::from_millis(2)
        } else {
            Duration::from_secs(60)
        };
        if let Ok(Some(())) = tokio::time::timeout(wait, finished_rx.recv()).await {
            handled += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    for task in tasks {
        task.await.expect("the agent's task ends");
    }
    let latencies = std::mem::take(&mut *done.lock().unwrap());
    (n as f64 / elapsed, latencies)
}

/// A bare `tokio::spawn` per event read from a WebSocket, as the baseline of what
/// the runner adds.
async fn bare(sim: &Simulator, run: &str, n: usize, per_second: f64) -> Vec<Duration> {
    let mut agent = agent(sim, None).await;
    let done: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let emitted: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n]));
    let start = Instant::now();
    let mut sent = 0;
    let mut read = 0;
    let mut handlers = tokio::task::JoinSet::new();
    while read < n {
        let due = ((start.elapsed().as_secs_f64() * per_second) as usize + 1).min(n);
        if sent < due {
            let now = Instant::now();
            for k in sent..due {
                emitted.lock().unwrap()[k] = Some(now);
            }
            sim.emit_all((sent..due).map(|k| event(run, k)));
            sent = due;
        }
        let Ok(next) = tokio::time::timeout(Duration::from_millis(2), agent.next()).await else {
            continue;
        };
        let delivery = next.expect("no error").expect("the agent goes on");
        read += 1;
        let (emitted, done) = (emitted.clone(), done.clone());
        handlers.spawn(async move {
            tokio::time::sleep(HANDLER).await;
            let n: usize = delivery
                .event
                .id()
                .rsplit('_')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let at = emitted.lock().unwrap()[n];
            delivery.ack().await.expect("acked");
            if let Some(at) = at {
                done.lock().unwrap().push(at.elapsed());
            }
        });
    }
    while handlers.join_next().await.is_some() {}
    agent.stop().await;
    done.lock()
        .map(|mut d| std::mem::take(&mut *d))
        .unwrap_or_default()
}

fn over_handler(mut latencies: Vec<Duration>, q: f64) -> f64 {
    latencies.sort();
    let at = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
    latencies[at].saturating_sub(HANDLER).as_secs_f64() * 1e6
}

async fn redis_store(url: &str, prefix: &str, k: usize) -> Option<Arc<dyn Store>> {
    let store = RedisStore::builder(url)
        .key_prefix(prefix)
        .consumer(format!("bench-{k}"))
        .lease(Duration::from_secs(5))
        .connect()
        .await
        .ok()?;
    Some(Arc::new(store))
}

fn delete_prefix(url: &str, prefix: &str) {
    let cli = |args: &[&str]| {
        std::process::Command::new("redis-cli")
            .arg("-u")
            .arg(url)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let keys = cli(&["--scan", "--pattern", &format!("*{prefix}*")]);
    for key in keys.lines().filter(|k| !k.is_empty()) {
        cli(&["DEL", key]);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: there,
    // nothing runs.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let sim = simulator().await;
        let scale = if quick() { 1 } else { 4 };

        // 1. Concurrency 1 against 32, one agent, memory store.
        let (one, _) = handle(
            &sim,
            vec![agent(&sim, None).await],
            1,
            "c1",
            5 * scale,
            None,
        )
        .await;
        let (many, _) = handle(
            &sim,
            vec![agent(&sim, None).await],
            32,
            "c32",
            160 * scale,
            None,
        )
        .await;
        row(
            "agent: handlers of 100 ms, handled/s",
            "Runner, concurrency 32",
            many,
            "events/s",
            "Runner, concurrency 1",
            one,
        );

        // 3. At half the load of (1): what the runner adds over the handler.
        let n = 80 * scale;
        let (_, ours) = handle(
            &sim,
            vec![agent(&sim, None).await],
            32,
            "lat",
            n,
            Some(many / 2.0),
        )
        .await;
        let theirs = bare(&sim, "bare", n, many / 2.0).await;
        for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
            row(
                "agent: handlers of 100 ms, added latency at half load",
                &format!("Runner, concurrency 32, {name}"),
                over_handler(ours.clone(), q),
                "µs",
                &format!("tokio::spawn per event, {name}"),
                over_handler(theirs.clone(), q),
            );
        }

        // 2. One and three agents sharing a Redis, concurrency 8 each.
        let url = std::env::var("MAILWIRE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("mailwire-bench-handlers-{}", std::process::id());
        let Some(first) = redis_store(&url, &format!("{prefix}-1"), 0).await else {
            eprintln!("no Redis at {url}: the instances row is skipped");
            return;
        };
        let (single, _) = handle(
            &sim,
            vec![agent(&sim, Some(first)).await],
            8,
            "r1",
            40 * scale,
            None,
        )
        .await;
        let mut three = Vec::new();
        for k in 0..3 {
            let store = redis_store(&url, &format!("{prefix}-3"), k)
                .await
                .expect("Redis answers");
            three.push(agent(&sim, Some(store)).await);
        }
        let (shared, _) = handle(&sim, three, 8, "r3", 120 * scale, None).await;
        delete_prefix(&url, &prefix);
        row(
            "agent: handlers of 100 ms, instances on Redis",
            "3 agents, concurrency 8 each",
            shared,
            "events/s",
            "1 agent, concurrency 8",
            single,
        );
    });
}
