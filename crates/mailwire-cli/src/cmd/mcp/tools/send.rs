//! What sends an email: a new message, a reply, a forward.

use http::Method;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{compact, list, typed};
use crate::cmd::mcp::{MailTools, Rest};

/// A file to attach: its content in base64, or a URL the service fetches it from.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct Attachment {
    /// The file's name, e.g. `report.pdf`.
    #[serde(default)]
    pub(crate) filename: Option<String>,
    /// Its MIME type, e.g. `application/pdf` (default: from the filename).
    #[serde(default)]
    pub(crate) content_type: Option<String>,
    /// Its content, base64-encoded. Give this or url.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// A URL to fetch its content from. Give this or content.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// A Content-ID, to show it inline in the HTML body (`<img src="cid:...">`).
    #[serde(default)]
    pub(crate) content_id: Option<String>,
}

/// A new email.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SendMessage {
    /// The inbox to send from: its ID, its email address (list_inboxes).
    pub(crate) inbox_id: String,
    /// Recipients' addresses, e.g. `["ada@example.com"]`.
    #[serde(deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) to: Vec<String>,
    /// Carbon-copy recipients.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) cc: Vec<String>,
    /// Blind carbon-copy recipients.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) bcc: Vec<String>,
    /// The subject.
    #[serde(default)]
    pub(crate) subject: Option<String>,
    /// The plain-text body. Give text, html, or both.
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// The HTML body.
    #[serde(default)]
    pub(crate) html: Option<String>,
    /// Labels to put on the sent message.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) labels: Vec<String>,
    /// Files to attach.
    #[serde(default)]
    pub(crate) attachments: Option<Vec<Attachment>>,
}

/// A reply to a message, in its thread.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReplyToMessage {
    /// The inbox the message is in: its ID, its email address.
    pub(crate) inbox_id: String,
    /// The message to reply to: its ID, with its angle brackets, from get_thread,
    /// list_messages or wait_for_email.
    pub(crate) message_id: String,
    /// Reply to every original recipient too, not only the sender.
    #[serde(default)]
    pub(crate) reply_all: Option<bool>,
    /// The plain-text body. Give text, html, or both.
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// The HTML body.
    #[serde(default)]
    pub(crate) html: Option<String>,
    /// Labels to put on the reply.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) labels: Vec<String>,
    /// Files to attach.
    #[serde(default)]
    pub(crate) attachments: Option<Vec<Attachment>>,
}

/// A message forwarded to new recipients.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ForwardMessage {
    /// The inbox the message is in: its ID, its email address.
    pub(crate) inbox_id: String,
    /// The message to forward: its ID, with its angle brackets, from get_thread or
    /// list_messages.
    pub(crate) message_id: String,
    /// Recipients' addresses.
    #[serde(deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) to: Vec<String>,
    /// Carbon-copy recipients.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) cc: Vec<String>,
    /// Blind carbon-copy recipients.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) bcc: Vec<String>,
    /// The subject (default: `Fwd: ` and the original's).
    #[serde(default)]
    pub(crate) subject: Option<String>,
    /// A note above the forwarded message, in plain text.
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// The note in HTML.
    #[serde(default)]
    pub(crate) html: Option<String>,
    /// Labels to put on the forwarded message.
    #[serde(default, deserialize_with = "list")]
    #[schemars(with = "Vec<String>")]
    pub(crate) labels: Vec<String>,
    /// Files to attach.
    #[serde(default)]
    pub(crate) attachments: Option<Vec<Attachment>>,
}

/// What a send returns.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Sent {
    /// The sent message's ID (for get_message, or to reply to it).
    pub(crate) message_id: String,
    /// The thread it is in (for get_thread).
    pub(crate) thread_id: String,
}

#[tool_router(router = send_tools, vis = "pub(super)")]
impl MailTools {
    /// Sends an email from an inbox, right away, and returns its message_id and
    /// thread_id. To continue a conversation use reply_to_message instead, so the
    /// email stays in its thread. To get the answer, call wait_for_email with the
    /// inbox_id (and the recipient as `from`).
    #[tool(
        name = "send_message",
        annotations(
            title = "Send an email",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn send_message(
        &self,
        Parameters(p): Parameters<SendMessage>,
    ) -> Result<Json<Sent>, String> {
        self.in_scope(&p.inbox_id)?;
        let body = compact(serde_json::json!({
            "to": p.to,
            "cc": p.cc,
            "bcc": p.bcc,
            "subject": p.subject,
            "text": p.text,
            "html": p.html,
            "labels": p.labels,
            "attachments": attachments(p.attachments)?,
        }));
        let path = Rest::path(&["inboxes", &p.inbox_id, "messages", "send"]);
        typed(
            self.rest
                .call(Method::POST, &path, &[], Some(&body))
                .await?,
        )
    }

    /// Replies to a message, in its thread, from the inbox it is in: to its sender,
    /// or with reply_all to every original recipient too. Returns the reply's
    /// message_id and thread_id.
    #[tool(
        name = "reply_to_message",
        annotations(
            title = "Reply to an email",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn reply_to_message(
        &self,
        Parameters(p): Parameters<ReplyToMessage>,
    ) -> Result<Json<Sent>, String> {
        self.in_scope(&p.inbox_id)?;
        let body = compact(serde_json::json!({
            "reply_all": p.reply_all,
            "text": p.text,
            "html": p.html,
            "labels": p.labels,
            "attachments": attachments(p.attachments)?,
        }));
        let path = Rest::path(&["inboxes", &p.inbox_id, "messages", &p.message_id, "reply"]);
        typed(
            self.rest
                .call(Method::POST, &path, &[], Some(&body))
                .await?,
        )
    }

    /// Forwards a message, with its attachments, to new recipients, optionally
    /// with a note above it. Returns the forwarded message's message_id and
    /// thread_id.
    #[tool(
        name = "forward_message",
        annotations(
            title = "Forward an email",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn forward_message(
        &self,
        Parameters(p): Parameters<ForwardMessage>,
    ) -> Result<Json<Sent>, String> {
        self.in_scope(&p.inbox_id)?;
        let body = compact(serde_json::json!({
            "to": p.to,
            "cc": p.cc,
            "bcc": p.bcc,
            "subject": p.subject,
            "text": p.text,
            "html": p.html,
            "labels": p.labels,
            "attachments": attachments(p.attachments)?,
        }));
        let path = Rest::path(&["inboxes", &p.inbox_id, "messages", &p.message_id, "forward"]);
        typed(
            self.rest
                .call(Method::POST, &path, &[], Some(&body))
                .await?,
        )
    }
}

/// The attachments as the API takes them, each with its content or its URL.
fn attachments(given: Option<Vec<Attachment>>) -> Result<Value, String> {
    given
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(n, a)| {
            if a.content.is_some() == a.url.is_some() {
                return Err(format!(
                    "attachments[{n}]: give its content (base64) or its url, one of the two"
                ));
            }
            Ok(compact(serde_json::json!({
                "filename": a.filename,
                "content_type": a.content_type,
                "content": a.content,
                "url": a.url,
                "content_id": a.content_id,
            })))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}
