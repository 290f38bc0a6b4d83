//! The redb file layout, and the reads that need no write transaction.

use mailwire_proto::Event;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::redb_store::error::unavailable;
use crate::{DeadLetter, StoreError, dead};

/// The version of this layout, kept in [`META`] under [`FORMAT_KEY`].
pub(crate) const FORMAT: u64 = 1;
pub(crate) const FORMAT_KEY: &str = "format";
/// The next free log position, in [`META`]. Kept rather than derived from the last
/// event because acked events are removed: a position must never be handed out twice,
/// or an old id's ack would settle a new event.
pub(crate) const NEXT_SEQ_KEY: &str = "next_seq";

/// Log position -> the event's raw bytes, exactly as received; removed on ack.
pub(crate) const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");
/// Event id -> its log position, for every event ever logged: what makes `append`
/// idempotent.
pub(crate) const EVENT_IDS: TableDefinition<'_, &str, u64> = TableDefinition::new("event_ids");
/// Positions not yet acked; a range scan is oldest first.
pub(crate) const UNACKED: TableDefinition<'_, u64, ()> = TableDefinition::new("unacked");
/// Seen id -> when it expires (Unix ms).
pub(crate) const SEEN: TableDefinition<'_, &str, u64> = TableDefinition::new("seen");
/// (expiry, seen id): the same entries ordered for purging.
pub(crate) const SEEN_BY_EXPIRY: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("seen_by_expiry");
/// (acked at in Unix ms, log position) -> event id: acked ids in the order they may
/// be forgotten. Written only when a retention is set.
pub(crate) const ACKED: TableDefinition<'_, (u64, u64), &str> = TableDefinition::new("acked");
/// Checkpoint key -> value: the sources' checkpoints (a resume point, a time
/// covered), beside the log they describe. A table added to layout 1 without a new
/// version: a file without it gets it when opened, and an older reader ignores it.
pub(crate) const CHECKPOINTS: TableDefinition<'_, &str, &str> = TableDefinition::new("checkpoints");
/// (buried at in Unix ms, event id) -> the dead letter (see `crate::dead` for its
/// bytes): a range scan is oldest first. Added to layout 1 like [`CHECKPOINTS`].
pub(crate) const DEAD_LETTERS: TableDefinition<'_, (u64, &str), &[u8]> =
    TableDefinition::new("dead_letters");
/// Event id -> when its dead letter was buried: its key in [`DEAD_LETTERS`].
pub(crate) const DEAD_LETTER_IDS: TableDefinition<'_, &str, u64> =
    TableDefinition::new("dead_letter_ids");
/// Layout metadata.
pub(crate) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// Creates the tables of a new file, or checks an existing file's format. Returns the
/// next free log position.
pub(crate) fn prepare(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let next_seq = {
        let mut meta = txn.open_table(META).map_err(unavailable)?;
        let format = meta
            .get(FORMAT_KEY)
            .map_err(unavailable)?
            .map(|v| v.value());
        match format {
            None => {
                meta.insert(FORMAT_KEY, FORMAT).map_err(unavailable)?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "layout version {other}, this version reads {FORMAT}"
                )));
            }
        }
        let stored = meta
            .get(NEXT_SEQ_KEY)
            .map_err(unavailable)?
            .map(|v| v.value());
        let events = txn.open_table(EVENTS).map_err(unavailable)?;
        txn.open_table(EVENT_IDS).map_err(unavailable)?;
        txn.open_table(UNACKED).map_err(unavailable)?;
        txn.open_table(SEEN).map_err(unavailable)?;
        txn.open_table(SEEN_BY_EXPIRY).map_err(unavailable)?;
        txn.open_table(ACKED).map_err(unavailable)?;
        txn.open_table(CHECKPOINTS).map_err(unavailable)?;
        txn.open_table(DEAD_LETTERS).map_err(unavailable)?;
        txn.open_table(DEAD_LETTER_IDS).map_err(unavailable)?;
        let after_last = match events.last().map_err(unavailable)? {
            None => 0,
            Some((seq, _)) => seq
                .value()
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt("log position overflow".into()))?,
        };
        // Both are written in the same transactions; the max is a belt and braces.
        stored.unwrap_or(0).max(after_last)
    };
    txn.commit().map_err(unavailable)?;
    Ok(next_seq)
}

