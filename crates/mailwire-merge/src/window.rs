//! The in-memory dedup window: which event ids were seen recently, bounded by count
//! and by age, in a fixed 17 bytes per slot.
//!
//! One open-addressed table of 128-bit slots, in buckets of four (one 64-byte cache
//! line), probed bucket after bucket from the key's home; a search ends at the first
//! bucket with an empty slot. A slot holds the id's 128-bit keyed hash with its low
//! 16 bits replaced by two 8-bit *generation* stamps: one of a clock that ticks
//! every `capacity / 31` inserts, one of a clock that ticks every `max_age / 31`. An
//! entry is dead once either clock is 32 ticks past its stamp. So expiry costs
//! nothing per entry: no queue of insertion times, no per-id clock.
//!
//! Beside the slots, one byte per slot (eight more bits of the hash, 0 for empty)
//! in an array a sixteenth of the table's size. Lookups scan these bytes and read a
//! slot only when its byte matches: the byte array stays in cache where the slots
//! cannot, so a new id costs no cache miss before it is stored, as in a SwissTable.
//!
//! A cursor sweeps the table while inserting (a full pass per tick of the insert
//! clock), skipping empty buckets by their bytes, and removes dead entries, moving
//! later entries back so no search stops short of one. The table's load stays under
//! 29/32 for ever. Both arrays are allocated once, at their final size: a
//! long-running process never grows them.

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::time::{Duration, Instant};

use siphasher::sip128::{Hasher128, SipHasher13};

/// Live generations of each clock. An id is remembered for at least 31 ticks of
/// either, at most 32.
const GENERATIONS: u8 = 32;
/// Slots hold the hash with these low bits replaced by the two tags.
const TAG_BITS: u32 = 16;
const TAG_MASK: u128 = (1 << TAG_BITS) - 1;
/// A sweep pass is completed at once when the age clock ticked this many times since
/// it began, so an entry dead by age is gone long before its 8-bit tag could wrap
/// (at 256) and look alive again. (Passes keep pace with the insert clock by
/// themselves: one per tick.)
const MAX_PASS_TICKS: u64 = 128;
/// The most the table is ever filled: 29 slots in 32, live and not-yet-swept
/// entries. Chosen with the sizing below to stay within 20.6 bytes per id.
const MAX_LOAD_NUM: usize = 29;
const MAX_LOAD_DEN: usize = 32;

/// Slots per bucket: four 16-byte slots, one 64-byte cache line.
const BUCKET: usize = 4;

/// One cache line of slots: a lookup reads whole buckets, and stops at the first
/// bucket with an empty slot.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket([u128; BUCKET]);

/// The 128-bit keyed hash of an event id: what the window and the merge compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdKey(u128);

impl IdKey {
    /// The hash as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdKey({:032x})", self.0)
    }
}

/// Hashes event ids to [`IdKey`]s: SipHash-1-3 with its 128-bit output, under a
/// random 128-bit key drawn per hasher. Keyed per process, so ids chosen by whoever
/// sends events cannot be crafted to collide or to build long probe chains.
#[derive(Clone)]
pub struct IdHasher {
    k0: u64,
    k1: u64,
}

impl IdHasher {
    /// A hasher with fresh random keys.
    pub fn new() -> IdHasher {
        // std's `RandomState` is seeded from the OS; what it makes of a constant
        // under two fresh states is 128 unpredictable bits.
        IdHasher {
            k0: RandomState::new().hash_one(0x6b30_u64),
            k1: RandomState::new().hash_one(0x6b31_u64),
        }
    }

    /// The key of `id`.
    pub fn key(&self, id: &str) -> IdKey {
        // One pass for 128 bits: half the work of two 64-bit hashes.
        let mut hasher = SipHasher13::new_with_keys(self.k0, self.k1);
        hasher.write(id.as_bytes());
        IdKey(hasher.finish128().as_u128())
    }
}

impl Default for IdHasher {
    fn default() -> IdHasher {
        IdHasher::new()
    }
}

