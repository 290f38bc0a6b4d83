//! Webhook registrations: what `POST /v0/webhooks` (AgentMail's, and its pod- and
//! inbox-scoped routes) and `POST /v1/webhooks` (the article's) create, `GET` lists,
//! `PATCH` changes and `DELETE` removes.

use std::fmt;

use base64::Engine as _;
use mailwire_proto::{Envelope, Event, EventType, Selection};
use mailwire_webhook::{KeyError, Keyring, Scheme, Signer};
use mailwire_webhook_sender::{Endpoint, SenderError};
use serde::{Deserialize, Serialize};

/// A webhook to register: the body of `POST /v1/webhooks`.
///
/// `events` (also accepted as `event_types`) and `inbox_ids` filter what is sent;
/// absent means everything. Without a `secret` one is generated (`whsec_` and 24
/// random bytes in base64). Without a `scheme` the simulator picks `standard` under
/// AgentMail's envelope and `hex` (`x-signature`) under the simple one.
///
/// ```
/// let spec: mailwire_sim::WebhookSpec = serde_json::from_str(
///     r#"{"url":"http://127.0.0.1:3000/hooks","events":["message.received"],"secret":"s3cret"}"#,
/// ).unwrap();
/// assert_eq!(spec.url, "http://127.0.0.1:3000/hooks");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookSpec {
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// Only these event types.
    #[serde(default, alias = "event_types")]
    pub events: Option<Vec<EventType>>,
    /// Only events of these inboxes.
    #[serde(default)]
    pub inbox_ids: Option<Vec<String>>,
    /// Only events of the inboxes of these pods.
    #[serde(default)]
    pub pod_ids: Option<Vec<String>>,
    /// The caller's own id for it: registering the same `client_id` twice returns
    /// the first registration.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The signing secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// `hex`, `standard` or `stripe`.
    #[serde(default)]
    pub scheme: Option<String>,
}

impl WebhookSpec {
    /// A webhook to `url` for every event, with a generated secret and the default
    /// scheme.
    pub fn new(url: impl Into<String>) -> WebhookSpec {
        WebhookSpec {
            url: url.into(),
            ..WebhookSpec::default()
        }
    }

    /// Signs with this secret.
    pub fn secret(mut self, secret: impl Into<String>) -> WebhookSpec {
        self.secret = Some(secret.into());
        self
    }

    /// Signs with this scheme.
    pub fn scheme(mut self, scheme: Scheme) -> WebhookSpec {
        self.scheme = Some(scheme.as_str().to_owned());
        self
    }

    /// Only these event types.
    pub fn events(mut self, types: impl IntoIterator<Item = EventType>) -> WebhookSpec {
        self.events = Some(types.into_iter().collect());
        self
    }

    /// Only these inboxes.
    pub fn inbox_ids<S: Into<String>>(mut self, inboxes: impl IntoIterator<Item = S>) -> Self {
        self.inbox_ids = Some(inboxes.into_iter().map(Into::into).collect());
        self
    }

    /// Only the inboxes of these pods.
    pub fn pod_ids<S: Into<String>>(mut self, pods: impl IntoIterator<Item = S>) -> Self {
        self.pod_ids = Some(pods.into_iter().map(Into::into).collect());
        self
    }
}

impl fmt::Debug for WebhookSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSpec")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("inbox_ids", &self.inbox_ids)
            .field("pod_ids", &self.pod_ids)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("scheme", &self.scheme)
            .finish()
    }
}

/// A registered webhook, as `POST` and `GET /v1/webhooks` return it (the secret
/// included, as the service returns it to the key's owner).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Webhook {
    /// Its id, `wh_...`.
    pub webhook_id: String,
    /// Where events go.
    pub url: String,
    /// The event types sent (`None`: all).
    pub events: Option<Vec<EventType>>,
    /// The inboxes whose events are sent (`None`: all).
    pub inbox_ids: Option<Vec<String>>,
    /// The pods whose inboxes' events are sent (`None`: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_ids: Option<Vec<String>>,
    /// The pod a pod-scoped webhook (`/v0/pods/{pod_id}/webhooks`) belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_id: Option<String>,
    /// The inbox an inbox-scoped webhook (`/v0/inboxes/{inbox_id}/webhooks`)
    /// belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_id: Option<String>,
    /// The caller's own id for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The signature scheme.
    pub scheme: String,
    /// The signing secret.
    pub secret: String,
    /// False once the endpoint answered 410 Gone.
    pub enabled: bool,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

