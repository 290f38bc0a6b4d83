//! RFC 3339 timestamps in payloads.
//!
//! Parsing is `time`'s. Writing converts a UTC offset with seconds (which RFC 3339
//! cannot write, e.g. a historical local mean time) to UTC, the same instant, so that
//! any timestamp a caller builds encodes; only a year outside 0000-9999 cannot.

pub(crate) mod option {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub(crate) fn serialize<S: Serializer>(
        t: &Option<OffsetDateTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let Some(t) = t else {
            return s.serialize_none();
        };
        let t = if t.offset().seconds_past_minute() != 0 {
            t.to_offset(time::UtcOffset::UTC)
        } else {
            *t
        };
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_some(&text)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(d)
    }
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}
