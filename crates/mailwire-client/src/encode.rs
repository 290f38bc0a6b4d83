//! Percent-encoding of what goes into a URL: one set, so an id with a `/` or a
//! `?` in it names one path segment everywhere.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a path segment or a query value: RFC 3986's
/// unreserved ones (letters, digits, `-`, `.`, `_`, `~`). Everything else is
/// percent-encoded.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` as one path segment or query value.
///
/// ```
/// use mailwire_client::segment;
///
/// assert_eq!(segment("agent@example.com"), "agent%40example.com");
/// assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
/// assert_eq!(segment("thd_1-x.y~z"), "thd_1-x.y~z");
/// ```
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}
