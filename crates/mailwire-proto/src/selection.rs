//! Which events a subscription selects: one rule for a WebSocket `subscribe`
//! frame, a webhook's filters and a backfill's query, as the definition states it.

use crate::{Event, EventType};

/// A subscription's filters, borrowed: event types, inboxes, pods. The rule:
///
/// - **types**: an event whose type is listed; with no list, every type but the
///   received mail the service holds back unless it is named (`message.received.spam`,
///   `.blocked`, `.unauthenticated`);
/// - **inboxes**: an event of a listed inbox (compared without case, as addresses
///   are); with no list, any;
/// - **pods**: an event whose inbox is in a listed pod (the caller knows which pod
///   an inbox is in; an inbox in no known pod is not selected); with no list, any.
///
/// ```
/// use mailwire_proto::{EventType, Selection, fixtures};
///
/// let event = fixtures::message_received("evt_1", "Ada@AgentMail.to");
/// let inboxes = ["ada@agentmail.to".to_owned()];
/// assert!(Selection::new().inbox_ids(Some(&inboxes)).selects(&event, |_| None));
/// // Spam is held back unless asked for.
/// assert!(!Selection::new().selects_type(&EventType::MessageReceivedSpam));
/// let spam = [EventType::MessageReceivedSpam];
/// assert!(Selection::new().event_types(Some(&spam)).selects_type(&EventType::MessageReceivedSpam));
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Selection<'a> {
    /// Only these event types (`None`: all but those held back by default).
    pub event_types: Option<&'a [EventType]>,
    /// Only these inboxes.
    pub inbox_ids: Option<&'a [String]>,
    /// Only these pods.
    pub pod_ids: Option<&'a [String]>,
}

impl<'a> Selection<'a> {
    /// Everything a subscription without filters gets.
    pub fn new() -> Selection<'a> {
        Selection::default()
    }

    /// Only these types.
    pub fn event_types(mut self, types: Option<&'a [EventType]>) -> Self {
        self.event_types = types;
        self
    }

    /// Only these inboxes.
    pub fn inbox_ids(mut self, inboxes: Option<&'a [String]>) -> Self {
        self.inbox_ids = inboxes;
        self
    }

    /// Only these pods.
    pub fn pod_ids(mut self, pods: Option<&'a [String]>) -> Self {
        self.pod_ids = pods;
        self
    }

    /// True for the types a selection without types leaves out: received mail
    /// judged spam, blocked or unauthenticated.
    pub fn held_back(event_type: &EventType) -> bool {
        matches!(
            event_type,
            EventType::MessageReceivedSpam
                | EventType::MessageReceivedBlocked
                | EventType::MessageReceivedUnauthenticated
        )
    }

    /// Whether events of this type are selected.
    pub fn selects_type(&self, event_type: &EventType) -> bool {
        match self.event_types {
            Some(types) => types.contains(event_type),
            None => !Selection::held_back(event_type),
        }
    }

    /// Whether `event` is selected; `pod_of` says which pod an inbox is in (asked
    /// only when pods are filtered).
    pub fn selects(&self, event: &Event, pod_of: impl FnOnce(&str) -> Option<String>) -> bool {
        if !self.selects_type(event.event_type()) {
            return false;
        }
        let inbox = event.inbox_id();
        let inbox_ok = self
            .inbox_ids
            .is_none_or(|ids| inbox.is_some_and(|i| ids.iter().any(|x| x.eq_ignore_ascii_case(i))));
        inbox_ok
            && self.pod_ids.is_none_or(|pods| {
                inbox
                    .and_then(pod_of)
                    .is_some_and(|pod| pods.contains(&pod))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn one_rule_for_types_inboxes_and_pods() {
        let event = fixtures::message_received("evt_1", "Ada@AgentMail.to");
        let all = Selection::new();
        assert!(all.selects(&event, |_| None));
        let received = [EventType::MessageReceived];
        let bounced = [EventType::MessageBounced];
        assert!(all.event_types(Some(&received)).selects(&event, |_| None));
        assert!(!all.event_types(Some(&bounced)).selects(&event, |_| None));
        let other = ["bob@agentmail.to".to_owned()];
        assert!(!all.inbox_ids(Some(&other)).selects(&event, |_| None));
        let pods = ["pod_1".to_owned()];
        let in_pod = |_: &str| Some("pod_1".to_owned());
        assert!(all.pod_ids(Some(&pods)).selects(&event, in_pod));
        assert!(
            !all.pod_ids(Some(&pods)).selects(&event, |_| None),
            "no known pod"
        );
        assert!(
            !all.pod_ids(Some(&pods))
                .selects(&event, |_| Some("pod_2".into()))
        );
        for held in [
            EventType::MessageReceivedSpam,
            EventType::MessageReceivedBlocked,
            EventType::MessageReceivedUnauthenticated,
        ] {
            assert!(!all.selects_type(&held));
            assert!(
                all.event_types(Some(std::slice::from_ref(&held)))
                    .selects_type(&held)
            );
        }
    }
}
