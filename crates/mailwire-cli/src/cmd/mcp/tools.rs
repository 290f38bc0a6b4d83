//! The email tools: AgentMail's, with the names and arguments of its toolkit, over
//! the REST API. One file per kind of thing: inboxes, threads (and their
//! attachments), messages, and what sends one.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::MailTools;

mod inboxes;
mod local;
mod messages;
mod send;
mod threads;

/// The service's answer, as it gave it.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub(crate) struct Answer(pub(crate) serde_json::Map<String, Value>);

impl MailTools {
    /// Every email tool but `wait_for_email`.
    pub(crate) fn email_tools() -> ToolRouter<MailTools> {
        Self::inbox_tools() + Self::thread_tools() + Self::message_tools() + Self::send_tools()
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

/// An answer read as `T` (the typed outputs: what a send or an update returns).
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<Json<T>, String> {
    let text = value.to_string();
    serde_json::from_value(value)
        .map(Json)
        .map_err(|e| format!("unexpected answer from the service ({e}): {text}"))
}

/// A request body without its absent parts: no `null`, no empty list.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .collect(),
        ),
        other => other,
    }
}

/// A query string's parameters, a list's key repeated once per value.
#[derive(Debug, Default)]
struct Query(Vec<(&'static str, String)>);

impl Query {
    fn set(&mut self, key: &'static str, value: impl ToString) -> &mut Self {
        self.0.push((key, value.to_string()));
        self
    }

    fn opt(&mut self, key: &'static str, value: Option<impl ToString>) -> &mut Self {
        if let Some(value) = value {
            self.set(key, value);
        }
        self
    }

    fn each(&mut self, key: &'static str, values: &[String]) -> &mut Self {
        for value in values {
            self.set(key, value);
        }
        self
    }
}

/// A list argument: a JSON array of strings, or one string for a list of one (as
/// models often send `"to": "ada@example.com"`); `null` is an empty list.
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

/// The page size when none is given (the toolkit's).
const DEFAULT_LIMIT: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_drops_absent_parts_only() {
        let body = compact(serde_json::json!({
            "to": ["a@x"], "cc": [], "subject": null, "text": "", "reply_all": false
        }));
        assert_eq!(
            body,
            serde_json::json!({"to": ["a@x"], "text": "", "reply_all": false})
        );
    }

    #[test]
    fn lists_take_one_string_or_many() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "list")]
            to: Vec<String>,
        }
        let one: T = serde_json::from_str(r#"{"to":"a@x"}"#).unwrap();
        assert_eq!(one.to, ["a@x"]);
        let many: T = serde_json::from_str(r#"{"to":["a@x","b@x"]}"#).unwrap();
        assert_eq!(many.to, ["a@x", "b@x"]);
        let none: T = serde_json::from_str(r#"{"to":null}"#).unwrap();
        assert!(none.to.is_empty());
        let absent: T = serde_json::from_str("{}").unwrap();
        assert!(absent.to.is_empty());
    }

    #[test]
    fn query_repeats_list_keys() {
        let mut q = Query::default();
        q.set("limit", 10)
            .opt("page_token", None::<String>)
            .each("labels", &["a".into(), "b".into()]);
        assert_eq!(
            q.0,
            [
                ("limit", "10".to_owned()),
                ("labels", "a".to_owned()),
                ("labels", "b".to_owned())
            ]
        );
    }
}
