//! Mail in over SMTP: the mailbox behind [`crate::smtp`]'s server. Each message is
//! parsed ([`crate::inbound`]) and stored in the inbox of every recipient of the
//! envelope (created on first use, as `POST /_sim/inboxes/.../messages` does),
//! threaded by `In-Reply-To`/`References`, and announced as if it came from the
//! internet: `message.received`, or `.blocked` by the inbox's lists. The client is
//! answered `250` only once every copy is stored.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::Shared;
use crate::message::check_address;
use crate::smtp::{Envelope, Mailbox, Reply};

/// The simulator's inboxes, as an SMTP server's mailbox.
pub(crate) struct Inboxes(pub(crate) Arc<Shared>);

impl Mailbox for Inboxes {
    fn recipient(&self, address: &str) -> Result<(), Reply> {
        check_address("to", address)
            .map_err(|_| Reply::new(553, "5.1.3", format!("<{address}>: not a valid mailbox")))
    }

    fn deliver(&self, envelope: Envelope) -> BoxFuture<'static, Result<String, Reply>> {
        let shared = self.0.clone();
        Box::pin(async move { deliver(&shared, envelope) })
    }
}

fn deliver(shared: &Arc<Shared>, envelope: Envelope) -> Result<String, Reply> {
    let (email, original) =
        crate::inbound::parse(envelope.data, &envelope.mail_from, &envelope.rcpt_to)
            .map_err(|e| Reply::new(554, "5.6.0", e.to_string()))?;
    let mut inboxes: Vec<String> = Vec::new();
    for rcpt in &envelope.rcpt_to {
        if !inboxes.iter().any(|i| i.eq_ignore_ascii_case(rcpt)) {
            inboxes.push(rcpt.clone());
        }
    }
    let mut events = Vec::with_capacity(inboxes.len());
    let mut refused = None;
    {
        let mut mail = shared.mail();
        for inbox in &inboxes {
            match crate::message::receive_original(
                &mut mail,
                inbox,
                email.clone(),
                Some(original.clone()),
            ) {
                Ok(event) => events.push(event),
                Err(e) => {
                    refused = Some(Reply::new(554, "5.6.0", format!("<{inbox}>: {e}")));
                    break;
                }
            }
        }
    }
    let queued = events
        .first()
        .and_then(|e| e.payload().message())
        .and_then(|m| m.message_id.clone())
        .unwrap_or_default();
    // What was stored is announced, even when a later recipient failed.
    crate::publish::publish(shared, events);
    match refused {
        Some(reply) => Err(reply),
        None => Ok(queued),
    }
}
