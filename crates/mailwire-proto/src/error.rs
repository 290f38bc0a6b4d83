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
    /// The event id is empty or too long.
    #[error("invalid event id: {0}")]
    InvalidId(&'static str),
    /// An event of a known type whose payload does not have that type's shape.
    #[error("malformed {event_type} payload: {source}")]
    Payload {
        /// The event's type.
        event_type: String,
        /// What was wrong.
        #[source]
        source: serde_json::Error,
    },
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError::Json(e)
    }
}
