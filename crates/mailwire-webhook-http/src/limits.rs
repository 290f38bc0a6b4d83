//! Request budgets: what a receiver (or one of its tenants) lets through before it
//! reads a body or computes a MAC.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// A budget of requests: `requests` per period on average, up to `burst` at once
/// (a token bucket of `burst` tokens refilled at `requests` per period, which
/// [`governor`]'s GCRA implements exactly).
///
/// Written `"<requests>/<s|min|h>"`, optionally followed by `" burst <n>"`, in
/// configuration files and on the command line; without a burst, the burst is
/// the per-period count.
///
/// ```
/// use mailwire_webhook_http::Rate;
///
/// let rate: Rate = "1000/s burst 2000".parse()?;
/// assert_eq!(rate, Rate::per_second(1000).with_burst(2000));
/// assert_eq!(rate.to_string(), "1000/s burst 2000");
/// assert_eq!("10/min".parse::<Rate>()?.burst(), 10);
/// assert!("0/s".parse::<Rate>().is_err());
/// # Ok::<(), mailwire_webhook_http::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate {
    requests: NonZeroU32,
    unit: Unit,
    burst: NonZeroU32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unit {
    Second,
    Minute,
    Hour,
}

impl Unit {
    fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3600,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Unit::Second => "s",
            Unit::Minute => "min",
            Unit::Hour => "h",
        }
    }
}

impl Rate {
    /// `requests` per second, burst `requests`. Zero counts as one.
    pub fn per_second(requests: u32) -> Rate {
        Rate::new(requests, Unit::Second)
    }

    /// `requests` per minute, burst `requests`. Zero counts as one.
    pub fn per_minute(requests: u32) -> Rate {
        Rate::new(requests, Unit::Minute)
    }

    /// `requests` per hour, burst `requests`. Zero counts as one.
    pub fn per_hour(requests: u32) -> Rate {
        Rate::new(requests, Unit::Hour)
    }

    fn new(requests: u32, unit: Unit) -> Rate {
        let requests = NonZeroU32::new(requests).unwrap_or(NonZeroU32::MIN);
        Rate {
            requests,
            unit,
            burst: requests,
        }
    }

    /// The same rate with up to `burst` requests at once. Zero counts as one.
    pub fn with_burst(mut self, burst: u32) -> Rate {
        self.burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        self
    }

    /// Requests per period on average.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The period `requests` refer to: one second, minute or hour.
    pub fn period(&self) -> Duration {
        self.unit.duration()
    }

