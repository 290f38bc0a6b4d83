//! The one fixture kit of every mailwire test, benchmark and example (behind the
//! `fixtures` feature): realistic events of every type built in code
//! ([`message_received`], [`event`], [`burst`], [`message_of_size`]...), and every
//! file of this crate's tests compiled in ([`ALL`]): each event type in both
//! envelopes as the services send it, and odd payloads met in the wild, so no
//! crate reads files outside its own package. `mailwire_test::fixtures` is this
//! module.

mod events;

pub use events::*;

/// One fixture: its path under `fixtures/` and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Fixture {
    /// `agentmail/<type>.json`, `simple/<type>.json` or `odd/<name>.json`.
    pub path: &'static str,
    /// The file's bytes, exactly.
    pub bytes: &'static [u8],
}

macro_rules! fixtures {
    ($($path:literal)*) => {
        /// Every file under `fixtures/`, sorted by path.
        pub const ALL: &[Fixture] = &[$(Fixture {
            path: $path,
            bytes: include_bytes!(concat!("../fixtures/", $path)),
        }),*];
    };
}

fixtures! {
    "agentmail/calendar.event.created.json"
    "agentmail/calendar.event.deleted.json"
    "agentmail/calendar.event.ending.json"
    "agentmail/calendar.event.responded.json"
    "agentmail/calendar.event.starting.json"
    "agentmail/calendar.event.updated.json"
    "agentmail/domain.verified.json"
    "agentmail/message.bounced.json"
    "agentmail/message.complained.json"
    "agentmail/message.delivered.json"
    "agentmail/message.opened.json"
    "agentmail/message.received.blocked.json"
    "agentmail/message.received.json"
    "agentmail/message.received.spam.json"
    "agentmail/message.received.unauthenticated.json"
    "agentmail/message.rejected.json"
    "agentmail/message.security.completed.json"
    "agentmail/message.security.override.json"
    "agentmail/message.security.review.json"
    "agentmail/message.sent.json"
    "odd/fields-wrong-types.json"
    "odd/from-angle-empty.json"
    "odd/from-display-only.json"
    "odd/from-empty.json"
    "odd/from-unclosed.json"
    "odd/message-missing.json"
    "odd/message-not-object.json"
    "odd/new-field-and-type.json"
    "simple/calendar.event.created.json"
    "simple/calendar.event.deleted.json"
    "simple/calendar.event.ending.json"
    "simple/calendar.event.responded.json"
    "simple/calendar.event.starting.json"
    "simple/calendar.event.updated.json"
    "simple/domain.verified.json"
    "simple/message.bounced.json"
    "simple/message.complained.json"
    "simple/message.delivered.json"
    "simple/message.opened.json"
    "simple/message.received.blocked.json"
    "simple/message.received.json"
    "simple/message.received.spam.json"
    "simple/message.received.unauthenticated.json"
    "simple/message.rejected.json"
    "simple/message.security.completed.json"
    "simple/message.security.override.json"
    "simple/message.security.review.json"
    "simple/message.sent.json"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added under `fixtures/` and not listed above would be missed by
    /// every crate that reads the fixtures from here.
    #[test]
    fn every_file_under_fixtures_is_listed_and_each_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut on_disk = Vec::new();
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap();
            for file in std::fs::read_dir(dir.path()).unwrap() {
                let name = file.unwrap().file_name().into_string().unwrap();
                let dir = dir.file_name().into_string().unwrap();
                on_disk.push(format!("{dir}/{name}"));
            }
        }
        on_disk.sort();
        let listed: Vec<&str> = ALL.iter().map(|f| f.path).collect();
        assert_eq!(listed, on_disk);
        for f in ALL {
            assert_eq!(
                f.bytes,
                std::fs::read(root.join(f.path)).unwrap(),
                "{}",
                f.path
            );
            crate::Event::parse(f.bytes.to_vec()).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        }
    }
}
