//! Simulator -> client throughput and latency, side by side in one run:
//!
//! - `bare`: a tokio-tungstenite read loop that only counts frames (the transport
//!   floor);
//! - `parse`: the same loop parsing each frame into `mailwire_proto::Event` (the
//!   floor for any client that parses);
//! - `WsSource`: the whole source (session, channel, delivery), consumed through
//!   `EventSource::next`;
//! - `WsSource` + ack: the same with a durable resume point (in-memory
//!   checkpoints), each delivery acked: the cost of the ack watermark and its
//!   writer (throughput only).
//!
//! Same simulator, same ~800-byte events. Throughput: each contender resumes after a
//! marker and receives N retained events replayed as fast as the server sends them.
//! Latency: events emitted live at 10,000/s from a paced thread, emit-to-delivery
//! per event. Run with `cargo bench -p mailwire-ws`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use mailwire_proto::Event;
use mailwire_proto::fixtures;
use mailwire_sim::Simulator;
use mailwire_source::{EventSource, MemoryCheckpoints};
use mailwire_ws::{Status, WsConfig, WsSource};
use tokio_tungstenite::tungstenite::Message;

const EVENT_BYTES: usize = 800;
const RATE: u64 = 10_000;

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

/// Events per throughput run.
fn throughput_events() -> usize {
    if quick() { 2_000 } else { 50_000 }
}

/// Throughput runs per client.
fn rounds() -> usize {
    if quick() { 1 } else { 5 }
}

/// Events per latency run (at [`RATE`]).
fn latency_events() -> usize {
    if quick() { 1_000 } else { 10_000 }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    Bare,
    Parse,
    Source,
    Acked,
}

impl Contender {
    const ALL: [Contender; 4] = [
        Contender::Bare,
        Contender::Parse,
        Contender::Source,
        Contender::Acked,
    ];
    /// Those measured for latency too.
    const LIVE: [Contender; 3] = [Contender::Bare, Contender::Parse, Contender::Source];

