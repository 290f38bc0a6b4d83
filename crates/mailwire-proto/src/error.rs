//! Why a frame or event could not be parsed.

/// Why bytes from the network are not an event or frame. Every variant is a plain
/// value: parsing never panics, whatever the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input is larger than [`MAX_EVENT_BYTES`](crate::MAX_EVENT_BYTES).
    #[error("input is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, truncated, nested too deeply, or not an object.
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// JSON, but not an event (no `event_type`/`event_id`, or no `id`/`type`).
    #[error("not an event: {0}")]
    NotAnEvent(&'static str),
    /// The event id is empty, too long, has control characters or is not a string.
    #[error("invalid event id: {0}")]
    InvalidId(&'static str),
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError::Json(e)
    }
}

/// Why a field of an event's payload is absent from its typed view (see
/// [`Event::payload_error`](crate::Event::payload_error)). The event itself is fine.
#[derive(Debug, thiserror::Error)]
#[error("{event_type} payload, field `{path}`: {source}")]
pub struct PayloadError {
    event_type: String,
    path: String,
    #[source]
    source: serde_json::Error,
}

impl PayloadError {
    /// `event_type` is the event's type as it reads (its wire name).
    pub(crate) fn new(
        event_type: &dyn std::fmt::Display,
        path: String,
        source: serde_json::Error,
    ) -> PayloadError {
        PayloadError {
            event_type: event_type.to_string(),
            path,
            source,
        }
    }

    /// Where the field is, e.g. `message.from` or `bounce.recipients[0]`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The event's type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }
}

/// Why [`Event::new`](crate::Event::new) could not build an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The id or type is not one [`Event::parse`](crate::Event::parse) would accept.
    #[error("not an event: {0}")]
    Id(#[source] ParseError),
    /// The payload does not encode as JSON (a timestamp with a year outside
    /// 0000-9999, which RFC 3339 cannot write).
    #[error("the payload does not encode: {0}")]
    Json(#[source] serde_json::Error),
}
