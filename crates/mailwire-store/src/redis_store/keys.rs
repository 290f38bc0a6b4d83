//! Where the store keeps things in Redis.

/// The key names of one store.
///
/// The stream, the id keys and the dead letters of a log share a hash tag
/// (`{prefix:log}`), so the scripts that touch them together run on one Redis
/// Cluster node.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// The Redis Stream holding the log's unacked events.
    pub(crate) stream: String,
    /// Prefix of the key, one per event id ever appended, holding its stream entry id.
    id_prefix: String,
    /// The sorted set of the dead letters' ids, scored by when they were buried
    /// (Unix ms): oldest first.
    pub(crate) dead: String,
    /// The hash of the dead letters: id -> the letter's bytes (see `crate::dead`).
    pub(crate) dead_letters: String,
    /// Prefix of the seen-set's keys.
    seen_prefix: String,
    /// Prefix of the consumer-name slot locks (`<group>:<name>` follows).
    slot_prefix: String,
    /// The hash of the sources' checkpoints: one per key prefix, so every instance
    /// on the prefix shares them (whatever its log).
    pub(crate) checkpoints: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, log: &str) -> Keys {
        let tag = format!("{{{prefix}:{log}}}");
        Keys {
            stream: format!("{tag}:stream"),
            id_prefix: format!("{tag}:id:"),
            dead: format!("{tag}:dead"),
            dead_letters: format!("{tag}:dead:letters"),
            seen_prefix: format!("{prefix}:seen:"),
            slot_prefix: format!("{tag}:consumer:"),
            checkpoints: format!("{prefix}:checkpoints"),
        }
    }

    /// The key recording that event `id` was appended.
    pub(crate) fn id(&self, id: &str) -> String {
        let mut key = String::with_capacity(self.id_prefix.len() + id.len());
        key.push_str(&self.id_prefix);
        key.push_str(id);
        key
    }

    /// The lock of consumer name `name` in `group`, held by the live instance using
    /// it as its default name.
    pub(crate) fn slot(&self, group: &str, name: &str) -> String {
        format!("{}{group}:{name}", self.slot_prefix)
    }

    /// The seen-set key of `id`.
    pub(crate) fn seen(&self, id: &str) -> String {
        let mut key = String::with_capacity(self.seen_prefix.len() + id.len());
        key.push_str(&self.seen_prefix);
        key.push_str(id);
        key
    }
}
