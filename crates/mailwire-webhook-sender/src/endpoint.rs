//! Where webhooks go, and with which secret.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::Uri;
use mailwire_webhook::{HeaderNames, Signer};

use crate::SenderError;

/// A webhook endpoint: its URL, the [`Signer`] holding its secret, and whether it
/// is disabled. A 410 Gone disables it: later deliveries to it are not attempted
/// (see [`Outcome::Disabled`](crate::Outcome::Disabled)) until
/// [`enable`](Self::enable). Clones share the disabled flag.
///
/// Standard Webhooks signatures go out as Svix (and so AgentMail) sends them,
/// under `svix-id`, `svix-timestamp` and `svix-signature`, whatever names the
/// signer was given; [`with_header_names`](Self::with_header_names) chooses
/// the specification's `webhook-*` names instead. Every receiver built on
/// `mailwire-webhook` accepts both.
#[derive(Clone)]
pub struct Endpoint {
    uri: Uri,
    signer: Signer,
    disabled: Arc<AtomicBool>,
    /// Custom headers sent with every delivery (clones share them).
    headers: Arc<std::sync::RwLock<http::HeaderMap>>,
}

impl Endpoint {
    /// An endpoint at `url` (`http://` or `https://`), signing with `signer`
    /// under the `svix-*` header names.
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
            signer: signer.with_header_names(HeaderNames::Svix),
            disabled: Arc::new(AtomicBool::new(false)),
            headers: Arc::default(),
        })
    }

    /// Sets the custom headers every delivery carries from now on (an
    /// authorization token the receiver expects, say), replacing the earlier ones;
    /// clones of this endpoint share them. They never replace what the sender sets
    /// itself: `content-type`, `user-agent` and the signature headers.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use mailwire_webhook::{Keyring, Signer};
    /// use mailwire_webhook_sender::Endpoint;
    ///
    /// let signer = Signer::new(Keyring::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?);
    /// let endpoint = Endpoint::new("https://example.com/hook", signer)?;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-receiver-token", HeaderValue::from_static("t0k3n"));
    /// endpoint.set_headers(headers);
    /// assert_eq!(endpoint.headers()["x-receiver-token"], "t0k3n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_headers(&self, headers: http::HeaderMap) {
        *self.headers.write().unwrap_or_else(|p| p.into_inner()) = headers;
    }

    /// The custom headers every delivery carries.
    pub fn headers(&self) -> http::HeaderMap {
        self.headers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Names the Standard Webhooks headers (`svix-*` unless told otherwise);
    /// ignored by the `hex` and `stripe` schemes.
    ///
    /// ```
    /// use mailwire_webhook::{HeaderNames, Keyring, Signer};
    /// use mailwire_webhook_sender::Endpoint;
    ///
    /// let signer = Signer::new(Keyring::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?);
    /// let endpoint = Endpoint::new("https://example.com/hook", signer)?;
    /// assert_eq!(endpoint.header_names(), HeaderNames::Svix);
    /// let endpoint = endpoint.with_header_names(HeaderNames::Webhook);
    /// assert_eq!(endpoint.header_names(), HeaderNames::Webhook);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_header_names(mut self, names: HeaderNames) -> Endpoint {
        self.signer = self.signer.with_header_names(names);
        self
    }

    /// The names the Standard Webhooks headers go out under.
    pub fn header_names(&self) -> HeaderNames {
        self.signer.header_names()
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
            // Names only: values may be secrets.
            .field("headers", &self.headers().keys().collect::<Vec<_>>())
            .finish()
    }
}
