//! Tenants as a configuration file describes them (serde).

use std::fmt;

use mailwire_webhook::{Keyring, Scheme, Verifier};
use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::limits::RateLimits;
use crate::tenant::{Tenant, Tenants};

/// One tenant as a configuration file describes it: e.g., in TOML,
///
/// ```toml
/// [[tenant]]
/// id = "acme"
/// scheme = "standard"             # hex | standard | stripe; standard if absent
/// secrets = ["whsec_...", "whsec_..."]  # during a rotation, old and new
/// # path = "/hooks/acme"          # instead of <receiver path>/acme
/// pod_ids = ["pod_123"]           # events at the receiver's own path, routed here
/// inbox_ids = ["support@acme.example"]
/// limits = { per_address = "100/s burst 200", total = "off" }
/// ```
///
/// Turned into a [`Tenant`] by [`to_tenant`](Self::to_tenant). `Debug` shows how
/// many secrets there are, never what they are.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantConfig {
    /// The tenant id; also its path segment.
    pub id: String,
    /// The signature scheme of its secrets.
    #[serde(default = "standard", with = "scheme_name")]
    pub scheme: Scheme,
    /// Its webhook secrets, tried in order; none for a tenant routed only by pod
    /// or inbox id (verified with the receiver's own keyring).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The header holding the signature, for `hex` and `stripe` when it is not
    /// the scheme's default.
    #[serde(default)]
    pub signature_header: Option<String>,
    /// Its own path, instead of `<receiver path>/<id>`.
    #[serde(default)]
    pub path: Option<String>,
    /// Pods whose events, POSTed to the receiver's own path, belong to it.
    #[serde(default)]
    pub pod_ids: Vec<String>,
    /// Inboxes whose events, POSTed to the receiver's own path, belong to it.
    #[serde(default)]
    pub inbox_ids: Vec<String>,
    /// Its own budgets, on top of the receiver's, for requests to its path: none
    /// if absent; in a table, a budget left out takes its default (see
    /// [`RateLimits`]) and `"off"` turns one off.
    #[serde(default = "RateLimits::off")]
    pub limits: RateLimits,
}

fn standard() -> Scheme {
    Scheme::Standard
}

/// `Scheme` by its command-line name.
mod scheme_name {
    use mailwire_webhook::Scheme;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(scheme: &Scheme, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(scheme.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scheme, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| D::Error::custom("unknown scheme (expected hex, standard or stripe)"))
    }
}

impl TenantConfig {
    /// A tenant with this id and these secrets for `scheme`, routed by its path.
    pub fn new<I, S>(id: impl Into<String>, scheme: Scheme, secrets: I) -> TenantConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TenantConfig {
            id: id.into(),
            scheme,
            secrets: secrets.into_iter().map(Into::into).collect(),
            signature_header: None,
            path: None,
            pod_ids: Vec::new(),
            inbox_ids: Vec::new(),
            limits: RateLimits::off(),
        }
    }

    /// The [`Tenant`] it describes: its keyring parsed (a bad secret is refused
    /// here), its id, path and routes checked when it is inserted.
    pub fn to_tenant(&self) -> Result<Tenant, ConfigError> {
        let mut tenant = if self.secrets.is_empty() {
            Tenant::routed(self.id.as_str())
        } else {
            let keyring = Keyring::new(self.scheme, &self.secrets).map_err(|source| {
                ConfigError::Keyring {
                    tenant: self.id.clone(),
                    source,
                }
            })?;
            let mut verifier = Verifier::new(keyring);
            if let Some(header) = &self.signature_header {
                verifier = verifier.with_signature_header(header);
            }
            Tenant::new(self.id.as_str(), verifier)
        };
        if let Some(path) = &self.path {
            tenant = tenant.path(path.clone());
        }
        for pod in &self.pod_ids {
            tenant = tenant.pod(pod.clone());
        }
        for inbox in &self.inbox_ids {
            tenant = tenant.inbox(inbox.clone());
        }
        Ok(tenant.limits(self.limits.clone()))
    }
}

impl fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantConfig")
            .field("id", &self.id)
            .field("scheme", &self.scheme)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("signature_header", &self.signature_header)
            .field("path", &self.path)
            .field("pod_ids", &self.pod_ids)
            .field("inbox_ids", &self.inbox_ids)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A whole set of tenants, as a configuration file lists them (`[[tenant]]`
/// tables in TOML). Load it into a [`Tenants`] with
/// [`Tenants::from_config`], and on each reload apply it with
/// [`Tenants::replace_all`] (tenants kept keep their stats and budgets).
///
/// ```
/// use mailwire_webhook_http::{Tenants, TenantsConfig};
///
/// let config: TenantsConfig = serde_json::from_str(r#"{"tenant": [
///     {"id": "acme", "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]},
///     {"id": "globex", "scheme": "hex", "secrets": ["s3cret"],
///      "limits": {"per_address": "100/s burst 200"}}
/// ]}"#)?;
/// let tenants = Tenants::from_config(&config)?;
/// assert_eq!(tenants.ids(), ["acme", "globex"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantsConfig {
    /// The tenants.
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
}

impl TenantsConfig {
    /// A set of these tenants.
    pub fn new(tenants: impl IntoIterator<Item = TenantConfig>) -> TenantsConfig {
        TenantsConfig {
            tenants: tenants.into_iter().collect(),
        }
    }

    /// Every tenant it describes, in order; the first bad secret is refused.
    pub fn to_tenants(&self) -> Result<Vec<Tenant>, ConfigError> {
        self.tenants.iter().map(TenantConfig::to_tenant).collect()
    }
}

impl Tenants {
    /// The tenants `config` describes, checked as [`replace_all`](Self::replace_all)
    /// checks them.
    pub fn from_config(config: &TenantsConfig) -> Result<Tenants, ConfigError> {
        let tenants = Tenants::new();
        tenants.replace_all(config.to_tenants()?)?;
        Ok(tenants)
    }
}
