//! Full-text search of messages (`/v0/inboxes/{inbox_id}/messages/search`) and threads
//! (`/v0/threads/search`, under an inbox or a pod too), as the definition documents
//! it: the query `q` matched against the sender, the recipients and the subject as a
//! substring (case-insensitive), and against the body as tokens (every word of the
//! query among the body's words); ranked by relevance (a subject match counts most,
//! then the sender, the recipients, and the body's matched words), newer first among
//! equals; spam, trash, blocked and unauthenticated mail always left out; `limit` at
//! most 100. Each hit has `highlights`: per field matched, the fragment with the
//! matched text wrapped in `**`.

use std::collections::BTreeMap;

use mailwire_proto::{Address, Message};
use serde_json::{Value, json};

use crate::http::{Body, FILTERED_LIMIT, Query, Refusal, page_of, refusal, validation};
use crate::mail::{Stored, message_item, thread_item};
use hyper::Response;

/// How a message matched: its score and its fragments per field.
#[derive(Default)]
struct Hit {
    score: u32,
    highlights: BTreeMap<&'static str, Vec<String>>,
}

/// A search's query, read once.
pub(super) struct Search {
    /// The whole query, lowercased: the substring of sender, recipients and subject.
    phrase: String,
    /// Its words, lowercased: the tokens of the body.
    words: Vec<String>,
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// `text` with each (case-insensitive) occurrence of `needle` wrapped in `**`.
fn mark(text: &str, needle: &str) -> String {
    let lower = text.to_lowercase();
    if needle.is_empty() || lower.len() != text.len() {
        // Lowercasing changed byte lengths (rare scripts): the whole text, unmarked.
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 4);
    let mut at = 0;
    while let Some(found) = lower[at..].find(needle) {
        let start = at + found;
        let end = start + needle.len();
        out.push_str(&text[at..start]);
        out.push_str("**");
        out.push_str(&text[start..end]);
        out.push_str("**");
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// A fragment of the body around the first matched word, its matched words wrapped.
fn body_fragment(body: &str, words: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let all: Vec<&str> = body.split_whitespace().collect();
    let first = all.iter().position(|w| {
        let w = w.to_lowercase();
        words.iter().any(|q| w.contains(q.as_str()))
    });
    let start = first.unwrap_or(0).saturating_sub(5);
    for w in all.iter().skip(start).take(16) {
        let lower = w.to_lowercase();
        match words.iter().find(|q| lower.contains(q.as_str())) {
            Some(q) => out.push(mark(w, q)),
            None => out.push((*w).to_owned()),
        }
    }
    out.join(" ")
}

impl Search {
    /// The query of `query`: `q`, required and not blank.
    pub(super) fn of(query: &Query) -> Result<Search, Refusal> {
        let q = query.get("q").map(str::trim).unwrap_or_default();
        if q.is_empty() {
            return Err(refusal(validation("q: a search query is required")));
        }
        Ok(Search {
            phrase: q.to_lowercase(),
            words: words(q).collect(),
        })
    }

    fn message(&self, m: &Message) -> Option<Hit> {
        let mut hit = Hit::default();
        let mut field = |name: &'static str, weight: u32, values: Vec<&str>| {
            for v in values {
                if v.to_lowercase().contains(&self.phrase) {
                    hit.score += weight;
                    hit.highlights
                        .entry(name)
                        .or_default()
                        .push(mark(v, &self.phrase));
                }
            }
        };
        field("subject", 8, m.subject.as_deref().into_iter().collect());
        field(
            "from",
            4,
            m.from.as_ref().map(Address::as_str).into_iter().collect(),
        );
        let recipients = (m.to.iter())
            .chain(m.cc.iter().flatten())
            .chain(m.bcc.iter().flatten())
            .map(Address::as_str)
            .collect();
        field("recipients", 2, recipients);
        let body = m
            .extracted_text
            .as_deref()
            .or(m.text.as_deref())
            .unwrap_or_default();
        if !self.words.is_empty() {
            let found: Vec<String> = words(body).collect();
            let count = |q: &String| found.iter().filter(|w| *w == q).count() as u32;
            if self.words.iter().all(|q| count(q) > 0) {
                hit.score += self.words.iter().map(count).sum::<u32>();
                hit.highlights
                    .insert("text", vec![body_fragment(body, &self.words)]);
            }
        }
        (hit.score > 0).then_some(hit)
    }
}

/// Never in results: the labels the definition names.
fn searchable(m: &Stored) -> bool {
    m.hidden_by().is_none()
}

fn within(query: &Query, m: &Stored) -> Result<bool, Refusal> {
    let before = query.time("before")?;
    let after = query.time("after")?;
    Ok(before.is_none_or(|b| m.time() < b) && after.is_none_or(|a| m.time() >= a))
}

/// The limit of a search: at most 100.
fn limit(query: &Query) -> Result<usize, Refusal> {
    let limit = query.limit()?;
    if limit > FILTERED_LIMIT {
        return Err(refusal(validation(&format!(
            "limit: a search returns at most {FILTERED_LIMIT} at once, got {limit}"
        ))));
    }
    Ok(limit)
}

/// Ranked best first, newer first among equals.
fn ranked<T>(mut hits: Vec<(u32, time::OffsetDateTime, T)>) -> Vec<T> {
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    hits.into_iter().map(|(_, _, t)| t).collect()
}

fn with_highlights(mut item: Value, hit: Hit) -> Value {
    if !hit.highlights.is_empty() {
        item["highlights"] = json!(hit.highlights);
    }
    item
}

/// `GET .../messages/search` over `messages` (one inbox's).
pub(super) fn messages(messages: Vec<&Stored>, query: &Query) -> Result<Response<Body>, Refusal> {
    let search = Search::of(query)?;
    let limit = limit(query)?;
    let mut hits = Vec::new();
    for m in messages.into_iter().filter(|m| searchable(m)) {
        if !within(query, m)? {
            continue;
        }
        if let Some(hit) = search.message(&m.message) {
            let item = serde_json::to_value(message_item(&m.message)).unwrap_or_default();
            hits.push((hit.score, m.time(), with_highlights(item, hit)));
        }
    }
    page_of("messages", ranked(hits), query, limit)
}

/// `GET .../threads/search` over `threads` (each its messages, oldest first): a
/// thread scores as its best message, whose fragments it shows.
pub(super) fn threads(
    threads: Vec<Vec<&Stored>>,
    query: &Query,
) -> Result<Response<Body>, Refusal> {
    let search = Search::of(query)?;
    let limit = limit(query)?;
    let mut hits = Vec::new();
    for thread in threads {
        let visible: Vec<&Stored> = thread.into_iter().filter(|m| searchable(m)).collect();
        let Some(last) = visible.last() else {
            continue;
        };
        if !within(query, last)? {
            continue;
        }
        let best = visible
            .iter()
            .filter_map(|m| search.message(&m.message))
            .max_by_key(|h| h.score);
        if let Some(hit) = best {
            let item = serde_json::to_value(thread_item(&visible)).unwrap_or_default();
            hits.push((hit.score, last.time(), with_highlights(item, hit)));
        }
    }
    page_of("threads", ranked(hits), query, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_every_occurrence_whatever_its_case() {
        assert_eq!(mark("Plan: the PLAN", "plan"), "**Plan**: the **PLAN**");
        assert_eq!(mark("nothing", "plan"), "nothing");
        let fragment = body_fragment("one two three budget four", &["budget".into()]);
        assert_eq!(fragment, "one two three **budget** four");
    }
}
