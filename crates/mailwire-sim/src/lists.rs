//! Allow and block lists (`lists.yml`): per direction (`send`, `receive`, `reply`)
//! and type (`allow`, `block`), of email addresses and domains, kept for the
//! organization, a pod or an inbox, and the rule that applies them: the most
//! specific scope with an entry matching decides (a block entry blocks, an allow
//! entry lets through); with none matching, an allow list in any scope of that
//! direction means "only these", so the address is refused; with no allow list it
//! passes.

use time::OffsetDateTime;

/// Which inboxes an entry covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListScope {
    Organization,
    Pod(String),
    Inbox(String),
}

/// One entry.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) scope: ListScope,
    /// The pod of an inbox entry.
    pub(crate) pod_id: Option<String>,
    pub(crate) direction: &'static str,
    pub(crate) list_type: &'static str,
    /// Lowercased.
    pub(crate) entry: String,
    pub(crate) reason: Option<String>,
    pub(crate) created_at: OffsetDateTime,
}

impl Entry {
    /// `email` or `domain`.
    pub(crate) fn entry_type(&self) -> &'static str {
        if self.entry.contains('@') {
            "email"
        } else {
            "domain"
        }
    }

    /// True when it names `address` (`Name <a@b>` or `a@b`) or its domain.
    fn matches(&self, address: &str) -> bool {
        let address = address.to_lowercase();
        if self.entry.contains('@') {
            address == self.entry
        } else {
            address
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domain == self.entry)
        }
    }
}

/// The directions and types the definition names.
pub(crate) const DIRECTIONS: [&str; 3] = ["send", "receive", "reply"];
pub(crate) const TYPES: [&str; 2] = ["allow", "block"];

/// Every list entry of the simulator.
#[derive(Debug, Default)]
pub(crate) struct Lists {
    entries: Vec<Entry>,
}

impl Lists {
    /// Adds (or replaces) an entry.
    pub(crate) fn add(&mut self, entry: Entry) -> Entry {
        self.remove(&entry.scope, entry.direction, entry.list_type, &entry.entry);
        self.entries.push(entry.clone());
        entry
    }

    fn of(&self, scope: &ListScope, direction: &str, list_type: &str) -> Vec<&Entry> {
        (self.entries.iter())
            .filter(|e| e.scope == *scope && e.direction == direction && e.list_type == list_type)
            .collect()
    }

    /// One list, by entry ascending.
    pub(crate) fn list(&self, scope: &ListScope, direction: &str, list_type: &str) -> Vec<&Entry> {
        let mut out = self.of(scope, direction, list_type);
        out.sort_by(|a, b| a.entry.cmp(&b.entry));
        out
    }

    pub(crate) fn get(
        &self,
        scope: &ListScope,
        direction: &str,
        list_type: &str,
        entry: &str,
    ) -> Option<&Entry> {
        let entry = entry.to_lowercase();
        self.of(scope, direction, list_type)
            .into_iter()
            .find(|e| e.entry == entry)
    }

    pub(crate) fn remove(
        &mut self,
        scope: &ListScope,
        direction: &str,
        list_type: &str,
        entry: &str,
    ) -> bool {
        let entry = entry.to_lowercase();
        let before = self.entries.len();
        self.entries.retain(|e| {
            !(e.scope == *scope
                && e.direction == direction
                && e.list_type == list_type
                && e.entry == entry)
        });
        self.entries.len() != before
    }

    /// Forgets the entries of a deleted inbox.
    pub(crate) fn remove_inbox(&mut self, inbox: &str) {
        self.entries
            .retain(|e| !matches!(&e.scope, ListScope::Inbox(i) if i.eq_ignore_ascii_case(inbox)));
    }

    /// Whether mail in `direction` with `address` (the sender of what is received,
    /// a recipient of what is sent) passes for `inbox`, in `pod`.
    pub(crate) fn allows(&self, direction: &str, inbox: &str, pod: &str, address: &str) -> bool {
        let scopes = [
            ListScope::Inbox(inbox.to_owned()),
            ListScope::Pod(pod.to_owned()),
            ListScope::Organization,
        ];
        let email = mailwire_proto::Address::new(address)
            .email()
            .unwrap_or(address)
            .to_owned();
        for scope in &scopes {
            if self
                .of(scope, direction, "block")
                .iter()
                .any(|e| e.matches(&email))
            {
                return false;
            }
            if self
                .of(scope, direction, "allow")
                .iter()
                .any(|e| e.matches(&email))
            {
                return true;
            }
        }
        !scopes
            .iter()
            .any(|scope| !self.of(scope, direction, "allow").is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: ListScope, direction: &'static str, list_type: &'static str, e: &str) -> Entry {
        Entry {
            scope,
            pod_id: None,
            direction,
            list_type,
            entry: e.to_lowercase(),
            reason: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_most_specific_matching_scope_decides() {
        let mut lists = Lists::default();
        let pass = |l: &Lists, a: &str| l.allows("receive", "ada@x.to", "pod_1", a);
        assert!(
            pass(&lists, "anyone@example.com"),
            "no list: everything passes"
        );
        lists.add(entry(
            ListScope::Organization,
            "receive",
            "block",
            "example.com",
        ));
        assert!(!pass(&lists, "Bob <Bob@Example.com>"), "a blocked domain");
        assert!(pass(&lists, "bob@example.org"));
        lists.add(entry(
            ListScope::Inbox("ada@x.to".into()),
            "receive",
            "allow",
            "bob@example.com",
        ));
        assert!(
            pass(&lists, "bob@example.com"),
            "the inbox allows what the org blocks"
        );
        assert!(
            !pass(&lists, "carol@example.org"),
            "an allow list: only those"
        );
        assert!(
            lists.allows("send", "ada@x.to", "pod_1", "carol@example.org"),
            "another direction"
        );
        assert!(lists.remove(
            &ListScope::Inbox("ada@x.to".into()),
            "receive",
            "allow",
            "BOB@example.com"
        ));
        assert!(pass(&lists, "carol@example.org"));
    }
}
