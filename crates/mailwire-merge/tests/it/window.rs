//! `IdWindow` against a model: a plain list of (id, time) inserts.

use std::time::{Duration, Instant};

use mailwire_merge::IdWindow;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Insert id `n`.
    Insert(u16),
    /// Ask about id `n`.
    Contains(u16),
    /// Let time pass, in milliseconds.
    Wait(u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            6 => (0u16..400).prop_map(Op::Insert),
            3 => (0u16..400).prop_map(Op::Contains),
            1 => (0u32..20_000).prop_map(Op::Wait),
        ],
        0..3000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// What the window promises: an id inserted less than `capacity` inserts ago and
    /// less than `max_age` ago is known; one inserted more than `capacity · 32/31`
    /// (plus one generation) inserts ago, or more than `max_age · 32/31` ago, or never,
    /// is not; `insert` says "new" exactly when `contains` would have said "absent".
    #[test]
    fn behaves_like_its_model(capacity in 1usize..200, age_s in 1u64..120, ops in ops()) {
        let max_age = Duration::from_secs(age_s);
        let start = Instant::now();
        let mut now = start;
        let mut window = IdWindow::new(capacity, max_age, start);
        let per_generation = capacity.div_ceil(31);
        let forget_by_count = per_generation * 32;
        let forget_by_age = max_age * 32 / 31 + Duration::from_micros(1);
        // (id, insert number, time) of every insert that said "new".
        let mut log: Vec<(u16, usize, Instant)> = Vec::new();
        let mut inserts = 0usize;
        for op in ops {
            let (id, is_insert) = match op {
                Op::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    continue;
                }
                Op::Insert(id) => (id, true),
                Op::Contains(id) => (id, false),
            };
            let last = log.iter().rev().find(|(i, _, _)| *i == id);
            let present = if is_insert {
                !window.insert(&id.to_string(), now)
            } else {
                window.contains(&id.to_string(), now)
            };
            match last {
                None => prop_assert!(!present, "never inserted, yet present: {}", id),
                Some(&(_, n, at)) => {
                    let since = inserts - n; // inserts that said "new" since it
                    let age = now - at;
                    if since < capacity && age < max_age {
                        prop_assert!(present, "forgotten too early: {} ({} inserts, {:?})", id, since, age);
                    }
                    if since > forget_by_count || age >= forget_by_age {
                        prop_assert!(!present, "remembered too long: {} ({} inserts, {:?})", id, since, age);
                    }
                }
            }
            if is_insert && !present {
                log.push((id, inserts, now));
                inserts += 1;
            }
        }
    }
}
