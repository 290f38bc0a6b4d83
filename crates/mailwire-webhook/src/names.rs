//! The two sets of names the Standard Webhooks headers go by.

use http::HeaderName;

/// Which names a `standard` signature's three headers carry.
///
/// The signed content is the same under both; only the names differ.
/// [`Verifier`](crate::Verifier) accepts either set (and refuses a header
/// present under both names); [`Signer`](crate::Signer) writes one, chosen
/// with [`Signer::with_header_names`](crate::Signer::with_header_names).
///
/// ```
/// use mailwire_webhook::HeaderNames;
///
/// assert_eq!(HeaderNames::Svix.id(), "svix-id");
/// assert_eq!(HeaderNames::Webhook.signature(), "webhook-signature");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderNames {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`: the names of
    /// the Standard Webhooks specification.
    Webhook,
    /// `svix-id`, `svix-timestamp`, `svix-signature`: the names Svix sends,
    /// and so the names on AgentMail's webhooks.
    Svix,
}

impl HeaderNames {
    /// The header carrying the message id.
    pub const fn id(self) -> HeaderName {
        match self {
            Self::Webhook => HeaderName::from_static("webhook-id"),
            Self::Svix => HeaderName::from_static("svix-id"),
        }
    }

    /// The header carrying the timestamp, in Unix seconds.
    pub const fn timestamp(self) -> HeaderName {
        match self {
            Self::Webhook => HeaderName::from_static("webhook-timestamp"),
            Self::Svix => HeaderName::from_static("svix-timestamp"),
        }
    }

    /// The header carrying the signatures.
    pub const fn signature(self) -> HeaderName {
        match self {
            Self::Webhook => HeaderName::from_static("webhook-signature"),
            Self::Svix => HeaderName::from_static("svix-signature"),
        }
    }
}