impl fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are secret: they are what makes collisions hard to craft.
        f.write_str("IdHasher(..)")
    }
}

/// A `Hasher` for maps keyed by [`IdKey`]: the key is already a keyed hash, so its
/// bits are used as they are.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `IdKey` is hashed with this; keep any other input well mixed anyway.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = (n >> 64) as u64;
    }
}

/// `BuildHasher` for maps keyed by [`IdKey`].
pub(crate) type KeyBuild = BuildHasherDefault<KeyHasher>;

/// Recently seen event ids, bounded by count and by age, in 17 bytes a slot.
///
/// An id is remembered while fewer than `capacity` ids were inserted after it and it
/// is younger than `max_age`; it is forgotten by the time about `capacity · 32/31`
/// ids came after it or `max_age · 32/31` passed, whichever comes first. The table
/// holds `capacity · 34/31 / (29/32)` slots of 17 bytes (a 16-byte slot and a tag
/// byte), about 20.6 bytes per id of capacity, allocated once.
///
/// Time is passed in by the caller (`now`), so tests drive it exactly.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mailwire_merge::IdWindow;
///
/// let start = Instant::now();
/// let mut window = IdWindow::new(1000, Duration::from_secs(3600), start);
/// assert!(window.insert("evt_1", start));
/// assert!(!window.insert("evt_1", start)); // a duplicate
/// assert!(window.contains("evt_1", start + Duration::from_secs(60)));
/// // An hour and a bit later it is forgotten.
/// assert!(!window.contains("evt_1", start + Duration::from_secs(3800)));
/// ```
pub struct IdWindow {
    hasher: IdHasher,
    buckets: Box<[Bucket]>,
    /// One byte per slot, bucket by bucket: 0 for an empty slot, else eight bits of
    /// the entry's hash. 1/16 of the table's size, so it stays in cache where the
    /// slots cannot: a lookup touches a slot only when its byte matches.
    tags: Box<[[u8; BUCKET]]>,
    /// Slots not empty: live entries and dead ones not swept yet.
    occupied: usize,
    max_occupied: usize,
    /// Inserts per tick of the insert clock.
    per_generation: usize,
    /// The insert clock (wrapping).
    inserts_clock: u8,
    in_generation: usize,
    /// The age clock: whole `tick` spans since `origin`.
    origin: Instant,
    tick: Duration,
    age_clock: u64,
    /// When the age clock ticks next (`None` past what `Instant` can hold): the common
    /// case is one comparison, not a 128-bit division.
    next_tick: Option<Instant>,
    cursor: usize,
    /// Slots swept per insert: a full pass per tick of the insert clock.
    sweep_step: usize,
    /// The age clock when the current pass began.
    pass_began: u64,
    /// Ticks of the insert clock, not wrapping.
    insert_ticks: u64,
    /// Both clocks when the table was last empty: until either is 32 ticks past,
    /// nothing in it can be dead and sweeping is skipped.
    empty_at: (u64, u64),
    /// Full passes completed.
    passes: u64,
    capacity: usize,
    max_age: Duration,
}

impl IdWindow {
    /// A window that remembers at least the last `capacity` ids (at least 1) for at
    /// least `max_age`, starting at `now`, hashing with fresh random keys.
    pub fn new(capacity: usize, max_age: Duration, now: Instant) -> IdWindow {
        IdWindow::with_hasher(capacity, max_age, now, IdHasher::new())
    }

