//! API keys, accepted the three ways the service accepts them: an `X-API-Key`
//! header, `Authorization: Bearer <key>`, or an `api_key` query parameter.

use std::fmt;

use hyper::Request;

/// The keys the simulator accepts. Empty means every request is let in, which is
/// what local development usually wants.
#[derive(Clone, Default)]
pub(crate) struct ApiKeys(Vec<String>);

impl ApiKeys {
    pub(crate) fn new(keys: Vec<String>) -> ApiKeys {
        ApiKeys(keys)
    }

    /// `Ok` when the request carries an accepted key (or when no key is configured);
    /// `Err(true)` when it carries none, `Err(false)` when none it carries is known.
    pub(crate) fn check<B>(&self, req: &Request<B>) -> Result<(), bool> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut presented = self.presented(req).peekable();
        if presented.peek().is_none() {
            return Err(true);
        }
        if presented.any(|key| self.0.iter().any(|k| k.as_str() == key.as_ref())) {
            Ok(())
        } else {
            Err(false)
        }
    }

    /// Whose request it is, for what the service keeps per API key (idempotency
    /// keys): the accepted key it presents; with no key configured, the first it
    /// presents, if any.
    pub(crate) fn owner<B>(&self, req: &Request<B>) -> String {
        self.presented(req)
            .find(|key| self.0.is_empty() || self.0.iter().any(|k| k.as_str() == key.as_ref()))
            // A key created through the API (it was let in, so it is one).
            .or_else(|| self.presented(req).next())
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default()
    }

    /// Every key the request presents, the three ways.
    pub(crate) fn presented<'r, B>(
        &self,
        req: &'r Request<B>,
    ) -> impl Iterator<Item = std::borrow::Cow<'r, str>> {
        let headers = req.headers();
        let header = headers
            .get_all("x-api-key")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let bearer = headers
            .get_all(hyper::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "));
        // Decoded as forms are (`+` is a space), leniently: a malformed escape is
        // kept as it is, and so is presented as a key that is not known.
        let query = req
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
            .filter(|(key, _)| key == "api_key")
            .map(|(_, value)| value);
        header
            .chain(bearer)
            .map(std::borrow::Cow::Borrowed)
            .chain(query)
    }
}

// Keys are secrets: never printed.
impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        build: impl FnOnce(hyper::http::request::Builder) -> hyper::http::request::Builder,
    ) -> Request<()> {
        build(Request::builder()).body(()).expect("a valid request")
    }

    #[test]
    fn accepts_each_of_the_three_ways_and_nothing_else() {
        let keys = ApiKeys::new(vec!["k1".into()]);
        assert!(
            keys.check(&req(|b| b.uri("/v0").header("x-api-key", "k1")))
                .is_ok()
        );
        assert!(
            keys.check(&req(|b| b.uri("/v0").header("authorization", "Bearer k1")))
                .is_ok()
        );
        assert!(keys.check(&req(|b| b.uri("/v0?x=1&api_key=k1"))).is_ok());
        assert!(keys.check(&req(|b| b.uri("/v0"))).is_err());
        assert!(
            keys.check(&req(|b| b.uri("/v0").header("x-api-key", "k2")))
                .is_err()
        );
        assert!(
            keys.check(&req(|b| b.uri("/v0").header("authorization", "k1")))
                .is_err()
        );
        assert!(keys.check(&req(|b| b.uri("/v0?api_key=k"))).is_err());
        assert!(ApiKeys::default().check(&req(|b| b.uri("/v0"))).is_ok());
        let odd = ApiKeys::new(vec!["sk/1+2".into()]);
        assert!(odd.check(&req(|b| b.uri("/v0?api_key=sk%2F1%2B2"))).is_ok());
        assert!(odd.check(&req(|b| b.uri("/v0?api_key=sk%2F1+2"))).is_err());
        assert_eq!(odd.check(&req(|b| b.uri("/v0?api_key=sk%2"))), Err(false));
        assert_eq!(odd.check(&req(|b| b.uri("/v0?api_key=%FF"))), Err(false));
        assert_eq!(keys.check(&req(|b| b.uri("/v0"))), Err(true));
        assert_eq!(
            keys.check(&req(|b| b.uri("/v0").header("x-api-key", "k2"))),
            Err(false)
        );
        assert!(!format!("{keys:?}").contains("k1"));
    }
}
