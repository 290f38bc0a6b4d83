//! What happens after a send, as a real one goes: `message.sent`, then
//! `message.delivered` for the recipients that accept it, and for designated
//! addresses (in the manner of Amazon SES's mailbox simulator) the other outcomes:
//!
//! | recipient (local part, before any `+tag`) | events |
//! | --- | --- |
//! | `bounce@simulator.amazonses.com` / `bounce@simulator.mailwire.dev` | `message.sent`, `message.bounced` (`Permanent`/`General`, status `5.1.1`) |
//! | `complaint@...` (same domains) | `message.sent`, `message.delivered`, `message.complained` (`abuse`) |
//! | `reject@...` (same domains) | `message.rejected` only: the service refuses the whole message |
//! | an inbox of the simulator | `message.sent`, `message.delivered`, and `message.received` in that inbox |
//! | anyone else | `message.sent`, `message.delivered` |
//!
//! The events are published in that order, on the WebSocket and to every matching
//! webhook, with the payloads `events.yml` gives.

use std::sync::Arc;

use mailwire_proto::{
    Address, Bounce, Complaint, Delivered, Envelope, Event, EventType, Payload, Recipient, Reject,
    Sent,
};

use crate::Shared;
use crate::mail::Stored;

/// The domains whose designated local parts trigger an outcome.
pub(crate) const SIMULATOR_DOMAINS: [&str; 2] =
    ["simulator.amazonses.com", "simulator.mailwire.dev"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Deliver,
    Bounce,
    Complaint,
    Reject,
}

fn outcome(email: &str) -> Outcome {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Outcome::Deliver;
    };
    if !SIMULATOR_DOMAINS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Outcome::Deliver;
    }
    let local = local.split('+').next().unwrap_or(local);
    match local.to_ascii_lowercase().as_str() {
        "bounce" => Outcome::Bounce,
        "complaint" => Outcome::Complaint,
        "reject" => Outcome::Reject,
        _ => Outcome::Deliver,
    }
}

fn event(event_type: EventType, payload: Payload) -> Option<Event> {
    match Event::new(
        crate::ids::new("evt"),
        event_type,
        payload,
        Envelope::AgentMail,
    ) {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::warn!(error = %e, "a lifecycle event did not encode");
            None
        }
    }
}

