//! Mail that comes in whole, as RFC 5322 bytes (over SMTP): parsed with
//! `mail-parser` into what an inbox stores (its text and HTML bodies, attachments
//! and inline parts, decoded headers, threading ids), the bytes kept as they came
//! for the raw `.eml` download, so that what goes in comes out.

use base64::Engine as _;
use bytes::Bytes;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

use crate::message::{IncomingEmail, NewAttachment, Original};

/// Why bytes are not a message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    /// Not RFC 5322 at all (no header section).
    #[error("not an RFC 5322 message")]
    NotAMessage,
}

/// `raw` as an incoming email, and what it keeps of its original. `mail_from` (the
/// SMTP reverse path) stands in for a missing `From:`, the envelope's recipients
/// for a missing `To:`.
pub(crate) fn parse(
    raw: Bytes,
    mail_from: &str,
    rcpt_to: &[String],
) -> Result<(IncomingEmail, Original), ParseError> {
    let message = MessageParser::default()
        .parse(&raw[..])
        .filter(|m| !m.headers().is_empty())
        .ok_or(ParseError::NotAMessage)?;
    let from = message
        .from()
        .and_then(|a| addresses(a).into_iter().next())
        .or_else(|| (!mail_from.is_empty()).then(|| mail_from.to_owned()))
        .unwrap_or_else(|| "mailer-daemon@localhost".to_owned());
    let mut to: Vec<String> = message.to().map(addresses).unwrap_or_default();
    if to.is_empty() {
        to = rcpt_to.to_vec();
    }
    let cc = message.cc().map(addresses).unwrap_or_default();
    // The bodies the message has: a text/plain part is not turned into HTML, nor
    // the other way round.
    let text = joined(message.text_bodies().filter_map(|p| match &p.body {
        PartType::Text(t) => Some(t.as_ref()),
        _ => None,
    }));
    let html = joined(message.html_bodies().filter_map(|p| match &p.body {
        PartType::Html(h) => Some(h.as_ref()),
        _ => None,
    }));
    let attachments = message
        .attachments()
        .filter(|p| !matches!(p.body, PartType::Multipart(_)))
        .map(|p| {
            let content_type = p.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()),
                None => ct.ctype().to_owned(),
            });
            let disposition = p
                .content_disposition()
                .map(|d| d.ctype().to_ascii_lowercase());
            let inline = matches!(p.body, PartType::InlineBinary(_))
                || disposition.as_deref() == Some("inline");
            NewAttachment {
                filename: p.attachment_name().map(str::to_owned),
                content_type: content_type.or_else(|| Some("application/octet-stream".into())),
                content_disposition: Some(if inline { "inline" } else { "attachment" }.into()),
                content_id: p
                    .content_id()
                    .map(|id| id.trim_matches(['<', '>']).to_owned()),
                content: Some(base64::engine::general_purpose::STANDARD.encode(p.contents())),
                url: None,
            }
        })
        .collect();
    let email = IncomingEmail {
        from,
        to,
        cc,
        subject: message.subject().map(str::to_owned),
        text,
        html,
        message_id: message.message_id().map(|id| format!("<{id}>")),
        in_reply_to: ids(message.in_reply_to()).into_iter().next(),
        references: ids(message.references()),
        attachments,
        verdict: None,
    };
    let mut headers = serde_json::Map::new();
    for (name, value) in message.headers_raw() {
        // The first of repeated fields (`Received:` comes once per hop).
        headers
            .entry(name.to_owned())
            .or_insert_with(|| unfold(value).into());
    }
    Ok((email, Original { raw, headers }))
}

/// Each mailbox of an address field, `Name <addr>` or `addr`.
fn addresses(address: &Address<'_>) -> Vec<String> {
    address
        .iter()
        .filter_map(|a| {
            let email = a.address()?;
            Some(match a.name() {
                Some(name) if !name.is_empty() => format!("{} <{email}>", quoted(name)),
                _ => email.to_owned(),
            })
        })
        .collect()
}

/// A display name, quoted when it holds what would end it.
fn quoted(name: &str) -> String {
    if name.contains([',', '<', '>', '"', '@', ';', ':']) {
        format!("\"{}\"", name.replace(['"', '\\'], ""))
    } else {
        name.to_owned()
    }
}

/// The message ids of an `In-Reply-To:` or `References:` field, with their angle
/// brackets, as the service shows them.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(ids) => ids.iter().map(AsRef::as_ref).collect(),
        _ => Vec::new(),
    };
    list.into_iter().map(|id| format!("<{id}>")).collect()
}

