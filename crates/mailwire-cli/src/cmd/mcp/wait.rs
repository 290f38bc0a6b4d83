//! `wait_for_email`: the emails the agent runtime delivers (WebSocket for speed,
//! backfill for gaps, the store for "returned already"), held until a call takes
//! the first that matches. An email is acked in the store when a call returns it,
//! so it is returned once, across calls and restarts; one that arrived between two
//! calls, or while the server was down, waits for the next call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_agent::Agent;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource as _};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The most emails held waiting for a call; beyond it the next ones wait in the
/// store, unread, until a call takes one (none is dropped: dropping one would
/// release its claim and have the store hand it back at once, over and over).
const MAX_HELD: usize = 10_000;

/// What `wait_for_email` looks for: every given part must match.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct WaitForEmail {
    /// The inbox to watch (its email address). Without it, any inbox this server
    /// watches.
    #[serde(default)]
    pub(crate) inbox_id: Option<String>,
    /// Text the sender's address or name contains (case-insensitive), e.g.
    /// `noreply@github.com` or `GitHub`.
    #[serde(default)]
    pub(crate) from: Option<String>,
    /// Text the subject contains (case-insensitive), e.g. `verification code`.
    #[serde(default)]
    pub(crate) subject: Option<String>,
    /// How long to wait at most, in seconds (default 60, at most 600). An email that
    /// arrived before the call (and was never returned) is returned at once.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 0, max = 600))]
    pub(crate) timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    60
}

/// One email, as `wait_for_email` returns it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub(crate) struct Email {
    /// The inbox it arrived in.
    pub(crate) inbox_id: String,
    /// Its thread (reply with `reply_to_message`, read with `get_thread`).
    pub(crate) thread_id: Option<String>,
    /// Its id.
    pub(crate) message_id: String,
    /// The sender, as written (`Name <address>`).
    pub(crate) from: Option<String>,
    /// The recipients.
    pub(crate) to: Vec<String>,
    /// The subject.
    pub(crate) subject: Option<String>,
    /// When it was received (RFC 3339).
    pub(crate) timestamp: Option<String>,
    /// Its text: the new part of the message (quoted history removed) when the
    /// service extracted it, else the whole text body, else the HTML's text.
    pub(crate) text: String,
    /// One-time codes found in it (4 to 8 digits, or digits and capitals with a
    /// digit), most likely first.
    pub(crate) codes: Vec<String>,
    /// Links found in it.
    pub(crate) links: Vec<String>,
}

/// The result of `wait_for_email`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Waited {
    /// True when an email matched; false when the wait timed out.
    pub(crate) found: bool,
    /// The email, when one matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<Email>,
}

struct Held {
    delivery: Delivery,
    email: Email,
}

/// The emails delivered and not returned yet, and the task reading them.
pub(crate) struct Mailbox {
    held: Mutex<VecDeque<Held>>,
    /// The most held at once ([`MAX_HELD`]).
    max_held: usize,
    arrived: Notify,
    /// A held email was taken: there is room for the next.
    room: Notify,
    /// Why reading stopped, when it did.
    failed: Mutex<Option<String>>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

impl Mailbox {
    /// Starts reading `agent`'s deliveries; they are held until a call takes them.
    pub(crate) fn start(agent: Agent) -> Arc<Mailbox> {
        Mailbox::holding(agent, MAX_HELD)
    }

    /// [`Mailbox::start`], holding at most `max_held` emails at once.
    pub(crate) fn holding(mut agent: Agent, max_held: usize) -> Arc<Mailbox> {
        let mailbox = Arc::new(Mailbox {
            held: Mutex::default(),
            max_held,
            arrived: Notify::new(),
            room: Notify::new(),
            failed: Mutex::default(),
        });
        let reader = mailbox.clone();
        tokio::spawn(async move {
            loop {
                reader.wait_for_room().await;
                match agent.next().await {
                    Ok(Some(delivery)) => reader.deliver(delivery).await,
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => {
                        *lock(&reader.failed) = Some(e.to_string());
                        reader.arrived.notify_waiters();
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "the email stream (carrying on)"),
                }
            }
            agent.stop().await;
        });
        mailbox
    }

