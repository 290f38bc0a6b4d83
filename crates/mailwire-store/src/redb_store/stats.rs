//! What the committer has done: the evidence that group commit groups.

/// Counters of a [`RedbStore`](crate::RedbStore), since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbStats {
    /// Write transactions committed.
    pub commits: u64,
    /// Write operations (appends, acks, seen-set inserts) those commits carried.
    pub operations: u64,
    /// Events newly logged (duplicates not counted).
    pub appended: u64,
    /// Expired seen-set entries removed from the file.
    pub seen_purged: u64,
    /// Acked event ids forgotten after the retention
    /// ([`forget_acked_after`](crate::RedbStoreBuilder::forget_acked_after)).
    pub ids_forgotten: u64,
    /// The most operations one commit carried.
    pub largest_group: u64,
}
