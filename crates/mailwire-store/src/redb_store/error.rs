//! Turning redb's errors into [`StoreError`]s.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::StoreError;

/// Any redb error, as "the store cannot be used right now".
pub(crate) fn unavailable(err: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(Box::new(err.into()))
}

/// One failed commit answers every waiter of its group; each gets this handle on the
/// same error.
#[derive(Clone, Debug)]
pub(crate) struct CommitFailed(pub(crate) Arc<dyn std::error::Error + Send + Sync>);

impl fmt::Display for CommitFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "commit failed: {}", self.0)
    }
}

impl std::error::Error for CommitFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The file is already open, by this process or another.
#[derive(Debug)]
pub(crate) struct AlreadyOpen(pub(crate) PathBuf);

impl fmt::Display for AlreadyOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is already open (by this or another process); one store per file",
            self.0.display()
        )
    }
}

impl std::error::Error for AlreadyOpen {}
