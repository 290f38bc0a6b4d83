//! What can be wrong with a receiver's or a tenant's configuration.

use mailwire_source::TenantId;
use mailwire_webhook::KeyError;

/// A receiver or tenant configuration that cannot be used. Messages never hold a
/// secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A rate that is not `<n>/<s|min|h>` optionally followed by `burst <n>`,
    /// with counts of at least 1.
    #[error(
        "invalid rate {0:?}: expected <n>/s, <n>/min or <n>/h, optionally followed by `burst <n>`"
    )]
    InvalidRate(String),
    /// A tenant id that is not 1 to 64 ASCII letters, digits, `.`, `_` or `-`
    /// (it is a path segment).
    #[error("invalid tenant id {0:?}: 1 to 64 ASCII letters, digits, '.', '_' or '-'")]
    InvalidTenantId(String),
    /// A path that does not start with `/`, or holds whitespace, a control
    /// character, `?` or `#`.
    #[error("invalid path {0:?}: must start with '/', without whitespace, '?' or '#'")]
    InvalidPath(String),
    /// A path, pod id or inbox id another tenant is routed by already.
    #[error("{kind} {key:?} already routes to tenant {tenant}")]
    Taken {
        /// `path`, `pod` or `inbox`.
        kind: &'static str,
        /// The path or id.
        key: String,
        /// The tenant it routes to.
        tenant: TenantId,
    },
    /// The same tenant id twice in one set of tenants.
    #[error("tenant {0} is listed twice")]
    DuplicateTenant(TenantId),
    /// An update of a tenant that is not there.
    #[error("no tenant {0}")]
    UnknownTenant(TenantId),
    /// A tenant without a keyring (so without a path of its own) and without a
    /// pod or inbox id: no request could reach it.
    #[error("tenant {0} has no secret and no pod or inbox id to be routed by")]
    Unroutable(TenantId),
    /// A tenant's secret or scheme that cannot be used.
    #[error("tenant {tenant}: {source}")]
    Keyring {
        /// The tenant.
        tenant: String,
        /// What is wrong with the secret (never the secret itself).
        #[source]
        source: KeyError,
    },
}