impl Webhook {
    /// True when `event` passes the webhook's filters, its inbox being in `pod`
    /// (`None`: in no known pod, which no `pod_ids` filter lets through).
    pub fn wants(&self, event: &Event, pod: Option<&str>) -> bool {
        let pod_of = |_: &str| pod.map(str::to_owned);
        // Its filters, by the one rule; then the scope it was created in (an inbox's
        // or a pod's webhook), by the same rule.
        let own_inbox = self.inbox_id.clone().map(|i| vec![i]);
        let own_pod = self.pod_id.clone().map(|p| vec![p]);
        self.enabled
            && Selection::new()
                .event_types(self.events.as_deref())
                .inbox_ids(self.inbox_ids.as_deref())
                .pod_ids(self.pod_ids.as_deref())
                .selects(event, pod_of)
            && Selection::new()
                .event_types(Some(std::slice::from_ref(event.event_type())))
                .inbox_ids(own_inbox.as_deref())
                .pod_ids(own_pod.as_deref())
                .selects(event, pod_of)
    }

    /// The webhook as AgentMail's API returns it (`Webhook` of the definition).
    pub(crate) fn agentmail_view(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "webhook_id": self.webhook_id,
            "url": self.url,
            "event_types": self.events.clone().unwrap_or_default(),
            "secret": self.secret,
            "enabled": self.enabled,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
        });
        for (key, value) in [
            (
                "inbox_ids",
                self.inbox_ids.clone().map(serde_json::Value::from),
            ),
            ("pod_ids", self.pod_ids.clone().map(serde_json::Value::from)),
            ("pod_id", self.pod_id.clone().map(serde_json::Value::from)),
            (
                "inbox_id",
                self.inbox_id.clone().map(serde_json::Value::from),
            ),
            (
                "client_id",
                self.client_id.clone().map(serde_json::Value::from),
            ),
        ] {
            if let Some(value) = value {
                v[key] = value;
            }
        }
        v
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("webhook_id", &self.webhook_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("inbox_ids", &self.inbox_ids)
            .field("scheme", &self.scheme)
            .field("secret", &"<redacted>")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Why a webhook could not be registered. The message starts with the field at
/// fault, as the 400 of the REST route does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// `scheme` names none the simulator signs with.
    #[error("scheme: expected hex, standard or stripe, got {name:?}")]
    Scheme {
        /// What was given.
        name: String,
        /// Why it does not parse.
        #[source]
        source: KeyError,
    },
    /// The secret does not suit the scheme (`standard` takes `whsec_` and base64).
    #[error("secret: {0}")]
    Secret(#[source] KeyError),
    /// The URL does not parse, or is not `http://` or `https://`.
    #[error("url: {0}")]
    Url(#[source] SenderError),
    /// The URL holds whitespace.
    #[error("url: contains whitespace")]
    UrlWhitespace,
}

/// A checked registration: the public view and the endpoint that signs for it.
pub(crate) struct Checked {
    pub(crate) webhook: Webhook,
    pub(crate) endpoint: Endpoint,
}

fn scheme(name: &str) -> Result<Scheme, WebhookError> {
    name.parse::<Scheme>()
        .map_err(|source| WebhookError::Scheme {
            name: name.to_owned(),
            source,
        })
}

/// Checks a spec, fills in the defaults, and builds its endpoint.
pub(crate) fn check(spec: WebhookSpec, envelope: Envelope) -> Result<Checked, WebhookError> {
    let scheme = match spec.scheme.as_deref() {
        None => match envelope {
            Envelope::AgentMail => Scheme::Standard,
            Envelope::Simple => Scheme::Hex,
        },
        Some(name) => scheme(name)?,
    };
    let secret = match spec.secret {
        Some(secret) => secret,
        None => generate_secret(),
    };
    let keyring = Keyring::new(scheme, [&secret]).map_err(WebhookError::Secret)?;
    let endpoint = Endpoint::new(&spec.url, Signer::new(keyring)).map_err(WebhookError::Url)?;
    check_url(&spec.url)?;
    let now = crate::ids::now_rfc3339();
    let webhook = Webhook {
        webhook_id: crate::ids::new("wh"),
        url: spec.url,
        events: spec.events,
        inbox_ids: spec.inbox_ids,
        pod_ids: spec.pod_ids,
        pod_id: None,
        inbox_id: None,
        client_id: spec.client_id,
        scheme: scheme.as_str().to_owned(),
        secret,
        enabled: true,
        created_at: now.clone(),
        updated_at: now,
    };
    Ok(Checked { webhook, endpoint })
}

/// An endpoint at `url` signing as `webhook` does.
pub(crate) fn endpoint(url: &str, webhook: &Webhook) -> Result<Endpoint, WebhookError> {
    let keyring =
        Keyring::new(scheme(&webhook.scheme)?, [&webhook.secret]).map_err(WebhookError::Secret)?;
    Endpoint::new(url, Signer::new(keyring)).map_err(WebhookError::Url)
}

/// The sender accepts any absolute URL; a webhook also needs a host to reach.
fn check_url(url: &str) -> Result<(), WebhookError> {
    if url.chars().any(char::is_whitespace) {
        return Err(WebhookError::UrlWhitespace);
    }
    Ok(())
}

/// `whsec_` and 24 random bytes in base64: valid for every scheme (hex and stripe
/// key with the string's bytes, standard with the decoded ones).
pub(crate) fn generate_secret() -> String {
    // The system's secure source; were it ever unavailable, a secret from the
    // per-process one still differs from every other.
    mailwire_webhook::new_secret().unwrap_or_else(|_| {
        let bytes: [u8; 24] = std::array::from_fn(|_| fastrand::u8(..));
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_envelope() {
        let agentmail = check(
            WebhookSpec::new("http://127.0.0.1:1/h"),
            Envelope::AgentMail,
        )
        .unwrap();
        assert_eq!(agentmail.webhook.scheme, "standard");
        assert!(agentmail.webhook.secret.starts_with("whsec_"));
        let simple = check(WebhookSpec::new("http://127.0.0.1:1/h"), Envelope::Simple).unwrap();
        assert_eq!(simple.webhook.scheme, "hex");
        assert!(simple.webhook.webhook_id.starts_with("wh_"));
        assert_ne!(agentmail.webhook.secret, simple.webhook.secret);
    }

    #[test]
    fn refusals_keep_their_cause() {
        use std::error::Error as _;
        let refused = |spec: WebhookSpec| check(spec, Envelope::AgentMail).err().unwrap();
        let url = refused(WebhookSpec::new("ftp://x/y"));
        assert!(
            matches!(url, WebhookError::Url(SenderError::InvalidUrl(_))),
            "{url:?}"
        );
        assert!(url.source().is_some());
        let secret = refused(WebhookSpec::new("http://x/y").secret("plain"));
        assert!(matches!(secret, WebhookError::Secret(_)), "{secret:?}");
        assert!(secret.source().is_some());
        let scheme = refused(WebhookSpec {
            scheme: Some("rot13".into()),
            ..WebhookSpec::new("http://x/y")
        });
        assert!(
            matches!(&scheme, WebhookError::Scheme { name, .. } if name == "rot13"),
            "{scheme:?}"
        );
        assert!(matches!(
            refused(WebhookSpec::new("http://x/a b")),
            WebhookError::Url(_) | WebhookError::UrlWhitespace
        ));
    }

    #[test]
    fn refuses_bad_urls_schemes_and_secrets() {
        let bad = |spec: WebhookSpec| check(spec, Envelope::AgentMail).err().unwrap().to_string();
        assert!(bad(WebhookSpec::new("ftp://x/y")).starts_with("url:"));
        assert!(bad(WebhookSpec::new("not a url")).starts_with("url:"));
        let spec = WebhookSpec {
            scheme: Some("rot13".into()),
            ..WebhookSpec::new("http://x/y")
        };
        assert!(bad(spec).starts_with("scheme:"));
        // Standard secrets are whsec_ base64.
        assert!(bad(WebhookSpec::new("http://x/y").secret("plain")).starts_with("secret:"));
        assert!(
            check(
                WebhookSpec::new("http://x/y")
                    .secret("plain")
                    .scheme(Scheme::Hex),
                Envelope::AgentMail
            )
            .is_ok()
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let hook = check(
            WebhookSpec::new("http://x/y").secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Envelope::AgentMail,
        )
        .unwrap();
        assert!(!format!("{:?}", hook.webhook).contains("MfKQ"));
        assert!(
            !format!("{:?}", WebhookSpec::new("http://x").secret("hunter2")).contains("hunter2")
        );
    }
}