    /// Like [`new`](IdWindow::new), with a given hasher (to share one with a caller
    /// that already hashed the ids).
    pub fn with_hasher(
        capacity: usize,
        max_age: Duration,
        now: Instant,
        hasher: IdHasher,
    ) -> IdWindow {
        let capacity = capacity.max(1);
        let live = usize::from(GENERATIONS - 1);
        let per_generation = capacity.div_ceil(live);
        // Live entries span 32 ticks of the insert clock; dead ones wait at most two
        // more for the sweep to reach them.
        let most_occupied = per_generation * (usize::from(GENERATIONS) + 2);
        let buckets = (most_occupied * MAX_LOAD_DEN)
            .div_ceil(MAX_LOAD_NUM)
            .div_ceil(BUCKET)
            .max(2);
        let len = buckets * BUCKET;
        let tick = (max_age / u32::from(GENERATIONS - 1)).max(Duration::from_micros(1));
        IdWindow {
            hasher,
            buckets: vec![Bucket([0; BUCKET]); buckets].into_boxed_slice(),
            tags: vec![[0; BUCKET]; buckets].into_boxed_slice(),
            occupied: 0,
            max_occupied: len * MAX_LOAD_NUM / MAX_LOAD_DEN,
            per_generation,
            inserts_clock: 0,
            in_generation: 0,
            origin: now,
            tick,
            age_clock: 0,
            next_tick: now.checked_add(tick),
            cursor: 0,
            sweep_step: len.div_ceil(per_generation),
            pass_began: 0,
            insert_ticks: 0,
            empty_at: (0, 0),
            passes: 0,
            capacity,
            max_age,
        }
    }

    /// The hasher that turns ids into keys.
    pub fn hasher(&self) -> &IdHasher {
        &self.hasher
    }

