//! The email tools: AgentMail's, with the names and arguments of its toolkit, over
//! the REST API.

use http::Method;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{MailTools, Rest};

/// A page of a list.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListInboxes {
    /// How many at most (default 10).
    #[serde(default)]
    pub(crate) limit: Option<u32>,
    /// The next page's token, from the previous answer's `next_page_token`.
    #[serde(default)]
    pub(crate) page_token: Option<String>,
}

/// The service's answer, as it gave it.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub(crate) struct Answer(pub(crate) serde_json::Map<String, Value>);

#[tool_router(router = email_tools, vis = "pub(crate)")]
impl MailTools {
    /// Lists the organization's inboxes, newest first, a page at a time.
    #[tool(
        name = "list_inboxes",
        annotations(title = "List inboxes", read_only_hint = true)
    )]
    async fn list_inboxes(
        &self,
        Parameters(p): Parameters<ListInboxes>,
    ) -> Result<Json<Answer>, String> {
        let mut query = vec![("limit", p.limit.unwrap_or(10).to_string())];
        if let Some(token) = p.page_token {
            query.push(("page_token", token));
        }
        object(
            self.rest
                .call(Method::GET, &Rest::path(&["inboxes"]), &query, None)
                .await?,
        )
    }
}

/// An answer that is a JSON object, as structured content.
pub(crate) fn object(value: Value) -> Result<Json<Answer>, String> {
    match value {
        Value::Object(map) => Ok(Json(Answer(map))),
        Value::Null => Ok(Json(Answer(serde_json::Map::new()))),
        other => Err(format!("the service answered {other}, not an object")),
    }
}