    fn name(self) -> &'static str {
        match self {
            Contender::Bare => "bare tokio-tungstenite loop",
            Contender::Parse => "loop + Event::parse",
            Contender::Source => "WsSource::next",
            Contender::Acked => "WsSource::next + ack, checkpoints",
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let sim = Simulator::builder()
        .retain(throughput_events() + 1)
        .ping_interval(None)
        .live_buffer(1 << 16)
        .bind("127.0.0.1:0")
        .await
        .expect("simulator");
    let sim = Arc::new(sim);
    let url = sim.ws_url();

    // Throughput: a marker, then N events, all retained; every run replays them.
    sim.emit(fixtures::message_of_size("evt_mark", "a@x.to", EVENT_BYTES));
    sim.emit_all(
        (0..throughput_events())
            .map(|i| fixtures::message_of_size(&format!("evt_t_{i}"), "a@x.to", EVENT_BYTES)),
    );
    let size = fixtures::message_of_size("evt_t_0", "a@x.to", EVENT_BYTES)
        .raw()
        .len();
    println!(
        "payload: {size} bytes per event, {} events per run, {} rounds\n",
        throughput_events(),
        rounds()
    );

    let n = Contender::ALL.len();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..rounds() {
        // Rotate who goes first, so warm-up and drift do not favour one.
        for k in 0..n {
            let c = Contender::ALL[(round + k) % n];
            let started = Instant::now();
            // Every client loop runs as a task, as it would in an application.
            tokio::spawn(receive_replay(c, url.clone(), throughput_events()))
                .await
                .expect("run");
            let rate = throughput_events() as f64 / started.elapsed().as_secs_f64();
            rates[c as usize].push(rate);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let medians: Vec<f64> = rates.iter_mut().map(median).collect();

    // Latency at a fixed rate.
    let mut latencies = Vec::new();
    for (k, c) in Contender::LIVE.into_iter().enumerate() {
        let run = tokio::spawn(measure_latency(c, sim.clone(), url.clone(), k));
        latencies.push(run.await.expect("run"));
    }

    println!(
        "| client | events/s (median of {}) | vs parse floor | p50 at {RATE}/s | p99 at {RATE}/s | max |",
        rounds()
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for c in Contender::ALL {
        let Some(h) = latencies.get(c as usize) else {
            println!(
                "| {} | {:.0} | {:.2}x | - | - | - |",
                c.name(),
                medians[c as usize],
                medians[c as usize] / medians[Contender::Parse as usize],
            );
            continue;
        };
        println!(
            "| {} | {:.0} | {:.2}x | {} µs | {} µs | {} µs |",
            c.name(),
            medians[c as usize],
            medians[c as usize] / medians[Contender::Parse as usize],
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            h.max(),
        );
    }
    // The rows of `cargo xtask bench`'s table.
    let (source, parse, bare) = (
        Contender::Source as usize,
        Contender::Parse as usize,
        Contender::Bare as usize,
    );
    for (baseline, k) in [
        ("loop + Event::parse (floor)", parse),
        ("bare tokio-tungstenite loop", bare),
    ] {
        println!(
            "bench-row\tws: receive 800-byte events\tWsSource::next\t{:.0}\tevents/s\t{baseline}\t{:.0}",
            medians[source], medians[k]
        );
    }
    println!(
        "bench-row\tws: receive 800-byte events\tWsSource::next + ack, checkpoints\t{:.0}\tevents/s\tWsSource::next\t{:.0}",
        medians[Contender::Acked as usize],
        medians[source]
    );
    println!(
        "bench-row\tws: latency at {RATE} events/s\tWsSource::next, p99\t{}\tµs\tbare tokio-tungstenite loop, p99\t{}",
        latencies[source].value_at_quantile(0.99),
        latencies[bare].value_at_quantile(0.99)
    );
}

const SUBSCRIBE_AFTER_MARK: &str = r#"{"type":"subscribe","after":"evt_mark"}"#;

async fn receive_replay(c: Contender, url: String, n: usize) {
    let url = url.as_str();
    match c {
        Contender::Bare | Contender::Parse => {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            ws.send(Message::text(SUBSCRIBE_AFTER_MARK))
                .await
                .expect("subscribe");
            let mut got = 0;
            while got < n {
                let text = match ws.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    other => panic!("the replay ended after {got} of {n} events: {other:?}"),
                };
                if c == Contender::Parse {
                    let event = Event::parse(bytes::Bytes::from(text)).expect("an event");
                    std::hint::black_box(&event);
                }
                got += 1;
            }
        }
        Contender::Source => {
            let config = WsConfig::new(url).resume_after("evt_mark");
            let mut source = WsSource::spawn(config).expect("spawn");
            for _ in 0..n {
                let d = source.next().await.expect("no error").expect("an event");
                std::hint::black_box(&d);
            }
        }
        Contender::Acked => {
            let config = WsConfig::new(url)
                .resume_after("evt_mark")
                .checkpoints(MemoryCheckpoints::new(), "bench");
            let mut source = WsSource::spawn(config).expect("spawn");
            for _ in 0..n {
                let d = source.next().await.expect("no error").expect("an event");
                d.ack().await.expect("acked");
            }
            source.close().await.expect("saved");
        }
    }
}

/// The number after the last `_` of an id.
fn seq_of(id: &str) -> usize {
    id.rsplit('_')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a numbered id")
}

/// The id of a raw AgentMail event without parsing it (for the bare loop).
fn raw_id(text: &str) -> &str {
    let start = text.find(r#""event_id":""#).expect("an event id") + 12;
    let len = text[start..].find('"').expect("closing quote");
    &text[start..start + len]
}

async fn measure_latency(
    c: Contender,
    sim: Arc<Simulator>,
    url: String,
    run: usize,
) -> Histogram<u64> {
    let events: Vec<Event> = (0..latency_events())
        .map(|i| fixtures::message_of_size(&format!("evt_l{run}_{i}"), "a@x.to", EVENT_BYTES))
        .collect();
    let base = Instant::now();
    let emitted: Arc<Vec<AtomicU64>> =
        Arc::new((0..latency_events()).map(|_| AtomicU64::new(0)).collect());
    let subscribes = sim.stats().subscribes;
    let url = url.as_str();

    enum Client {
        Ws(
            Box<
                tokio_tungstenite::WebSocketStream<
                    tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
                >,
            >,
        ),
        Source(WsSource),
    }
    let mut client = match c {
        Contender::Bare | Contender::Parse => {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            ws.send(Message::text(r#"{"type":"subscribe"}"#))
                .await
                .expect("subscribe");
            Client::Ws(Box::new(ws))
        }
        Contender::Source | Contender::Acked => {
            let source = WsSource::spawn(WsConfig::new(url)).expect("spawn");
            let mut status = source.status();
            status
                .wait_for(|s| matches!(s, Status::Subscribed))
                .await
                .expect("subscribed");
            Client::Source(source)
        }
    };
    sim.wait_subscribes(subscribes + 1).await;

    // A paced producer thread: event i leaves at start + i / RATE.
    let interval = Duration::from_nanos(1_000_000_000 / RATE);
    let producer = {
        let (sim, emitted) = (sim.clone(), emitted.clone());
        std::thread::spawn(move || {
            let start = Instant::now() + Duration::from_millis(5);
            for (i, event) in events.into_iter().enumerate() {
                let due = start + interval * i as u32;
                loop {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    if due - now > Duration::from_micros(300) {
                        std::thread::sleep(due - now - Duration::from_micros(200));
                    } else {
                        std::thread::yield_now();
                    }
                }
                emitted[i].store(base.elapsed().as_nanos() as u64, Ordering::Release);
                sim.emit(event);
            }
        })
    };
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for _ in 0..latency_events() {
        let seq = match &mut client {
            Client::Ws(ws) => loop {
                let text = match ws.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    other => panic!("the live stream ended: {other:?}"),
                };
                // Skip `subscribed` and the like.
                if !text.contains("\"event_id\"") {
                    continue;
                }
                if c == Contender::Parse {
                    let event = Event::parse(bytes::Bytes::from(text)).expect("event");
                    break seq_of(event.id());
                }
                break seq_of(raw_id(&text));
            },
            Client::Source(source) => {
                let d = source.next().await.expect("no error").expect("event");
                seq_of(d.event.id())
            }
        };
        let now = base.elapsed().as_nanos() as u64;
        let sent = emitted[seq].load(Ordering::Acquire);
        hist.record(now.saturating_sub(sent) / 1000)
            .expect("in range");
    }
    producer.join().expect("producer");
    hist
}
