//! `POST /v1/inboxes/{inbox_id}/messages`: an email arrives in an inbox, as a
//! `message.received` event shaped like the service's.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use mailwire_proto::{Address, Event, EventType, Message, Payload, Thread};
use serde::Deserialize;

use crate::Shared;
use crate::rest::{invalid, parse, read_body, to_json};
use crate::server::Body;

/// An incoming email: the body of `POST /v1/inboxes/{inbox_id}/messages`.
///
/// `to` is one address or a list (default: the inbox itself).
///
/// ```
/// let email: mailwire_sim::IncomingEmail = serde_json::from_str(
///     r#"{"from":"Bob <bob@example.com>","to":"ada@agentmail.to","subject":"Hi","text":"Hello"}"#,
/// ).unwrap();
/// assert_eq!(email.to, ["ada@agentmail.to"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct IncomingEmail {
    /// The sender, `Name <addr>` or `addr`.
    pub from: String,
    /// The recipients.
    #[serde(default, deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// The subject line.
    #[serde(default)]
    pub subject: Option<String>,
    /// The plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    /// The HTML body.
    #[serde(default)]
    pub html: Option<String>,
}

impl IncomingEmail {
    /// An email from `from` with a subject and a plain-text body.
    pub fn new(
        from: impl Into<String>,
        subject: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        IncomingEmail {
            from: from.into(),
            subject: Some(subject.into()),
            text: Some(text.into()),
            ..IncomingEmail::default()
        }
    }

    /// Adds an HTML body.
    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(html.into());
        self
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Why an email could not be received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(pub(crate) String);

/// Builds the `message.received` event for `email` arriving in `inbox`.
pub(crate) fn event(inbox: &str, email: IncomingEmail) -> Result<Event, String> {
    if inbox.is_empty() {
        return Err("the inbox id is empty".into());
    }
    let from = Address::parse(&email.from).ok_or("from: not an email address")?;
    let to_raw = if email.to.is_empty() {
        vec![inbox.to_owned()]
    } else {
        email.to
    };
    let to = to_raw
        .iter()
        .map(|a| Address::parse(a).ok_or_else(|| format!("to: {a:?} is not an email address")))
        .collect::<Result<Vec<_>, _>>()?;
    let now = crate::ids::now();
    let text_len =
        email.text.as_ref().map_or(0, String::len) + email.html.as_ref().map_or(0, String::len);
    let preview = email
        .text
        .as_deref()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|t| t.chars().take(100).collect::<String>());
    let message_id = format!("<{}@sim.mailwire.local>", crate::ids::new("msg"));
    let thread_id = crate::ids::new("thr");
    let size = (text_len + 512) as u64;
    let message = Message {
        inbox_id: inbox.to_owned(),
        thread_id: thread_id.clone(),
        message_id: message_id.clone(),
        labels: vec!["received".into(), "unread".into()],
        timestamp: Some(now),
        from: Some(from.clone()),
        to: to.clone(),
        cc: None,
        bcc: None,
        reply_to: None,
        subject: email.subject.clone(),
        preview: preview.clone(),
        text: email.text,
        html: email.html,
        attachments: None,
        in_reply_to: None,
        references: None,
        headers: None,
        size: Some(size),
        created_at: Some(now),
        updated_at: Some(now),
    };
    let thread = Thread {
        inbox_id: inbox.to_owned(),
        thread_id,
        labels: vec!["received".into(), "unread".into()],
        timestamp: Some(now),
        senders: vec![from],
        recipients: to,
        subject: email.subject,
        preview,
        last_message_id: Some(message_id),
        message_count: Some(1),
        size: Some(size),
        created_at: Some(now),
        updated_at: Some(now),
    };
    Ok(Event::new(
        crate::ids::new("evt"),
        EventType::MessageReceived,
        Payload::Message {
            message: Box::new(message),
            thread: Some(Box::new(thread)),
        },
        mailwire_proto::Envelope::AgentMail,
    ))
}

pub(crate) async fn receive(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
    inbox: String,
) -> Response<Body> {
    let email: IncomingEmail = match read_body(req).await.and_then(|b| parse(&b)) {
        Ok(email) => email,
        Err(answer) => return *answer,
    };
    let event = match event(&inbox, email) {
        Ok(event) => event,
        Err(e) => return invalid(&e),
    };
    let answer = serde_json::json!({
        "event_id": event.id(),
        "inbox_id": inbox,
        "message_id": event.payload().message().map(|m| m.message_id.clone()),
        "thread_id": event.payload().message().map(|m| m.thread_id.clone()),
    });
    crate::publish::publish(shared, [event]);
    to_json(StatusCode::OK, &answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_message_received_event() {
        let email = IncomingEmail::new("Bob <bob@example.com>", "Your code", "Your code is 481516");
        let event = event("ada@agentmail.to", email).unwrap();
        let again = Event::parse(event.raw().clone()).unwrap();
        assert_eq!(again.event_type(), &EventType::MessageReceived);
        let message = again.payload().message().unwrap();
        assert_eq!(message.inbox_id, "ada@agentmail.to");
        assert_eq!(message.to[0].email, "ada@agentmail.to");
        assert_eq!(message.from.as_ref().unwrap().name.as_deref(), Some("Bob"));
        assert_eq!(message.preview.as_deref(), Some("Your code is 481516"));
        assert!(again.timestamp().is_some());
    }

    #[test]
    fn refuses_bad_addresses() {
        assert!(event("a@x.to", IncomingEmail::new("", "s", "t")).is_err());
        let mut email = IncomingEmail::new("b@x.to", "s", "t");
        email.to = vec!["<unclosed".into()];
        assert!(event("a@x.to", email).is_err());
        assert!(event("", IncomingEmail::new("b@x.to", "s", "t")).is_err());
    }
}
