//! Turning Redis errors and odd replies into [`StoreError`]s.

use std::fmt;

use crate::StoreError;

/// A Redis error as a store error: a key of ours holding another type means the data
/// is not what the store wrote; anything else (refused, dropped, timed out, a server
/// refusing the command) is "try later".
pub(crate) fn from_redis(err: redis::RedisError) -> StoreError {
    if err.code() == Some("WRONGTYPE") {
        return StoreError::Corrupt(format!("a store key holds another Redis type: {err}"));
    }
    StoreError::Unavailable(Box::new(err))
}

/// A reply whose shape is not what the command returns: the peer is not the Redis the
/// store expects. Reported, never unwrapped.
#[derive(Debug)]
pub(crate) struct UnexpectedReply(pub(crate) String);

impl fmt::Display for UnexpectedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected reply from Redis: {}", self.0)
    }
}

impl std::error::Error for UnexpectedReply {}

/// An [`UnexpectedReply`] as a store error.
pub(crate) fn unexpected(what: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(Box::new(UnexpectedReply(what.to_string())))
}
