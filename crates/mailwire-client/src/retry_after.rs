//! `Retry-After` (RFC 9110, section 10.2.3), read one way by every client.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::RETRY_AFTER;

/// The `Retry-After` of an answer's `headers`, read against `now`: see
/// [`parse_retry_after`]. `None` when there is none or it cannot be read.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?, now)
}

/// A `Retry-After` value in either of its forms: delta-seconds (`120`) or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), read against `now`.
///
/// A date already past means no wait (`Some(ZERO)`); garbage is ignored (`None`);
/// a huge number of seconds saturates rather than failing, so a caller caps the
/// wait by its own longest delay.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mailwire_client::parse_retry_after;
///
/// let now = SystemTime::now();
/// assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse_at(v: &'static str, now: SystemTime) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(v));
        retry_after(&h, now)
    }

    /// 2015-10-21 07:28:00 UTC, the RFC's example date.
    fn rfc_example() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn parses_delta_seconds() {
        let parse = |v| parse_at(v, rfc_example());
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(retry_after(&HeaderMap::new(), rfc_example()), None);
    }

    #[test]
    fn parses_an_http_date_against_now() {
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        let before = rfc_example() - Duration::from_secs(90);
        assert_eq!(parse_at(date, before), Some(Duration::from_secs(90)));
        // The obsolete forms RFC 9110 still asks recipients to accept.
        assert_eq!(
            parse_at("Wednesday, 21-Oct-15 07:28:00 GMT", before),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_at("Wed Oct 21 07:28:00 2015", before),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_at(date, rfc_example()), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_is_ignored() {
        for v in [
            "",
            "-1",
            "1.5",
            "soon",
            "Wed, 21 Oct 2015 07:28:00",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 25:28:00 GMT",
            "21 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_at(v, rfc_example()), None, "{v:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_bytes(b"\xff120").unwrap());
        assert_eq!(retry_after(&h, rfc_example()), None);
    }
}
