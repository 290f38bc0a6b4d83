//! Dedup with a window of one million ids: the merge's `IdWindow` against a
//! `HashSet<String>` of the same ids (the approach the project grew out of), and a
//! `HashSet<u128>` of the same 128-bit hashes for reference, side by side in one run.
//!
//! - Memory: net heap bytes per id after tracking 1M ids, counted by an instrumented
//!   global allocator. Printed as a table before the timings.
//! - Speed: a stream of 2M deliveries, every id twice (the WebSocket's copy, then the
//!   webhook's ~1000 deliveries later), each checked and remembered when new; into
//!   empty structures (`fresh`), and into structures already holding 1M earlier ids
//!   (`steady`: the window full, forgetting the oldest as it goes, as in a process
//!   that has run for a while).

use std::alloc::System;
use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mailwire_merge::{IdHasher, IdWindow};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Ids tracked: a million, or a few thousand under `cargo xtask bench --quick`.
fn ids_count() -> usize {
    if quick() { 20_000 } else { 1_000_000 }
}

/// `cargo xtask bench --quick`: every benchmark small, to show it still runs.
fn quick() -> bool {
    std::env::var_os("MAILWIRE_BENCH_QUICK").is_some()
}
/// How far behind its first copy the second one arrives.
const LAG: usize = 1000;
const AGE: Duration = Duration::from_secs(3 * 24 * 3600);

/// `evt_` and 26 base-32 characters, like the services' ids: 30 bytes.
fn ids(seed: u64) -> Vec<String> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut state = seed;
    (0..ids_count())
        .map(|_| {
            let mut id = String::with_capacity(30);
            id.push_str("evt_");
            for _ in 0..26 {
                // xorshift64*: deterministic, good enough to spread ids.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
                id.push(ALPHABET[(r >> 59) as usize] as char);
            }
            id
        })
        .collect()
}

/// Every id twice: the second copy `LAG` deliveries after the first.
fn stream(ids: &[String]) -> Vec<&str> {
    let mut out = Vec::with_capacity(ids.len() * 2);
    for i in 0..ids.len() + LAG {
        if i < ids.len() {
            out.push(ids[i].as_str());
        }
        if i >= LAG {
            out.push(ids[i - LAG].as_str());
        }
    }
    out
}

/// Net heap bytes `build` leaves allocated.
fn net_bytes<T>(build: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let value = build();
    let change = region.change();
    let net = change.bytes_allocated as isize - change.bytes_deallocated as isize
        + change.bytes_reallocated;
    (value, net.max(0) as usize)
}

fn dedup_string(set: &mut HashSet<String>, id: &str) -> bool {
    // The clone is only paid for new ids, as a careful user would write it.
    if set.contains(id) {
        return false;
    }
    set.insert(id.to_owned())
}

fn memory_table(ids: &[String]) {
    let (set, string_bytes) = net_bytes(|| {
        let mut set = HashSet::new();
        for id in ids {
            dedup_string(&mut set, id);
        }
        set
    });
    assert_eq!(set.len(), ids_count());
    drop(set);

    let hasher = IdHasher::new();
    let (set, u128_bytes) = net_bytes(|| {
        let mut set = HashSet::new();
        for id in ids {
            set.insert(hasher.key(id).as_u128());
        }
        set
    });
    assert_eq!(set.len(), ids_count());
    drop(set);

    let now = Instant::now();
    let (mut window, window_bytes) = net_bytes(|| {
        let mut window = IdWindow::new(ids_count(), AGE, now);
        for id in ids {
            assert!(window.insert(id, now));
        }
        window
    });
    assert!(ids.iter().all(|id| window.contains(id, now)));

    let per_id = |bytes: usize| bytes as f64 / ids_count() as f64;
    println!(
        "\nmemory with {} ids tracked (net heap bytes, instrumented allocator)",
        ids_count()
    );
    println!("| structure | bytes per id | vs HashSet<String> |");
    println!("| --- | ---: | ---: |");
    for (name, bytes) in [
        ("HashSet<String> (baseline)", string_bytes),
        ("HashSet<u128> of the hashes (no eviction)", u128_bytes),
        ("IdWindow (count + age bounded)", window_bytes),
    ] {
        println!(
            "| {name} | {:.1} | {:.2}x |",
            per_id(bytes),
            bytes as f64 / string_bytes as f64
        );
    }
    // The row of `cargo xtask bench`'s table.
    println!(
        "bench-row\tmerge: memory per id tracked\tIdWindow ({} ids)\t{:.1}\tbytes/id\tHashSet<String>\t{:.1}",
        ids_count(),
        per_id(window_bytes),
        per_id(string_bytes)
    );
    println!();
}

fn speed(c: &mut Criterion) {
    let ids = ids(0x9e37_79b9_7f4a_7c15);
    memory_table(&ids);
    let earlier = self::ids(0x2545_f491_4f6c_dd1d);
    let stream = stream(&ids);
    let hasher = IdHasher::new();
    let now = Instant::now();

    for (name, prefill) in [("fresh", &[][..]), ("steady", &earlier[..])] {
        let mut group = c.benchmark_group(format!("dedup_2M_deliveries_1M_ids/{name}"));
        group.throughput(Throughput::Elements(stream.len() as u64));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(if quick() { 1 } else { 20 }));

        group.bench_function("HashSet<String>", |b| {
            b.iter_batched(
                || prefill.iter().cloned().collect::<HashSet<String>>(),
                |mut set| {
                    let mut new = 0usize;
                    for id in &stream {
                        new += usize::from(dedup_string(&mut set, id));
                    }
                    assert_eq!(new, ids_count());
                    set
                },
                BatchSize::PerIteration,
            )
        });

        group.bench_function("HashSet<u128>", |b| {
            b.iter_batched(
                || {
                    prefill
                        .iter()
                        .map(|id| hasher.key(id).as_u128())
                        .collect::<HashSet<u128>>()
                },
                |mut set| {
                    let mut new = 0usize;
                    for id in &stream {
                        new += usize::from(set.insert(hasher.key(id).as_u128()));
                    }
                    assert_eq!(new, ids_count());
                    set
                },
                BatchSize::PerIteration,
            )
        });

        group.bench_function("IdWindow", |b| {
            b.iter_batched(
                || {
                    let mut window = IdWindow::new(ids_count(), AGE, now);
                    for id in prefill {
                        window.insert(id, now);
                    }
                    window
                },
                |mut window| {
                    let mut new = 0usize;
                    for id in &stream {
                        new += usize::from(window.insert(black_box(id), now));
                    }
                    assert_eq!(new, ids_count());
                    window
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
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
    targets = speed
}
criterion_main!(benches);
