//! Mail arriving in an inbox (`POST /_sim/inboxes/{inbox_id}/messages`, `mailwire
//! send`, [`Simulator::receive_email`](crate::Simulator::receive_email)): it is stored,
//! threaded, and announced by a `message.received` event shaped like the service's.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use mailwire_client::tls::TlsTrust;
use mailwire_proto::{Address, Attachment, Envelope, Event, EventType, Message, Payload};
use serde::Deserialize;

use crate::mail::{self, Blob, Mail, Stored};

/// An incoming email: the body of `POST /_sim/inboxes/{inbox_id}/messages`.
///
/// `to`, `cc` and `references` take one string or a list; `to` defaults to the inbox
/// itself. `in_reply_to` (or `references`) naming a message of the inbox puts the
/// email in that message's thread. `verdict` (`spam`, `blocked` or
/// `unauthenticated`) makes it a `message.received.spam` (...) event, labelled so,
/// which lists and default subscriptions leave out, as the service does.
///
/// ```
/// let email: mailwire_sim::IncomingEmail = serde_json::from_str(
///     r#"{"from":"Bob <bob@example.com>","to":"ada@agentmail.to","subject":"Hi","text":"Hello"}"#,
/// ).unwrap();
/// assert_eq!(email.to, ["ada@agentmail.to"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IncomingEmail {
    /// The sender, `Name <addr>` or `addr`.
    pub from: String,
    /// The recipients.
    #[serde(default, deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// Copied recipients.
    #[serde(default, deserialize_with = "one_or_many")]
    pub cc: Vec<String>,
    /// The subject line.
    #[serde(default)]
    pub subject: Option<String>,
    /// The plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    /// The HTML body.
    #[serde(default)]
    pub html: Option<String>,
    /// Its `Message-ID` (generated when absent).
    #[serde(default)]
    pub message_id: Option<String>,
    /// The `Message-ID` it replies to.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// The `Message-ID`s of its thread, oldest first.
    #[serde(default, deserialize_with = "one_or_many")]
    pub references: Vec<String>,
    /// Attachments, with their content in base64.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
    /// `spam`, `blocked` or `unauthenticated`: how the service classified it.
    #[serde(default)]
    pub verdict: Option<String>,
}

/// An attachment of a message to send or inject (AgentMail's `SendAttachment`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct NewAttachment {
    /// File name.
    #[serde(default)]
    pub filename: Option<String>,
    /// MIME type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `inline` or `attachment`.
    #[serde(default)]
    pub content_disposition: Option<String>,
    /// Content-ID, for inline images.
    #[serde(default)]
    pub content_id: Option<String>,
    /// The content, base64.
    #[serde(default)]
    pub content: Option<String>,
    /// A URL to fetch the content from (when `content` is not given).
    #[serde(default)]
    pub url: Option<String>,
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

    /// Makes it a reply to the message with this `Message-ID`.
    pub fn in_reply_to(mut self, message_id: impl Into<String>) -> Self {
        self.in_reply_to = Some(message_id.into());
        self
    }

    /// Classifies it (`spam`, `blocked` or `unauthenticated`).
    pub fn verdict(mut self, verdict: impl Into<String>) -> Self {
        self.verdict = Some(verdict.into());
        self
    }
}

/// One string or a list of them, as the service's request bodies accept.
pub(crate) fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
        OneOrMany::Null(()) => Vec::new(),
    })
}

