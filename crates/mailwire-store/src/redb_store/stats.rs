//! What the committer has done: the evidence that group commit groups, and of what
//! each event cost.

/// Counters of a [`RedbStore`](crate::RedbStore), since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbStats {
    /// Write transactions committed: the durable writes (one fsync each). A group
    /// that changed nothing is not committed and not counted.
    pub commits: u64,
    /// Write operations (appends, acks, seen-set inserts) those groups carried.
    pub operations: u64,
    /// Events newly logged (duplicates not counted).
    pub appended: u64,
    /// Events acked (acks of unknown or already acked ids not counted).
    pub acked: u64,
    /// Appends and acks that found nothing to write (a duplicate, a claim, an ack
    /// of an acked id).
    pub unwritten: u64,
    /// Expired seen-set entries removed from the file.
    pub seen_purged: u64,
    /// Acked event ids forgotten after the retention
    /// ([`forget_acked_after`](crate::RedbStoreBuilder::forget_acked_after)).
    pub ids_forgotten: u64,
    /// The most operations one commit carried.
    pub largest_group: u64,
    /// Times the file was reopened after an I/O error.
    pub reopened: u64,
}
