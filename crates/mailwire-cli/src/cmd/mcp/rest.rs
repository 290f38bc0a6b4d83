//! The service's REST API (`/v0`), as JSON in and out: what the email tools call.

use std::time::Duration;

use anyhow::anyhow;
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt as _, Full, Limited};
use mailwire_client::https::HttpsClient;
use mailwire_client::segment;
use serde_json::Value;

use crate::cmd::runtime::{chain, error_text, http_client};

/// The most an answer may hold (an attachment's text, a long thread).
const MAX_ANSWER: usize = 16 << 20;
/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one service's REST API, with one key.
#[derive(Clone)]
pub(crate) struct Rest {
    base: String,
    auth: header::HeaderValue,
    client: HttpsClient<Full<Bytes>>,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Rest {
    /// A client of the API at `base` (e.g. `https://api.agentmail.to/v0`).
    pub(crate) fn new(base: &str, key: &str) -> anyhow::Result<Rest> {
        let mut auth = header::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| anyhow!("--api-key: not a valid header value"))?;
        auth.set_sensitive(true);
        Ok(Rest {
            base: base.trim_end_matches('/').to_owned(),
            auth,
            client: http_client()?,
        })
    }

    /// `segments` joined into a path, each escaped.
    pub(crate) fn path(segments: &[&str]) -> String {
        segments
            .iter()
            .map(|s| format!("/{}", segment(s)))
            .collect()
    }

    /// One call: `method` on `path` (from [`Rest::path`]) with `query` and a JSON
    /// `body`; the answer's JSON (`null` for an empty one), or the service's error
    /// (`404 NotFoundError: Inbox not found`) as text, for a tool error.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut url = format!("{}{path}", self.base);
        for (n, (k, v)) in query.iter().enumerate() {
            url.push(if n == 0 { '?' } else { '&' });
            url.push_str(&format!("{}={}", segment(k), segment(v)));
        }
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::AUTHORIZATION, self.auth.clone())
            .header(header::ACCEPT, "application/json");
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(v).map_err(|e| e.to_string())?)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("{url}: {e}"))?;
        let answer = tokio::time::timeout(TIMEOUT, async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("cannot reach {}: {}", self.base, chain(&e)))?;
            let status = res.status();
            let bytes = Limited::new(res.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        })
        .await
        .map_err(|_| format!("{}: no answer within {} s", self.base, TIMEOUT.as_secs()))??;
        let (status, bytes) = answer;
        if !status.is_success() {
            return Err(format!("{}: {}", status.as_u16(), error_text(&bytes)));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("the answer is not JSON: {e}"))
    }

    /// The API's origin: `https://api.agentmail.to` for `https://api.agentmail.to/v0`.
    fn origin(&self) -> &str {
        let after_scheme = self.base.find("://").map_or(0, |i| i + 3);
        match self.base[after_scheme..].find('/') {
            Some(i) => &self.base[..after_scheme + i],
            None => &self.base,
        }
    }

    /// `url` made absolute: a path (`/_sim/download/...`) is on the API's origin.
    pub(crate) fn absolute(&self, url: &str) -> String {
        if url.contains("://") {
            url.to_owned()
        } else if let Some(rest) = url.strip_prefix("//") {
            let scheme = self.base.split("://").next().unwrap_or("https");
            format!("{scheme}://{rest}")
        } else {
            format!("{}/{}", self.origin(), url.trim_start_matches('/'))
        }
    }

    /// A GET of raw bytes (an attachment's download URL, absolute or under the API).
    /// The key goes only to the API's own origin: a presigned URL elsewhere carries
    /// its own authorization (and storage services refuse a second one).
    pub(crate) async fn download(
        &self,
        url: &str,
        limit: usize,
    ) -> Result<(Option<String>, Bytes), String> {
        let url = self.absolute(url);
        let url = url.as_str();
        let mut req = Request::builder().method(Method::GET).uri(url);
        let origin = self.origin();
        if url
            .strip_prefix(origin)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        {
            req = req.header(header::AUTHORIZATION, self.auth.clone());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        tokio::time::timeout(TIMEOUT, async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("cannot download {url}: {}", chain(&e)))?;
            let status = res.status();
            let kind = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = Limited::new(res.into_body(), limit)
                .collect()
                .await
                .map_err(|e| format!("downloading {url}: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("{}: {}", status.as_u16(), error_text(&bytes)));
            }
            Ok((kind, bytes))
        })
        .await
        .map_err(|_| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))?
    }
}

#[cfg(test)]
mod tests {
    use super::Rest;

    #[test]
    fn download_urls_are_made_absolute_against_the_api_origin() {
        let rest = Rest::new("https://api.example.com/v0/", "k").unwrap();
        assert_eq!(rest.origin(), "https://api.example.com");
        assert_eq!(
            rest.absolute("/_sim/download/a/b/c"),
            "https://api.example.com/_sim/download/a/b/c"
        );
        assert_eq!(
            rest.absolute("https://files.example.net/x?sig=1"),
            "https://files.example.net/x?sig=1"
        );
        assert_eq!(
            rest.absolute("//files.example.net/x"),
            "https://files.example.net/x"
        );
        let bare = Rest::new("http://127.0.0.1:8787", "k").unwrap();
        assert_eq!(bare.origin(), "http://127.0.0.1:8787");
    }
}
