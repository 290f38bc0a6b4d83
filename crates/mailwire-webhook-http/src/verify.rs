//! Signature verification behind one object-safe call, so the receiver does not
//! carry the verifier's clock type parameter.

use http::HeaderMap;
use mailwire_webhook::{Clock, Verified, Verifier, VerifyError};

/// Checks a request's signature over its raw body.
pub(crate) trait Verify: Send + Sync + 'static {
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError>;
}

impl<C: Clock + Send + Sync + 'static> Verify for Verifier<C> {
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        Verifier::verify(self, headers, body)
    }
}
