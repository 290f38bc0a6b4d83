//! A `message.received` of about 1 KiB and 4 KiB in both envelopes, read four ways on
//! the same bytes: `Event::parse` (the envelope only, what a transport does to route
//! and deduplicate), `Event::parse` then `payload()` (the typed read a consumer does),
//! and two baselines: `serde_json::Value` (a generic parse that builds every string
//! and map) and `IgnoredAny` (merely scanning the JSON, the floor of any parser built
//! on serde_json).
//!
//! Kept quick: `cargo bench -p mailwire-proto --bench parse -- --quick`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwire_proto::Event;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// A message as AgentMail sends it; `body` repeats a sentence to reach the size.
fn message(sentences: usize) -> Value {
    let text =
        "Thanks, the numbers look right. Can we move the review to Thursday? ".repeat(sentences);
    let html = format!("<div dir=\"ltr\"><p>{text}</p><p>Grace</p></div>");
    json!({
        "inbox_id": "ada@agentmail.to",
        "thread_id": "thr_7Hq2mX9pL1",
        "message_id": "<CAF9x1q+Zk3@mail.gmail.com>",
        "labels": ["received", "unread"],
        "timestamp": "2026-11-29T10:00:00Z",
        "from": "Grace Hopper <grace@example.com>",
        "to": ["Ada Lovelace <ada@agentmail.to>"],
        "cc": ["Alan Turing <alan@example.org>"],
        "subject": "Re: Quarterly review",
        "preview": "Thanks, the numbers look right. Can we move the review to",
        "text": text,
        "html": html,
        "attachments": [{
            "attachment_id": "att_1a", "filename": "q3-review.pdf",
            "content_type": "application/pdf", "size": 48213,
            "content_disposition": "attachment"
        }],
        "in_reply_to": "<q3.1732700000@agentmail.to>",
        "references": ["<q3.1732600000@agentmail.to>"],
        "headers": {"X-Mailer": "Apple Mail (2.3826)"},
        "size": 52904,
        "created_at": "2026-11-29T10:00:00.123Z",
        "updated_at": "2026-11-29T10:00:01+00:00"
    })
}

/// The envelope is written by hand: its keys come in the order the service sends
/// them (`type`, `event_type` and `event_id` first), which a `json!` map would sort.
fn agentmail(message: &Value) -> Vec<u8> {
    let thread = json!({
        "inbox_id": "ada@agentmail.to", "thread_id": "thr_7Hq2mX9pL1",
        "labels": ["received"], "timestamp": "2026-11-29T10:00:00Z",
        "senders": ["Grace Hopper <grace@example.com>"], "recipients": ["ada@agentmail.to"],
        "subject": "Re: Quarterly review", "message_count": 3,
    });
    format!(
        r#"{{"type":"event","event_type":"message.received","event_id":"evt_2qYz8RkF00cVbN","message":{message},"thread":{thread}}}"#
    )
    .into_bytes()
}

fn simple(message: &Value) -> Vec<u8> {
    format!(
        r#"{{"id":"evt_01JDX8Q00M4T7W9","type":"message.received","created_at":"2026-11-29T10:00:00Z","data":{message}}}"#
    )
    .into_bytes()
}

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}

fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        // The analysis, not the measurement, takes the time in an unoptimised build.
        c.warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(200))
            .sample_size(10)
            .nresamples(1000)
    } else {
        c.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
    }
}

fn bench(c: &mut Criterion) {
    // Sentence counts chosen so the AgentMail events are about 1 KiB and 4 KiB.
    for (label, sentences) in [("1KiB", 2), ("4KiB", 24)] {
        for (envelope, bytes) in [
            ("agentmail", agentmail(&message(sentences))),
            ("simple", simple(&message(sentences))),
        ] {
            let mut group = c.benchmark_group(format!("parse/{envelope}/{label}"));
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            let shared = bytes::Bytes::from(bytes.clone());
            // The typed read below reads the whole message, not a fallback.
            let event = Event::parse(shared.clone()).expect("the event parses");
            assert!(
                event.payload_error().is_none(),
                "{:?}",
                event.payload_error()
            );
            group.bench_function("Event::parse", |b| {
                b.iter(|| Event::parse(black_box(shared.clone())).expect("the event parses"))
            });
            // A fresh event each time: the payload is read once per event, then kept.
            group.bench_function("Event::parse+payload", |b| {
                b.iter(|| {
                    let event = Event::parse(black_box(shared.clone())).expect("the event parses");
                    assert!(event.payload().message().is_some(), "a typed message");
                    event
                })
            });
            group.bench_function("serde_json::Value", |b| {
                b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).expect("valid JSON"))
            });
            group.bench_function("IgnoredAny", |b| {
                b.iter(|| {
                    serde_json::from_slice::<IgnoredAny>(black_box(&bytes)).expect("valid JSON")
                })
            });
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    // Short runs: the figures are ratios between the rows, side by side.
    config = config();
    targets = bench
}
criterion_main!(benches);
