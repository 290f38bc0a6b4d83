//! Reading stream replies (`XREADGROUP`, `XAUTOCLAIM`) from raw Redis values, so a
//! reply of an unexpected shape is an error, never a panic.

use std::fmt;

use mailwire_proto::Event;
use redis::Value;

use crate::StoreError;
use crate::redis_store::error::unexpected;

/// A stream entry id, `<milliseconds>-<sequence>`; ordered as Redis orders entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryId {
    ms: u64,
    seq: u64,
}

impl EntryId {
    /// The smallest id: "from the start".
    pub(crate) const ZERO: EntryId = EntryId { ms: 0, seq: 0 };

    fn parse(raw: &[u8]) -> Option<EntryId> {
        let text = std::str::from_utf8(raw).ok()?;
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry of a reply.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: EntryId,
    /// `None` when the entry was deleted from the stream while still pending.
    pub(crate) event: Option<Event>,
}

/// `XREADGROUP` with one stream: nil (nothing new) or that stream's entries, as an
/// array of `[key, entries]` pairs (RESP2) or a map (RESP3).
pub(crate) fn read_group(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|pair| match pair {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                other => Err(unexpected(format_args!("XREADGROUP stream {other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(unexpected(format_args!("XREADGROUP {other:?}"))),
    };
    let mut all = Vec::new();
    for entries in streams {
        all.extend(entries_of(entries)?);
    }
    Ok(all)
}

/// `XRANGE`: the entries, oldest first.
pub(crate) fn range(reply: Value) -> Result<Vec<Entry>, StoreError> {
    entries_of(reply)
}

/// `XAUTOCLAIM`: `[next cursor, entries, deleted ids]` (the last since Redis 7).
pub(crate) fn auto_claim(reply: Value) -> Result<(EntryId, Vec<Entry>), StoreError> {
    let Value::Array(parts) = reply else {
        return Err(unexpected(format_args!("XAUTOCLAIM {reply:?}")));
    };
    let mut parts = parts.into_iter();
    let (Some(cursor), Some(entries)) = (parts.next(), parts.next()) else {
        return Err(unexpected("XAUTOCLAIM without a cursor and entries"));
    };
    Ok((entry_id(cursor)?, entries_of(entries)?))
}

/// A dead letter's id and its bytes (`None` when it is listed but not kept).
pub(crate) type ListedLetter = (String, Option<Vec<u8>>);

/// The dead letters script: `[id, letter, id, letter, ...]`, a letter nil when it is
/// not kept.
pub(crate) fn dead_letters(reply: Value) -> Result<Vec<ListedLetter>, StoreError> {
    let items = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(unexpected(format_args!("dead letters {other:?}"))),
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let Some(id) = items.next() {
        let id = match id {
            Value::BulkString(id) => String::from_utf8(id)
                .map_err(|_| StoreError::Corrupt("a dead letter id is not UTF-8".into()))?,
            other => return Err(unexpected(format_args!("dead letter id {other:?}"))),
        };
        let letter = match items.next() {
            Some(Value::BulkString(letter)) => Some(letter),
            Some(Value::Nil) => None,
            other => return Err(unexpected(format_args!("dead letter {id:?}: {other:?}"))),
        };
        out.push((id, letter));
    }
    Ok(out)
}

fn entries_of(entries: Value) -> Result<Vec<Entry>, StoreError> {
    match entries {
        Value::Nil => Ok(Vec::new()),
        Value::Array(entries) => entries.into_iter().map(entry).collect(),
        other => Err(unexpected(format_args!("stream entries {other:?}"))),
    }
}

/// `[id, [field, value, ...]]`, or `[id, nil]` for a deleted entry.
fn entry(value: Value) -> Result<Entry, StoreError> {
    let Value::Array(parts) = value else {
        return Err(unexpected(format_args!("stream entry {value:?}")));
    };
    let mut parts = parts.into_iter();
    let (Some(id), fields) = (parts.next(), parts.next()) else {
        return Err(unexpected("an empty stream entry"));
    };
    let id = entry_id(id)?;
    let fields = match fields {
        None | Some(Value::Nil) => return Ok(Entry { id, event: None }),
        Some(Value::Array(fields)) => fields,
        Some(Value::Map(fields)) => fields.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        Some(other) => return Err(unexpected(format_args!("entry fields {other:?}"))),
    };
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if matches!(&name, Value::BulkString(name) if name == b"event") {
            let Value::BulkString(raw) = value else {
                return Err(StoreError::Corrupt(format!(
                    "stream entry {id}: the event is not a string"
                )));
            };
            let event = Event::parse(raw)
                .map_err(|e| StoreError::Corrupt(format!("stream entry {id}: {e}")))?;
            return Ok(Entry {
                id,
                event: Some(event),
            });
        }
    }
    Err(StoreError::Corrupt(format!(
        "stream entry {id} has no event field"
    )))
}

fn entry_id(value: Value) -> Result<EntryId, StoreError> {
    let parsed = match &value {
        Value::BulkString(raw) => EntryId::parse(raw),
        Value::SimpleString(raw) => EntryId::parse(raw.as_bytes()),
        _ => None,
    };
    parsed.ok_or_else(|| unexpected(format_args!("stream entry id {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn entry_ids_order_numerically() {
        let a = EntryId::parse(b"9-5").unwrap();
        let b = EntryId::parse(b"10-0").unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "10-0");
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert_eq!(EntryId::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn odd_replies_are_errors_not_panics() {
        let odd = [
            Value::Int(1),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![bulk("k")])]),
            Value::Array(vec![Value::Array(vec![bulk("k"), Value::Int(3)])]),
            Value::Array(vec![Value::Array(vec![
                bulk("k"),
                Value::Array(vec![Value::Array(vec![])]),
            ])]),
            Value::Array(vec![Value::Array(vec![
                bulk("k"),
                Value::Array(vec![Value::Array(vec![bulk("nope"), Value::Nil])]),
            ])]),
        ];
        for reply in odd {
            assert!(
                matches!(read_group(reply.clone()), Err(StoreError::Unavailable(_))),
                "{reply:?}"
            );
            assert!(auto_claim(reply).is_err());
        }
        assert!(auto_claim(Value::Array(vec![bulk("0-0")])).is_err());
    }

    #[test]
    fn entries_that_are_not_events_are_corrupt() {
        let with_fields = |fields: Vec<Value>| {
            Value::Array(vec![Value::Array(vec![
                bulk("k"),
                Value::Array(vec![Value::Array(vec![bulk("1-1"), Value::Array(fields)])]),
            ])])
        };
        for fields in [
            vec![bulk("event"), bulk("{not json")],
            vec![bulk("event"), Value::Int(7)],
            vec![bulk("other"), bulk("x")],
            vec![],
        ] {
            let reply = with_fields(fields);
            assert!(
                matches!(read_group(reply.clone()), Err(StoreError::Corrupt(_))),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn deleted_entries_and_empty_replies() {
        assert!(read_group(Value::Nil).unwrap().is_empty());
        let deleted = Value::Array(vec![Value::Array(vec![
            bulk("k"),
            Value::Array(vec![Value::Array(vec![bulk("3-4"), Value::Nil])]),
        ])]);
        let entries = read_group(deleted).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id.to_string(), "3-4");
        assert!(entries[0].event.is_none());
        let (cursor, entries) = auto_claim(Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![]),
            Value::Array(vec![]),
        ]))
        .unwrap();
        assert_eq!(cursor, EntryId::ZERO);
        assert!(entries.is_empty());
    }
}
