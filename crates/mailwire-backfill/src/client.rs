//! The few calls of the service's REST API a backfill needs, with AgentMail's auth
//! (`Authorization: Bearer`), paging and error answers.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mailwire_client::{parse_retry_after, segment};
use mailwire_source::SourceError;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The largest REST answer read: a page of 100 full messages fits easily.
const MAX_BODY: usize = 32 << 20;

/// How long one REST call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// 401 or 403: the key was refused. Retrying will not help.
    #[error("the API key was refused (HTTP {0})")]
    Unauthorized(u16),
    /// 429: slow down, and try again after this long (from `Retry-After`).
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited {
        /// What the service asked for, if it said.
        retry_after: Option<Duration>,
    },
    /// A 5xx, or another status the call does not expect.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// The service's error message, or the start of the body.
        message: String,
        /// `Retry-After`, when the answer had one.
        retry_after: Option<Duration>,
    },
    /// The connection failed or timed out.
    #[error("transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The answer is not the JSON the call expects.
    #[error("unexpected answer: {0}")]
    Malformed(#[source] serde_json::Error),
}

impl RestError {
    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            RestError::Unauthorized(_) => false,
            RestError::Status { status, .. } => *status >= 500 || *status == 408,
            RestError::Malformed(_) => false,
            RestError::RateLimited { .. } | RestError::Transport(_) => true,
        }
    }

    /// The HTTP status the service answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Unauthorized(status) | RestError::Status { status, .. } => Some(*status),
            RestError::RateLimited { .. } => Some(429),
            RestError::Transport(_) | RestError::Malformed(_) => None,
        }
    }

    /// How long the service asked to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::RateLimited { retry_after } | RestError::Status { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

type HttpClient = Client<Connector, Empty<Bytes>>;

#[cfg(feature = "https")]
type Connector = mailwire_client::https::Connector;
#[cfg(not(feature = "https"))]
type Connector = hyper_util::client::legacy::connect::HttpConnector;

#[cfg(feature = "https")]
fn connector(trust: &mailwire_client::tls::TlsTrust) -> Result<Connector, SourceError> {
    mailwire_client::https::connector(trust).map_err(SourceError::tls)
}

#[cfg(not(feature = "https"))]
fn connector() -> Result<Connector, SourceError> {
    Ok(hyper_util::client::legacy::connect::HttpConnector::new())
}

/// A page of `GET /v0/inboxes/{inbox_id}/messages`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessagePage {
    /// Required: an answer without it is not the API's, and reading it as an empty
    /// page would move progress past messages never seen.
    pub(crate) messages: Vec<MessageItem>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

/// What the backfill reads of a listed message.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageItem {
    pub(crate) message_id: String,
    #[serde(default)]
    pub(crate) labels: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) timestamp: Option<OffsetDateTime>,
}

/// A page of `GET /v0/inboxes`.
#[derive(Debug, Deserialize)]
struct InboxPage {
    /// Required, as `messages` above: an empty scope would cover nothing.
    inboxes: Vec<InboxItem>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InboxItem {
    inbox_id: String,
}

/// The REST client.
#[derive(Clone, Debug)]
pub(crate) struct Rest {
    base: String,
    key: header::HeaderValue,
    http: HttpClient,
}

impl Rest {
    /// A client for the API under `base` (e.g. `https://api.agentmail.to/v0`).
    pub(crate) fn new(config: &crate::BackfillConfig) -> Result<Rest, SourceError> {
        let (base, key) = (&config.base_url, &config.api_key);
        #[cfg(feature = "https")]
        let connector = connector(&config.tls)?;
        #[cfg(not(feature = "https"))]
        let connector = connector()?;
        let (base, key) = Rest::parts(base, key).map_err(SourceError::config)?;
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Rest { base, key, http })
    }