    async fn deliver(&self, delivery: Delivery) {
        if !delivery.event.event_type().is_received() {
            // Sent, delivered, bounced...: not what a wait looks for.
            if let Err(e) = delivery.ack().await {
                tracing::warn!(error = %e, "could not ack an event");
            }
            return;
        }
        let email = email_of(&delivery.event);
        lock(&self.held).push_back(Held { delivery, email });
        self.arrived.notify_waiters();
    }

    /// Returns once fewer than `max_held` emails are held.
    async fn wait_for_room(&self) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before the check: a take between the two is not missed.
            room.as_mut().enable();
            if lock(&self.held).len() < self.max_held {
                return;
            }
            room.await;
        }
    }

    /// The first held email matching `filter`, taken (acked: never returned again),
    /// unless the call was cancelled meanwhile: then it stays for the next call.
    async fn take(
        &self,
        filter: &WaitForEmail,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Option<Email> {
        let held = {
            let mut held = lock(&self.held);
            let at = held.iter().position(|h| matches(filter, &h.email))?;
            if cancelled() {
                return None;
            }
            held.remove(at)?
        };
        self.room.notify_one();
        if let Err(e) = held.delivery.ack().await {
            tracing::warn!(error = %e, "an email returned could not be marked so: it may be returned again");
        }
        Some(held.email)
    }

    /// Waits for the first matching email, up to the timeout; `progress` is called
    /// about every second with the seconds waited; `cancelled` ends the wait at once,
    /// and an email is never taken once `is_cancelled` says so.
    pub(crate) async fn wait(
        &self,
        filter: &WaitForEmail,
        cancelled: impl std::future::Future<Output = ()>,
        is_cancelled: impl Fn() -> bool + Sync,
        mut progress: impl FnMut(u64),
    ) -> Result<Waited, String> {
        let timeout = Duration::from_secs(filter.timeout_seconds.min(600));
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        tokio::pin!(cancelled);
        let started = tokio::time::Instant::now();
        loop {
            // Registered before looking, so an arrival in between is not missed.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if is_cancelled() {
                return Err("cancelled".to_owned());
            }
            if let Some(email) = self.take(filter, &is_cancelled).await {
                return Ok(Waited {
                    found: true,
                    email: Some(email),
                });
            }
            if let Some(why) = lock(&self.failed).clone() {
                return Err(format!("the email stream stopped: {why}"));
            }
            tokio::select! {
                () = &mut arrived => {}
                _ = tick.tick() => progress(started.elapsed().as_secs()),
                () = tokio::time::sleep_until(deadline) => {
                    return Ok(Waited { found: false, email: None });
                }
                () = &mut cancelled => return Err("cancelled".to_owned()),
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn contains(haystack: Option<&str>, needle: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

fn matches(filter: &WaitForEmail, email: &Email) -> bool {
    filter
        .inbox_id
        .as_deref()
        .is_none_or(|i| email.inbox_id.eq_ignore_ascii_case(i))
        && filter
            .from
            .as_deref()
            .is_none_or(|f| contains(email.from.as_deref(), f))
        && filter
            .subject
            .as_deref()
            .is_none_or(|s| contains(email.subject.as_deref(), s))
}

/// The summary of a received email's event.
fn email_of(event: &Event) -> Email {
    let payload = event.payload();
    let message = payload.message();
    let text = message
        .and_then(|m| {
            m.extracted_text
                .clone()
                .filter(|t| !t.trim().is_empty())
                .or_else(|| m.text.clone())
                .or_else(|| m.html.as_deref().map(html_text))
        })
        .unwrap_or_default();
    let (codes, links) = scan(&format!(
        "{}\n{text}",
        message
            .and_then(|m| m.subject.as_deref())
            .unwrap_or_default()
    ));
    Email {
        inbox_id: event.inbox_id().unwrap_or_default().to_owned(),
        thread_id: event.thread_id().map(str::to_owned),
        message_id: message
            .and_then(|m| m.message_id.clone())
            .unwrap_or_else(|| event.id().to_owned()),
        from: message
            .and_then(|m| m.from.as_ref())
            .map(ToString::to_string),
        to: message
            .map(|m| m.to.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        subject: message.and_then(|m| m.subject.clone()),
        timestamp: event.timestamp().and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        }),
        text,
        codes,
        links,
    }
}

/// The text of an HTML body: tags dropped, entities of the common kinds decoded.
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// One-time codes and links in `text`. A code is a word of 4 to 8 digits (not a
/// year-like 19xx/20xx alone when other codes exist), or of 6 to 8 capitals and
/// digits with at least one digit; those near the word "code" come first.
fn scan(text: &str) -> (Vec<String>, Vec<String>) {
    let mut links = Vec::new();
    let mut digits = Vec::new();
    let mut mixed = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "\"'()[]<>".contains(c)) {
        if word.starts_with("https://") || word.starts_with("http://") {
            let link = word.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            if !links.iter().any(|l| l == link) {
                links.push(link.to_owned());
            }
            continue;
        }
        let token = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        let plain: String = token.chars().filter(|c| *c != '-').collect();
        if plain.is_empty() {
            continue;
        }
        if (4..=8).contains(&plain.len()) && plain.chars().all(|c| c.is_ascii_digit()) {
            if !digits.contains(&plain) {
                digits.push(plain);
            }
        } else if (6..=8).contains(&plain.len())
            && plain
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && plain.chars().any(|c| c.is_ascii_digit())
            && plain.chars().any(|c| c.is_ascii_uppercase())
            && !mixed.contains(&plain)
        {
            mixed.push(plain);
        }
    }
    let year = |c: &String| c.len() == 4 && (c.starts_with("19") || c.starts_with("20"));
    if digits.iter().any(|c| !year(c)) {
        digits.retain(|c| !year(c));
    }
    digits.extend(mixed);
    (digits, links)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use mailwire_agent::Agent;
    use mailwire_proto::{Event, fixtures};
    use mailwire_source::{Delivery, EventSource, Origin, SourceError};

    use super::{Mailbox, WaitForEmail, scan};

    /// Received emails, then nothing (it never ends).
    struct Burst(VecDeque<Event>);

    #[async_trait::async_trait]
    impl EventSource for Burst {
        async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
            match self.0.pop_front() {
                Some(event) => Ok(Some(Delivery::new(event, Origin::custom("burst")))),
                None => std::future::pending().await,
            }
        }

        fn name(&self) -> &str {
            "burst"
        }
    }

    #[tokio::test]
    async fn more_emails_than_it_holds_wait_their_turn_and_each_is_returned_once() {
        let events = (0..10)
            .map(|i| fixtures::message_received(&format!("evt_{i}"), "ada@agentmail.to"))
            .collect();
        let agent = Agent::builder()
            .source(Burst(events))
            .start()
            .await
            .unwrap();
        let mailbox = Mailbox::holding(agent, 3);
        let any = WaitForEmail {
            timeout_seconds: 20,
            ..WaitForEmail::default()
        };
        let mut ids = Vec::new();
        for _ in 0..10 {
            let waited = mailbox
                .wait(&any, std::future::pending(), || false, |_| {})
                .await
                .unwrap();
            assert!(waited.found, "{ids:?}");
            ids.push(waited.email.unwrap().message_id);
        }
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 10, "each once: {ids:?}");
        // Nothing more: all ten were returned, none is handed back again.
        let none = WaitForEmail {
            timeout_seconds: 0,
            ..WaitForEmail::default()
        };
        let waited = mailbox
            .wait(&none, std::future::pending(), || false, |_| {})
            .await
            .unwrap();
        assert!(!waited.found);
    }

    #[test]
    fn codes_and_links_are_found_in_an_email() {
        let (codes, links) = scan(
            "Your GitHub launch code is 481516.\nOr open https://github.com/login/device?code=1 (expires 2026).\nRef: AB12CD34",
        );
        assert_eq!(codes, ["481516", "AB12CD34"]);
        assert_eq!(links, ["https://github.com/login/device?code=1"]);
        let (codes, _) = scan("Use 123-456 to sign in");
        assert_eq!(codes, ["123456"]);
        let (codes, _) = scan("Welcome, nothing to see in 2026");
        assert_eq!(codes, ["2026"]);
    }
}
