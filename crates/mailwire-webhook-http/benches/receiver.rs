//! Receiver throughput and latency under 32 keep-alive connections posting 2 KiB
//! signed events, with the memory store and with redb, side by side with a bare
//! hyper server that reads the body and answers 200 (the ceiling); and the
//! receiver with rate limits and 1000 tenants against the same receiver without
//! either, each connection from its own loopback address (127.0.0.2 to
//! 127.0.0.33), so the limits keep one state per client as in production.
//!
//! `cargo bench -p mailwire-webhook-http --bench receiver`. Criterion reports the
//! time per request (throughput = its inverse); p50/p99 latency per request is
//! printed after each target, from an HDR histogram of every request sent.
//!
//! Every row runs under the same conditions: the same client (one runtime, named
//! `bench-client`, 2 workers), the same connection count, and the servers on
//! another runtime of the same shape (`bench-server`). The two share the machine's
//! cores, so throughput follows the sum of client and server CPU per request; CPU
//! is also reported per side (from each thread's counters in `/proc`), so the
//! server's own cost per request can be compared without the client's.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use mailwire_source::EventSource;
use mailwire_store::{MemoryStore, RedbStore, Store};
use mailwire_webhook::{Keyring, Signer, Verifier};
use mailwire_webhook_http::{Rate, RateLimits, Tenant, Tenants, WebhookReceiver, WebhookSource};
use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Runtime;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CONNECTIONS: usize = 32;
const BODY: usize = 2048;
/// Fixed-width id slot in the body template, overwritten per request.
const ID_WIDTH: usize = 20;
/// Ids are unique across every target, so no request is a duplicate.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A 2 KiB `message.received` body whose id is rewritten in place per request.
struct Template {
    bytes: Vec<u8>,
    id_at: usize,
    /// The message id slot: each request is a distinct email too, or the store would
    /// see copies of one received message.
    message_id_at: usize,
}

impl Template {
    fn new() -> Self {
        let placeholder = "X".repeat(ID_WIDTH);
        let head = format!(
            r#"{{"type":"event","event_type":"message.received","event_id":"{placeholder}","message":{{"inbox_id":"ada@agentmail.to","thread_id":"thr_1","message_id":"{placeholder}","labels":["received"],"timestamp":"2026-11-29T10:00:00Z","from":"Bob <bob@example.com>","to":["ada@agentmail.to"],"subject":"Your code","size":2048,"created_at":"2026-11-29T10:00:00Z","updated_at":"2026-11-29T10:00:00Z","text":""#
        );
        let tail = r#""}}"#;
        let pad = BODY - head.len() - tail.len();
        let bytes = format!("{head}{}{tail}", "a".repeat(pad)).into_bytes();
        let id_at = head.find(&placeholder).expect("placeholder");
        let message_id_at = id_at
            + ID_WIDTH
            + head[id_at + ID_WIDTH..]
                .find(&placeholder)
                .expect("message id placeholder");
        assert_eq!(bytes.len(), BODY);
        Template {
            bytes,
            id_at,
            message_id_at,
        }
    }

    fn body(&self, n: u64) -> (String, Bytes) {
        let id = format!("evt_{n:016x}");
        let mut bytes = self.bytes.clone();
        bytes[self.id_at..self.id_at + ID_WIDTH].copy_from_slice(id.as_bytes());
        bytes[self.message_id_at..self.message_id_at + ID_WIDTH].copy_from_slice(id.as_bytes());
        (id, Bytes::from(bytes))
    }
}

/// Where one connection comes from, posts to, and signs with.
#[derive(Clone)]
struct Lane {
    from: IpAddr,
    path: String,
    signer: Arc<Signer>,
}

impl Lane {
    /// 127.0.0.1, `/webhooks`, the receiver's own secret.
    fn default_lane() -> Lane {
        Lane {
            from: IpAddr::from([127, 0, 0, 1]),
            path: "/webhooks".to_owned(),
            signer: Arc::new(Signer::new(Keyring::standard(SECRET).expect("secret"))),
        }
    }

    /// The connection `i`'s own address, 127.0.0.(2 + i % 32).
    fn own_address(i: usize) -> IpAddr {
        IpAddr::from([127, 0, 0, 2 + (i % 32) as u8])
    }
}

/// 32 keep-alive connections posting signed events with unique ids.
struct Senders {
    conns: Vec<(SendRequest<Full<Bytes>>, Lane)>,
    template: Arc<Template>,
    latency: Arc<Mutex<Histogram<u64>>>,
    failures: Arc<AtomicU64>,
}