/// Why an email could not be received (or a message sent from an inbox stored):
/// the message names the field at fault, as the 400 of the REST route does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// The inbox id is empty.
    #[error("the inbox id is empty")]
    EmptyInbox,
    /// A message was to be stored in an inbox that does not exist.
    #[error("no inbox {0:?}")]
    NoInbox(String),
    /// A sender, recipient or inbox that is not an email address.
    #[error("{field}: {address:?} is not an email address")]
    Address {
        /// `inbox`, `from`, `to`, `cc` or `bcc`.
        field: &'static str,
        /// What was given.
        address: String,
    },
    /// A `verdict` other than `spam`, `blocked` or `unauthenticated`.
    #[error("verdict: expected spam, blocked or unauthenticated, got {0:?}")]
    Verdict(String),
    /// An attachment given only by `url` that was not fetched first.
    #[error("attachments[{0}]: a `url` the simulator did not fetch; give `content`")]
    AttachmentUrl(usize),
    /// An attachment's `url` could not be fetched.
    #[error("attachments[{index}].url: could not fetch it: {reason}")]
    AttachmentFetch {
        /// Its position in `attachments`.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// An attachment whose `content` is not base64.
    #[error("attachments[{index}].content: not base64 ({source})")]
    AttachmentContent {
        /// Its position in `attachments`.
        index: usize,
        /// Why it does not decode.
        #[source]
        source: base64::DecodeError,
    },
    /// The event announcing it could not be encoded.
    #[error("the event could not be encoded: {0}")]
    Event(#[source] mailwire_proto::EncodeError),
}

/// What to store: a message of an inbox, before ids and threading.
#[derive(Debug, Default)]
pub(crate) struct Compose {
    pub(crate) inbox: String,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) cc: Vec<String>,
    pub(crate) bcc: Vec<String>,
    pub(crate) reply_to: Vec<String>,
    pub(crate) subject: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
    pub(crate) labels: Vec<String>,
    pub(crate) attachments: Vec<NewAttachment>,
    pub(crate) headers: Option<serde_json::Map<String, serde_json::Value>>,
    pub(crate) message_id: Option<String>,
    pub(crate) in_reply_to: Option<String>,
    pub(crate) references: Vec<String>,
    /// The message as it came in over SMTP, kept as its raw `.eml`; `None` builds
    /// one from the fields.
    pub(crate) raw: Option<Bytes>,
}

/// A new `Message-ID`.
pub(crate) fn new_message_id() -> String {
    format!("<{}@sim.mailwire.local>", crate::ids::new("msg"))
}

/// A mailbox check: `addr` or `Name <addr>` with one `@` and no whitespace.
pub(crate) fn check_address(field: &'static str, text: &str) -> Result<(), EmailError> {
    let email = Address::new(text).email().map(str::to_owned);
    match email {
        Some(e) if e.split('@').count() == 2 && !e.starts_with('@') && !e.ends_with('@') => Ok(()),
        _ => Err(EmailError::Address {
            field,
            address: text.to_owned(),
        }),
    }
}

// Attachments given by `url`: fetched (http or https, 30 s, at most 25 MiB) and
// kept as if their `content` had been given, as the service does.

/// The most one attachment may weigh.
const MAX_BYTES: usize = 25 << 20;

/// How long one fetch may take, from the request to the last byte.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `attachments` with each given only by `url` fetched into its `content` (its
/// `content_type` from the answer when none was given, its `filename` from the
/// URL's last segment).
pub(crate) async fn fetch_urls(
    mut attachments: Vec<NewAttachment>,
) -> Result<Vec<NewAttachment>, EmailError> {
    if attachments
        .iter()
        .all(|a| a.url.is_none() || a.content.is_some())
    {
        return Ok(attachments);
    }
    let failed = |index: usize, reason: String| EmailError::AttachmentFetch { index, reason };
    let client = mailwire_client::https::client::<Empty<Bytes>>(&TlsTrust::default())
        .map_err(|e| failed(0, e.to_string()))?;
    for (index, a) in attachments.iter_mut().enumerate() {
        let (Some(url), None) = (&a.url, &a.content) else {
            continue;
        };
        let uri: hyper::Uri = url.parse().map_err(|e| failed(index, format!("{e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(failed(
                index,
                "only http:// and https:// URLs are fetched".into(),
            ));
        }
        let fetched = tokio::time::timeout(TIMEOUT, async {
            let res = client.get(uri.clone()).await.map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("the server answered {}", res.status()));
            }
            let content_type = (res.headers().get(hyper::header::CONTENT_TYPE))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(res.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| format!("{e} (at most {MAX_BYTES} bytes)"))?
                .to_bytes();
            Ok((content_type, body))
        })
        .await
        .map_err(|_| failed(index, format!("no answer within {} s", TIMEOUT.as_secs())))?
        .map_err(|reason| failed(index, reason))?;
        let (content_type, body) = fetched;
        a.content = Some(base64::engine::general_purpose::STANDARD.encode(&body));
        if a.content_type.is_none() {
            a.content_type = content_type;
        }
        if a.filename.is_none() {
            a.filename = uri
                .path()
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
        }
        a.url = None;
    }
    Ok(attachments)
}

