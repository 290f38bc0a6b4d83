//! Retry delays, shared by everything that retries (the WebSocket's reconnects,
//! the backfill's REST calls, the merge's store writes): exponential growth from backon, full jitter on top.
//!
//! backon's own jitter adds `random(0, d)` to `d`; full jitter (AWS's "Exponential
//! Backoff And Jitter") draws the whole sleep from `random(0, min(cap, base·2^n))`,
//! which spreads a crowd of clients reconnecting after the same outage much better.
//! So backon supplies the capped exponential ceiling and this module draws under it,
//! from a seedable generator.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// How long to wait between retries (reconnects, REST calls).
///
/// The n-th retry after a failure sleeps `random(0, min(cap, base·2^n)) ·
/// time_scale`, the first one included (so clients dropped together do not all come
/// back together). The exponent resets only once a connection has stayed up for
/// `healthy_after`, so a server that accepts and then drops at once does not get
/// hammered.
///
/// ```
/// use std::time::Duration;
/// use mailwire_client::Backoff;
///
/// let backoff = Backoff::default().base(Duration::from_millis(100)).seed(7);
/// let mut delays = backoff.delays();
/// for n in 0..8 {
///     let ceiling = Duration::from_millis(100) * 2u32.pow(n);
///     assert!(delays.next().unwrap() <= ceiling);
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    healthy_after: Duration,
    seed: Option<u64>,
    time_scale: f64,
}

impl Default for Backoff {
    /// Base 250 ms, cap 30 s, healthy after 60 s, a random seed, real time.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
            seed: None,
            time_scale: 1.0,
        }
    }
}

impl Backoff {
    /// The ceiling of the first retry (default 250 ms).
    pub fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// The largest ceiling (default 30 s).
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// How long a connection must stay up before the exponent resets (default 60 s).
    pub fn healthy_after(mut self, healthy_after: Duration) -> Self {
        self.healthy_after = healthy_after;
        self
    }

    /// Seeds the jitter, for reproducible delays in tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Multiplies every delay: `0.001` turns seconds into milliseconds in a test.
    /// Negative or non-finite values count as `1.0`.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = if scale.is_finite() && scale >= 0.0 {
            scale
        } else {
            1.0
        };
        self
    }

    /// How long a connection must stay up before the exponent resets.
    pub fn healthy_after_duration(&self) -> Duration {
        self.healthy_after
    }

    /// The delays of successive retries, from the first.
    pub fn delays(&self) -> Delays {
        Delays {
            config: self.clone(),
            ceilings: ceilings(self),
            rng: match self.seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            },
        }
    }
}

fn ceilings(config: &Backoff) -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(config.base)
        .with_max_delay(config.cap.max(config.base))
        .with_factor(2.0)
        .without_max_times()
        .build()
}

/// Successive retry delays; see [`Backoff`]. An endless iterator.
#[derive(Debug)]
pub struct Delays {
    config: Backoff,
    ceilings: ExponentialBackoff,
    rng: fastrand::Rng,
}

impl Delays {
    /// Starts again from the first retry's ceiling (after a healthy connection).
    pub fn reset(&mut self) {
        self.ceilings = ceilings(&self.config);
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self.ceilings.next().unwrap_or(self.config.cap);
        let ceiling = ceiling.min(self.config.cap.max(self.config.base));
        Some(ceiling.mul_f64(self.rng.f64() * self.config.time_scale))
    }
}

/// Full jitter of one delay: uniform in `[0, ceiling]`, from the thread's
/// generator. For a retry schedule of fixed delays (the webhook sender's) what
/// [`Delays`] does to its doubling ceilings.
///
/// ```
/// use std::time::Duration;
///
/// let d = mailwire_client::full_jitter(Duration::from_secs(5));
/// assert!(d <= Duration::from_secs(5));
/// ```
pub fn full_jitter(ceiling: Duration) -> Duration {
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_stay_under_a_doubling_ceiling_up_to_the_cap() {
        let backoff = Backoff::default().seed(1);
        let ceilings = [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
        for (delay, ceiling) in backoff.delays().zip(ceilings) {
            assert!(delay <= ceiling * MS, "{delay:?} over {ceiling} ms");
        }
    }

    #[test]
    fn full_jitter_covers_the_whole_range_from_the_first_retry() {
        // 1000 first retries from 1000 seeds: spread over [0, base), not bunched at
        // the top as with additive jitter.
        let firsts: Vec<Duration> = (0..1000)
            .map(|seed| Backoff::default().seed(seed).delays().next().unwrap())
            .collect();
        let below_half = firsts.iter().filter(|d| **d < 125 * MS).count();
        assert!(
            (350..650).contains(&below_half),
            "{below_half} of 1000 under half"
        );
        assert!(firsts.iter().all(|d| *d < 250 * MS));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let a: Vec<_> = Backoff::default().seed(42).delays().take(10).collect();
        let b: Vec<_> = Backoff::default().seed(42).delays().take(10).collect();
        let c: Vec<_> = Backoff::default().seed(43).delays().take(10).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn reset_starts_from_the_base_again() {
        let mut delays = Backoff::default().seed(3).time_scale(1.0).delays();
        for _ in 0..10 {
            delays.next();
        }
        delays.reset();
        assert!(delays.next().unwrap() <= 250 * MS);
    }

    #[test]
    fn time_scale_shrinks_every_delay() {
        let scaled = Backoff::default().seed(5).time_scale(0.001);
        for delay in scaled.delays().take(20) {
            assert!(delay <= 30 * MS);
        }
        assert_eq!(Backoff::default().time_scale(f64::NAN).time_scale, 1.0);
    }
}