impl Senders {
    async fn connect(
        addr: SocketAddr,
        connections: usize,
        lane: &dyn Fn(usize) -> Lane,
    ) -> Senders {
        let mut conns = Vec::new();
        for i in 0..connections {
            let lane = lane(i);
            let socket = TcpSocket::new_v4().expect("socket");
            socket.bind(SocketAddr::new(lane.from, 0)).expect("bind");
            let stream = socket.connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            conns.push((send, lane));
        }
        Senders {
            conns,
            template: Arc::new(Template::new()),
            latency: Arc::new(Mutex::new(Histogram::new(3).expect("histogram"))),
            failures: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends `total` requests spread over the connections; returns the elapsed time.
    async fn run(&mut self, total: u64) -> Duration {
        // Exactly `total` requests, as even as can be: criterion divides by it.
        let n = self.conns.len() as u64;
        let (each, extra) = (total / n, total % n);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (i, (mut conn, lane)) in std::mem::take(&mut self.conns).into_iter().enumerate() {
            let per_conn = each + u64::from((i as u64) < extra);
            let template = self.template.clone();
            let failures = self.failures.clone();
            tasks.push(tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).expect("histogram");
                let ts = unix_now();
                for _ in 0..per_conn {
                    let (id, body) = template.body(NEXT_ID.fetch_add(1, Ordering::Relaxed));
                    let mut req = Request::post(lane.path.as_str())
                        .header("host", "bench")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    for (name, value) in lane.signer.sign(&id, ts, &body).expect("sign") {
                        req.headers_mut().append(name, value);
                    }
                    let sent = Instant::now();
                    conn.ready().await.expect("ready");
                    let res = conn.send_request(req).await.expect("response");
                    let status = res.status();
                    let body = res.into_body().collect().await.expect("body").to_bytes();
                    hist.record(sent.elapsed().as_micros() as u64)
                        .expect("record");
                    // "ok" only: a duplicate (200 "duplicate") would skip the append.
                    if status != StatusCode::OK || body != "ok" {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (conn, lane, hist)
            }));
        }
        for task in tasks {
            let (conn, lane, hist) = task.await.expect("sender task");
            self.conns.push((conn, lane));
            self.latency.lock().expect("lock").add(hist).expect("merge");
        }
        start.elapsed()
    }

    fn report(&self, name: &str, cpu: Cpu) {
        let h = self.latency.lock().expect("lock");
        let per = |d: Duration| d.as_secs_f64() * 1e6 / h.len().max(1) as f64;
        eprintln!(
            "{name}: {} requests, p50 {} us, p99 {} us, answers other than 200 ok: {}, \
             CPU per request: client {:.1} us, server {:.1} us (+ redb committer thread \
             {:.1} us)",
            h.len(),
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            self.failures.load(Ordering::Relaxed),
            per(cpu.client),
            per(cpu.server),
            per(cpu.store),
        );
    }
}

/// CPU time used so far (user + system) by this process's threads, split into the
/// client's (threads named `bench-client`), the servers' (`bench-server`: the
/// servers and their consumers) and redb's committer thread (`mailwire-store…`). From `/proc/self/task/*/stat`: on
/// a machine shared with other jobs, throughput swings with their load, while CPU
/// per request does not. Threads that have exited are not counted; the bench's
/// threads live for the whole run.
fn cpu_split() -> Cpu {
    let (mut client, mut server, mut store) = (0u64, 0u64, 0u64);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Cpu::default();
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, name)| name);
        // Fields after the parenthesised name; utime and stime are the 12th and
        // 13th of them, in clock ticks (100 per second on Linux).
        let ticks: u64 = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        // The main thread (criterion's analysis between rows) is neither side.
        if name.starts_with("bench-client") {
            client += ticks;
        } else if name.starts_with("bench-server") {
            server += ticks;
        } else if name.starts_with("mailwire-store") {
            store += ticks;
        }
    }
    let ms = |ticks: u64| Duration::from_millis(ticks * 10);
    Cpu {
        client: ms(client),
        server: ms(server),
        store: ms(store),
    }
}

/// CPU time per side; see [`cpu_split`].
#[derive(Clone, Copy, Default)]
struct Cpu {
    client: Duration,
    server: Duration,
    store: Duration,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;