/// Up to `limit` unacked events, oldest first.
pub(crate) fn unacked(db: &Database, limit: usize) -> Result<Vec<Event>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let unacked = txn.open_table(UNACKED).map_err(unavailable)?;
    let events = txn.open_table(EVENTS).map_err(unavailable)?;
    let mut out = Vec::new();
    for entry in unacked.iter().map_err(unavailable)?.take(limit) {
        let seq = entry.map_err(unavailable)?.0.value();
        let raw = events
            .get(seq)
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::Corrupt(format!("unacked position {seq} has no event")))?;
        let event = Event::parse(raw.value().to_vec())
            .map_err(|e| StoreError::Corrupt(format!("event at position {seq}: {e}")))?;
        out.push(event);
    }
    Ok(out)
}

/// The id of the event whose raw bytes are `raw`, when they still parse.
pub(crate) fn id_of(raw: &bytes::Bytes) -> Option<String> {
    Event::parse(raw.clone())
        .ok()
        .map(|e| e.dedup_id().to_owned())
}

/// Parses records read from the log; one that no longer parses is corrupt.
pub(crate) fn parse_records(records: Vec<(u64, bytes::Bytes)>) -> Result<Vec<Event>, StoreError> {
    records
        .into_iter()
        .map(|(seq, raw)| {
            Event::parse(raw)
                .map_err(|e| StoreError::Corrupt(format!("event at position {seq}: {e}")))
        })
        .collect()
}

/// True when an event with this id was ever logged.
pub(crate) fn logged(db: &Database, id: &str) -> Result<bool, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let ids = txn.open_table(EVENT_IDS).map_err(unavailable)?;
    Ok(ids.get(id).map_err(unavailable)?.is_some())
}

/// The checkpoint saved under `key`.
pub(crate) fn checkpoint(db: &Database, key: &str) -> Result<Option<String>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let checkpoints = txn.open_table(CHECKPOINTS).map_err(unavailable)?;
    Ok(checkpoints
        .get(key)
        .map_err(unavailable)?
        .map(|v| v.value().to_owned()))
}

/// Up to `limit` dead letters, oldest first.
pub(crate) fn dead_letters(db: &Database, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let letters = txn.open_table(DEAD_LETTERS).map_err(unavailable)?;
    let mut out = Vec::new();
    for entry in letters.iter().map_err(unavailable)?.take(limit) {
        let (key, bytes) = entry.map_err(unavailable)?;
        let (_, id) = key.value();
        out.push(dead::decode(id, bytes.value())?);
    }
    Ok(out)
}

/// True when `id` is in the seen-set and expires after `now_ms`.
pub(crate) fn seen(db: &Database, id: &str, now_ms: u64) -> Result<bool, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let seen = txn.open_table(SEEN).map_err(unavailable)?;
    Ok(seen
        .get(id)
        .map_err(unavailable)?
        .is_some_and(|expires| expires.value() > now_ms))
}

#[cfg(test)]
mod tests {
    //! Damage the file behind the store's back: every read that meets it is a typed
    //! error, never a panic.

    use super::*;
    use crate::{DeadLetter, RedbStore, Store};

