//! The in-memory store: the log, its claims and a seen-set, no durability.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mailwire_proto::Event;

use crate::clock::{Clock, SystemClock, expiry, from_unix_millis, unix_millis};
use crate::{Appended, Checkpoints, DeadLetter, SeenSet, Store, StoreError};
use mailwire_source::BoxError;

/// A [`Store`] and [`SeenSet`] kept in memory: for tests, and the default when no
/// durable store is configured. Nothing survives the process.
///
/// Clones share the same data (an `Arc` inside), so one store can be handed to a
/// receiver and to a merge: they are one instance. A claim lasts until it is acked
/// or [released](Store::release): this process is the only one using the store, so
/// nothing else could take it over (the [lease](MemoryStore::with_lease) is only
/// reported, for callers that pace themselves on it). Expired seen-set entries are
/// purged as new ones are inserted, so the set holds about as many ids as were seen within one TTL. The log
/// remembers the id of every event ever appended (that is what makes `append`
/// idempotent; [`forget_acked_after`](MemoryStore::forget_acked_after) bounds that) and
/// drops an event's body once it is acked. Its [`Checkpoints`] and its dead letters
/// are maps in memory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mailwire_store::{Appended, MemoryStore, Store};
/// use mailwire_proto::Event;
///
/// let store = MemoryStore::new();
/// let event = Event::parse(&br#"{"id":"evt_1","type":"domain.verified","data":{}}"#[..])?;
/// assert_eq!(store.append(&event).await?, Appended::New);
/// assert_eq!(store.append(&event).await?, Appended::Known); // same id: kept once
/// assert_eq!(store.unacked(10).await?, vec![event]);
/// store.ack("evt_1").await?;
/// assert!(store.unacked(10).await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct State {
    closed: bool,
    next_seq: u64,
    /// Every id ever appended, with its position in the log.
    ids: HashMap<String, u64>,
    /// The raw bytes of the events not yet acked, by position: iteration is append
    /// order. Raw bytes rather than events, so that `append` (the hot path) copies no
    /// strings: `Bytes` is reference-counted. `unacked` re-parses them, as the
    /// durable stores do.
    unacked: BTreeMap<u64, Bytes>,
    /// Seen ids and when they expire (Unix ms).
    seen: HashMap<String, u64>,
    /// The same entries by expiry, earliest first, for purging. An entry whose expiry
    /// no longer matches `seen` is stale and skipped.
    expiries: BinaryHeap<Reverse<(u64, String)>>,
    /// How long (ms) acked ids are remembered; `None`: forever.
    forget_acked_after: Option<u64>,
    /// The log positions whose claim this store holds: until acked or released.
    claims: HashSet<u64>,
    /// The lease reported by `lease()` (ms).
    lease_ms: u64,
    /// (acked at, position) -> id, filled only with a retention set.
    acked: BTreeMap<(u64, u64), String>,
    /// Checkpoints of the sources: key -> value.
    checkpoints: HashMap<String, String>,
    /// The dead letters by (buried at in Unix ms, id): iteration is oldest first.
    dead: BTreeMap<(u64, String), DeadLetter>,
    /// Dead letter id -> when it was buried (its key in `dead`).
    dead_at: HashMap<String, u64>,
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> MemoryStore {
        MemoryStore::with_clock(SystemClock)
    }

    /// An empty store whose seen-set reads the time from `clock`.
    pub fn with_clock(clock: impl Clock) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    lease_ms: DEFAULT_LEASE_MS,
                    ..State::default()
                }),
                clock: Arc::new(clock),
            }),
        }
    }

    /// Forgets an acked event's id once `retention` has passed since its ack (default:
    /// never); appending it again is then new. See
    /// [`RedbStoreBuilder::forget_acked_after`](crate::RedbStoreBuilder::forget_acked_after).
    pub fn forget_acked_after(self, retention: Duration) -> MemoryStore {
        self.lock().forget_acked_after =
            Some(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// The lease [`lease`](Store::lease) reports (default 15 s; at least 1 ms). A
    /// claim held by this store does not lapse: it lasts until acked or released.
    pub fn with_lease(self, lease: Duration) -> MemoryStore {
        self.lock().lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        self
    }

    /// Closes the store for every clone: later calls fail with
    /// [`StoreError::Closed`]. Closing twice is `Ok`.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.lock().closed = true;
        Ok(())
    }

    /// True once [`close`](MemoryStore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How many seen-set entries are held, expired ones not yet purged included.
    pub fn seen_len(&self) -> usize {
        self.lock().seen.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; if one ever did, the state is
        // still consistent (each operation's writes are done last), so carry on.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self.lock();
        if state.closed {
            return Err(StoreError::Closed);
        }
        Ok(state)
    }

    fn now_ms(&self) -> u64 {
        unix_millis(self.inner.clock.now())
    }
}

