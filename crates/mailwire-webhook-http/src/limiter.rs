//! [`RateLimits`] enforced with governor, before a request's body is read.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, RateLimiter};

use crate::limits::RateLimits;
use crate::metric::Budget;

type Keyed = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;
type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// Requests between two sweeps of the keyed state (a power of two).
const SWEEP_EVERY: u32 = 1024;
/// Sweeps between two shrinks of the maps' capacity.
const SHRINK_EVERY: u32 = 64;

/// One receiver's (or one tenant's) budgets.
pub(crate) struct Limiter {
    per_address: Option<Keyed>,
    total: Option<Direct>,
    failures: Option<Keyed>,
    /// Addresses whose failure budget is spent, until when. governor cannot tell
    /// whether a key has room without taking a token, and only failures take
    /// tokens from `failures`, so the moment it refused one is exactly when the
    /// address has room again: kept here so the next requests are refused before
    /// their body is read.
    shut_out: RwLock<HashMap<IpAddr, Instant>>,
    /// `shut_out.len()`, read without the lock: zero on the common path.
    shut_out_len: AtomicUsize,
    clock: DefaultClock,
    admitted: AtomicU32,
}

impl Limiter {
    /// `None` when every budget is off: nothing to check.
    pub(crate) fn new(limits: &RateLimits) -> Option<Limiter> {
        if limits.is_off() {
            return None;
        }
        // governor's own clock (std's Instant): the limiters and the shut-out
        // entries read the same time.
        let clock = DefaultClock::default();
        Some(Limiter {
            per_address: limits.per_address.map(|r| RateLimiter::keyed(r.quota())),
            total: limits.total.map(|r| RateLimiter::direct(r.quota())),
            failures: limits
                .failures_per_address
                .map(|r| RateLimiter::keyed(r.quota())),
            shut_out: RwLock::new(HashMap::new()),
            shut_out_len: AtomicUsize::new(0),
            clock,
            admitted: AtomicU32::new(0),
        })
    }

