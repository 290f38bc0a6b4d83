//! `Idempotency-Key` on the send endpoints (`send`, `reply`, `reply-all`, `forward`:
//! those the definition marks `idempotent: true`), as `api.yml` and the idempotency
//! guide describe it: the first request with a key sends and its answer is kept
//! against the key; a retry with the same key and the same request gets that answer
//! again and sends nothing; the same key with another request (another body, sending
//! inbox, endpoint or parent message) is a 409. An empty key, or one that is not 1 to
//! 256 characters of `A-Z a-z 0-9 - . _ ~`, is a 400. Keys belong to the API key that
//! presented them and expire 24 hours after the send.
//!
//! Only answers that sent something are kept: a refused request leaves the key
//! unused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hyper::{HeaderMap, Response, StatusCode};

use super::{api_error, refusal, validation};
use crate::rest::Refusal;
use crate::server::Body;

/// The request header.
pub(crate) const HEADER: &str = "idempotency-key";

/// How long a key is kept after its send.
const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest key.
const MAX_LEN: usize = 256;

/// A key as a request presents it: whose (the API key) and which.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    owner: String,
    key: String,
}

impl Key {
    /// The request's key, if it has one; a 400 when it is empty or not a valid key.
    pub(crate) fn of(headers: &HeaderMap, owner: String) -> Result<Option<Key>, Refusal> {
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
        Ok(Some(Key {
            owner,
            key: key.to_owned(),
        }))
    }
}

/// What a request was, to tell a retry from a reuse of its key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Request {
    /// The endpoint: `send`, `reply`, `reply-all` or `forward`.
    pub(crate) endpoint: &'static str,
    /// The sending inbox, lowercased.
    pub(crate) inbox: String,
    /// The message replied to or forwarded.
    pub(crate) parent: Option<String>,
    /// The body, as read.
    pub(crate) body: serde_json::Value,
}

#[derive(Debug)]
struct Entry {
    request: Request,
    status: StatusCode,
    answer: serde_json::Value,
    at: Instant,
}

/// The answers kept against keys.
#[derive(Debug, Default)]
pub(crate) struct Keys(HashMap<Key, Entry>);

impl Keys {
    /// The answer to send instead of going on: the kept one for a retry, a 409 for a
    /// key used by another request; `None` for a key not used yet.
    pub(crate) fn answer(&mut self, key: &Key, request: &Request) -> Option<Response<Body>> {
        self.0.retain(|_, e| e.at.elapsed() < TTL);
        let entry = self.0.get(key)?;
        if entry.request != *request {
            return Some(api_error(
                StatusCode::CONFLICT,
                "ConflictError",
                "idempotency_key_reused",
                "Idempotency-Key: already used by a different request (body, sending inbox \
                 or endpoint)",
            ));
        }
        Some(crate::rest::to_json(entry.status, &entry.answer))
    }

    /// Keeps `answer` against `key`.
    pub(crate) fn keep(
        &mut self,
        key: Key,
        request: Request,
        status: StatusCode,
        answer: serde_json::Value,
    ) {
        let at = Instant::now();
        self.0.insert(
            key,
            Entry {
                request,
                status,
                answer,
                at,
            },
        );
    }
}
