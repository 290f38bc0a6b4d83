//! A stored message as the RFC 5322 / MIME message a mail server would hold: its
//! headers, its text and HTML bodies (`multipart/alternative`), its attachments
//! and inline parts (`multipart/mixed`), built with `mail-builder`. This is the raw
//! `.eml` the API's download links serve.

use bytes::Bytes;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as MimeAddress;
use mailwire_proto::{Address, Attachment, Message};

fn address(a: &Address) -> MimeAddress<'static> {
    let email = a.email().unwrap_or(a.as_str()).to_owned();
    MimeAddress::new_address(a.name().map(|n| n.into_owned()), email)
}

fn list(v: &[Address]) -> MimeAddress<'static> {
    MimeAddress::new_list(v.iter().map(address).collect())
}

/// A `Message-ID` without its angle brackets (the builder adds them).
fn bare(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// The raw message of `m`, with `files` (each described, and its bytes) as its
/// attachments.
pub(crate) fn raw<'a>(
    m: &Message,
    files: impl IntoIterator<Item = (&'a Attachment, &'a [u8])>,
) -> Bytes {
    let mut b = MessageBuilder::new();
    if let Some(from) = &m.from {
        b = b.from(address(from));
    }
    if !m.to.is_empty() {
        b = b.to(list(&m.to));
    }
    if let Some(cc) = m.cc.as_deref().filter(|c| !c.is_empty()) {
        b = b.cc(list(cc));
    }
    if let Some(reply_to) = m.reply_to.as_deref().filter(|r| !r.is_empty()) {
        b = b.reply_to(list(reply_to));
    }
    if let Some(subject) = &m.subject {
        b = b.subject(subject.clone());
    }
    if let Some(id) = &m.message_id {
        b = b.message_id(bare(id));
    }
    if let Some(id) = &m.in_reply_to {
        b = b.in_reply_to(bare(id));
    }
    if let Some(refs) = m.references.as_deref().filter(|r| !r.is_empty()) {
        b = b.references(refs.iter().map(|r| bare(r)).collect::<Vec<_>>());
    }
    if let Some(ts) = m.timestamp {
        b = b.date(ts.unix_timestamp());
    }
    // A message with neither body still has an (empty) text part.
    if m.text.is_some() || m.html.is_none() {
        b = b.text_body(m.text.clone().unwrap_or_default());
    }
    if let Some(html) = &m.html {
        b = b.html_body(html.clone());
    }
    for (meta, content) in files {
        let content_type = meta
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let content = content.to_vec();
        let inline = meta.content_disposition.as_deref() == Some("inline");
        b = match (&meta.content_id, inline) {
            (Some(cid), true) => b.inline(content_type, bare(cid), content),
            _ => b.attachment(
                content_type,
                meta.filename.clone().unwrap_or_else(|| "attachment".into()),
                content,
            ),
        };
    }
    // Writing into a Vec cannot fail.
    Bytes::from(b.write_to_vec().unwrap_or_default())
}
