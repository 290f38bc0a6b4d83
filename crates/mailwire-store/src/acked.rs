//! The ids a store value acked last: a second ack of one (the merge acks a
//! delivery, then the receiver it came from acks it too) is answered from memory.

use std::collections::{HashSet, VecDeque};

/// How many acked ids a store value remembers.
const REMEMBERED: usize = 8192;

/// The last [`REMEMBERED`] ids acked (durably) through one store value, oldest
/// forgotten first.
#[derive(Debug, Default)]
pub(crate) struct AckedIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl AckedIds {
    /// True when `id`'s ack went through this value and nothing claimed it since.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Records a committed ack of `id`.
    pub(crate) fn insert(&mut self, id: String) {
        if self.ids.contains(&id) {
            return;
        }
        if self.order.len() >= REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.ids.insert(id.clone());
        self.order.push_back(id);
    }

    /// `id` was claimed again (appended anew once its acked id was forgotten): its
    /// next ack must reach the store.
    pub(crate) fn forget(&mut self, id: &str) {
        if self.ids.remove(id) {
            self.order.retain(|o| o != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_acks_and_forgets_a_claimed_id() {
        let mut acked = AckedIds::default();
        for n in 0..REMEMBERED + 10 {
            acked.insert(format!("evt_{n}"));
        }
        assert!(!acked.contains("evt_0"), "the oldest are forgotten");
        assert!(!acked.contains("evt_9"));
        assert!(acked.contains("evt_10"));
        assert!(acked.contains(&format!("evt_{}", REMEMBERED + 9)));
        assert_eq!(acked.ids.len(), REMEMBERED);
        acked.forget("evt_10");
        assert!(!acked.contains("evt_10"));
        assert_eq!(acked.ids.len(), acked.order.len());
    }
}