/// Parts' bodies one after the other, or `None` without any.
fn joined<'a>(parts: impl Iterator<Item = &'a str>) -> Option<String> {
    let parts: Vec<&str> = parts.collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// A raw header value on one line.
fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "From: =?UTF-8?Q?Zo=C3=AB?= <zoe@example.com>\r\n\
To: ada@agentmail.to, \"Smith, Bob\" <bob@agentmail.to>\r\n\
Cc: cy@example.com\r\n\
Subject: =?UTF-8?B?w4l0w6kgcmVwb3J0?=\r\n\
Message-ID: <m2@example.com>\r\n\
In-Reply-To: <m1@example.com>\r\n\
References: <m0@example.com> <m1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Plain body\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>HTML body</p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"r.pdf\"\r\n\
Content-Disposition: attachment; filename=\"r.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    #[test]
    fn a_multipart_message_gives_its_bodies_attachments_and_threading() {
        let raw = Bytes::from_static(MIXED.as_bytes());
        let (email, original) = parse(raw.clone(), "bounce@example.com", &[]).unwrap();
        assert_eq!(email.from, "Zoë <zoe@example.com>");
        assert_eq!(
            email.to,
            ["ada@agentmail.to", "\"Smith, Bob\" <bob@agentmail.to>"]
        );
        assert_eq!(email.cc, ["cy@example.com"]);
        assert_eq!(email.subject.as_deref(), Some("Été report"));
        assert_eq!(email.text.as_deref(), Some("Plain body"));
        assert_eq!(email.html.as_deref(), Some("<p>HTML body</p>"));
        assert_eq!(email.message_id.as_deref(), Some("<m2@example.com>"));
        assert_eq!(email.in_reply_to.as_deref(), Some("<m1@example.com>"));
        assert_eq!(email.references, ["<m0@example.com>", "<m1@example.com>"]);
        let [pdf] = &email.attachments[..] else {
            panic!("{:?}", email.attachments)
        };
        assert_eq!(pdf.filename.as_deref(), Some("r.pdf"));
        assert_eq!(pdf.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(pdf.content.as_deref(), Some("JVBERi0xLjQK"));
        assert_eq!(original.raw, raw, "kept byte for byte");
        assert_eq!(original.headers["Message-ID"], "<m2@example.com>");
    }

    #[test]
    fn a_bare_message_takes_the_envelope_and_has_no_html() {
        let raw = Bytes::from_static(b"Subject: hi\r\n\r\nbody\r\n");
        let rcpt = ["ada@agentmail.to".to_owned()];
        let (email, _) = parse(raw, "bob@example.com", &rcpt).unwrap();
        assert_eq!(email.from, "bob@example.com");
        assert_eq!(email.to, rcpt);
        assert_eq!(email.text.as_deref(), Some("body\r\n"));
        assert_eq!(email.html, None);
        assert!(parse(Bytes::new(), "", &rcpt).is_err());
    }

    #[test]
    fn a_message_stored_from_fields_reads_back_the_same_from_its_eml() {
        // What goes in comes out: the `.eml` built for a message injected as JSON
        // parses back to its fields.
        let mut mail = crate::mail::Mail::default();
        let mut email = IncomingEmail::new("Bob <bob@example.com>", "Zürich plans", "See you.")
            .html("<p>See <b>you</b>.</p>");
        email.attachments = vec![NewAttachment {
            filename: Some("plan.pdf".into()),
            content_type: Some("application/pdf".into()),
            content: Some("JVBERi0xLjQK".into()),
            ..NewAttachment::default()
        }];
        let event = crate::message::receive(&mut mail, "ada@agentmail.to", email).unwrap();
        let m = event.payload().message().unwrap();
        let stored = mail
            .message("ada@agentmail.to", m.message_id.as_deref().unwrap())
            .unwrap();
        let (back, _) = parse(stored.raw.clone(), "", &[]).unwrap();
        assert_eq!(back.from, "Bob <bob@example.com>");
        assert_eq!(back.to, ["ada@agentmail.to"]);
        assert_eq!(back.subject.as_deref(), Some("Zürich plans"));
        assert_eq!(back.text.as_deref().map(str::trim_end), Some("See you."));
        assert_eq!(
            back.html.as_deref().map(str::trim_end),
            Some("<p>See <b>you</b>.</p>")
        );
        assert_eq!(back.message_id, m.message_id);
        let [pdf] = &back.attachments[..] else {
            panic!("{:?}", back.attachments)
        };
        assert_eq!(pdf.filename.as_deref(), Some("plan.pdf"));
        assert_eq!(pdf.content.as_deref(), Some("JVBERi0xLjQK"));
    }
}