/// An attachment to send (the `n`th) as it is kept: its description, with a new id,
/// and its bytes.
pub(crate) fn decode_attachment(
    n: usize,
    a: NewAttachment,
) -> Result<(Attachment, Bytes), EmailError> {
    if a.url.is_some() && a.content.is_none() {
        return Err(EmailError::AttachmentUrl(n));
    }
    let content = base64::engine::general_purpose::STANDARD
        .decode(a.content.as_deref().unwrap_or("").trim())
        .map_err(|source| EmailError::AttachmentContent { index: n, source })?;
    let mut meta = Attachment::new(&crate::ids::new("att"));
    meta.filename = a.filename;
    meta.size = Some(content.len() as u64);
    meta.content_type = a.content_type;
    meta.content_disposition = a.content_disposition;
    meta.content_id = a.content_id;
    Ok((meta, Bytes::from(content)))
}

/// An attachment kept (a draft's, a forwarded message's) as one to send again.
pub(crate) fn resend_attachment(meta: &Attachment, content: &[u8]) -> NewAttachment {
    NewAttachment {
        filename: meta.filename.clone(),
        content_type: meta.content_type.clone(),
        content_disposition: meta.content_disposition.clone(),
        content_id: meta.content_id.clone(),
        content: Some(base64::engine::general_purpose::STANDARD.encode(content)),
        url: None,
    }
}

/// A plain-text body without its quoted history: cut at the first line that starts
/// one (`On ... wrote:`, `-----Original Message-----`, a `From:` header block, or a
/// run of `>` lines), trailing blank lines dropped. A forwarded message is content,
/// not history: it stays.
pub(crate) fn new_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts_quote = |i: usize| {
        let line = lines[i].trim();
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        (line.starts_with("On ") && (line.ends_with("wrote:") || next.ends_with("wrote:")))
            || line.starts_with("-----Original Message-----")
            || line.starts_with('>')
            || (line.starts_with("From: ") && next.starts_with("Sent: "))
    };
    let end = (0..lines.len())
        .find(|&i| starts_quote(i))
        .unwrap_or(lines.len());
    let kept = lines[..end].join("\n");
    kept.trim_end().to_owned()
}

/// An HTML body without its quoted history: cut where a quote block starts
/// (`<blockquote`, a Gmail or Outlook quote container).
pub(crate) fn new_html(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    // A tag itself, or an attribute of the tag that opens the quote.
    let tags = ["<blockquote"].iter().filter_map(|m| lower.find(m));
    let attributes = [
        "class=\"gmail_quote",
        "id=\"divrplyfwdmsg",
        "id=\"appendonsend",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .map(|at| lower[..at].rfind('<').unwrap_or(at));
    let cut = tags.chain(attributes).min();
    match cut {
        Some(at) => html[..at].trim_end().to_owned(),
        None => html.to_owned(),
    }
}

/// Stores a composed message in its inbox (which must exist) and returns a copy.
pub(crate) fn store(mail: &mut Mail, c: Compose) -> Result<Stored, EmailError> {
    let inbox = mail
        .inbox(&c.inbox)
        .map(|i| i.inbox_id.clone())
        .ok_or_else(|| EmailError::NoInbox(c.inbox.clone()))?;
    check_address("from", &c.from)?;
    for (field, list) in [("to", &c.to), ("cc", &c.cc), ("bcc", &c.bcc)] {
        for a in list {
            check_address(field, a)?;
        }
    }
    let message_id = c.message_id.unwrap_or_else(new_message_id);
    let thread_id = mail
        .thread_for(&inbox, c.in_reply_to.as_deref(), &c.references)
        .unwrap_or_else(|| crate::ids::new("thr"));
    let now = crate::ids::now();
    let mut blobs = Vec::new();
    for (n, a) in c.attachments.into_iter().enumerate() {
        let (meta, content) = decode_attachment(n, a)?;
        blobs.push(Blob { meta, content });
    }
    let text_len = c.text.as_ref().map_or(0, String::len) + c.html.as_ref().map_or(0, String::len);
    let size = (text_len + 512 + blobs.iter().map(|b| b.content.len()).sum::<usize>()) as u64;
    let addrs = |v: Vec<String>| v.into_iter().map(Address::new).collect::<Vec<_>>();
    let some = |v: Vec<Address>| (!v.is_empty()).then_some(v);
    let mut m = Message::new(&inbox, &thread_id, &message_id);
    m.labels = c.labels;
    m.timestamp = Some(now);
    m.from = Some(Address::new(c.from));
    m.to = addrs(c.to);
    m.cc = some(addrs(c.cc));
    m.bcc = some(addrs(c.bcc));
    m.reply_to = some(addrs(c.reply_to));
    m.preview = mail::preview(c.text.as_deref());
    m.subject = c.subject;
    m.extracted_text = c.text.as_deref().map(new_text);
    m.extracted_html = c.html.as_deref().map(new_html);
    m.text = c.text;
    m.html = c.html;
    m.attachments = (!blobs.is_empty()).then(|| blobs.iter().map(|b| b.meta.clone()).collect());
    m.in_reply_to = c.in_reply_to;
    m.references = (!c.references.is_empty()).then_some(c.references);
    m.headers = c.headers;
    m.size = Some(size);
    m.created_at = Some(now);
    m.updated_at = Some(now);
    let stored = Stored {
        seq: mail.next_seq(),
        raw: match c.raw {
            Some(raw) => raw,
            None => crate::mime::raw(&m, blobs.iter().map(|b| (&b.meta, &b.content[..]))),
        },
        message: m,
        blobs,
    };
    mail.insert(stored.clone());
    Ok(stored)
}

/// The `message.received*` event of a stored message, with its thread as it is now.
pub(crate) fn received_event(
    mail: &Mail,
    stored: &Stored,
    event_type: EventType,
) -> Result<Event, EmailError> {
    let thread = mail.thread(|i| i == stored.inbox_id(), stored.thread_id());
    let thread = mail::thread_item(&thread);
    Event::new(
        crate::ids::new("evt"),
        event_type,
        Payload::Message {
            message: Box::new(stored.message.clone()),
            thread: Some(Box::new(thread)),
        },
        Envelope::AgentMail,
    )
    .map_err(EmailError::Event)
}

/// Stores an incoming email in `inbox` (created if missing) and builds its event.
pub(crate) fn receive(
    mail: &mut Mail,
    inbox: &str,
    email: IncomingEmail,
) -> Result<Event, EmailError> {
    receive_original(mail, inbox, email, None)
}

/// What a message that came in whole (over SMTP) keeps of its original: the raw
/// bytes, served as its `.eml`, and its headers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Original {
    pub(crate) raw: Bytes,
    pub(crate) headers: serde_json::Map<String, serde_json::Value>,
}

