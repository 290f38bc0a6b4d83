//! The mail the simulator holds: pods, inboxes, and the messages received and sent,
//! threaded by `in_reply_to` and `references`. Threads are not stored apart: they are
//! read from their messages, so they can never disagree with them.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use mailwire_proto::{Address, Attachment, Message, OffsetDateTime, Thread};

/// The domain inboxes get when none is asked for.
pub(crate) const DEFAULT_DOMAIN: &str = "agentmail.to";
/// The pod inboxes belong to when created outside one.
pub(crate) const DEFAULT_POD: &str = "pod_default";

/// A pod, as `GET /v0/pods/{id}` returns it.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Pod {
    pub(crate) pod_id: String,
    pub(crate) name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
}

/// An inbox, as `GET /v0/inboxes/{id}` returns it.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Inbox {
    pub(crate) pod_id: String,
    pub(crate) inbox_id: String,
    pub(crate) email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

/// An attachment's bytes, kept beside its message.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub(crate) meta: Attachment,
    pub(crate) content: Bytes,
}

/// A message and what the API serves about it besides its JSON.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    /// Creation order, the tie-break of equal timestamps.
    pub(crate) seq: u64,
    pub(crate) message: Message,
    pub(crate) blobs: Vec<Blob>,
    /// The message as an RFC 5322 text, for `.../raw`.
    pub(crate) raw: Bytes,
}

impl Stored {
    pub(crate) fn id(&self) -> &str {
        self.message.message_id.as_deref().unwrap_or("")
    }

    pub(crate) fn thread_id(&self) -> &str {
        self.message.thread_id.as_deref().unwrap_or("")
    }

    pub(crate) fn inbox_id(&self) -> &str {
        self.message.inbox_id.as_deref().unwrap_or("")
    }

    pub(crate) fn time(&self) -> OffsetDateTime {
        self.message.timestamp.unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub(crate) fn has_label(&self, label: &str) -> bool {
        self.message.labels.iter().any(|l| l == label)
    }

    /// The labels that hide a message from lists unless asked for.
    pub(crate) fn hidden_by(&self) -> Option<&'static str> {
        ["spam", "blocked", "unauthenticated", "trash"]
            .into_iter()
            .find(|l| self.has_label(l))
    }
}

/// Everything the REST API reads and writes.
#[derive(Debug)]
pub(crate) struct Mail {
    seq: u64,
    pub(crate) pods: Vec<Pod>,
    pub(crate) inboxes: Vec<Inbox>,
    /// By (inbox, message id).
    messages: HashMap<(String, String), Stored>,
    /// The same keys by arrival, oldest first: the first pruned.
    by_seq: BTreeMap<u64, (String, String)>,
    /// How many messages are kept: past it the oldest go (their threads with them
    /// when they were the last), as local mail tools prune.
    pub(crate) max_messages: usize,
    /// The answers of sends kept against their `Idempotency-Key`, under the same lock
    /// as what the sends stored.
    pub(crate) idempotency: crate::idempotency::Keys,
    /// Every inbox's drafts.
    pub(crate) drafts: crate::draft::Drafts,
    /// Label changes of messages, oldest first (`inbox-events.yml`).
    pub(crate) inbox_events: Vec<InboxEvent>,
    /// Allow and block lists, applied to what is received and sent.
    pub(crate) lists: crate::lists::Lists,
    /// The organization's sending domains, oldest first.
    pub(crate) domains: Vec<crate::domain::Domain>,
    /// API keys created through the API.
    pub(crate) api_keys: crate::keys::CreatedKeys,
    /// Agents signed up, each with its human's code.
    pub(crate) signups: Vec<crate::keys::SignUp>,
    /// AgentID sign-in credentials.
    pub(crate) public_keys: crate::keys::PublicKeys,
    /// The email events published, oldest first, for the metrics; the oldest
    /// forgotten past [`METRIC_EVENTS`].
    pub(crate) metric_events: std::collections::VecDeque<MetricEvent>,
}

/// How many messages a simulator keeps unless told otherwise.
pub(crate) const DEFAULT_MAX_MESSAGES: usize = 5_000;

/// How many label changes the inbox events remember.
const MAX_INBOX_EVENTS: usize = 50_000;

