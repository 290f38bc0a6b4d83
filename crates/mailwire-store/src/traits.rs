//! The store abstractions the receiver and the merge are written against.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use mailwire_proto::Event;

/// Why a store operation failed. A failed operation changed nothing the caller can
/// rely on: an append that errs must be treated as not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be used right now (I/O error, lock held, disk full); the same
    /// call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store was closed.
    #[error("store closed")]
    Closed,
    /// The data on disk is not what this version wrote.
    #[error("store corrupt: {0}")]
    Corrupt(String),
}

/// What [`Store::append`] found, and whether this instance now holds the event's
/// claim (and so must deliver it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Appended {
    /// Never appended before: now logged (durably), and claimed by this instance.
    New,
    /// Appended before and never acked, and nobody's claim on it was live (it was
    /// released, or its holder stopped renewing it a lease ago): this instance holds
    /// it now.
    Claimed,
    /// Acked already, or held (by another instance, renewed or within its lease; or
    /// by this store value, which appended or claimed it earlier): whoever holds it
    /// delivers it (or another takes it over once that claim lapses). This copy is
    /// a duplicate.
    Known,
}

impl Appended {
    /// `New` or `Claimed`: this call made this instance the event's holder, so the
    /// caller delivers it (a receiver emits it).
    pub fn is_claimed(self) -> bool {
        matches!(self, Appended::New | Appended::Claimed)
    }

    /// `New`: the first append of this id anywhere.
    pub fn is_new(self) -> bool {
        self == Appended::New
    }
}

/// An event its handler failed on every attempt, set aside in the store by
/// [`Store::bury`]: listed, revived (delivered again) or discarded on demand, never
/// silently dropped and never retried forever.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event, as it was delivered.
    pub event: Event,
    /// How many times its handler was run.
    pub attempts: u32,
    /// What the last attempt failed with.
    pub error: String,
    /// When it was set aside.
    pub at: SystemTime,
}

impl DeadLetter {
    /// A dead letter set aside now.
    pub fn new(event: Event, attempts: u32, error: impl Into<String>) -> DeadLetter {
        DeadLetter {
            event,
            attempts,
            error: error.into(),
            at: SystemTime::now(),
        }
    }

    /// Its id in the store: the event's [`dedup_id`](Event::dedup_id).
    pub fn id(&self) -> &str {
        self.event.dedup_id()
    }
}

