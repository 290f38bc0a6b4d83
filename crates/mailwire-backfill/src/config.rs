//! What a backfill reads, and how often.

use std::fmt;
use std::time::{Duration, SystemTime};

use mailwire_client::Backoff;
use mailwire_proto::EventType;

/// The configuration of a [`Backfill`](crate::Backfill).
///
/// ```
/// use std::time::Duration;
/// use mailwire_backfill::BackfillConfig;
///
/// let config = BackfillConfig::new("https://api.agentmail.to/v0", "am_secret")
///     .inboxes(["ada@agentmail.to"])
///     .interval(Duration::from_secs(300));
/// assert!(!format!("{config:?}").contains("am_secret"));
/// ```
#[derive(Clone)]
pub struct BackfillConfig {
    pub(crate) base_url: String,
    pub(crate) api_key: String,
    pub(crate) inboxes: Option<Vec<String>>,
    pub(crate) event_types: Option<Vec<EventType>>,
    pub(crate) page_size: u32,
    pub(crate) interval: Option<Duration>,
    pub(crate) since: Option<SystemTime>,
    pub(crate) overlap: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) not_found_retry: Duration,
    pub(crate) checkpoint_prefix: String,
    #[cfg(feature = "https")]
    pub(crate) tls: mailwire_client::tls::TlsTrust,
}

impl BackfillConfig {
    /// Reads the API under `base_url` (e.g. `https://api.agentmail.to/v0`, or a
    /// simulator's `http://127.0.0.1:8787/v0`) with this key, sent as
    /// `Authorization: Bearer`. Defaults: every inbox the key sees,
    /// `message.received` only, pages of 100, no interval, no history before the
    /// first start, a 5 s overlap, retries from 500 ms up to 30 s (5 min for an
    /// inbox the API does not know), checkpoints under `backfill`.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> BackfillConfig {
        BackfillConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            inboxes: None,
            event_types: None,
            page_size: 100,
            interval: None,
            since: None,
            overlap: Duration::from_secs(5),
            backoff: Backoff::default()
                .base(Duration::from_millis(500))
                .cap(Duration::from_secs(30)),
            not_found_retry: Duration::from_secs(300),
            checkpoint_prefix: "backfill".to_owned(),
            #[cfg(feature = "https")]
            tls: mailwire_client::tls::TlsTrust::default(),
        }
    }

    /// The API's base URL, as given.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Only these inboxes (default: every inbox the key sees, listed at each pass),
    /// each read once however often it is named.
    pub fn inboxes<S: Into<String>>(mut self, inboxes: impl IntoIterator<Item = S>) -> Self {
        let mut list: Vec<String> = Vec::new();
        for inbox in inboxes.into_iter().map(Into::into) {
            if !list.contains(&inbox) {
                list.push(inbox);
            }
        }
        self.inboxes = Some(list);
        self
    }

    /// The subscription's types: `message.received.spam`, `.blocked` and
    /// `.unauthenticated` are read only when named here, as the WebSocket delivers
    /// them only when subscribed to (default: `message.received` alone).
    pub fn event_types(mut self, types: impl IntoIterator<Item = EventType>) -> Self {
        self.event_types = Some(types.into_iter().collect());
        self
    }

    /// Messages per page (1-100; default 100).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, 100);
        self
    }

    /// Also read every `every`, as a safety net (default: only at start-up and on
    /// gaps).
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = Some(every.max(Duration::from_millis(10)));
        self
    }

    /// Where the first start reads from when nothing is saved (default: nothing
    /// before the first start). Once a checkpoint is saved, it is where reading
    /// starts, whatever `since` says.
    pub fn since(mut self, at: SystemTime) -> Self {
        self.since = Some(at);
        self
    }

    /// How far before a gap's start, or the end of the last pass, to read again, for
    /// the clocks of two machines and events in flight (default 5 s). Re-read
    /// messages are duplicates the merge drops.
    pub fn overlap(mut self, overlap: Duration) -> Self {
        self.overlap = overlap;
        self
    }

    /// The first and the largest wait between retries of a failed REST call
    /// (exponential, full jitter; default 500 ms and 30 s): within a pass (three
    /// attempts per call), then between the retries of an inbox that failed.
    pub fn retry(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = self.backoff.base(base).cap(cap.max(base));
        self
    }

    /// How long to wait before reading again an inbox the API answered 404 for
    /// (default 5 min): a configured inbox that does not exist for this key (a
    /// typo, a deleted inbox) is reported and retried this rarely, not hammered. Its
    /// progress, and the subscription's checkpoint, stay where they were until it
    /// is read, so an inbox created later under that name loses nothing.
    pub fn not_found_retry(mut self, every: Duration) -> Self {
        self.not_found_retry = every;
        self
    }

    /// The prefix of the checkpoint keys (default `backfill`): each inbox's
    /// progress is saved under `{prefix}:{inbox_id}`, the subscription's under
    /// `{prefix}:*`. Backfills sharing one store for different subscriptions (the
    /// tenants of one Redis, say) need a prefix each.
    pub fn checkpoint_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.checkpoint_prefix = prefix.into();
        self
    }

    /// The whole retry schedule of a failed REST call: the same [`Backoff`] the
    /// WebSocket reconnects with (exponential ceiling, full jitter, a seed and a time
    /// scale for tests). A `Retry-After` from the server is a floor on each wait.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Which certificate authorities an `https://` API is checked against (default:
    /// the system's roots and the webpki roots, as every mailwire client).
    #[cfg(feature = "https")]
    pub fn tls_trust(mut self, trust: mailwire_client::tls::TlsTrust) -> Self {
        self.tls = trust;
        self
    }
}

impl fmt::Debug for BackfillConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackfillConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("inboxes", &self.inboxes)
            .field("event_types", &self.event_types)
            .field("page_size", &self.page_size)
            .field("interval", &self.interval)
            .field("since", &self.since)
            .field("overlap", &self.overlap)
            .field("not_found_retry", &self.not_found_retry)
            .field("checkpoint_prefix", &self.checkpoint_prefix)
            .finish_non_exhaustive()
    }
}