/// How many published events the metrics remember.
pub(crate) const METRIC_EVENTS: usize = 100_000;

/// One published event, as the metrics count it.
#[derive(Clone, Debug)]
pub(crate) struct MetricEvent {
    pub(crate) kind: &'static str,
    pub(crate) inbox_id: String,
    pub(crate) at: OffsetDateTime,
}

/// The event types counted.
pub(crate) const METRIC_TYPES: [&str; 10] = [
    "message.received",
    "message.received.spam",
    "message.received.blocked",
    "message.received.unauthenticated",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "message.rejected",
    "domain.verified",
];

/// The metric event type of a published event's type, when the metrics count it.
pub(crate) fn metric_kind(event_type: &str) -> Option<&'static str> {
    METRIC_TYPES.iter().find(|k| **k == event_type).copied()
}

/// A label added to or removed from a message (`label.added`, `label.removed`).
#[derive(Clone, Debug)]
pub(crate) struct InboxEvent {
    pub(crate) seq: u64,
    pub(crate) inbox_id: String,
    pub(crate) pod_id: String,
    pub(crate) message_id: String,
    pub(crate) added: bool,
    pub(crate) label: String,
    pub(crate) at: OffsetDateTime,
}

impl Default for Mail {
    fn default() -> Self {
        let now = crate::ids::now();
        Mail {
            seq: 0,
            pods: vec![Pod {
                pod_id: DEFAULT_POD.into(),
                name: "default".into(),
                updated_at: now,
                created_at: now,
                client_id: None,
            }],
            inboxes: Vec::new(),
            messages: HashMap::new(),
            by_seq: BTreeMap::new(),
            max_messages: DEFAULT_MAX_MESSAGES,
            idempotency: Default::default(),
            drafts: Default::default(),
            inbox_events: Vec::new(),
            lists: Default::default(),
            domains: Vec::new(),
            api_keys: Default::default(),
            signups: Vec::new(),
            public_keys: Default::default(),
            metric_events: Default::default(),
        }
    }
}