/// Publishes the events that follow the send of `stored` (a message of its
/// sending inbox), and delivers copies to the simulator's own inboxes.
pub(crate) fn sent(shared: &Arc<Shared>, stored: &Stored) {
    let m = &stored.message;
    let recipients: Vec<String> =
        m.to.iter()
            .chain(m.cc.iter().flatten())
            .chain(m.bcc.iter().flatten())
            .map(|a| a.email().unwrap_or(a.as_str()).to_owned())
            .collect();
    let (inbox, thread, id) = (stored.inbox_id(), stored.thread_id(), stored.id());
    let now = crate::ids::now();
    let mut events = Vec::new();
    if recipients.iter().any(|r| outcome(r) == Outcome::Reject) {
        let mut reject = Reject::new(inbox, thread, id);
        reject.timestamp = Some(now);
        reject.reason = Some("recipient designated to reject (simulator)".into());
        events.extend(event(EventType::MessageRejected, Payload::Rejected(reject)));
        crate::publish::publish(shared, events);
        return;
    }
    let mut send = Sent::new(inbox, thread, id);
    send.timestamp = Some(now);
    send.recipients = recipients.clone();
    events.extend(event(EventType::MessageSent, Payload::Sent(send)));
    let delivered: Vec<String> = recipients
        .iter()
        .filter(|r| matches!(outcome(r), Outcome::Deliver | Outcome::Complaint))
        .cloned()
        .collect();
    if !delivered.is_empty() {
        let mut delivery = Delivered::new(inbox, thread, id);
        delivery.timestamp = Some(now);
        delivery.recipients = delivered;
        events.extend(event(
            EventType::MessageDelivered,
            Payload::Delivered(delivery),
        ));
    }
    let bounced: Vec<Recipient> = recipients
        .iter()
        .filter(|r| outcome(r) == Outcome::Bounce)
        .map(|r| Recipient::new(r, Some("5.1.1")))
        .collect();
    if !bounced.is_empty() {
        let mut bounce = Bounce::new(inbox, thread, id);
        bounce.timestamp = Some(now);
        bounce.bounce_type = Some("Permanent".into());
        bounce.sub_type = Some("General".into());
        bounce.recipients = bounced;
        events.extend(event(EventType::MessageBounced, Payload::Bounced(bounce)));
    }
    let complained: Vec<String> = recipients
        .iter()
        .filter(|r| outcome(r) == Outcome::Complaint)
        .cloned()
        .collect();
    if !complained.is_empty() {
        let mut complaint = Complaint::new(inbox, thread, id);
        complaint.timestamp = Some(now);
        complaint.complaint_type = Some("abuse".into());
        complaint.sub_type = Some("OnAccountSuppressionList".into());
        complaint.recipients = complained;
        events.extend(event(
            EventType::MessageComplained,
            Payload::Complained(complaint),
        ));
    }
    // Recipients that are inboxes here receive it, threaded in their own inbox.
    {
        let mut mail = shared.mail();
        let mut local: Vec<String> = recipients
            .iter()
            .filter_map(|r| mail.inbox(r).map(|i| i.inbox_id.clone()))
            .collect();
        local.dedup();
        if let Some(at) = local.iter().position(|i| i == stored.inbox_id()) {
            // Sent to itself: the one message is also received, as mail clients show it.
            local.remove(at);
            if let Some(own) = mail.message_mut(stored.inbox_id(), stored.id()) {
                for label in ["received", "unread"] {
                    if !own.message.labels.iter().any(|l| l == label) {
                        own.message.labels.push(label.into());
                    }
                }
            }
            let own = mail.message(stored.inbox_id(), stored.id()).cloned();
            let received =
                own.map(|s| crate::message::received_event(&mail, &s, EventType::MessageReceived));
            match received {
                Some(Ok(e)) => events.push(e),
                Some(Err(e)) => tracing::warn!(error = %e, "a local delivery failed"),
                None => tracing::warn!("a local delivery failed: the sent message is gone"),
            }
        }
        for to in local {
            let copy = crate::message::Compose {
                inbox: to,
                from: m
                    .from
                    .as_ref()
                    .map(Address::as_str)
                    .unwrap_or("")
                    .to_owned(),
                to: m.to.iter().map(|a| a.as_str().to_owned()).collect(),
                cc: m
                    .cc
                    .iter()
                    .flatten()
                    .map(|a| a.as_str().to_owned())
                    .collect(),
                reply_to: m
                    .reply_to
                    .iter()
                    .flatten()
                    .map(|a| a.as_str().to_owned())
                    .collect(),
                subject: m.subject.clone(),
                text: m.text.clone(),
                html: m.html.clone(),
                labels: vec!["received".into(), "unread".into()],
                attachments: stored
                    .blobs
                    .iter()
                    .map(|b| crate::message::NewAttachment {
                        filename: b.meta.filename.clone(),
                        content_type: b.meta.content_type.clone(),
                        content_disposition: b.meta.content_disposition.clone(),
                        content_id: b.meta.content_id.clone(),
                        content: Some(base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            &b.content,
                        )),
                        url: None,
                    })
                    .collect(),
                headers: m.headers.clone(),
                message_id: m.message_id.clone(),
                in_reply_to: m.in_reply_to.clone(),
                references: m.references.clone().unwrap_or_default(),
                ..crate::message::Compose::default()
            };
            let received = crate::message::store(&mut mail, copy).and_then(|s| {
                crate::message::received_event(&mail, &s, EventType::MessageReceived)
            });
            match received {
                Ok(e) => events.push(e),
                Err(e) => tracing::warn!(error = %e, "a local delivery failed"),
            }
        }
    }
    crate::publish::publish(shared, events);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designated_addresses_pick_the_outcome() {
        assert_eq!(outcome("bounce@simulator.amazonses.com"), Outcome::Bounce);
        assert_eq!(outcome("Bounce+x@SIMULATOR.mailwire.dev"), Outcome::Bounce);
        assert_eq!(
            outcome("complaint@simulator.mailwire.dev"),
            Outcome::Complaint
        );
        assert_eq!(outcome("reject@simulator.amazonses.com"), Outcome::Reject);
        assert_eq!(outcome("bounce@example.com"), Outcome::Deliver);
        assert_eq!(outcome("ada@simulator.mailwire.dev"), Outcome::Deliver);
        assert_eq!(outcome("no-at-sign"), Outcome::Deliver);
    }
}