    /// The base URL checked and the key as a sensitive header value.
    fn parts(base: &str, key: &str) -> Result<(String, header::HeaderValue), String> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|e| format!("invalid base URL {base:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if cfg!(feature = "https") => {}
            Some("https") => return Err("https:// needs the `https` feature".into()),
            _ => return Err(format!("{base:?} is not an http:// or https:// URL")),
        }
        let mut key = header::HeaderValue::try_from(format!("Bearer {key}"))
            .map_err(|_| "the API key is not a valid header value".to_owned())?;
        key.set_sensitive(true);
        Ok((base, key))
    }

    /// The URL of the call that tells whether `base` is the REST API.
    pub(crate) fn check_url(&self) -> String {
        format!("{}/inboxes?limit=1", self.base)
    }

    /// The base URL as configured, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// One page of one inbox: the cheapest call that only the REST API answers with
    /// its inbox list's shape (`{"inboxes": [...]}`).
    pub(crate) async fn check(&self) -> Result<(), RestError> {
        let _: InboxPage = self
            .get_json("/inboxes", &[("limit", "1".to_owned())])
            .await?;
        Ok(())
    }

    /// Every inbox the key can see, following pages.
    pub(crate) async fn inboxes(&self) -> Result<Vec<String>, RestError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("limit", "100".to_owned())];
            if let Some(t) = &token {
                query.push(("page_token", t.clone()));
            }
            let page: InboxPage = self.get_json("/inboxes", &query).await?;
            out.extend(page.inboxes.into_iter().map(|i| i.inbox_id));
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// One page of an inbox's messages after `after`, oldest first.
    pub(crate) async fn messages(
        &self,
        inbox: &str,
        after: OffsetDateTime,
        flags: &Flags,
        limit: u32,
        page_token: Option<&str>,
    ) -> Result<MessagePage, RestError> {
        let after = after
            .format(&Rfc3339)
            .map_err(|e| RestError::Transport(Box::new(e)))?;
        let mut query = vec![
            ("after", after),
            ("ascending", "true".to_owned()),
            ("limit", limit.to_string()),
        ];
        for (name, on) in [
            ("include_spam", flags.spam),
            ("include_blocked", flags.blocked),
            ("include_unauthenticated", flags.unauthenticated),
        ] {
            if on {
                query.push((name, "true".to_owned()));
            }
        }
        if let Some(t) = page_token {
            query.push(("page_token", t.to_owned()));
        }
        let path = format!("/inboxes/{}/messages", segment(inbox));
        self.get_json(&path, &query).await
    }

    /// The whole message, as the service sends it (the list item lacks the body).
    pub(crate) async fn message(&self, inbox: &str, id: &str) -> Result<Bytes, RestError> {
        let path = format!("/inboxes/{}/messages/{}", segment(inbox), segment(id));
        self.get(&path, &[]).await
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, RestError> {
        let body = self.get(path, query).await?;
        serde_json::from_slice(&body).map_err(RestError::Malformed)
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes, RestError> {
        let mut url = format!("{}{path}", self.base);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&segment(value));
        }
        let request = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header(header::AUTHORIZATION, self.key.clone())
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| RestError::Transport(Box::new(e)))?;
        let call = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| RestError::Transport(Box::new(e)))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(RestError::Transport)?
                .to_bytes();
            match status {
                s if s.is_success() => Ok(body),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(RestError::Unauthorized(status.as_u16()))
                }
                StatusCode::TOO_MANY_REQUESTS => Err(RestError::RateLimited { retry_after }),
                s => Err(RestError::Status {
                    status: s.as_u16(),
                    message: error_message(&body),
                    retry_after,
                }),
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result,
            Err(elapsed) => Err(RestError::Transport(Box::new(elapsed))),
        }
    }
}

/// Which received-message kinds a pass includes besides `message.received`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub(crate) spam: bool,
    pub(crate) blocked: bool,
    pub(crate) unauthenticated: bool,
}

/// The longest `Retry-After` honoured: a server asking for more is waited an hour.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` as seconds or as an HTTP date (RFC 9110), against the clock, at
/// most [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    parse_retry_after(value, SystemTime::now()).map(|d| d.min(MAX_RETRY_AFTER))
}

/// The service's `{"name", "message"}` error, or the start of the body.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        name: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if !e.message.is_empty() => format!("{}: {}", e.name, e.message),
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn ids_are_percent_encoded_in_paths() {
        assert_eq!(segment("ada@agentmail.to"), "ada%40agentmail.to");
        assert_eq!(segment("<a+b/c@x>"), "%3Ca%2Bb%2Fc%40x%3E");
    }

    #[test]
    fn error_bodies_read_the_service_shape() {
        assert_eq!(
            error_message(br#"{"name":"NotFoundError","message":"no such inbox"}"#),
            "NotFoundError: no such inbox"
        );
        assert_eq!(error_message(b"oops"), "oops");
    }
}