    /// Requests allowed at once.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    pub(crate) fn quota(&self) -> governor::Quota {
        // One token every period / requests; at least 1 ns (a rate above 10^9/s
        // is as good as no limit).
        let every = (self.period() / self.requests.get()).max(Duration::from_nanos(1));
        governor::Quota::with_period(every)
            .unwrap_or_else(|| governor::Quota::per_second(self.requests))
            .allow_burst(self.burst)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.unit.as_str())?;
        if self.burst != self.requests {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

impl FromStr for Rate {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Rate, ConfigError> {
        let invalid = || ConfigError::InvalidRate(s.to_owned());
        let mut words = s.split_whitespace();
        let (count, unit) = words
            .next()
            .and_then(|w| w.split_once('/'))
            .ok_or_else(invalid)?;
        let count = parse_count(count).ok_or_else(invalid)?;
        let unit = match unit {
            "s" | "sec" | "second" => Unit::Second,
            "min" | "minute" => Unit::Minute,
            "h" | "hour" => Unit::Hour,
            _ => return Err(invalid()),
        };
        let mut rate = Rate {
            requests: count,
            unit,
            burst: count,
        };
        match (words.next(), words.next(), words.next()) {
            (None, _, _) => {}
            (Some("burst"), Some(burst), None) => {
                rate.burst = parse_count(burst).ok_or_else(invalid)?;
            }
            _ => return Err(invalid()),
        }
        Ok(rate)
    }
}

/// ASCII digits only, not zero.
fn parse_count(s: &str) -> Option<NonZeroU32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl TryFrom<String> for Rate {
    type Error = ConfigError;

    fn try_from(s: String) -> Result<Rate, ConfigError> {
        s.parse()
    }
}

impl From<Rate> for String {
    fn from(rate: Rate) -> String {
        rate.to_string()
    }
}

/// The request budgets of a receiver, or of one [`Tenant`](crate::Tenant): each is
/// checked before the request's body is read or its MAC computed, and a request
/// over any of them is answered 429 with `Retry-After` (whole seconds until the
/// budget has room again, at least 1).
///
/// - `per_address`: requests from one client address (an IPv6 address counts by
///   its /64, which one host usually holds whole).
/// - `total`: requests from everyone together.
/// - `failures_per_address`: requests from one client address that failed
///   verification (401) or sent a body over the limit (413). Once spent, every
///   request from that address is refused with 429 (before its body is read)
///   until the budget has room again, so a client spraying bad signatures costs
///   one budget check per request, not a body read and a MAC, while senders on
///   other addresses go on.
///
/// Defaults ([`RateLimits::default`]), far above what a legitimate sender needs
/// (AgentMail sends through Svix from a few addresses, its retries included):
///
/// | budget | default |
/// | --- | --- |
/// | `per_address` | `1000/s burst 5000` |
/// | `total` | `20000/s burst 40000` |
/// | `failures_per_address` | `10/min burst 20` |
///
/// [`RateLimits::off`] turns them all off. In a configuration file (serde), each
/// is a [`Rate`] string or `"off"`, and one left out takes its default:
/// `per_address = "500/s burst 1000"`, `total = "off"`.
///
/// ```
/// use mailwire_webhook_http::{Rate, RateLimits};
///
/// let limits = RateLimits::default()
///     .per_address(Some(Rate::per_second(200).with_burst(400)))
///     .total(None);
/// assert_eq!(limits.failures_per_address, RateLimits::default().failures_per_address);
/// assert!(RateLimits::off().is_off());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimits {
    /// Requests from one client address.
    #[serde(with = "rate_or_off")]
    pub per_address: Option<Rate>,
    /// Requests from all clients together.
    #[serde(with = "rate_or_off")]
    pub total: Option<Rate>,
    /// Failed requests (401, 413) from one client address; once spent, all its
    /// requests get 429.
    #[serde(with = "rate_or_off")]
    pub failures_per_address: Option<Rate>,
}

/// `Option<Rate>` as a rate string or `"off"` (TOML has no null); `null` is
/// read as off too.
mod rate_or_off {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use super::Rate;

    pub(super) fn serialize<S: Serializer>(rate: &Option<Rate>, s: S) -> Result<S::Ok, S::Error> {
        match rate {
            Some(rate) => s.collect_str(rate),
            None => s.serialize_str("off"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("off") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(D::Error::custom),
        }
    }
}

impl RateLimits {
    /// The default budget per client address: `1000/s burst 5000`.
    pub const DEFAULT_PER_ADDRESS: u32 = 1000;
    /// The default burst per client address: a sender's backlog of 5000
    /// deliveries retried at once after an outage gets through.
    pub const DEFAULT_PER_ADDRESS_BURST: u32 = 5000;
    /// The default budget of all clients together: `20000/s burst 40000`.
    pub const DEFAULT_TOTAL: u32 = 20_000;
    /// The default failure budget per client address: `10/min burst 20`.
    pub const DEFAULT_FAILURES_PER_MINUTE: u32 = 10;

    /// No limit at all.
    pub fn off() -> RateLimits {
        RateLimits {
            per_address: None,
            total: None,
            failures_per_address: None,
        }
    }

    /// True when no budget is set.
    pub fn is_off(&self) -> bool {
        self.per_address.is_none() && self.total.is_none() && self.failures_per_address.is_none()
    }

    /// Sets (or with `None` removes) the budget per client address.
    pub fn per_address(mut self, rate: Option<Rate>) -> RateLimits {
        self.per_address = rate;
        self
    }

