//! Ids and timestamps as the service writes them.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A new random id with a prefix: `evt_`, `wh_`, `msg_`, `thr_`, then 24 hex digits.
pub(crate) fn new(prefix: &str) -> String {
    let bits: u128 = fastrand::u128(..) >> 32;
    format!("{prefix}_{bits:024x}")
}

/// Now, truncated to milliseconds.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now)
}

/// Now in RFC 3339.
pub(crate) fn now_rfc3339() -> String {
    now().format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_distinct() {
        let (a, b) = (super::new("evt"), super::new("evt"));
        assert!(a.starts_with("evt_") && a.len() == 28);
        assert_ne!(a, b);
        assert!(super::now_rfc3339().ends_with('Z'));
    }
}