/// One store: an append-only event log (idempotent by id), the memory of acked ids
/// (the seen-set a duplicate is checked against), and claims with a lease.
///
/// One store value is shared by everything in one instance that touches events (its
/// webhook receivers and its merge: clones share it). Several instances share one
/// store by sharing its backend (a Redis), each with a value of its own.
///
/// # The rule: exactly once across instances
///
/// - **The first to append claims.** [`append`](Store::append) logs an unknown event
///   durably and makes this instance its holder ([`Appended::New`]). Another
///   instance appending the same id gets [`Appended::Known`] and drops its copy.
/// - **A held claim is kept alive; a claim nobody holds has a lease.** While this
///   store value holds a claim (its append answered [`Appended::New`] or
///   [`Appended::Claimed`], or [`claim`](Store::claim) handed the event out, and it
///   has neither acked nor [released](Store::release) it), the claim does not lapse,
///   however long the event waits in memory or in a handler: Redis renews it in the
///   background, memory and redb keep it for as long as the value holds it. A claim
///   that nobody renews (its instance died, hung, was cut off from Redis, or
///   released it) is free once [`lease`](Store::lease) has passed, and any live
///   instance takes it over: through [`claim`](Store::claim), which the merge calls
///   periodically while it runs, or by appending a copy of it
///   ([`Appended::Claimed`]). The lease is therefore what taking over a crashed
///   instance's events costs in waiting, not a bound on handling one event.
/// - **Check before handing over.** A claim can still be lost (Redis unreachable for
///   longer than a lease, then another instance took the event over): a renewal
///   that finds the event another's marks it lost, and [`holds`](Store::holds)
///   turns false. Call it just before handing an event over, and drop the event when
///   it is false: the instance that took it over delivers it.
/// - **Ack settles.** [`ack`](Store::ack) removes the event from the log and marks
///   its id acked, in one write; the id stays known (a late copy is a duplicate) for
///   the store's retention.
/// - **"Id" is [`Event::dedup_id`](mailwire_proto::Event::dedup_id)**: the event id,
///   except for a received message, whose copies (the WebSocket's, a webhook's, a
///   backfill's, each with an event id of its own) share one id derived from its
///   inbox and message id. One received email is one event in the store, however
///   many transports and instances bring it; ack it with `event.dedup_id()`.
///
/// # Cost
///
/// A new event costs one durable write before it is delivered (the first append)
/// and one at its ack. Appending a copy that is held, known or acked writes nothing
/// durable; a copy this store value holds is answered from memory
/// ([`Appended::Known`]). A source that appends what it receives (a webhook
/// receiver) says so on each delivery
/// ([`Custody::Claimed`](mailwire_source::Custody::Claimed)), so the merge sharing
/// the store neither appends nor acks it a second time: one append and one ack per
/// event.
///
/// # Checkpoints
///
/// Every store is also the [`Checkpoints`](mailwire_source::Checkpoints) of the
/// sources feeding it (a WebSocket's resume point, a backfill's progress), kept
/// beside the log they describe: in the same redb file, under the same Redis key
/// prefix (so instances sharing a Redis share them). A save is as durable as an
/// append and fails the same way ([`StoreError`], boxed); `Arc<dyn Store>` can be
/// passed wherever checkpoints are wanted.
#[async_trait]
pub trait Store: mailwire_source::Checkpoints + Send + Sync + 'static {
    /// Appends `event` unless its id is known, claiming it for this instance; or
    /// claims a known, unacked event whose claim is free. When this returns
    /// [`Appended::New`], the event survives a crash.
    async fn append(&self, event: &Event) -> Result<Appended, StoreError>;

    /// A page of the backlog: up to `limit` events appended and not acked whose
    /// claim is free (never held by this value: left by an earlier run of this
    /// instance; released; or not renewed by their holder for a lease), oldest
    /// first. Each is
    /// claimed by this instance before it is returned, so another instance calling
    /// at once gets other events. Call again for the next page; an empty page means
    /// nothing is free now.
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// Marks an event processed: out of the log, its id remembered as acked, in one
    /// write, and its claim ended. Acking an unknown or already acked id is `Ok` and
    /// writes nothing.
    async fn ack(&self, id: &str) -> Result<(), StoreError>;

    /// Gives up this instance's claim on `id` without acking it (its delivery was
    /// dropped): the next [`claim`](Store::claim) or append of it, here or on
    /// another instance once the lease allows, takes it again. Local: no I/O.
    fn release(&self, id: &str);

    /// True while this store value holds the claim on `id` (appended as
    /// [`Appended::New`] or [`Appended::Claimed`], or handed out by
    /// [`claim`](Store::claim); neither acked nor released) and no renewal found it
    /// taken over by another instance. Local: no I/O. Checked just before an event
    /// is handed over, so an event another instance took over is not delivered
    /// twice.
    fn holds(&self, id: &str) -> bool;

    /// Up to `limit` events appended and not acked, oldest first, whoever holds
    /// them. A read: it claims nothing.
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// True when an event with this id was ever appended (acked or not) and is
    /// still retained.
    async fn contains(&self, id: &str) -> Result<bool, StoreError>;

    /// How long a claim nobody renews lasts before another instance may take it
    /// over: the wait before a crashed instance's events are delivered by another.
    fn lease(&self) -> Duration;

    /// Sets `letter` aside as a dead letter, durably, and acks its event (out of the
    /// log, its id acked, its claim ended), in one write: a late copy of it is a
    /// duplicate, and it waits among the dead letters until it is
    /// [revived](Store::revive) or [discarded](Store::discard). Burying an id
    /// buried already replaces its letter. Keyed by
    /// [`DeadLetter::id`] (the event's `dedup_id`).
    async fn bury(&self, letter: &DeadLetter) -> Result<(), StoreError>;

    /// Up to `limit` dead letters, oldest first (by when they were buried).
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;

    /// Puts the dead letter `id` back into the log, unacked and free to claim (its
    /// acked mark forgotten): the next [`claim`](Store::claim) of the backlog, by any
    /// instance sharing the store, delivers it again. `false` when there is no such
    /// dead letter.
    async fn revive(&self, id: &str) -> Result<bool, StoreError>;

    /// Deletes the dead letter `id` for good (its id stays acked). `false` when there
    /// is no such dead letter.
    async fn discard(&self, id: &str) -> Result<bool, StoreError>;
}

/// A set of ids seen recently, with a time to live: dedup memory for what is not
/// logged (a receiver running without a store, webhook message ids).
#[async_trait]
pub trait SeenSet: Send + Sync + 'static {
    /// Inserts `id` unless present and not expired. Returns `true` when inserted
    /// (seen for the first time), `false` for a duplicate. The entry expires after
    /// `ttl`.
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// True when `id` is present and not expired.
    async fn contains(&self, id: &str) -> Result<bool, StoreError>;
}

// Shared handles: `Arc<dyn Store>` (or `Arc<S>`) can be passed wherever a store is
// expected.
#[async_trait]
impl<T: Store + ?Sized> Store for std::sync::Arc<T> {
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        (**self).append(event).await
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        (**self).claim(limit).await
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        (**self).ack(id).await
    }

    fn release(&self, id: &str) {
        (**self).release(id);
    }

    fn holds(&self, id: &str) -> bool {
        (**self).holds(id)
    }

    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        (**self).unacked(limit).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        (**self).contains(id).await
    }

    fn lease(&self) -> Duration {
        (**self).lease()
    }

    async fn bury(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        (**self).bury(letter).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        (**self).dead_letters(limit).await
    }

    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        (**self).revive(id).await
    }

    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        (**self).discard(id).await
    }
}

#[async_trait]
impl<T: SeenSet + ?Sized> SeenSet for std::sync::Arc<T> {
    async fn insert(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        (**self).insert(id, ttl).await
    }

    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        (**self).contains(id).await
    }
}
