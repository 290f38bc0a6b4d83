//! Where webhooks go, and with which secret.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::Uri;
use mailwire_webhook::Signer;

use crate::SenderError;

/// A webhook endpoint: its URL, the [`Signer`] holding its secret, and whether it
/// is disabled. A 410 Gone disables it: later deliveries to it are not attempted
/// (see [`Outcome::Disabled`](crate::Outcome::Disabled)) until
/// [`enable`](Self::enable). Clones share the disabled flag.
#[derive(Clone)]
pub struct Endpoint {
    uri: Uri,
    signer: Arc<Signer>,
    disabled: Arc<AtomicBool>,
}

impl Endpoint {
    /// An endpoint at `url` (`http://` or `https://`), signing with `signer`.
    pub fn new(url: &str, signer: Signer) -> Result<Endpoint, SenderError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| SenderError::InvalidUrl(e.to_string()))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => {}
            _ => {
                return Err(SenderError::InvalidUrl(
                    "expected an absolute http:// or https:// URL".to_owned(),
                ));
            }
        }
        Ok(Endpoint {
            uri,
            signer: Arc::new(signer),
            disabled: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// True once the endpoint answered 410 Gone.
    pub fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    /// Delivers to the endpoint again after it was disabled.
    pub fn enable(&self) {
        self.disabled.store(false, Ordering::Release);
    }

    pub(crate) fn disable(&self) {
        self.disabled.store(true, Ordering::Release);
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signer's Debug redacts the secret.
        f.debug_struct("Endpoint")
            .field("uri", &self.uri)
            .field("signer", &self.signer)
            .field("disabled", &self.is_disabled())
            .finish()
    }
}