/// [`receive`], keeping the message's `original` when it came in whole.
pub(crate) fn receive_original(
    mail: &mut Mail,
    inbox: &str,
    email: IncomingEmail,
    original: Option<Original>,
) -> Result<Event, EmailError> {
    if inbox.is_empty() {
        return Err(EmailError::EmptyInbox);
    }
    check_address("inbox", inbox)?;
    check_address("from", &email.from)?;
    let inbox = mail.ensure_inbox(inbox).inbox_id.clone();
    // The lists, when nothing else decided: a reply to what this inbox sent is
    // checked against the reply lists, anything else against the receive lists.
    let verdict = email.verdict.as_deref().or_else(|| {
        let reply =
            (email.in_reply_to.as_deref()).is_some_and(|parent| mail.sent_by(&inbox, parent));
        let direction = if reply { "reply" } else { "receive" };
        (!mail.listed_ok(direction, &inbox, &email.from)).then_some("blocked")
    });
    let (event_type, label) = match verdict {
        None => (EventType::MessageReceived, None),
        Some("spam") => (EventType::MessageReceivedSpam, Some("spam")),
        Some("blocked") => (EventType::MessageReceivedBlocked, Some("blocked")),
        Some("unauthenticated") => (
            EventType::MessageReceivedUnauthenticated,
            Some("unauthenticated"),
        ),
        Some(other) => return Err(EmailError::Verdict(other.to_owned())),
    };
    let mut labels = vec!["received".to_owned(), "unread".to_owned()];
    labels.extend(label.map(str::to_owned));
    let to = if email.to.is_empty() {
        vec![inbox.clone()]
    } else {
        email.to
    };
    let stored = store(
        mail,
        Compose {
            inbox,
            from: email.from,
            to,
            cc: email.cc,
            subject: email.subject,
            text: email.text,
            html: email.html,
            labels,
            attachments: email.attachments,
            message_id: email.message_id,
            in_reply_to: email.in_reply_to,
            references: email.references,
            headers: original.as_ref().map(|o| o.headers.clone()),
            raw: original.map(|o| o.raw),
            ..Compose::default()
        },
    )?;
    received_event(mail, &stored, event_type)
}

#[cfg(test)]
mod quote_tests {
    use super::{new_html, new_text};