    fn sub(self, before: Cpu) -> Cpu {
        Cpu {
            client: self.client - before.client,
            server: self.server - before.server,
            store: self.store - before.store,
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The ceiling: hyper reading the body and answering 200, nothing else.
async fn bare_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A receiver with `log`, drained by a consumer that acks every delivery. Acks run
/// concurrently with each other and with receiving: with redb an ack is a durable
/// write, and a consumer that awaited each one in turn would be held to one event
/// per commit (a few ms), while concurrent acks share commits. They are polled
/// in place rather than spawned, so the consumer costs no task per event.
async fn receiver(log: Arc<dyn Store>) -> SocketAddr {
    // Every request of these rows comes from 127.0.0.1, far above any default
    // budget per address: their limits are off (the rows below measure them).
    serve(configured(log).rate_limits(RateLimits::off())).await
}

fn configured(log: Arc<dyn Store>) -> WebhookReceiver {
    let verifier = Verifier::new(Keyring::standard(SECRET).expect("secret"));
    WebhookReceiver::new(verifier)
        .store(log)
        .queue_capacity(1 << 16)
}

/// How many tenants the tenant row's receiver holds.
const TENANTS: usize = 1000;

/// Tenant `i`'s secret: a `whsec_` of its own.
fn tenant_secret(i: usize) -> String {
    // 28 base64 characters: 21 bytes of key.
    format!("whsec_benchTenantSecretX{i:010}")
}

/// Which tenant connection `i` posts to: 32 tenants spread over the 1000.
fn tenant_of(i: usize) -> usize {
    (i * 31) % TENANTS
}

/// Budgets every request is checked against and none reaches: the cost of the
/// checks, not of refusals.
fn roomy_limits() -> RateLimits {
    RateLimits::default()
        .per_address(Some(Rate::per_second(1_000_000).with_burst(2_000_000)))
        .total(Some(Rate::per_second(10_000_000).with_burst(20_000_000)))
}

/// The receiver with rate limits and `TENANTS` tenants, each with its keyring
/// and budgets.
async fn tenant_receiver(log: Arc<dyn Store>) -> SocketAddr {
    let tenants = Tenants::new();
    for i in 0..TENANTS {
        let keyring = Keyring::standard(&tenant_secret(i)).expect("secret");
        let tenant = Tenant::new(format!("t{i:04}"), Verifier::new(keyring)).limits(roomy_limits());
        tenants.insert(tenant).expect("tenant");
    }
    serve(configured(log).rate_limits(roomy_limits()).tenants(tenants)).await
}

async fn serve(receiver: WebhookReceiver) -> SocketAddr {
    let source: WebhookSource = receiver.bind("127.0.0.1:0").await.expect("bind");
    let addr = source.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut source = source;
        let mut acks = FuturesUnordered::new();
        loop {
            tokio::select! {
                Some(acked) = acks.next(), if !acks.is_empty() => {
                    let acked: Result<(), _> = acked;
                    acked.expect("ack");
                }
                next = source.next() => match next {
                    Ok(Some(delivery)) => acks.push(delivery.ack()),
                    _ => break,
                },
            }
        }
    });
    addr
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench(c: &mut Criterion) {
    let client = runtime("bench-client");
    let server = runtime("bench-server");
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = Arc::new(RedbStore::open(dir.path().join("bench.redb")).expect("redb"));
    type LaneFn = fn(usize) -> Lane;
    let one_address: LaneFn = |_| Lane::default_lane();
    let own_addresses: LaneFn = |i| Lane {
        from: Lane::own_address(i),
        ..Lane::default_lane()
    };
    let to_tenants: LaneFn = |i| Lane {
        from: Lane::own_address(i),
        path: format!("/webhooks/t{:04}", tenant_of(i)),
        signer: Arc::new(Signer::new(
            Keyring::standard(&tenant_secret(tenant_of(i))).expect("secret"),
        )),
    };
    let targets: Vec<(&str, SocketAddr, usize, LaneFn)> = server.block_on(async {
        let memory = receiver(Arc::new(MemoryStore::new())).await;
        let redb = receiver(redb.clone()).await;
        let unlimited = receiver(Arc::new(MemoryStore::new())).await;
        let limited =
            serve(configured(Arc::new(MemoryStore::new())).rate_limits(roomy_limits())).await;
        let tenants = tenant_receiver(Arc::new(MemoryStore::new())).await;
        vec![
            (
                "bare hyper (ceiling)",
                bare_server().await,
                CONNECTIONS,
                one_address,
            ),
            ("receiver + memory store", memory, CONNECTIONS, one_address),
            ("receiver + redb", redb, CONNECTIONS, one_address),
            // Durable throughput is requests in flight / commit time: more senders,
            // bigger groups. Not part of the 32-connection comparison.
            ("receiver + redb, 128 connections", redb, 128, one_address),
            // Rate limits and tenants against the same receiver without: memory
            // store, 32 client addresses.
            (
                "memory, 32 addresses: no limits, no tenants",
                unlimited,
                CONNECTIONS,
                own_addresses,
            ),
            (
                "memory, 32 addresses: rate limits",
                limited,
                CONNECTIONS,
                own_addresses,
            ),
            (
                "memory, 32 addresses: rate limits + 1000 tenants",
                tenants,
                CONNECTIONS,
                to_tenants,
            ),
        ]
    });

    let mut group = c.benchmark_group("webhook receiver, 2 KiB signed");
    group.throughput(Throughput::Elements(1));
    // Every sample the same size, so each keeps all 32 connections busy.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(if quick() { 200 } else { 2000 }));
    group.measurement_time(Duration::from_millis(if quick() { 1000 } else { 8000 }));
    let targets_by_name: Vec<(&str, SocketAddr, LaneFn)> = targets
        .iter()
        .map(|(name, addr, _, lane)| (*name, *addr, *lane))
        .collect();
    for (name, addr, connections, lane) in targets {
        let mut senders = client.block_on(Senders::connect(addr, connections, &lane));
        let cpu = cpu_split();
        let stats = redb.stats();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| client.block_on(senders.run(iters)));
        });
        senders.report(name, cpu_split() - cpu);
        let after = redb.stats();
        if after.commits > stats.commits {
            let commits = (after.commits - stats.commits) as f64;
            eprintln!(
                "{name}: redb {} commits, {:.1} appends and {:.1} operations (appends + \
                 acks) per commit, largest group so far {}",
                after.commits - stats.commits,
                (after.appended - stats.appended) as f64 / commits,
                (after.operations - stats.operations) as f64 / commits,
                after.largest_group,
            );
        }
    }
    group.finish();

    // The same comparison in alternating rounds: on a machine shared with other
    // jobs, throughput drifts between criterion's rows (seconds apart), while two
    // rounds side by side see the same load.
    let find = |wanted: &str| {
        targets_by_name
            .iter()
            .find(|(name, ..)| *name == wanted)
            .map(|(_, addr, lane)| (*addr, *lane))
            .expect("row")
    };
    let (off_addr, off_lane) = find("memory, 32 addresses: no limits, no tenants");
    let (on_addr, on_lane) = find("memory, 32 addresses: rate limits + 1000 tenants");
    let mut off = client.block_on(Senders::connect(off_addr, CONNECTIONS, &off_lane));
    let mut on = client.block_on(Senders::connect(on_addr, CONNECTIONS, &on_lane));
    let (rounds, per_round): (usize, u64) = if quick() { (2, 1000) } else { (20, 20_000) };
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    eprintln!("paired rounds, {per_round} requests each, limits + 1000 tenants vs none:");
    for round in 0..rounds {
        let one = |senders: &mut Senders| {
            let cpu = cpu_split();
            let elapsed = client.block_on(senders.run(per_round));
            let server = (cpu_split() - cpu).server;
            (
                per_round as f64 / elapsed.as_secs_f64(),
                server.as_secs_f64() * 1e6 / per_round as f64,
            )
        };
        // Alternate which goes first, so neither always follows the other.
        let (a, b) = if round % 2 == 0 {
            let a = one(&mut off);
            (a, one(&mut on))
        } else {
            let b = one(&mut on);
            (one(&mut off), b)
        };
        eprintln!(
            "  round {round}: none {:.0}/s ({:.1} us server CPU), limits + tenants {:.0}/s \
             ({:.1} us): {:.2}x",
            a.0,
            a.1,
            b.0,
            b.1,
            b.0 / a.0
        );
        ratios.push(b.0 / a.0);
        cpu_ratios.push(b.1 / a.1);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    eprintln!(
        "paired: throughput limits + tenants / none, median of {rounds} rounds: {:.3}x; \
         server CPU per request: {:.3}x; failures: none {}, limits + tenants {}",
        median(&mut ratios),
        median(&mut cpu_ratios),
        off.failures.load(Ordering::Relaxed),
        on.failures.load(Ordering::Relaxed),
    );
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
    targets = bench
}
criterion_main!(benches);
