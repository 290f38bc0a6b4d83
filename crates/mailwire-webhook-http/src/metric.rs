//! What the receiver counts through the `metrics` facade.
//!
//! Every key is built once: the receiver's own as statics, a tenant's when the
//! tenant is put in the table. A request registers a prepared key and
//! allocates nothing, so with no recorder installed a count is a thread-local
//! read and a no-op call.

use std::time::Duration;

use http::StatusCode;
use mailwire_source::TenantId;
use metrics::{Key, Label, Level, Metadata};

use crate::stats::Outcome;

/// Requests answered, by `outcome`, `status` and `tenant` (empty when none).
pub(crate) const REQUESTS: &str = "mailwire_webhook_requests_total";
/// Requests refused for a spent budget, by `budget`.
pub(crate) const RATE_LIMITED: &str = "mailwire_webhook_rate_limited_total";
/// Connections closed at once after accept, by `limit` (`per_address`).
pub(crate) const CONNECTIONS_REFUSED: &str = "mailwire_webhook_connections_refused_total";
/// The store's append, in seconds, by `outcome` (`ok`, `error`).
pub(crate) const STORE_SECONDS: &str = "mailwire_webhook_store_seconds";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// A key whose name and labels are all static: built at compile time.
macro_rules! static_key {
    ($name:expr, $($key:literal => $value:expr),+ $(,)?) => {{
        // A static of its own: a temporary array's destructor cannot run in a static.
        static LABELS: [Label; [$($key),+].len()] =
            [$(Label::from_static_parts($key, $value)),+];
        Key::from_static_parts($name, &LABELS)
    }};
}

/// Which budget refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budget {
    /// The client address's.
    PerAddress,
    /// Everyone's.
    Total,
    /// The client address is shut out for its failed verifications.
    Failures,
    /// One of the tenant's budgets.
    Tenant,
}

impl Budget {
    /// What a rejection notice says about it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Budget::PerAddress => "rate limited: the client address's budget is spent",
            Budget::Total => "rate limited: the receiver's total budget is spent",
            Budget::Failures => "rate limited: client shut out for failed verifications",
            Budget::Tenant => "rate limited: the tenant's budget is spent",
        }
    }
}

/// Every answer the receiver gives: its outcome, status, and their labels.
/// One row per series, in the order of the keys built from it.
macro_rules! answers {
    ($(($outcome:ident, $label:literal, $status:ident, $code:literal)),* $(,)?) => {
        const ANSWERS: &[(Outcome, StatusCode, &str, &str)] =
            &[$((Outcome::$outcome, StatusCode::$status, $label, $code)),*];

        static UNTENANTED: &[Key] = &[$(static_key!(
            REQUESTS,
            "outcome" => $label,
            "status" => $code,
            "tenant" => "",
        )),*];
    };
}

answers![
    (Accepted, "accepted", OK, "200"),
    (Duplicate, "duplicate", OK, "200"),
    (RateLimited, "rate_limited", TOO_MANY_REQUESTS, "429"),
    (Unauthorized, "unauthorized", UNAUTHORIZED, "401"),
    (Rejected, "rejected", BAD_REQUEST, "400"),
    (Rejected, "rejected", NOT_FOUND, "404"),
    (Rejected, "rejected", METHOD_NOT_ALLOWED, "405"),
    (Rejected, "rejected", REQUEST_TIMEOUT, "408"),
    (Rejected, "rejected", PAYLOAD_TOO_LARGE, "413"),
    (Unavailable, "unavailable", SERVICE_UNAVAILABLE, "503"),
];

fn row(outcome: Outcome, status: StatusCode) -> Option<usize> {
    ANSWERS
        .iter()
        .position(|(o, s, _, _)| *o == outcome && *s == status)
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted => "accepted",
        Outcome::Duplicate => "duplicate",
        Outcome::RateLimited => "rate_limited",
        Outcome::Unauthorized => "unauthorized",
        Outcome::Rejected => "rejected",
        Outcome::Unavailable => "unavailable",
    }
}

/// A tenant's request keys, one per answer, built when it joins the table.
#[derive(Debug)]
pub(crate) struct TenantKeys {
    id: TenantId,
    requests: Box<[Key]>,
}

impl TenantKeys {
    pub(crate) fn new(id: &TenantId) -> TenantKeys {
        let requests = ANSWERS
            .iter()
            .map(|(_, _, outcome, status)| request_key(outcome, status, id.as_str()))
            .collect();
        TenantKeys {
            id: id.clone(),
            requests,
        }
    }
}

fn request_key(outcome: &'static str, status: &str, tenant: &str) -> Key {
    Key::from_parts(
        REQUESTS,
        vec![
            Label::from_static_parts("outcome", outcome),
            Label::new("status", status.to_owned()),
            Label::new("tenant", tenant.to_owned()),
        ],
    )
}

/// Counts one answer.
pub(crate) fn request(outcome: Outcome, status: StatusCode, tenant: Option<&TenantKeys>) {
    let counter = |key: &Key| {
        metrics::with_recorder(|r| r.register_counter(key, &METADATA)).increment(1);
    };
    match (row(outcome, status), tenant) {
        (Some(i), None) => counter(&UNTENANTED[i]),
        (Some(i), Some(keys)) => counter(&keys.requests[i]),
        // Not an answer the receiver gives today: counted all the same.
        (None, tenant) => counter(&request_key(
            outcome_label(outcome),
            status.as_str(),
            tenant.map_or("", |keys| keys.id.as_str()),
        )),
    }
}

static RATE_LIMITED_KEYS: [Key; 4] = [
    static_key!(RATE_LIMITED, "budget" => "per_address"),
    static_key!(RATE_LIMITED, "budget" => "total"),
    static_key!(RATE_LIMITED, "budget" => "failures"),
    static_key!(RATE_LIMITED, "budget" => "tenant"),
];

/// Counts a request refused by `budget`.
pub(crate) fn rate_limited(budget: Budget) {
    let key = &RATE_LIMITED_KEYS[match budget {
        Budget::PerAddress => 0,
        Budget::Total => 1,
        Budget::Failures => 2,
        Budget::Tenant => 3,
    }];
    metrics::with_recorder(|r| r.register_counter(key, &METADATA)).increment(1);
}

static CONNECTIONS_REFUSED_PER_ADDRESS: Key =
    static_key!(CONNECTIONS_REFUSED, "limit" => "per_address");

/// Counts a connection closed because its address held its cap already.
pub(crate) fn connection_refused() {
    metrics::with_recorder(|r| r.register_counter(&CONNECTIONS_REFUSED_PER_ADDRESS, &METADATA))
        .increment(1);
}

static STORE_OK: Key = static_key!(STORE_SECONDS, "outcome" => "ok");
static STORE_ERROR: Key = static_key!(STORE_SECONDS, "outcome" => "error");

/// Records how long one append to the store took.
pub(crate) fn store_append(took: Duration, ok: bool) {
    let key = if ok { &STORE_OK } else { &STORE_ERROR };
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA)).record(took.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_its_status_code() {
        for (_, status, _, code) in ANSWERS {
            assert_eq!(status.as_str(), *code);
        }
        assert_eq!(UNTENANTED.len(), ANSWERS.len());
    }
}