    /// Takes one request from the budgets of `client` and of everyone, or says
    /// which budget refused it and how long to wait. An address shut out for its
    /// failures takes nothing.
    pub(crate) fn admit(&self, client: Option<IpAddr>) -> Result<(), (Budget, Duration)> {
        let now = self.clock.now();
        if let Some(ip) = client.map(client_key) {
            if self.shut_out_len.load(Ordering::Relaxed) > 0 {
                let until = self.read_shut_out().get(&ip).copied();
                if let Some(until) = until.filter(|until| *until > now) {
                    return Err((Budget::Failures, until - now));
                }
            }
            if let Some(limiter) = &self.per_address {
                limiter
                    .check_key(&ip)
                    .map_err(|n| (Budget::PerAddress, wait(&n, now)))?;
            }
        }
        if let Some(limiter) = &self.total {
            limiter
                .check()
                .map_err(|n| (Budget::Total, wait(&n, now)))?;
        }
        let n = self.admitted.fetch_add(1, Ordering::Relaxed);
        if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now, (n / SWEEP_EVERY) % SHRINK_EVERY == SHRINK_EVERY - 1);
        }
        Ok(())
    }

    /// Counts a failed request (401, 413) against `client`'s failure budget; once
    /// it is spent, the address is shut out until the budget has room again.
    pub(crate) fn failed(&self, client: Option<IpAddr>) {
        let (Some(ip), Some(failures)) = (client.map(client_key), &self.failures) else {
            return;
        };
        if let Err(not_until) = failures.check_key(&ip) {
            let until = not_until.earliest_possible();
            let mut shut_out = self.write_shut_out();
            let now = self.clock.now();
            let again = shut_out.insert(ip, until).is_some_and(|old| old > now);
            self.shut_out_len.store(shut_out.len(), Ordering::Relaxed);
            drop(shut_out);
            // Once per shut-out, not per refused request: a flood logs nothing more.
            if !again {
                tracing::warn!(
                    client = %ip,
                    for_secs = not_until.wait_time_from(now).as_secs_f64(),
                    "client shut out: too many requests failed verification"
                );
            }
        }
    }

    /// Forgets keys whose state is as good as fresh, so memory follows the
    /// addresses active within a burst's time, not every address ever seen.
    fn sweep(&self, now: Instant, shrink: bool) {
        for limiter in [&self.per_address, &self.failures].into_iter().flatten() {
            limiter.retain_recent();
            if shrink {
                limiter.shrink_to_fit();
            }
        }
        if self.shut_out_len.load(Ordering::Relaxed) > 0 {
            let mut shut_out = self.write_shut_out();
            shut_out.retain(|_, until| *until > now);
            if shrink {
                shut_out.shrink_to_fit();
            }
            self.shut_out_len.store(shut_out.len(), Ordering::Relaxed);
        }
    }

    /// Keys held in memory: per-address states, failure states, shut-out entries.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.per_address.as_ref().map_or(0, |l| l.len())
            + self.failures.as_ref().map_or(0, |l| l.len())
            + self.shut_out_len.load(Ordering::Relaxed)
    }

    // Every update of the map is one insert or one retain: a panic while holding
    // the lock cannot leave it half-updated, so a poisoned lock is still usable.
    fn read_shut_out(&self) -> std::sync::RwLockReadGuard<'_, HashMap<IpAddr, Instant>> {
        self.shut_out.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_shut_out(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, Instant>> {
        self.shut_out.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn wait(not_until: &NotUntil<Instant>, now: Instant) -> Duration {
    not_until.wait_time_from(now)
}

/// The key a client address counts under: an IPv4 address (IPv4-mapped IPv6
/// included) as itself, an IPv6 address by its /64, which one host usually holds
/// whole (so rotating through it does not buy a fresh budget).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("per_address", &self.per_address.is_some())
            .field("total", &self.total.is_some())
            .field("failures", &self.failures.is_some())
            .field("shut_out", &self.shut_out_len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use crate::Rate;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn per_address_budgets_are_separate() {
        let limits = RateLimits::off().per_address(Some(Rate::per_hour(3)));
        let limiter = Limiter::new(&limits).unwrap();
        for _ in 0..3 {
            limiter.admit(ip(2)).unwrap();
        }
        let (budget, wait) = limiter.admit(ip(2)).unwrap_err();
        assert_eq!(budget, Budget::PerAddress);
        assert!(wait > Duration::from_secs(1000), "{wait:?}");
        limiter.admit(ip(3)).unwrap();
        // Without an address only the total applies, and there is none here.
        limiter.admit(None).unwrap();
    }

    #[test]
    fn the_total_is_shared() {
        let limits = RateLimits::off().total(Some(Rate::per_hour(2)));
        let limiter = Limiter::new(&limits).unwrap();
        limiter.admit(ip(2)).unwrap();
        limiter.admit(ip(3)).unwrap();
        assert_eq!(limiter.admit(ip(4)).unwrap_err().0, Budget::Total);
        assert!(limiter.admit(None).is_err());
    }

    #[test]
    fn spent_failures_shut_the_address_out() {
        let limits = RateLimits::off().failures_per_address(Some(Rate::per_hour(2)));
        let limiter = Limiter::new(&limits).unwrap();
        for _ in 0..2 {
            limiter.failed(ip(2));
            limiter.admit(ip(2)).unwrap();
        }
        // The failure beyond the budget shuts the address out; others go on.
        limiter.failed(ip(2));
        let (budget, wait) = limiter.admit(ip(2)).unwrap_err();
        assert_eq!(budget, Budget::Failures);
        assert!(wait > Duration::from_secs(1000));
        limiter.admit(ip(3)).unwrap();
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a.into()), client_key(b.into()));
        assert_ne!(client_key(a.into()), client_key(c.into()));
        let mapped: Ipv6Addr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(client_key(mapped.into()), ip(2).unwrap());
    }

    #[test]
    fn keyed_state_is_swept() {
        // A budget whose state is fresh again a nanosecond after each request:
        // every key is forgettable at the next sweep.
        let limits = RateLimits::off().per_address(Some(Rate::per_second(1_000_000_000)));
        let limiter = Limiter::new(&limits).unwrap();
        for i in 0..(4 * SWEEP_EVERY) {
            let addr = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            limiter.admit(Some(addr)).unwrap();
        }
        assert!(limiter.keys() < SWEEP_EVERY as usize, "{}", limiter.keys());
    }

    #[test]
    fn all_off_is_no_limiter() {
        assert!(Limiter::new(&RateLimits::off()).is_none());
        assert!(Limiter::new(&RateLimits::default()).is_some());
    }
}