/// The default lease of the stores: 15 s. A held claim is renewed however long its
/// event is handled, so the lease is only what taking over a crashed instance's
/// events waits.
pub(crate) const DEFAULT_LEASE_MS: u64 = 15_000;

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("closed", &state.closed)
            .field("logged", &state.ids.len())
            .field("unacked", &state.unacked.len())
            .field("seen", &state.seen.len())
            .field("dead_letters", &state.dead.len())
            .field("clock", &self.inner.clock)
            .finish()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        let now = self.now_ms();
        let mut state = self.open()?;
        if let Some(&seq) = state.ids.get(event.dedup_id())
            && state.claims.contains(&seq)
        {
            // Held by this store value already: answered as it is, a write of
            // nothing (as the other stores do).
            return Ok(Appended::Known);
        }
        state.forget_acked(now);
        if let Some(&seq) = state.ids.get(event.dedup_id()) {
            if !state.unacked.contains_key(&seq) {
                return Ok(Appended::Known);
            }
            state.claims.insert(seq);
            return Ok(Appended::Claimed);
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.ids.insert(event.dedup_id().to_owned(), seq);
        state.unacked.insert(seq, event.raw().clone());
        state.claims.insert(seq);
        Ok(Appended::New)
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let raws: Vec<(u64, Bytes)> = {
            let mut state = self.open()?;
            let State {
                unacked, claims, ..
            } = &mut *state;
            let mut free = Vec::new();
            for (&seq, raw) in unacked.iter() {
                if free.len() >= limit {
                    break;
                }
                if claims.insert(seq) {
                    free.push((seq, raw.clone()));
                }
            }
            free
        };
        parse_all(raws)
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut state = self.open()?;
        state.forget_acked(now);
        if let Some(&seq) = state.ids.get(id) {
            state.claims.remove(&seq);
            if state.unacked.remove(&seq).is_some() && state.forget_acked_after.is_some() {
                state.acked.insert((now, seq), id.to_owned());
            }
        }
        Ok(())
    }

    fn release(&self, id: &str) {
        let mut state = self.lock();
        if let Some(&seq) = state.ids.get(id) {
            state.claims.remove(&seq);
        }
    }

    fn holds(&self, id: &str) -> bool {
        let state = self.lock();
        let Some(seq) = state.ids.get(id) else {
            return false;
        };
        state.claims.contains(seq)
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        // Parse outside the lock: the bytes are shared, the parse is the slow part.
        let raws: Vec<(u64, Bytes)> = {
            let state = self.open()?;
            let taken = state.unacked.iter().take(limit);
            taken.map(|(&seq, raw)| (seq, raw.clone())).collect()
        };
        parse_all(raws)
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.open()?.ids.contains_key(id))
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.lock().lease_ms)
    }

    async fn bury(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut state = self.open()?;
        state.forget_acked(now);
        let id = letter.id();
        match state.ids.get(id).copied() {
            Some(seq) if state.unacked.remove(&seq).is_some() => {
                state.claims.remove(&seq);
            }
            // Acked already, or never appended: known from now on, at a position of
            // its own (so an earlier ack's retention does not forget it while buried).
            _ => {
                let seq = state.next_seq;
                state.next_seq += 1;
                state.ids.insert(id.to_owned(), seq);
            }
        }
        // Kept to the millisecond, as the durable stores keep it.
        let at = unix_millis(letter.at);
        let mut letter = letter.clone();
        letter.at = from_unix_millis(at);
        if let Some(old) = state.dead_at.insert(id.to_owned(), at) {
            state.dead.remove(&(old, id.to_owned()));
        }
        state.dead.insert((at, id.to_owned()), letter);
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let state = self.open()?;
        Ok(state.dead.values().take(limit).cloned().collect())
    }

    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let mut state = self.open()?;
        state.forget_acked(now);
        let Some(at) = state.dead_at.remove(id) else {
            return Ok(false);
        };
        let Some(letter) = state.dead.remove(&(at, id.to_owned())) else {
            return Ok(false);
        };
        let in_log = state
            .ids
            .get(id)
            .is_some_and(|seq| state.unacked.contains_key(seq));
        if !in_log {
            // Back at the end of the log, unacked, held by nobody.
            let seq = state.next_seq;
            state.next_seq += 1;
            state.ids.insert(id.to_owned(), seq);
            state.unacked.insert(seq, letter.event.raw().clone());
        }
        Ok(true)
    }

    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let mut state = self.open()?;
        state.forget_acked(now);
        let Some(at) = state.dead_at.remove(id) else {
            return Ok(false);
        };
        state.dead.remove(&(at, id.to_owned()));
        // Acked from now on: the retention, if any, runs from here.
        if state.forget_acked_after.is_some()
            && let Some(&seq) = state.ids.get(id)
            && !state.unacked.contains_key(&seq)
        {
            state.acked.insert((now, seq), id.to_owned());
        }
        Ok(true)
    }
}

