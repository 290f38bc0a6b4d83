//! The receiver's limits and timings, as its builder sets them and its intake and
//! server read them.

use std::time::Duration;

use crate::limits::RateLimits;

/// The receiver's limits and timings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) path: String,
    pub(crate) body_limit: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_address: Option<usize>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) retry_after: Duration,
    pub(crate) seen_ttl: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) rate_limits: RateLimits,
}
