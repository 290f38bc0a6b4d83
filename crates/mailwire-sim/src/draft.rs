//! Drafts: what an inbox composes before it sends, kept apart from the messages
//! (a draft is not mail until it is sent), in the shapes of `drafts.yml`.

use bytes::Bytes;
use mailwire_proto::Attachment;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What a draft is: a plain message, a reply to one, or a forward of one. Fixed
/// at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    /// A reply to the message with this id (`reply_all`: to the whole thread).
    Reply {
        message: String,
        all: bool,
    },
    /// A forward of the message with this id.
    Forward {
        message: String,
    },
}

/// One file attached to a draft.
#[derive(Clone, Debug)]
pub(crate) struct File {
    pub(crate) meta: Attachment,
    pub(crate) content: Bytes,
}

/// One draft of one inbox.
#[derive(Clone, Debug)]
pub(crate) struct Draft {
    pub(crate) inbox_id: String,
    pub(crate) draft_id: String,
    pub(crate) client_id: Option<String>,
    pub(crate) kind: Kind,
    pub(crate) labels: Vec<String>,
    pub(crate) reply_to: Vec<String>,
    pub(crate) to: Vec<String>,
    pub(crate) cc: Vec<String>,
    pub(crate) bcc: Vec<String>,
    pub(crate) subject: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
    pub(crate) files: Vec<File>,
    /// The `Message-ID`s of the thread so far (a reply's or a forward's).
    pub(crate) references: Vec<String>,
    /// When it is scheduled to be sent, if it is.
    pub(crate) send_at: Option<OffsetDateTime>,
    /// Bumped by every change: a scheduled send fires only for the version it was
    /// scheduled for.
    pub(crate) version: u64,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    /// When it last changed among every draft's changes ([`change`]): orders
    /// drafts changed within one clock tick.
    pub(crate) changed: u64,
}

/// The next number of the simulator's draft changes, increasing.
pub(crate) fn change() -> u64 {
    static CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    CHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn rfc3339(at: OffsetDateTime) -> Value {
    at.format(&Rfc3339).map(Value::from).unwrap_or(Value::Null)
}

/// The first 100 characters of the text, as a message's preview.
fn preview(text: Option<&str>) -> Option<String> {
    let text = text?.trim();
    (!text.is_empty()).then(|| text.chars().take(100).collect())
}

impl Draft {
    /// Its `send_status`: `scheduled` while a send is due.
    pub(crate) fn send_status(&self) -> Option<&'static str> {
        self.send_at.map(|_| "scheduled")
    }

    fn in_reply_to(&self) -> Option<&str> {
        match &self.kind {
            Kind::Reply { message, .. } => Some(message),
            _ => None,
        }
    }

    fn forward_of(&self) -> Option<&str> {
        match &self.kind {
            Kind::Forward { message } => Some(message),
            _ => None,
        }
    }

    /// The members both shapes have, the optional ones only when set.
    fn common(&self) -> Map<String, Value> {
        let mut v = Map::new();
        v.insert("inbox_id".into(), self.inbox_id.clone().into());
        v.insert("draft_id".into(), self.draft_id.clone().into());
        v.insert("labels".into(), json!(self.labels));
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                v.insert(key.into(), value);
            }
        };
        let list = |l: &[String]| (!l.is_empty()).then(|| json!(l));
        set("to", list(&self.to));
        set("cc", list(&self.cc));
        set("bcc", list(&self.bcc));
        set("subject", self.subject.clone().map(Value::from));
        set("preview", preview(self.text.as_deref()).map(Value::from));
        set(
            "attachments",
            (!self.files.is_empty())
                .then(|| json!(self.files.iter().map(|f| &f.meta).collect::<Vec<_>>())),
        );
        set("in_reply_to", self.in_reply_to().map(Value::from));
        set("forward_of", self.forward_of().map(Value::from));
        set("send_status", self.send_status().map(Value::from));
        set("send_at", self.send_at.map(rfc3339));
        v.insert("updated_at".into(), rfc3339(self.updated_at));
        v
    }

    /// The `Draft` shape: everything.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = self.common();
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                v.insert(key.into(), value);
            }
        };
        let list = |l: &[String]| (!l.is_empty()).then(|| json!(l));
        set("client_id", self.client_id.clone().map(Value::from));
        set("reply_to", list(&self.reply_to));
        set("text", self.text.clone().map(Value::from));
        set("html", self.html.clone().map(Value::from));
        set("references", list(&self.references));
        v.insert("created_at".into(), rfc3339(self.created_at));
        Value::Object(v)
    }

    /// The `DraftItem` shape of a list.
    pub(crate) fn item(&self) -> Value {
        Value::Object(self.common())
    }

    /// Marks a change now.
    pub(crate) fn touch(&mut self) {
        self.version += 1;
        self.updated_at = crate::ids::now();
        self.changed = change();
    }
}

/// Every inbox's drafts, in creation order.
#[derive(Debug, Default)]
pub(crate) struct Drafts {
    drafts: Vec<Draft>,
}

impl Drafts {
    pub(crate) fn get(&self, inbox: &str, id: &str) -> Option<&Draft> {
        self.drafts
            .iter()
            .find(|d| d.draft_id == id && d.inbox_id.eq_ignore_ascii_case(inbox))
    }

    pub(crate) fn get_mut(&mut self, inbox: &str, id: &str) -> Option<&mut Draft> {
        self.drafts
            .iter_mut()
            .find(|d| d.draft_id == id && d.inbox_id.eq_ignore_ascii_case(inbox))
    }

    /// The draft `id` of any inbox `scope` accepts.
    pub(crate) fn find(&self, scope: impl Fn(&str) -> bool, id: &str) -> Option<&Draft> {
        self.drafts
            .iter()
            .find(|d| d.draft_id == id && scope(&d.inbox_id))
    }

    /// The draft of `inbox` created with `client_id`, if any.
    pub(crate) fn by_client_id(&self, inbox: &str, client_id: &str) -> Option<&Draft> {
        self.drafts.iter().find(|d| {
            d.client_id.as_deref() == Some(client_id) && d.inbox_id.eq_ignore_ascii_case(inbox)
        })
    }

    /// The drafts of the inboxes `scope` accepts, most recently updated first.
    pub(crate) fn list(&self, scope: impl Fn(&str) -> bool) -> Vec<&Draft> {
        let mut out: Vec<&Draft> = self.drafts.iter().filter(|d| scope(&d.inbox_id)).collect();
        out.sort_by_key(|d| std::cmp::Reverse((d.updated_at, d.changed)));
        out
    }

    pub(crate) fn insert(&mut self, draft: Draft) {
        self.drafts.push(draft);
    }

    /// Removes and returns the draft.
    pub(crate) fn remove(&mut self, inbox: &str, id: &str) -> Option<Draft> {
        let at = self
            .drafts
            .iter()
            .position(|d| d.draft_id == id && d.inbox_id.eq_ignore_ascii_case(inbox))?;
        Some(self.drafts.remove(at))
    }

    /// Forgets the drafts of a deleted inbox.
    pub(crate) fn remove_inbox(&mut self, inbox: &str) {
        self.drafts
            .retain(|d| !d.inbox_id.eq_ignore_ascii_case(inbox));
    }
}