    fn event(id: &str) -> Event {
        Event::parse(format!(r#"{{"id":"{id}","type":"test.event","data":{{}}}}"#).into_bytes())
            .unwrap()
    }

    /// A store with two events, closed; then `damage` runs on the raw file.
    async fn damaged(
        damage: impl FnOnce(&redb::WriteTransaction),
    ) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let store = RedbStore::open(&path).unwrap();
        store.append(&event("evt_0")).await.unwrap();
        store.append(&event("evt_1")).await.unwrap();
        store.close().await.unwrap();
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        damage(&txn);
        txn.commit().unwrap();
        db.close().unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_record_that_no_longer_parses_is_corrupt() {
        let (_dir, path) = damaged(|txn| {
            let mut events = txn.open_table(EVENTS).unwrap();
            events.insert(1, &b"{\"id\":\"evt_1\",\"ty"[..]).unwrap();
        })
        .await;
        let store = RedbStore::open(&path).unwrap();
        let err = store.unacked(10).await.expect_err("a truncated record");
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("position 1")),
            "{err:?}"
        );
        // What precedes the damage is still readable, and the store still works.
        assert_eq!(store.unacked(1).await.unwrap()[0].id(), "evt_0");
        store.ack("evt_1").await.unwrap();
        assert_eq!(store.unacked(10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unacked_position_without_its_event_is_corrupt() {
        let (_dir, path) = damaged(|txn| {
            txn.open_table(EVENTS).unwrap().remove(0).unwrap();
        })
        .await;
        let store = RedbStore::open(&path).unwrap();
        let err = store.unacked(10).await.expect_err("a missing record");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    /// A file written before the dead letter tables existed (the same layout
    /// version) opens, gets them, and keeps dead letters.
    #[tokio::test]
    async fn a_file_without_the_dead_letter_tables_gets_them() {
        let (_dir, path) = damaged(|txn| {
            assert!(txn.delete_table(DEAD_LETTERS).unwrap());
            assert!(txn.delete_table(DEAD_LETTER_IDS).unwrap());
        })
        .await;
        let store = RedbStore::open(&path).unwrap();
        assert!(store.dead_letters(10).await.unwrap().is_empty());
        assert!(!store.revive("evt_0").await.unwrap());
        store
            .bury(&DeadLetter::new(event("evt_0"), 1, "failed"))
            .await
            .unwrap();
        assert_eq!(store.dead_letters(10).await.unwrap()[0].id(), "evt_0");
        assert_eq!(store.unacked(10).await.unwrap()[0].id(), "evt_1");
        store.close().await.unwrap();
        let db = Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        assert_eq!(
            txn.open_table(META)
                .unwrap()
                .get(FORMAT_KEY)
                .unwrap()
                .unwrap()
                .value(),
            1,
            "the same layout version"
        );
    }

    /// A dead letter that does not parse is corrupt for the listing and the revive,
    /// which puts nothing into the log; discarding it still works.
    #[tokio::test]
    async fn a_dead_letter_that_no_longer_parses_is_corrupt() {
        let (_dir, path) = damaged(|txn| {
            txn.open_table(DEAD_LETTER_IDS)
                .unwrap()
                .insert("evt_9", 5)
                .unwrap();
            txn.open_table(DEAD_LETTERS)
                .unwrap()
                .insert((5, "evt_9"), &b"\x01truncated"[..])
                .unwrap();
        })
        .await;
        let store = RedbStore::open(&path).unwrap();
        let err = store.dead_letters(10).await.expect_err("a damaged letter");
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("evt_9")),
            "{err:?}"
        );
        let err = store.revive("evt_9").await.expect_err("a damaged letter");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        assert_eq!(store.unacked(10).await.unwrap().len(), 2, "nothing revived");
        // The store still works, the damaged letter can be discarded.
        store.append(&event("evt_2")).await.unwrap();
        assert!(store.discard("evt_9").await.unwrap());
        assert!(store.dead_letters(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_file_from_another_layout_version_is_refused() {
        let (_dir, path) = damaged(|txn| {
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT_KEY, FORMAT + 1)
                .unwrap();
        })
        .await;
        let err = RedbStore::open(&path).expect_err("another layout");
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("version")),
            "{err:?}"
        );
        // The refusal released the file.
        Database::open(&path).unwrap();
    }
}
