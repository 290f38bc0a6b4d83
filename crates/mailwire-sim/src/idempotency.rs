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

use hyper::StatusCode;

/// How long a key is kept after its send.
const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A key as a request presents it: whose (the API key) and which.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    owner: String,
    key: String,
}

impl Key {
    /// `key`, presented by `owner`.
    pub(crate) fn new(owner: String, key: String) -> Key {
        Key { owner, key }
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

/// What a key already used stands for.
#[derive(Debug)]
pub(crate) enum Replay<'a> {
    /// A retry of the same request: its first answer.
    Again(StatusCode, &'a serde_json::Value),
    /// The key with another request.
    Reused,
}

/// The answers kept against keys.
#[derive(Debug, Default)]
pub(crate) struct Keys(HashMap<Key, Entry>);

impl Keys {
    /// What `key` stands for when it was used already; `None` for a key not used
    /// yet.
    pub(crate) fn answer(&mut self, key: &Key, request: &Request) -> Option<Replay<'_>> {
        self.0.retain(|_, e| e.at.elapsed() < TTL);
        let entry = self.0.get(key)?;
        Some(if entry.request == *request {
            Replay::Again(entry.status, &entry.answer)
        } else {
            Replay::Reused
        })
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
