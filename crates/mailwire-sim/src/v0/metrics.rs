//! Metrics (`metrics.yml`, and under a pod or an inbox): counts of the email events
//! the simulator published, and cumulative usage, computed from what happened.
//!
//! - `GET .../metrics/events` (`event_types`, `start`, `end`, `period`, `limit`,
//!   `descending`): per event type, one point per event without `period`, else
//!   buckets of `period` seconds from `start` that had events. By default the last
//!   24 hours; `start` at most 90 days ago; a future `end` clamped to now.
//! - `GET .../metrics/usage` (`usage_types`, the same range): per usage type, the
//!   running total at the end of each bucket (one bucket for the whole range
//!   without `period`), of what exists now: `storage_bytes`, `message_count` and
//!   `thread_count` in every scope, `inbox_count` and `domain_count` in a pod or
//!   the organization, `pod_count` in the organization; at most 1000 buckets.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hyper::Response;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::{Ids, Scope, only};
use crate::Shared;
use crate::http::{Body, Params, Query, Refusal, ok, refusal, validation};
use crate::mail::{METRIC_TYPES, Mail};

/// `{prefix}/metrics/...`: `/v0`, a pod's or an inbox's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{prefix}/metrics/events"), only(get(events)))
        .route(&format!("{prefix}/metrics/usage"), only(get(usage)))
}

fn bad(message: String) -> Refusal {
    refusal(validation(&message))
}

fn at(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

/// The range, the bucket size (seconds, if given), the limit and the order.
struct Range {
    start: OffsetDateTime,
    end: OffsetDateTime,
    period: Option<i64>,
    limit: Option<usize>,
    descending: bool,
}

impl Range {
    fn of(query: &Query) -> Result<Range, Refusal> {
        let now = crate::ids::now();
        let end = query.time("end")?.unwrap_or(now).min(now);
        let start = query.time("start")?.unwrap_or(end - Duration::hours(24));
        if start < now - Duration::days(90) {
            return Err(bad("start: at most 90 days ago".into()));
        }
        if start > end {
            return Err(bad("start: after end".into()));
        }
        let period = match query.get("period") {
            None => None,
            Some(p) => match p.parse::<i64>() {
                Ok(n) if (1..=86_400).contains(&n) => Some(n),
                _ => return Err(bad(format!("period: seconds from 1 to 86400, got {p:?}"))),
            },
        };
        let limit = match query.get("limit") {
            None => None,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(bad(format!("limit: a positive number, got {l:?}"))),
            },
        };
        Ok(Range {
            start,
            end,
            period,
            limit,
            descending: query.flag("descending")?,
        })
    }

    /// The start of the bucket `t` falls in.
    fn bucket(&self, t: OffsetDateTime, period: i64) -> OffsetDateTime {
        let n = (t - self.start).whole_seconds() / period;
        self.start + Duration::seconds(n * period)
    }

    /// Ordered, then limited.
    fn finish(&self, mut points: Vec<Value>) -> Vec<Value> {
        if self.descending {
            points.reverse();
        }
        if let Some(limit) = self.limit {
            points.truncate(limit);
        }
        points
    }
}

/// The types asked for (a list parameter), each one of `known`; all when none.
fn types(query: &Query, key: &str, known: &[&'static str]) -> Result<Vec<&'static str>, Refusal> {
    match query.list(key)? {
        None => Ok(known.to_vec()),
        Some(asked) => asked
            .iter()
            .map(|a| {
                known
                    .iter()
                    .find(|k| **k == a.as_str())
                    .copied()
                    .ok_or_else(|| bad(format!("{key}: {a:?} is not one of {known:?}")))
            })
            .collect(),
    }
}

async fn events(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let range = Range::of(&query)?;
    let wanted = types(&query, "event_types", &METRIC_TYPES)?;
    let scope = ids.scope();
    let mail = shared.mail();
    let mut out = serde_json::Map::new();
    for kind in wanted {
        let times = (mail.metric_events.iter())
            .filter(|e| e.kind == kind && e.at >= range.start && e.at <= range.end)
            .filter(|e| scope.accepts(&mail, &e.inbox_id))
            .map(|e| e.at);
        let points: Vec<Value> = match range.period {
            None => times
                .map(|t| json!({ "timestamp": at(t), "count": 1 }))
                .collect(),
            Some(period) => {
                let mut buckets: BTreeMap<OffsetDateTime, u64> = BTreeMap::new();
                for t in times {
                    *buckets.entry(range.bucket(t, period)).or_default() += 1;
                }
                (buckets.into_iter())
                    .map(|(t, count)| json!({ "timestamp": at(t), "count": count }))
                    .collect()
            }
        };
        out.insert(kind.into(), Value::Array(range.finish(points)));
    }
    Ok(ok(&out))
}

/// When each counted thing of `kind` came to be, in `scope`, with its size.
fn usage_items(mail: &Mail, scope: &Scope, kind: &str) -> Vec<(OffsetDateTime, u64)> {
    let in_scope = |inbox: &str| scope.accepts(mail, inbox);
    match kind {
        "storage_bytes" => (mail.messages(in_scope).into_iter())
            .map(|m| (m.time(), m.raw.len() as u64))
            .collect(),
        "message_count" => (mail.messages(in_scope).into_iter())
            .map(|m| (m.time(), 1))
            .collect(),
        "thread_count" => (mail.threads(in_scope).into_iter())
            .filter_map(|t| t.first().map(|m| (m.time(), 1)))
            .collect(),
        "inbox_count" => (mail.inboxes.iter())
            .filter(|i| in_scope(&i.inbox_id))
            .map(|i| (i.created_at, 1))
            .collect(),
        "pod_count" => mail.pods.iter().map(|p| (p.created_at, 1)).collect(),
        "domain_count" => (mail.domains.iter())
            .filter(|d| match scope {
                Scope::Pod(p) => d.pod_id.as_ref() == Some(p),
                _ => true,
            })
            .map(|d| (d.created_at, 1))
            .collect(),
        _ => Vec::new(),
    }
}

async fn usage(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let range = Range::of(&query)?;
    let scope = ids.scope();
    let known: &[&'static str] = match scope {
        Scope::Inbox(_) => &["storage_bytes", "message_count", "thread_count"],
        Scope::Pod(_) => &[
            "storage_bytes",
            "message_count",
            "thread_count",
            "inbox_count",
            "domain_count",
        ],
        Scope::All => &[
            "storage_bytes",
            "message_count",
            "thread_count",
            "inbox_count",
            "pod_count",
            "domain_count",
        ],
    };
    let wanted = types(&query, "usage_types", known)?;
    let span = (range.end - range.start).whole_seconds().max(1);
    let period = range.period.unwrap_or(span);
    let buckets = (span + period - 1) / period;
    if buckets > 1000 {
        return Err(bad(format!(
            "period: the range holds {buckets} buckets of {period} s, at most 1000"
        )));
    }
    let mail = shared.mail();
    let mut out = serde_json::Map::new();
    for kind in wanted {
        let items = usage_items(&mail, &scope, kind);
        let points: Vec<Value> = (1..=buckets)
            .map(|n| (range.start + Duration::seconds(n * period)).min(range.end))
            .map(|t| {
                let value: u64 = items
                    .iter()
                    .filter(|(at, _)| *at <= t)
                    .map(|(_, v)| v)
                    .sum();
                json!({ "timestamp": at(t), "value": value })
            })
            .collect();
        out.insert(kind.into(), Value::Array(range.finish(points)));
    }
    Ok(ok(&out))
}
