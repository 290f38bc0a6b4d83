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

    /// True when the request carries an accepted key (or when no key is configured).
    pub(crate) fn authorize<B>(&self, req: &Request<B>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        self.presented(req)
            .any(|key| self.0.iter().any(|k| k == key))
    }

    fn presented<'r, B>(&self, req: &'r Request<B>) -> impl Iterator<Item = &'r str> {
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
        let query = req
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.strip_prefix("api_key="));
        header.chain(bearer).chain(query)
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
        assert!(keys.authorize(&req(|b| b.uri("/v0").header("x-api-key", "k1"))));
        assert!(keys.authorize(&req(|b| b.uri("/v0").header("authorization", "Bearer k1"))));
        assert!(keys.authorize(&req(|b| b.uri("/v0?x=1&api_key=k1"))));
        assert!(!keys.authorize(&req(|b| b.uri("/v0"))));
        assert!(!keys.authorize(&req(|b| b.uri("/v0").header("x-api-key", "k2"))));
        assert!(!keys.authorize(&req(|b| b.uri("/v0").header("authorization", "k1"))));
        assert!(!keys.authorize(&req(|b| b.uri("/v0?api_key=k"))));
        assert!(ApiKeys::default().authorize(&req(|b| b.uri("/v0"))));
        assert!(!format!("{keys:?}").contains("k1"));
    }
}