fn parse_all(raws: Vec<(u64, Bytes)>) -> Result<Vec<Event>, StoreError> {
    raws.into_iter()
        .map(|(seq, raw)| {
            Event::parse(raw)
                .map_err(|e| StoreError::Corrupt(format!("event at position {seq}: {e}")))
        })
        .collect()
}

#[async_trait]
impl Checkpoints for MemoryStore {
    async fn load(&self, key: &str) -> Result<Option<String>, BoxError> {
        Ok(self.open()?.checkpoints.get(key).cloned())
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), BoxError> {
        self.open()?
            .checkpoints
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

#[async_trait]
impl SeenSet for MemoryStore {
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let mut state = self.open()?;
        state.purge(now);
        // Any write forgets old acked ids, as in the redb store.
        state.forget_acked(now);
        if state.seen.contains_key(id) {
            // Whatever is left after the purge has not expired.
            return Ok(false);
        }
        let expires = expiry(now, ttl);
        if expires <= now {
            // A zero TTL: seen and forgotten at once.
            return Ok(true);
        }
        state.seen.insert(id.to_owned(), expires);
        state.expiries.push(Reverse((expires, id.to_owned())));
        Ok(true)
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let state = self.open()?;
        Ok(state.seen.get(id).is_some_and(|&expires| expires > now))
    }
}

impl State {
    /// Drops the ids acked at least the retention ago.
    fn forget_acked(&mut self, now: u64) {
        let Some(retain) = self.forget_acked_after else {
            return;
        };
        let cutoff = now.saturating_sub(retain);
        while let Some(entry) = self.acked.first_entry() {
            let (at, seq) = *entry.key();
            if at > cutoff {
                break;
            }
            let id = entry.remove();
            if self.ids.get(&id) == Some(&seq) {
                self.ids.remove(&id);
            }
        }
    }

    /// Drops every seen entry expired at `now`. Amortised O(log n) per insert: each
    /// entry is pushed once and popped once.
    fn purge(&mut self, now: u64) {
        while let Some(Reverse((expires, _))) = self.expiries.peek() {
            if *expires > now {
                break;
            }
            if let Some(Reverse((expires, id))) = self.expiries.pop()
                && self.seen.get(&id) == Some(&expires)
            {
                self.seen.remove(&id);
            }
        }
    }
}
