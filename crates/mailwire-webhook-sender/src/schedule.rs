//! When to try again: the Standard Webhooks schedule, scaled and jittered.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

const MIN: u64 = 60;
const HOUR: u64 = 3600;

/// The delays before each attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h and 10 h (eight attempts over about 28 hours).
pub const STANDARD_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * MIN),
    Duration::from_secs(30 * MIN),
    Duration::from_secs(2 * HOUR),
    Duration::from_secs(5 * HOUR),
    Duration::from_secs(10 * HOUR),
    Duration::from_secs(10 * HOUR),
];

/// Turns a scheduled delay into the one actually waited; injectable so tests are
/// exact. The default is full jitter: uniform in `[0, delay]`, so a crowd of
/// senders that failed together does not retry together.
pub type Jitter = Arc<dyn Fn(Duration) -> Duration + Send + Sync>;

/// Full jitter: a uniformly random duration in `[0, delay]`.
pub fn full_jitter() -> Jitter {
    Arc::new(mailwire_client::full_jitter)
}

/// The retry policy: a schedule of delays, a time scale, and jitter.
#[derive(Clone)]
pub(crate) struct Retry {
    pub(crate) schedule: Vec<Duration>,
    pub(crate) scale: f64,
    pub(crate) jitter: Jitter,
}

impl Retry {
    /// How many attempts the schedule allows.
    pub(crate) fn attempts(&self) -> usize {
        self.schedule.len()
    }

    /// The wait before attempt `n` (0-based), given the previous answer's
    /// `Retry-After` if any. A `Retry-After` is a floor: never come back sooner
    /// than asked, but never later than the schedule's longest delay.
    pub(crate) fn delay(&self, n: usize, retry_after: Option<Duration>) -> Duration {
        let scheduled = self.schedule.get(n).copied().unwrap_or_default();
        let jittered = (self.jitter)(scheduled).min(scheduled);
        let wait = match retry_after {
            Some(after) => {
                let cap = self.schedule.iter().copied().max().unwrap_or_default();
                jittered.max(after.min(cap))
            }
            None => jittered,
        };
        scale(wait, self.scale)
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("schedule", &self.schedule)
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

fn scale(d: Duration, factor: f64) -> Duration {
    // `mul_f64` panics on overflow or a negative factor; clamp instead.
    if !(factor.is_finite() && factor > 0.0) {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::RETRY_AFTER;
    use http::{HeaderMap, HeaderValue};
    use mailwire_client::retry_after;
    use std::time::SystemTime;

    fn retry(jitter: Jitter, scale: f64) -> Retry {
        Retry {
            schedule: STANDARD_SCHEDULE.to_vec(),
            scale,
            jitter,
        }
    }

    #[test]
    fn scales_the_schedule() {
        let r = retry(Arc::new(|d| d), 0.001);
        assert_eq!(r.attempts(), 8);
        assert_eq!(r.delay(0, None), Duration::ZERO);
        assert_eq!(r.delay(1, None), Duration::from_millis(5));
        assert_eq!(r.delay(2, None), Duration::from_millis(300));
        assert_eq!(r.delay(7, None), Duration::from_secs(36));
    }

    #[test]
    fn full_jitter_stays_within_the_delay() {
        let r = retry(full_jitter(), 1.0);
        for _ in 0..1000 {
            assert!(r.delay(1, None) <= Duration::from_secs(5));
        }
        // A jitter that overshoots is clamped to the schedule.
        let r = retry(Arc::new(|d| d * 3), 1.0);
        assert_eq!(r.delay(1, None), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_is_a_floor_capped_by_the_schedule() {
        let r = retry(Arc::new(|_| Duration::ZERO), 0.001);
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(60))),
            Duration::from_millis(60)
        );
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(u64::MAX))),
            Duration::from_secs(36)
        );
    }

    #[test]
    fn odd_scales_do_not_panic() {
        for factor in [f64::NAN, -1.0, 0.0, f64::INFINITY, 1e300] {
            let _ = retry(Arc::new(|d| d), factor).delay(7, None);
        }
    }

    fn parse_at(v: &'static str, now: SystemTime) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(v));
        retry_after(&h, now)
    }

    /// 2015-10-21 07:28:00 UTC, the RFC's example date.
    fn rfc_example() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    #[test]
    fn a_date_in_the_past_means_retry_now() {
        let later = rfc_example() + Duration::from_secs(3600);
        assert_eq!(
            parse_at("Wed, 21 Oct 2015 07:28:00 GMT", later),
            Some(Duration::ZERO)
        );
        // So the schedule alone decides the wait.
        let r = retry(Arc::new(|d| d), 0.001);
        assert_eq!(
            r.delay(1, parse_at("Wed, 21 Oct 2015 07:28:00 GMT", later)),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn a_far_date_is_capped_by_the_schedule() {
        let r = retry(Arc::new(|_| Duration::ZERO), 0.001);
        let after = parse_at("Fri, 31 Dec 9999 23:59:59 GMT", rfc_example());
        assert!(after.unwrap() > Duration::from_secs(100 * 365 * 24 * 3600));
        assert_eq!(r.delay(1, after), Duration::from_secs(36));
    }
}
