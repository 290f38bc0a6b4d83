//! The source of "now" for timestamp tolerance, injectable so tests are exact.

use std::time::{SystemTime, UNIX_EPOCH};

/// Gives the current time in Unix seconds.
///
/// Implemented by [`SystemClock`] and by any `Fn() -> i64`, so a test can pin
/// the time with a closure: `verifier.with_clock(|| 1_614_265_330)`.
pub trait Clock {
    /// Seconds since the Unix epoch (negative before it).
    fn now_unix(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }
}

impl<F: Fn() -> i64> Clock for F {
    fn now_unix(&self) -> i64 {
        self()
    }
}