    /// How many ids the window remembers at least.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long the window remembers an id at least.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The bytes the window holds on the heap: fixed from construction on.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets) + std::mem::size_of_val(&*self.tags)
    }

    /// Inserts `id`; `true` when it was not in the window (first seen).
    pub fn insert(&mut self, id: &str, now: Instant) -> bool {
        let key = self.hasher.key(id);
        self.insert_key(key, now)
    }

    /// True when `id` is in the window.
    pub fn contains(&mut self, id: &str, now: Instant) -> bool {
        let key = self.hasher.key(id);
        self.contains_key(key, now)
    }

    /// Inserts a key made by [`hasher`](IdWindow::hasher); `true` when it was new.
    pub fn insert_key(&mut self, key: IdKey, now: Instant) -> bool {
        self.advance(now);
        let body = body(key);
        let tag = tag_of(body);
        let mut b = self.home(body);
        let at = loop {
            let tags = self.tags[b];
            for (j, &t) in tags.iter().enumerate() {
                if t == tag {
                    let slot = self.buckets[b].0[j];
                    if slot & !TAG_MASK == body && self.is_live(slot) {
                        return false;
                    }
                }
            }
            // Dead entries are not reused here (telling them apart would read the
            // slots); the sweep frees them, and the sizing counts them.
            if let Some(j) = tags.iter().position(|&t| t == 0) {
                break (b, j);
            }
            b = self.next(b);
        };
        if self.occupied + 1 > self.max_occupied {
            // Cannot happen while the sizing above holds; if it ever did,
            // dropping every dead entry now restores the bound.
            self.finish_pass();
            return self.insert_key(key, now);
        }
        self.occupied += 1;
        self.buckets[at.0].0[at.1] = body | self.stamp();
        self.tags[at.0][at.1] = tag;
        self.in_generation += 1;
        if self.in_generation >= self.per_generation {
            self.inserts_clock = self.inserts_clock.wrapping_add(1);
            self.insert_ticks += 1;
            self.in_generation = 0;
        }
        if self.insert_ticks >= self.empty_at.0 + u64::from(GENERATIONS)
            || self.age_clock >= self.empty_at.1 + u64::from(GENERATIONS)
        {
            self.sweep(self.sweep_step);
        }
        true
    }

    /// True when a key made by [`hasher`](IdWindow::hasher) is in the window.
    pub fn contains_key(&mut self, key: IdKey, now: Instant) -> bool {
        self.advance(now);
        let body = body(key);
        let tag = tag_of(body);
        let mut b = self.home(body);
        loop {
            let tags = self.tags[b];
            for (j, &t) in tags.iter().enumerate() {
                if t == tag {
                    let slot = self.buckets[b].0[j];
                    if slot & !TAG_MASK == body && self.is_live(slot) {
                        return true;
                    }
                }
            }
            // A bucket with room ends the search: nothing ever went past it.
            if tags.contains(&0) {
                return false;
            }
            b = self.next(b);
        }
    }

    fn home(&self, slot: u128) -> usize {
        // Lemire's multiply-shift maps the top 64 bits onto 0..len without a division.
        (((slot >> 64) * self.buckets.len() as u128) >> 64) as usize
    }

    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    fn stamp(&self) -> u128 {
        (u128::from(self.inserts_clock) << 8) | u128::from(self.age_clock as u8)
    }

    fn is_live(&self, slot: u128) -> bool {
        self.inserts_clock.wrapping_sub((slot >> 8) as u8) < GENERATIONS
            && (self.age_clock as u8).wrapping_sub(slot as u8) < GENERATIONS
    }

    /// Moves the age clock to `now`.
    fn advance(&mut self, now: Instant) {
        if self.next_tick.is_none_or(|next| now < next) {
            return;
        }
        let ticks = now.saturating_duration_since(self.origin).as_nanos() / self.tick.as_nanos();
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        if ticks <= self.age_clock {
            return; // same tick, or a `now` older than one seen before
        }
        let elapsed = ticks - self.age_clock;
        self.age_clock = ticks;
        self.next_tick = self
            .tick
            .as_nanos()
            .checked_mul(u128::from(ticks.saturating_add(1)))
            .and_then(|nanos| u64::try_from(nanos).ok())
            .and_then(|nanos| self.origin.checked_add(Duration::from_nanos(nanos)));
        if elapsed >= u64::from(GENERATIONS) {
            // Idle for longer than the whole window: everything is dead. Clearing
            // now also keeps 8-bit tags from wrapping around into the live range.
            self.buckets.fill(Bucket([0; BUCKET]));
            self.tags.fill([0; BUCKET]);
            self.occupied = 0;
            self.cursor = 0;
            self.pass_began = ticks;
            self.empty_at = (self.insert_ticks, ticks);
        } else if ticks - self.pass_began >= MAX_PASS_TICKS {
            self.finish_pass();
        }
    }

    /// Examines `budget` slots at the cursor, removing dead entries.
    fn sweep(&mut self, mut budget: usize) {
        let (inserts, age) = (self.inserts_clock, self.age_clock as u8);
        let dead = |slot: u128| -> bool {
            slot != 0
                && (inserts.wrapping_sub((slot >> 8) as u8) >= GENERATIONS
                    || age.wrapping_sub(slot as u8) >= GENERATIONS)
        };
        let len = self.buckets.len() * BUCKET;
        // The cursor lives in a register while scanning; most buckets have nothing
        // dead and are passed over whole.
        let mut cursor = self.cursor;
        while budget > 0 {
            let (b, j) = (cursor / BUCKET, cursor % BUCKET);
            if j == 0
                && budget >= BUCKET
                && (self.tags[b] == [0; BUCKET] || !self.buckets[b].0.iter().any(|&s| dead(s)))
            {
                cursor += BUCKET;
                budget -= BUCKET;
            } else if dead(self.buckets[b].0[j]) {
                // Another entry may move into this slot: the next step looks again.
                self.remove_at(b, j);
                budget -= 1;
            } else {
                cursor += 1;
                budget -= 1;
            }
            if cursor == len {
                cursor = 0;
                self.pass_began = self.age_clock;
                self.passes += 1;
            }
        }
        self.cursor = cursor;
    }

    /// Sweeps to the end of the current pass.
    fn finish_pass(&mut self) {
        let passes = self.passes;
        while self.passes == passes {
            self.sweep(self.buckets.len() * BUCKET);
        }
    }

    /// Empties slot `j` of bucket `hole`, then keeps the invariant lookups rely on
    /// (every bucket from an entry's home up to the one before it is full): an entry
    /// further on whose home lies at or before the hole's bucket moves into the hole,
    /// which moves on to where that entry was, until a bucket with room.
    fn remove_at(&mut self, mut hole: usize, mut j: usize) {
        self.buckets[hole].0[j] = 0;
        self.tags[hole][j] = 0;
        self.occupied -= 1;
        let mut b = hole;
        loop {
            b = self.next(b);
            let (bucket, tags) = (self.buckets[b].0, self.tags[b]);
            // Entries whose home is in (hole, b] must stay at or after their home.
            let movable = (0..BUCKET).position(|k| {
                if tags[k] == 0 {
                    return false;
                }
                let home = self.home(bucket[k]);
                let stays = if hole <= b {
                    hole < home && home <= b
                } else {
                    hole < home || home <= b
                };
                !stays
            });
            let has_room = tags.contains(&0);
            if let Some(k) = movable {
                self.buckets[hole].0[j] = bucket[k];
                self.tags[hole][j] = tags[k];
                self.buckets[b].0[k] = 0;
                self.tags[b][k] = 0;
                (hole, j) = (b, k);
            }
            // Nothing lies beyond a bucket that had room before: nothing can need it.
            if has_room {
                return;
            }
        }
    }

    /// Checks that every entry is reachable from its home (tests only).
    #[cfg(test)]
    pub(crate) fn check_reachable(&self) {
        for (b, bucket) in self.buckets.iter().enumerate() {
            for (j, &slot) in bucket.0.iter().enumerate() {
                let tag = self.tags[b][j];
                assert_eq!(tag == 0, slot == 0, "a tag out of step with its slot");
                if slot == 0 {
                    continue;
                }
                assert_eq!(tag, tag_of(slot & !TAG_MASK));
                let mut h = self.home(slot);
                while h != b {
                    assert!(!self.tags[h].contains(&0), "a gap before an entry");
                    h = self.next(h);
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn occupied(&self) -> usize {
        self.occupied
    }

    #[cfg(test)]
    pub(crate) fn slot_count(&self) -> usize {
        self.buckets.len() * BUCKET
    }
}

/// The byte that stands for a stored key in `tags`: never 0 (an empty slot). Bits
/// other than those the home bucket comes from, so entries sharing a bucket differ.
fn tag_of(body: u128) -> u8 {
    ((body >> TAG_BITS) as u8).max(1)
}

/// A key as stored: tag bits cleared, never zero (zero marks an empty slot).
fn body(key: IdKey) -> u128 {
    let body = key.0 & !TAG_MASK;
    if body == 0 { 1 << TAG_BITS } else { body }
}

impl fmt::Debug for IdWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdWindow")
            .field("capacity", &self.capacity)
            .field("max_age", &self.max_age)
            .field("slots", &(self.buckets.len() * BUCKET))
            .field("occupied", &self.occupied)
            .field("inserts_clock", &self.inserts_clock)
            .field("age_clock", &self.age_clock)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}_{i}")).collect()
    }

    #[test]
    fn remembers_capacity_ids_and_forgets_older_ones() {
        let now = Instant::now();
        let mut w = IdWindow::new(1000, Duration::from_secs(3600), now);
        let all = ids("evt", 5000);
        for id in &all {
            assert!(w.insert(id, now), "{id} is new");
        }
        // The last 1000 are all remembered.
        for id in &all[4000..] {
            assert!(w.contains(id, now), "{id} was forgotten too early");
            assert!(!w.insert(id, now));
        }
        // Anything older than capacity · 32/31 (+ one generation of rounding) is gone.
        let forgotten = all[..5000 - 1100]
            .iter()
            .filter(|id| !w.contains(id, now))
            .count();
        assert_eq!(forgotten, 5000 - 1100);
    }

    #[test]
    fn forgets_by_age() {
        let start = Instant::now();
        let age = Duration::from_secs(310);
        let mut w = IdWindow::new(1000, age, start);
        assert!(w.insert("a", start));
        assert!(w.contains("a", start + Duration::from_secs(300)));
        assert!(w.insert("b", start + Duration::from_secs(300)));
        assert!(!w.contains("a", start + Duration::from_secs(321)));
        assert!(w.contains("b", start + Duration::from_secs(600)));
        // Idle for longer than the whole window: one clear, then business as usual.
        assert!(!w.contains("b", start + Duration::from_secs(10_000)));
        assert!(w.insert("b", start + Duration::from_secs(10_000)));
        assert_eq!(w.occupied(), 1);
    }

    #[test]
    fn a_tiny_max_age_keeps_ticking_for_hours() {
        // 1 µs ticks: billions of them in three hours.
        let start = Instant::now();
        let mut w = IdWindow::new(1000, Duration::from_micros(31), start);
        let mut now = start;
        for hour in 1..=3 {
            assert!(w.insert(&format!("x{hour}"), now));
            assert!(w.contains(&format!("x{hour}"), now));
            now += Duration::from_secs(3600);
            assert!(!w.contains(&format!("x{hour}"), now), "hour {hour}");
        }
        // And a huge one never overflows.
        let mut w = IdWindow::new(10, Duration::MAX, start);
        assert!(w.insert("a", start));
        assert!(w.contains("a", start + Duration::from_secs(1 << 40)));
    }

    #[test]
    fn load_stays_bounded_over_many_generations() {
        let now = Instant::now();
        let mut w = IdWindow::new(10_000, Duration::from_secs(3600), now);
        let bound = w.slot_count() * 7 / 8;
        for i in 0..1_000_000u32 {
            w.insert(&i.to_string(), now);
            assert!(w.occupied() <= bound);
            if i % 50_000 == 0 {
                w.check_reachable();
            }
        }
        w.check_reachable();
        // Everything inserted recently is still found after all that churn.
        for i in 990_000..1_000_000u32 {
            assert!(w.contains(&i.to_string(), now));
        }
    }

    #[test]
    fn memory_is_at_most_a_quarter_of_a_string_set() {
        // A `HashSet<String>` of 1M 30-byte ids holds 82.4 bytes per id (the bench).
        let w = IdWindow::new(1_000_000, Duration::from_secs(3600), Instant::now());
        let per_id = w.memory_bytes() as f64 / 1e6;
        assert!(
            (20.0..=82.4 / 4.0).contains(&per_id),
            "{per_id} bytes per id"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever mix of inserts and waits: after every insert, each entry is
        /// reachable from its home with no empty bucket in between, its tag byte
        /// matches it, and the load bound holds. Small tables, so probe chains
        /// wrap around the end and removals move entries across it.
        #[test]
        fn the_table_stays_sound_under_churn(
            capacity in 1usize..64,
            ops in proptest::collection::vec((0u16..300, 0u32..4_000), 0..1500),
        ) {
            let mut now = Instant::now();
            let mut w = IdWindow::new(capacity, Duration::from_secs(20), now);
            for (id, wait_ms) in ops {
                if wait_ms % 5 == 0 {
                    now += Duration::from_millis(u64::from(wait_ms));
                }
                w.insert(&id.to_string(), now);
                proptest::prop_assert!(w.occupied() <= w.max_occupied);
                w.check_reachable();
            }
        }
    }

    #[test]
    fn slow_trickle_across_many_generations_keeps_tags_sound() {
        // Generations advance by time far more often than by count: the 16-bit tags
        // wrap many times over; dead entries must never come back to life.
        let mut now = Instant::now();
        let mut w = IdWindow::new(100, Duration::from_secs(31), now);
        for i in 0..200_000u32 {
            now += Duration::from_millis(1500);
            let id = i.to_string();
            assert!(w.insert(&id, now));
            if i >= 30 {
                // 45 s ago: beyond max_age · 32/31.
                assert!(!w.contains(&(i - 30).to_string(), now));
            }
            if i >= 15 {
                assert!(w.contains(&(i - 15).to_string(), now));
            }
        }
    }
}
