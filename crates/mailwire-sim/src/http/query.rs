//! Query parameters as the SDKs send them: list values as one JSON array
//! (`labels=["a","b"]`), booleans as `true`/`false`, times in RFC 3339.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use hyper::Uri;
use hyper::http::request::Parts;
use mailwire_proto::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Refusal;
use super::{refusal, validation};

/// The default page size, and the largest one asked for.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The largest page of a filtered list: "Filtered requests are served by search,
/// which caps `limit` at 100" (`inboxes/messages.yml`, `threads.yml`, list). A larger
/// `limit` is capped, not refused: the list endpoints document no 400.
pub(crate) const FILTERED_LIMIT: usize = 100;

/// The filters that make a message list a filtered one.
pub(crate) const MESSAGE_FILTERS: [&str; 3] = ["from", "to", "subject"];

/// The filters that make a thread list a filtered one.
pub(crate) const THREAD_FILTERS: [&str; 3] = ["senders", "recipients", "subject"];

/// The decoded query of a request (`application/x-www-form-urlencoded`, as axum's
/// `Query` reads it, but kept as pairs: lists come repeated, and a value that is
/// not valid is the service's 400, not axum's).
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::of(&parts.uri))
    }
}

impl Query {
    pub(crate) fn of(uri: &Uri) -> Query {
        Query(
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every pair, in order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn limit(&self) -> Result<usize, Refusal> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(refusal(validation(&format!(
                    "limit: expected a number from 1 to {MAX_LIMIT}, got {v:?}"
                )))),
            },
        }
    }

    /// The page size, capped at [`FILTERED_LIMIT`] when any of `filters` is given.
    pub(crate) fn limit_filtered(&self, filters: &[&str]) -> Result<usize, Refusal> {
        let limit = self.limit()?;
        for key in filters {
            if self.list(key)?.is_some_and(|values| !values.is_empty()) {
                return Ok(limit.min(FILTERED_LIMIT));
            }
        }
        Ok(limit)
    }

    pub(crate) fn page_offset(&self) -> Result<usize, Refusal> {
        match self.get("page_token") {
            None => Ok(0),
            Some(t) => t
                .strip_prefix("pt_")
                .and_then(|n| usize::from_str_radix(n, 16).ok())
                .ok_or_else(|| refusal(validation("page_token: not a token this server gave"))),
        }
    }

    pub(crate) fn flag(&self, key: &str) -> Result<bool, Refusal> {
        match self.get(key) {
            None => Ok(false),
            Some("true" | "True" | "1") => Ok(true),
            Some("false" | "False" | "0") => Ok(false),
            Some(v) => Err(refusal(validation(&format!(
                "{key}: expected true or false, got {v:?}"
            )))),
        }
    }

    pub(crate) fn time(&self, key: &str) -> Result<Option<OffsetDateTime>, Refusal> {
        self.get(key)
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339)
                    .or_else(|_| {
                        // Python's isoformat() without an offset: UTC.
                        OffsetDateTime::parse(&format!("{v}Z"), &Rfc3339)
                    })
                    .map_err(|_| {
                        refusal(validation(&format!(
                            "{key}: expected an RFC 3339 time, got {v:?}"
                        )))
                    })
            })
            .transpose()
    }

    /// A list: the SDKs' JSON array in one parameter, or the parameter repeated.
    pub(crate) fn list(&self, key: &str) -> Result<Option<Vec<String>>, Refusal> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(k, _)| k == key || k == &format!("{key}[]"))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for v in values {
            if v.trim_start().starts_with('[') {
                let list: Vec<String> = serde_json::from_str(v).map_err(|_| {
                    refusal(validation(&format!(
                        "{key}: expected a JSON list of strings"
                    )))
                })?;
                out.extend(list);
            } else {
                out.push(v.to_owned());
            }
        }
        Ok(Some(out))
    }

    pub(crate) fn ascending(&self) -> Result<bool, Refusal> {
        self.flag("ascending")
    }
}

/// The token of the page starting at `offset`.
pub(crate) fn page_token(offset: usize) -> String {
    format!("pt_{offset:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::of(&format!("/x?{s}").parse().unwrap())
    }

    #[test]
    fn reads_what_the_sdks_send() {
        let query = q(
            "limit=5&labels=%5B%22a%22%2C+%22b%22%5D&ascending=true&before=2024-01-02T00%3A00%3A00Z",
        );
        assert_eq!(query.limit().unwrap(), 5);
        assert_eq!(query.list("labels").unwrap().unwrap(), ["a", "b"]);
        assert!(query.ascending().unwrap());
        assert!(query.time("before").unwrap().is_some());
        assert_eq!(
            q("labels=x&labels=y").list("labels").unwrap().unwrap(),
            ["x", "y"]
        );
        assert!(q("limit=0").limit().is_err());
        assert!(q("ascending=maybe").ascending().is_err());
        assert!(q("page_token=zz").page_offset().is_err());
        assert_eq!(
            q(&format!("page_token={}", page_token(42)))
                .page_offset()
                .unwrap(),
            42
        );
        assert!(q("after=yesterday").time("after").is_err());
    }
}
