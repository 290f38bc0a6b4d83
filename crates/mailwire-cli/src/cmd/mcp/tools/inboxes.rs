//! Inboxes: list, get, create, delete.

use http::Method;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Answer, DEFAULT_LIMIT, Query, object, typed};
use crate::cmd::mcp::{MailTools, Rest};

/// A page of inboxes.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListInboxes {
    /// How many inboxes at most (default 10).
    #[serde(default)]
    pub(crate) limit: Option<u32>,
    /// The next page's token, from the previous answer's `next_page_token`.
    #[serde(default)]
    pub(crate) page_token: Option<String>,
}

/// One inbox.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct InboxId {
    /// The inbox's ID: its email address, from list_inboxes or create_inbox.
    pub(crate) inbox_id: String,
}

/// A new inbox; every part optional.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CreateInbox {
    /// The address's local part, before the `@` (default: a random one).
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// The address's domain, one the organization owns (default: the service's).
    #[serde(default)]
    pub(crate) domain: Option<String>,
    /// The name shown as the sender, e.g. `Ada's assistant`.
    #[serde(default)]
    pub(crate) display_name: Option<String>,
}

/// What `delete_inbox` returns.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Deleted {
    /// The inbox deleted.
    pub(crate) inbox_id: String,
    /// Always true: a failure is an error instead.
    pub(crate) deleted: bool,
}

#[tool_router(router = inbox_tools, vis = "pub(super)")]
impl MailTools {
    /// Lists the organization's inboxes, newest first, a page at a time: each with
    /// its inbox_id (its email address), display name and creation time. Pass the
    /// answer's next_page_token as page_token for the next page. Use an inbox_id with
    /// list_threads, list_messages, send_message or wait_for_email.
    #[tool(
        name = "list_inboxes",
        annotations(title = "List inboxes", read_only_hint = true)
    )]
    async fn list_inboxes(
        &self,
        Parameters(p): Parameters<ListInboxes>,
    ) -> Result<Json<Answer>, String> {
        if !self.scope.is_empty() {
            return self.scoped_inboxes().await;
        }
        let mut query = Query::default();
        query
            .set("limit", p.limit.unwrap_or(DEFAULT_LIMIT))
            .opt("page_token", p.page_token);
        object(
            self.rest
                .call(Method::GET, &Rest::path(&["inboxes"]), &query.0, None)
                .await?,
        )
    }

    /// Gets one inbox by its inbox_id: its address, display name, metadata and
    /// creation time.
    #[tool(
        name = "get_inbox",
        annotations(title = "Get an inbox", read_only_hint = true)
    )]
    async fn get_inbox(&self, Parameters(p): Parameters<InboxId>) -> Result<Json<Answer>, String> {
        self.in_scope(&p.inbox_id)?;
        object(
            self.rest
                .call(
                    Method::GET,
                    &Rest::path(&["inboxes", &p.inbox_id]),
                    &[],
                    None,
                )
                .await?,
        )
    }

    /// Creates an inbox and returns it, with the email address that is its
    /// inbox_id. It can receive mail at once: send its address to whoever should
    /// write to it, then call wait_for_email with that inbox_id.
    #[tool(
        name = "create_inbox",
        annotations(
            title = "Create an inbox",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false
        )
    )]
    async fn create_inbox(
        &self,
        Parameters(p): Parameters<CreateInbox>,
    ) -> Result<Json<Answer>, String> {
        if !self.scope.is_empty() {
            return Err(format!(
                "this server may use only the inboxes it was given ({}): it creates none",
                self.scope.join(", ")
            ));
        }
        let body = super::compact(serde_json::json!({
            "username": p.username,
            "domain": p.domain,
            "display_name": p.display_name,
        }));
        object(
            self.rest
                .call(Method::POST, &Rest::path(&["inboxes"]), &[], Some(&body))
                .await?,
        )
    }

    /// Deletes an inbox for good, with all of its threads, messages and drafts.
    /// This cannot be undone: call it only when asked to.
    #[tool(
        name = "delete_inbox",
        annotations(
            title = "Delete an inbox",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true
        )
    )]
    async fn delete_inbox(
        &self,
        Parameters(p): Parameters<InboxId>,
    ) -> Result<Json<Deleted>, String> {
        self.in_scope(&p.inbox_id)?;
        self.rest
            .call(
                Method::DELETE,
                &Rest::path(&["inboxes", &p.inbox_id]),
                &[],
                None,
            )
            .await?;
        typed(serde_json::json!({ "inbox_id": p.inbox_id, "deleted": true }))
    }
}

impl MailTools {
    /// `list_inboxes` on a server limited to some inboxes: those, in the order
    /// given, one page (an inbox that no longer exists is left out).
    async fn scoped_inboxes(&self) -> Result<Json<Answer>, String> {
        let mut inboxes = Vec::new();
        for id in self.scope.iter() {
            let path = Rest::path(&["inboxes", id]);
            match self.rest.call(Method::GET, &path, &[], None).await {
                Ok(inbox) => inboxes.push(inbox),
                Err(e) if e.starts_with("404") => {}
                Err(e) => return Err(e),
            }
        }
        let mut answer = serde_json::Map::new();
        answer.insert("count".into(), inboxes.len().into());
        answer.insert("inboxes".into(), Value::Array(inboxes));
        object(Value::Object(answer))
    }
}
