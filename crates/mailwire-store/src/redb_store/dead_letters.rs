//! Dead letters, written by the committer in a group's transaction: a bury takes
//! the event out of the log and marks it acked while it keeps the letter, a revive
//! puts the event back at the end of the log, unacked, while it removes the letter.

use redb::{ReadableTable, Table, WriteTransaction};

use crate::redb_store::tables::{DEAD_LETTER_IDS, DEAD_LETTERS};
use crate::{StoreError, dead};

/// The log's tables, borrowed from the transaction's for one operation.
pub(super) struct Log<'a, 't> {
    pub(super) events: &'a mut Table<'t, u64, &'static [u8]>,
    pub(super) ids: &'a mut Table<'t, &'static str, u64>,
    pub(super) unacked: &'a mut Table<'t, u64, ()>,
    pub(super) acked: &'a mut Table<'t, (u64, u64), &'static str>,
    /// The next free log position.
    pub(super) next_seq: &'a mut u64,
}

impl Log<'_, '_> {
    /// The next free position, taken.
    fn take_seq(&mut self) -> u64 {
        let seq = *self.next_seq;
        *self.next_seq += 1;
        seq
    }

    /// True when `id` is logged and not acked.
    fn in_log(&self, id: &str) -> Result<bool, redb::Error> {
        Ok(match self.ids.get(id)?.map(|v| v.value()) {
            Some(seq) => self.unacked.get(seq)?.is_some(),
            None => false,
        })
    }
}

/// What a bury did to the log.
pub(super) enum Buried {
    /// The event was in the log, unacked: it is acked now.
    Acked,
    /// It was acked already, or never logged: its id is known from now on, at a
    /// position of its own (so the retention of an earlier ack does not forget it
    /// while it is buried).
    Repositioned,
}

/// What a revive found.
pub(super) enum Revived {
    /// No such dead letter.
    Missing,
    /// A letter that does not parse: nothing was written.
    Corrupt(StoreError),
    /// Its event was in the log already (unacked): left there, the letter removed.
    Logged,
    /// Its event is at the end of the log again, unacked, held by nobody.
    Requeued,
}

/// The dead letters' tables.
pub(super) struct DeadLetters<'t> {
    letters: Table<'t, (u64, &'static str), &'static [u8]>,
    ids: Table<'t, &'static str, u64>,
}

impl<'t> DeadLetters<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<DeadLetters<'t>, redb::Error> {
        Ok(DeadLetters {
            letters: txn.open_table(DEAD_LETTERS)?,
            ids: txn.open_table(DEAD_LETTER_IDS)?,
        })
    }

    /// Acks `id` in `log` and keeps its letter (`at`: when it was buried, Unix ms),
    /// replacing an earlier one.
    pub(super) fn bury(
        &mut self,
        log: Log<'_, '_>,
        id: &str,
        at: u64,
        letter: &[u8],
    ) -> Result<Buried, redb::Error> {
        let mut log = log;
        let seq = log.ids.get(id)?.map(|v| v.value());
        let buried = match seq {
            Some(seq) if log.unacked.remove(seq)?.is_some() => {
                log.events.remove(seq)?;
                Buried::Acked
            }
            _ => {
                let seq = log.take_seq();
                log.ids.insert(id, seq)?;
                Buried::Repositioned
            }
        };
        if let Some(old) = self.ids.insert(id, at)?.map(|v| v.value()) {
            self.letters.remove((old, id))?;
        }
        self.letters.insert((at, id), letter)?;
        Ok(buried)
    }

    /// Puts `id`'s event back into `log` and removes its letter.
    pub(super) fn revive(&mut self, log: Log<'_, '_>, id: &str) -> Result<Revived, redb::Error> {
        let mut log = log;
        let Some(at) = self.ids.get(id)?.map(|v| v.value()) else {
            return Ok(Revived::Missing);
        };
        let letter = match self.letters.get((at, id))? {
            None => {
                return Ok(Revived::Corrupt(StoreError::Corrupt(format!(
                    "dead letter {id:?} is listed but not kept"
                ))));
            }
            Some(bytes) => match dead::decode(id, bytes.value()) {
                Ok(letter) => letter,
                Err(e) => return Ok(Revived::Corrupt(e)),
            },
        };
        self.ids.remove(id)?;
        self.letters.remove((at, id))?;
        if log.in_log(id)? {
            return Ok(Revived::Logged);
        }
        let seq = log.take_seq();
        log.events.insert(seq, letter.event.raw().as_ref())?;
        log.ids.insert(id, seq)?;
        log.unacked.insert(seq, ())?;
        Ok(Revived::Requeued)
    }

    /// Removes `id`'s letter; its id stays acked, and with a retention (`now` is
    /// Unix ms) is forgotten a retention from now. False when there is none.
    pub(super) fn discard(
        &mut self,
        log: Log<'_, '_>,
        id: &str,
        now: u64,
        retention: bool,
    ) -> Result<bool, redb::Error> {
        let Some(at) = self.ids.remove(id)?.map(|v| v.value()) else {
            return Ok(false);
        };
        self.letters.remove((at, id))?;
        if retention
            && let Some(seq) = log.ids.get(id)?.map(|v| v.value())
            && log.unacked.get(seq)?.is_none()
        {
            log.acked.insert((now, seq), id)?;
        }
        Ok(true)
    }
}
