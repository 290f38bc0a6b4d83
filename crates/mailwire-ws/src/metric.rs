//! The names this crate counts under, through the `metrics` facade.

/// Connections that reached the WebSocket handshake's end.
pub(crate) const CONNECTS: &str = "mailwire_ws_connects_total";
/// Connections lost or refused, each followed by a reconnect.
pub(crate) const DISCONNECTS: &str = "mailwire_ws_disconnects_total";
/// Event frames received and handed to the consumer's channel.
pub(crate) const EVENTS: &str = "mailwire_ws_events_total";
/// Gaps resume could not close.
pub(crate) const GAPS: &str = "mailwire_ws_gaps_total";
/// Frames skipped, by `reason`.
pub(crate) const SKIPPED: &str = "mailwire_ws_skipped_frames_total";
/// Loads and saves of the resume point that failed, by `op`.
pub(crate) const CHECKPOINT_FAILURES: &str = "mailwire_ws_checkpoint_failures_total";