    /// Sets (or with `None` removes) the budget of all clients together.
    pub fn total(mut self, rate: Option<Rate>) -> RateLimits {
        self.total = rate;
        self
    }

    /// Sets (or with `None` removes) the failure budget per client address.
    pub fn failures_per_address(mut self, rate: Option<Rate>) -> RateLimits {
        self.failures_per_address = rate;
        self
    }
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            per_address: Some(
                Rate::per_second(Self::DEFAULT_PER_ADDRESS)
                    .with_burst(Self::DEFAULT_PER_ADDRESS_BURST),
            ),
            total: Some(Rate::per_second(Self::DEFAULT_TOTAL).with_burst(2 * Self::DEFAULT_TOTAL)),
            failures_per_address: Some(
                Rate::per_minute(Self::DEFAULT_FAILURES_PER_MINUTE)
                    .with_burst(2 * Self::DEFAULT_FAILURES_PER_MINUTE),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn unit() -> impl Strategy<Value = Unit> {
        prop_oneof![Just(Unit::Second), Just(Unit::Minute), Just(Unit::Hour)]
    }

    proptest! {
        #[test]
        fn display_then_parse_is_the_same_rate(
            requests in 1u32.., burst in 1u32.., unit in unit(),
        ) {
            let rate = Rate::new(requests, unit).with_burst(burst);
            prop_assert_eq!(rate.to_string().parse::<Rate>().unwrap(), rate);
            let json = serde_json::to_string(&rate).unwrap();
            prop_assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), rate);
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panic(text in "\\PC{0,40}") {
            if let Ok(rate) = text.parse::<Rate>() {
                prop_assert!(rate.requests() >= 1 && rate.burst() >= 1);
            }
        }
    }

    #[test]
    fn rates_that_are_not_rates_are_refused() {
        for text in [
            "",
            "1000",
            "/s",
            "0/s",
            "-1/s",
            "+5/s",
            "1000/day",
            "1000/s burst",
            "1000/s burst 0",
            "1000/s burst 10 more",
            "1000/s  extra",
            "99999999999/s",
            "1 000/s",
        ] {
            assert!(text.parse::<Rate>().is_err(), "{text:?}");
        }
        assert_eq!("5/min".parse::<Rate>().unwrap(), Rate::per_minute(5));
        assert_eq!(
            "7/h burst 9".parse::<Rate>().unwrap(),
            Rate::per_hour(7).with_burst(9)
        );
    }

    #[test]
    fn a_quota_matches_its_rate() {
        let quota = Rate::per_minute(10).with_burst(20).quota();
        assert_eq!(quota.replenish_interval(), Duration::from_secs(6));
        assert_eq!(quota.burst_size().get(), 20);
        // Faster than one per nanosecond is one per nanosecond.
        let quota = Rate::per_second(u32::MAX).quota();
        assert_eq!(quota.replenish_interval(), Duration::from_nanos(1));
    }

    #[test]
    fn limits_deserialize_with_defaults_for_what_is_absent() {
        let limits: RateLimits = serde_json::from_str(r#"{"total": "5/s"}"#).unwrap();
        assert_eq!(limits.total, Some(Rate::per_second(5)));
        assert_eq!(limits.per_address, RateLimits::default().per_address);
        let off: RateLimits = serde_json::from_str(
            r#"{"per_address": "off", "total": null, "failures_per_address": "off"}"#,
        )
        .unwrap();
        assert!(off.is_off());
        let json =
            serde_json::to_string(&RateLimits::off().total(Some(Rate::per_second(5)))).unwrap();
        assert_eq!(
            json,
            r#"{"per_address":"off","total":"5/s","failures_per_address":"off"}"#
        );
        assert!(serde_json::from_str::<RateLimits>(r#"{"total": "fast"}"#).is_err());
        assert!(serde_json::from_str::<RateLimits>(r#"{"per_adress": "5/s"}"#).is_err());
    }
}
