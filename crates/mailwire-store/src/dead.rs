//! How the durable stores keep a [`DeadLetter`]: one byte string per letter.
//!
//! ```text
//! [0]        layout version (1)
//! [1..9]     when it was buried: Unix milliseconds, u64 big-endian
//! [9..13]    attempts: u32 big-endian
//! [13..17]   length of the error text: u32 big-endian
//! [17..17+n] the error text (UTF-8)
//! [17+n..]   the event's raw bytes, exactly as received
//! ```

use mailwire_proto::Event;

use crate::clock::{from_unix_millis, unix_millis};
use crate::{DeadLetter, StoreError};

/// The version of the layout, first byte of every letter.
const VERSION: u8 = 1;
/// Version, time, attempts and the error's length.
const HEADER: usize = 17;

/// The bytes kept for `letter`.
pub(crate) fn encode(letter: &DeadLetter) -> Vec<u8> {
    let raw = letter.event.raw();
    // An error text longer than 4 GiB is cut (on a character boundary): the letter
    // is still kept.
    let mut error = letter.error.as_str();
    if u32::try_from(error.len()).is_err() {
        let mut end = u32::MAX as usize;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error = &error[..end];
    }
    let error = error.as_bytes();
    let error_len = u32::try_from(error.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER + error.len() + raw.len());
    out.push(VERSION);
    out.extend_from_slice(&unix_millis(letter.at).to_be_bytes());
    out.extend_from_slice(&letter.attempts.to_be_bytes());
    out.extend_from_slice(&error_len.to_be_bytes());
    out.extend_from_slice(error);
    out.extend_from_slice(raw);
    out
}

/// The letter kept as `bytes` under `id`; anything this layout did not write is
/// [`StoreError::Corrupt`].
pub(crate) fn decode(id: &str, bytes: &[u8]) -> Result<DeadLetter, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("dead letter {id:?}: {what}"));
    let (header, rest) = bytes
        .split_first_chunk::<HEADER>()
        .ok_or_else(|| corrupt("shorter than its header"))?;
    if header[0] != VERSION {
        return Err(corrupt(&format!("layout version {}", header[0])));
    }
    let field = |at: usize, len: usize| -> u64 {
        header[at..at + len]
            .iter()
            .fold(0, |n, &b| (n << 8) | u64::from(b))
    };
    let at_ms = field(1, 8);
    let attempts = u32::try_from(field(9, 4)).map_err(|_| corrupt("attempts"))?;
    let error_len = usize::try_from(field(13, 4)).map_err(|_| corrupt("error length"))?;
    if rest.len() < error_len {
        return Err(corrupt("shorter than its error text"));
    }
    let (error, raw) = rest.split_at(error_len);
    let error = std::str::from_utf8(error)
        .map_err(|_| corrupt("the error text is not UTF-8"))?
        .to_owned();
    let event = Event::parse(raw.to_vec()).map_err(|e| corrupt(&format!("its event: {e}")))?;
    if event.dedup_id() != id {
        return Err(corrupt(&format!(
            "it holds the event {:?}",
            event.dedup_id()
        )));
    }
    Ok(DeadLetter {
        event,
        attempts,
        error,
        at: from_unix_millis(at_ms),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn letter(id: &str) -> DeadLetter {
        let event = Event::parse(
            format!(r#"{{"id":"{id}","type":"test.event","data":{{"n":1}}}}"#).into_bytes(),
        )
        .unwrap();
        DeadLetter {
            event,
            attempts: 7,
            error: "handler failed: ✉ timeout".into(),
            at: UNIX_EPOCH + Duration::from_millis(1_767_225_600_123),
        }
    }

    #[test]
    fn a_letter_round_trips() {
        let original = letter("evt_1");
        let back = decode("evt_1", &encode(&original)).unwrap();
        assert_eq!(back.event.raw(), original.event.raw());
        assert_eq!(back.attempts, 7);
        assert_eq!(back.error, original.error);
        assert_eq!(back.at, original.at);
    }

    #[test]
    fn damaged_letters_are_corrupt_not_panics() {
        let good = encode(&letter("evt_1"));
        let mut bad: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
        let mut version = good.clone();
        version[0] = 2;
        bad.push(version);
        let mut long_error = good.clone();
        long_error[13..17].copy_from_slice(&u32::MAX.to_be_bytes());
        bad.push(long_error);
        let mut not_utf8 = good.clone();
        not_utf8[HEADER] = 0xff;
        bad.push(not_utf8);
        for bytes in bad {
            assert!(
                matches!(decode("evt_1", &bytes), Err(StoreError::Corrupt(_))),
                "{bytes:?}"
            );
        }
        assert!(
            matches!(decode("evt_2", &good), Err(StoreError::Corrupt(_))),
            "another id's letter"
        );
    }
}
