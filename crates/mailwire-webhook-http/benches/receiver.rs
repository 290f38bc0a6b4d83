//! Receiver throughput and latency under 32 keep-alive connections posting 2 KiB
//! signed events, with the memory store and with redb, side by side with a bare
//! hyper server that reads the body and answers 200 (the ceiling).
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
use std::net::SocketAddr;
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
use mailwire_webhook_http::{WebhookReceiver, WebhookSource};
use tokio::net::{TcpListener, TcpStream};
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

/// 32 keep-alive connections posting signed events with unique ids.
struct Senders {
    conns: Vec<SendRequest<Full<Bytes>>>,
    template: Arc<Template>,
    signer: Arc<Signer>,
    latency: Arc<Mutex<Histogram<u64>>>,
    failures: Arc<AtomicU64>,
}

impl Senders {
    async fn connect(addr: SocketAddr, connections: usize) -> Senders {
        let mut conns = Vec::new();
        for _ in 0..connections {
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            conns.push(send);
        }
        Senders {
            conns,
            template: Arc::new(Template::new()),
            signer: Arc::new(Signer::new(Keyring::standard(SECRET).expect("secret"))),
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
        for (i, mut conn) in std::mem::take(&mut self.conns).into_iter().enumerate() {
            let per_conn = each + u64::from((i as u64) < extra);
            let (template, signer) = (self.template.clone(), self.signer.clone());
            let failures = self.failures.clone();
            tasks.push(tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).expect("histogram");
                let ts = unix_now();
                for _ in 0..per_conn {
                    let (id, body) = template.body(NEXT_ID.fetch_add(1, Ordering::Relaxed));
                    let mut req = Request::post("/webhooks")
                        .header("host", "bench")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    for (name, value) in signer.sign(&id, ts, &body).expect("sign") {
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
                (conn, hist)
            }));
        }
        for task in tasks {
            let (conn, hist) = task.await.expect("sender task");
            self.conns.push(conn);
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
    let verifier = Verifier::new(Keyring::standard(SECRET).expect("secret"));
    let source: WebhookSource = WebhookReceiver::new(verifier)
        .store(log)
        .queue_capacity(1 << 16)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
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
    let targets: Vec<(&str, SocketAddr, usize)> = server.block_on(async {
        let memory = receiver(Arc::new(MemoryStore::new())).await;
        let redb = receiver(redb.clone()).await;
        vec![
            ("bare hyper (ceiling)", bare_server().await, CONNECTIONS),
            ("receiver + memory store", memory, CONNECTIONS),
            ("receiver + redb", redb, CONNECTIONS),
            // Durable throughput is requests in flight / commit time: more senders,
            // bigger groups. Not part of the 32-connection comparison.
            ("receiver + redb, 128 connections", redb, 128),
        ]
    });

    let mut group = c.benchmark_group("webhook receiver, 2 KiB signed");
    group.throughput(Throughput::Elements(1));
    // Every sample the same size, so each keeps all 32 connections busy.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    for (name, addr, connections) in targets {
        let mut senders = client.block_on(Senders::connect(addr, connections));
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