impl Mail {
    /// An empty simulator's mail, keeping up to `max_messages` messages.
    pub(crate) fn keeping(max_messages: usize) -> Mail {
        Mail {
            max_messages,
            ..Mail::default()
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn pod(&self, id: &str) -> Option<&Pod> {
        self.pods.iter().find(|p| p.pod_id == id)
    }

    pub(crate) fn inbox(&self, id: &str) -> Option<&Inbox> {
        self.inboxes
            .iter()
            .find(|i| i.inbox_id.eq_ignore_ascii_case(id))
    }

    pub(crate) fn inbox_mut(&mut self, id: &str) -> Option<&mut Inbox> {
        self.inboxes
            .iter_mut()
            .find(|i| i.inbox_id.eq_ignore_ascii_case(id))
    }

    /// The pod of an inbox, for `pod_ids` filters.
    pub(crate) fn pod_of(&self, inbox: &str) -> Option<&str> {
        self.inbox(inbox).map(|i| i.pod_id.as_str())
    }

    /// The inbox with this address, created in the default pod if missing: mail
    /// injected into an address nobody created still lands somewhere listable.
    pub(crate) fn ensure_inbox(&mut self, email: &str) -> &Inbox {
        if self.inbox(email).is_none() {
            let now = crate::ids::now();
            self.inboxes.push(Inbox {
                pod_id: DEFAULT_POD.into(),
                inbox_id: email.to_owned(),
                email: email.to_owned(),
                display_name: None,
                client_id: None,
                metadata: None,
                updated_at: now,
                created_at: now,
            });
        }
        self.inbox(email)
            .unwrap_or_else(|| unreachable!("just inserted"))
    }

    /// Removes an inbox and its messages.
    pub(crate) fn delete_inbox(&mut self, id: &str) -> bool {
        let Some(at) = self
            .inboxes
            .iter()
            .position(|i| i.inbox_id.eq_ignore_ascii_case(id))
        else {
            return false;
        };
        let inbox = self.inboxes.remove(at);
        self.messages.retain(|(i, _), _| *i != inbox.inbox_id);
        self.by_seq.retain(|_, (i, _)| *i != inbox.inbox_id);
        self.drafts.remove_inbox(&inbox.inbox_id);
        self.inbox_events.retain(|e| e.inbox_id != inbox.inbox_id);
        self.lists.remove_inbox(&inbox.inbox_id);
        true
    }

    /// Keeps a message; past [`max_messages`](Mail::max_messages), the oldest is
    /// forgotten.
    pub(crate) fn insert(&mut self, stored: Stored) {
        let key = (stored.inbox_id().to_owned(), stored.id().to_owned());
        self.by_seq.insert(stored.seq, key.clone());
        if let Some(replaced) = self.messages.insert(key, stored) {
            self.by_seq.remove(&replaced.seq);
        }
        while self.messages.len() > self.max_messages.max(1) {
            let Some((_, oldest)) = self.by_seq.pop_first() else {
                break;
            };
            self.messages.remove(&oldest);
        }
        if self.inbox_events.len() > MAX_INBOX_EVENTS {
            let excess = self.inbox_events.len() - MAX_INBOX_EVENTS;
            self.inbox_events.drain(..excess);
        }
    }

    pub(crate) fn message(&self, inbox: &str, id: &str) -> Option<&Stored> {
        let inbox = self.inbox(inbox)?.inbox_id.clone();
        self.messages.get(&(inbox, id.to_owned()))
    }

    pub(crate) fn message_mut(&mut self, inbox: &str, id: &str) -> Option<&mut Stored> {
        let inbox = self.inbox(inbox)?.inbox_id.clone();
        self.messages.get_mut(&(inbox, id.to_owned()))
    }

    /// Whether the lists let `address` through in `direction` for `inbox`.
    pub(crate) fn listed_ok(&self, direction: &str, inbox: &str, address: &str) -> bool {
        let pod = self.pod_of(inbox).unwrap_or(DEFAULT_POD);
        let inbox = self.inbox(inbox).map_or(inbox, |i| i.inbox_id.as_str());
        self.lists.allows(direction, inbox, pod, address)
    }

    /// Counts a published event for the metrics (`kind` one of theirs).
    pub(crate) fn count_event(&mut self, kind: &'static str, inbox_id: &str) {
        if self.metric_events.len() >= METRIC_EVENTS {
            self.metric_events.pop_front();
        }
        self.metric_events.push_back(MetricEvent {
            kind,
            inbox_id: inbox_id.to_owned(),
            at: crate::ids::now(),
        });
    }

    /// Removes `remove` from a message's labels, then adds those of `add` it lacks
    /// (`remove` wins over `add`), recording each change as an inbox event. The new
    /// labels, or `None` when there is no such message.
    pub(crate) fn relabel(
        &mut self,
        inbox: &str,
        id: &str,
        add: &[String],
        remove: &[String],
    ) -> Option<Vec<String>> {
        let pod_id = self.pod_of(inbox)?.to_owned();
        let now = crate::ids::now();
        let m = self.message_mut(inbox, id)?;
        let mut changes = Vec::new();
        let labels = &mut m.message.labels;
        labels.retain(|l| {
            let gone = remove.contains(l);
            if gone {
                changes.push((false, l.clone()));
            }
            !gone
        });
        for l in add.iter().filter(|l| !remove.contains(l)) {
            if !labels.contains(l) {
                labels.push(l.clone());
                changes.push((true, l.clone()));
            }
        }
        m.message.updated_at = Some(now);
        let (inbox_id, message_id) = (m.inbox_id().to_owned(), m.id().to_owned());
        let labels = m.message.labels.clone();
        for (added, label) in changes {
            let seq = self.next_seq();
            self.inbox_events.push(InboxEvent {
                seq,
                inbox_id: inbox_id.clone(),
                pod_id: pod_id.clone(),
                message_id: message_id.clone(),
                added,
                label,
                at: now,
            });
        }
        Some(labels)
    }

    pub(crate) fn remove_message(&mut self, inbox: &str, id: &str) -> bool {
        let Some(inbox) = self.inbox(inbox).map(|i| i.inbox_id.clone()) else {
            return false;
        };
        match self.messages.remove(&(inbox, id.to_owned())) {
            Some(gone) => {
                self.by_seq.remove(&gone.seq);
                true
            }
            None => false,
        }
    }

    /// Every message of the inboxes `scope` accepts, oldest first.
    pub(crate) fn messages(&self, scope: impl Fn(&str) -> bool) -> Vec<&Stored> {
        let mut all: Vec<&Stored> = self
            .messages
            .values()
            .filter(|m| scope(m.inbox_id()))
            .collect();
        all.sort_by_key(|m| (m.time(), m.seq));
        all
    }

    /// The thread a new message in `inbox` joins: the thread of the message it
    /// replies to or references, when that message is in the same inbox.
    /// True when `inbox` sent the message with this `Message-ID`.
    pub(crate) fn sent_by(&self, inbox: &str, message_id: &str) -> bool {
        self.message(inbox, message_id)
            .is_some_and(|m| m.has_label("sent"))
    }

    pub(crate) fn thread_for(
        &self,
        inbox: &str,
        in_reply_to: Option<&str>,
        references: &[String],
    ) -> Option<String> {
        let inbox = self.inbox(inbox)?.inbox_id.clone();
        in_reply_to
            .into_iter()
            .chain(references.iter().rev().map(String::as_str))
            .find_map(|id| {
                self.messages
                    .get(&(inbox.clone(), id.to_owned()))
                    .map(|m| m.thread_id().to_owned())
            })
    }

    /// Every thread of the inboxes `scope` accepts, as (latest message time,
    /// messages oldest first).
    pub(crate) fn threads(&self, scope: impl Fn(&str) -> bool) -> Vec<Vec<&Stored>> {
        let mut threads: BTreeMap<(&str, &str), Vec<&Stored>> = BTreeMap::new();
        for m in self.messages(scope) {
            threads
                .entry((m.inbox_id(), m.thread_id()))
                .or_default()
                .push(m);
        }
        threads.into_values().collect()
    }

    /// One thread's messages, oldest first, searched in the inboxes `scope` accepts.
    pub(crate) fn thread(&self, scope: impl Fn(&str) -> bool, id: &str) -> Vec<&Stored> {
        self.messages(scope)
            .into_iter()
            .filter(|m| m.thread_id() == id)
            .collect()
    }
}

/// A thread's `ThreadItem`, computed from its messages (oldest first, not empty).
pub(crate) fn thread_item(messages: &[&Stored]) -> Thread {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Thread::default();
    };
    let mut thread = Thread::new(first.inbox_id(), first.thread_id());
    let mut labels: Vec<String> = Vec::new();
    let mut senders: Vec<Address> = Vec::new();
    let mut recipients: Vec<Address> = Vec::new();
    let mut attachments = Vec::new();
    let mut size = 0;
    for m in messages {
        let msg = &m.message;
        for l in &msg.labels {
            if !labels.contains(l) {
                labels.push(l.clone());
            }
        }
        if let Some(from) = &msg.from
            && !senders.contains(from)
        {
            senders.push(from.clone());
        }
        for to in msg.to.iter().chain(msg.cc.iter().flatten()) {
            if !recipients.contains(to) {
                recipients.push(to.clone());
            }
        }
        attachments.extend(msg.attachments.iter().flatten().cloned());
        size += msg.size.unwrap_or(0);
        if m.has_label("sent") {
            thread.sent_timestamp = msg.timestamp;
        } else {
            thread.received_timestamp = msg.timestamp;
        }
    }
    thread.labels = labels;
    thread.timestamp = last.message.timestamp;
    thread.senders = senders;
    thread.recipients = recipients;
    thread.subject = first.message.subject.clone();
    thread.preview = last.message.preview.clone();
    thread.attachments = (!attachments.is_empty()).then_some(attachments);
    thread.last_message_id = last.message.message_id.clone();
    thread.message_count = Some(messages.len() as u64);
    thread.size = Some(size);
    thread.created_at = first.message.created_at;
    thread.updated_at = messages.iter().filter_map(|m| m.message.updated_at).max();
    thread
}

/// The message without what list items leave out (`MessageItem`).
pub(crate) fn message_item(message: &Message) -> Message {
    let mut item = message.clone();
    item.reply_to = None;
    item.text = None;
    item.html = None;
    item.extracted_text = None;
    item.extracted_html = None;
    item
}

/// A first line of plain text, whitespace folded, at most 100 characters.
pub(crate) fn preview(text: Option<&str>) -> Option<String> {
    text.map(|t| {
        t.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(100)
            .collect()
    })
}