    #[test]
    fn quoted_history_is_cut_and_the_new_part_kept() {
        let reply = "Sounds good.\nSee you then.\n\nOn Mon, 7 Dec 2026 at 10:00, Bob <bob@example.com> wrote:\n> Lunch at noon?\n> Bob";
        assert_eq!(new_text(reply), "Sounds good.\nSee you then.");
        assert_eq!(new_text("Yes\n> quoted"), "Yes");
        assert_eq!(
            new_text("Fine\n-----Original Message-----\nFrom: x"),
            "Fine"
        );
        assert_eq!(new_text("Outlook\nFrom: Bob\nSent: Monday"), "Outlook");
        assert_eq!(new_text("On second thought, no."), "On second thought, no.");
        let fwd = "FYI\n\n---------- Forwarded message ---------\nFrom: Bob\n\nbody";
        assert_eq!(new_text(fwd), fwd, "a forward is content");
        assert_eq!(
            new_html("<p>Yes</p><div class=\"gmail_quote\"><p>old</p></div>"),
            "<p>Yes</p>"
        );
        assert_eq!(
            new_html("<p>Yes</p>\n<blockquote>old</blockquote>"),
            "<p>Yes</p>"
        );
        assert_eq!(new_html("<p>plain</p>"), "<p>plain</p>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_message_received_event_and_threads_replies() {
        let mut mail = Mail::default();
        let email = IncomingEmail::new("Bob <bob@example.com>", "Your code", "Your code is 481516");
        let event = receive(&mut mail, "ada@agentmail.to", email).unwrap();
        let again = Event::parse(event.raw().clone()).unwrap();
        assert_eq!(again.event_type(), &EventType::MessageReceived);
        let message = again.payload().message().unwrap();
        assert_eq!(message.inbox_id.as_deref(), Some("ada@agentmail.to"));
        assert_eq!(message.to[0].as_str(), "ada@agentmail.to");
        assert_eq!(
            message.from.as_ref().unwrap().name().as_deref(),
            Some("Bob")
        );
        assert_eq!(message.preview.as_deref(), Some("Your code is 481516"));
        assert!(again.timestamp().is_some());
        let first_id = message.message_id.clone().unwrap();
        let first_thread = message.thread_id.clone().unwrap();

        let reply = IncomingEmail::new("bob@example.com", "Re: Your code", "thanks")
            .in_reply_to(first_id.clone());
        let event = receive(&mut mail, "ada@agentmail.to", reply).unwrap();
        let Payload::Message { message, thread } = event.payload() else {
            panic!("a message event")
        };
        assert_eq!(message.thread_id.as_deref(), Some(first_thread.as_str()));
        assert_eq!(thread.as_ref().unwrap().message_count, Some(2));
        let other = IncomingEmail::new("eve@example.com", "Hi", "new");
        let event = receive(&mut mail, "ada@agentmail.to", other).unwrap();
        assert_ne!(
            event.payload().message().unwrap().thread_id.as_deref(),
            Some(first_thread.as_str())
        );
        assert_eq!(mail.threads(|_| true).len(), 2);
    }

    #[test]
    fn refuses_bad_addresses_and_verdicts() {
        let mut mail = Mail::default();
        assert!(receive(&mut mail, "a@x.to", IncomingEmail::new("", "s", "t")).is_err());
        let mut email = IncomingEmail::new("b@x.to", "s", "t");
        email.to = vec!["<unclosed".into()];
        assert!(receive(&mut mail, "a@x.to", email).is_err());
        assert!(receive(&mut mail, "", IncomingEmail::new("b@x.to", "s", "t")).is_err());
        let odd = IncomingEmail::new("b@x.to", "s", "t").verdict("weird");
        assert!(receive(&mut mail, "a@x.to", odd).is_err());
        let mut attached = IncomingEmail::new("b@x.to", "s", "t");
        attached.attachments = vec![NewAttachment {
            content: Some("not base64!".into()),
            ..NewAttachment::default()
        }];
        let refused = receive(&mut mail, "a@x.to", attached).unwrap_err();
        assert!(
            matches!(refused, EmailError::AttachmentContent { index: 0, .. }),
            "{refused:?}"
        );
        assert!(std::error::Error::source(&refused).is_some());
        assert!(matches!(
            receive(&mut mail, "a@x.to", IncomingEmail::new("nobody", "s", "t")),
            Err(EmailError::Address { field: "from", .. })
        ));
        let spam = IncomingEmail::new("b@x.to", "s", "t").verdict("spam");
        let event = receive(&mut mail, "a@x.to", spam).unwrap();
        assert_eq!(event.event_type(), &EventType::MessageReceivedSpam);
    }
}
