//! The names this crate counts under, through the `metrics` facade.

use mailwire_source::{Delivery, Origin};
use metrics::SharedString;

/// Events delivered (first seen), by `origin` and `tenant` (empty when none).
pub(crate) const DELIVERED: &str = "mailwire_merge_delivered_total";
/// Copies suppressed, by `origin`.
pub(crate) const DUPLICATES: &str = "mailwire_merge_duplicates_total";
/// Events that came after a later one of their inbox had left the reorder window.
pub(crate) const LATE: &str = "mailwire_merge_late_total";
/// Store outages begun (each returned once from `next()`).
pub(crate) const STORE_OUTAGES: &str = "mailwire_merge_store_outages_total";
/// 1 while a store outage is in progress (the merge holds its head and its sources), else 0.
pub(crate) const STORE_DOWN: &str = "mailwire_merge_store_down";
/// Store writes (appends of held events, acks) tried again after a failure.
pub(crate) const STORE_RETRIES: &str = "mailwire_merge_store_retries_total";
/// Events the reorder window holds now.
pub(crate) const HELD: &str = "mailwire_merge_held";

/// An origin as a label: no allocation for the built-in ones.
pub(crate) fn origin(origin: &Origin) -> SharedString {
    match origin {
        Origin::WebSocket => SharedString::const_str("websocket"),
        Origin::Webhook => SharedString::const_str("webhook"),
        Origin::Backfill => SharedString::const_str("backfill"),
        Origin::Log => SharedString::const_str("log"),
        other => SharedString::from(other.as_str().to_owned()),
    }
}

pub(crate) fn delivered(delivery: &Delivery) {
    tracing::debug!(parent: delivery.span(), "delivered");
    let tenant = delivery
        .tenant
        .as_ref()
        .map_or(SharedString::const_str(""), |t| {
            SharedString::from(t.as_str().to_owned())
        });
    metrics::counter!(DELIVERED, "origin" => origin(&delivery.origin), "tenant" => tenant)
        .increment(1);
}
