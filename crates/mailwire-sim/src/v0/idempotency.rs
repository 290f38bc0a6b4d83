//! The `Idempotency-Key` header of the send endpoints: read from a request, and a
//! key already used answered (see [`crate::idempotency`] for the rules).

use hyper::{HeaderMap, Response, StatusCode};

use crate::http::{Body, Refusal, api_error, refusal, to_json, validation};
use crate::idempotency::{Key, Replay};

/// The request header.
pub(crate) const HEADER: &str = "idempotency-key";

/// The longest key.
const MAX_LEN: usize = 256;

/// The request's key, if it has one; a 400 when it is empty or not a valid key.
pub(crate) fn key_of(headers: &HeaderMap, owner: String) -> Result<Option<Key>, Refusal> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let valid = (1..=MAX_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !valid {
        return Err(refusal(validation(&format!(
            "Idempotency-Key: expected 1 to {MAX_LEN} characters of A-Z a-z 0-9 - . _ ~"
        ))));
    }
    Ok(Some(Key::new(owner, key.to_owned())))
}

/// The answer to a key used already: the kept one for a retry, a 409 for a key used
/// by another request.
pub(crate) fn replay(replay: Replay<'_>) -> Response<Body> {
    match replay {
        Replay::Again(status, answer) => to_json(status, answer),
        Replay::Reused => api_error(
            StatusCode::CONFLICT,
            "ConflictError",
            "idempotency_key_reused",
            "Idempotency-Key: already used by a different request (body, sending inbox \
             or endpoint)",
        ),
    }
}
