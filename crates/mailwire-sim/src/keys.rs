//! API keys created through the API (`api-keys.yml`): scoped to the organization, a
//! pod or an inbox, each accepted beside the keys the simulator was started with,
//! and only within its scope.

use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The simulator's one organization: every API key it accepts is one of its keys.
pub(crate) const ORGANIZATION: &str = "org_mailwire_dev";

/// One key created through the API.
#[derive(Clone, Debug)]
pub(crate) struct Created {
    pub(crate) api_key_id: String,
    pub(crate) secret: String,
    pub(crate) name: String,
    pub(crate) pod_id: Option<String>,
    pub(crate) inbox_id: Option<String>,
    pub(crate) permissions: Option<Map<String, Value>>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) used_at: Option<OffsetDateTime>,
}

impl Created {
    /// The first characters of the secret, shown where the secret never is.
    pub(crate) fn prefix(&self) -> &str {
        self.secret.get(..12).unwrap_or(&self.secret)
    }

    /// What a request made with it may reach.
    pub(crate) fn scope(&self) -> KeyScope {
        KeyScope {
            api_key_id: self.api_key_id.clone(),
            pod_id: self.pod_id.clone(),
            inbox_id: self.inbox_id.clone(),
            permissions: self.permissions.clone(),
        }
    }
}

/// The scope of the created key a request was made with, kept in the request's
/// extensions; absent for the simulator's own keys, which reach everything.
#[derive(Clone, Debug)]
pub(crate) struct KeyScope {
    pub(crate) api_key_id: String,
    pub(crate) pod_id: Option<String>,
    pub(crate) inbox_id: Option<String>,
    pub(crate) permissions: Option<Map<String, Value>>,
}

impl KeyScope {
    /// Whether the permission is granted: every one when none were given, else
    /// only those set to `true`.
    pub(crate) fn grants(&self, permission: &str) -> bool {
        self.permissions
            .as_ref()
            .is_none_or(|p| p.get(permission) == Some(&Value::Bool(true)))
    }
}

/// Every key created through the API, oldest first.
#[derive(Debug, Default)]
pub(crate) struct CreatedKeys {
    keys: Vec<Created>,
}

impl CreatedKeys {
    /// A new key with a fresh secret.
    pub(crate) fn create(
        &mut self,
        name: Option<String>,
        pod_id: Option<String>,
        inbox_id: Option<String>,
        permissions: Option<Map<String, Value>>,
    ) -> Created {
        let api_key_id = crate::ids::new("ak");
        let secret = format!("am_sim_{:032x}", fastrand::u128(..));
        let key = Created {
            name: name.unwrap_or_else(|| api_key_id.clone()),
            api_key_id,
            secret,
            pod_id,
            inbox_id,
            permissions,
            created_at: crate::ids::now(),
            used_at: None,
        };
        self.keys.push(key.clone());
        key
    }

    /// The key with this secret, marked used now.
    pub(crate) fn used(&mut self, secret: &str) -> Option<&Created> {
        let key = self.keys.iter_mut().find(|k| k.secret == secret)?;
        key.used_at = Some(crate::ids::now());
        Some(key)
    }

    /// The keys whose scope is exactly this one (all of them for the organization),
    /// newest first.
    pub(crate) fn list(&self, pod_id: Option<&str>, inbox_id: Option<&str>) -> Vec<&Created> {
        let org = pod_id.is_none() && inbox_id.is_none();
        let mut out: Vec<&Created> = (self.keys.iter())
            .filter(|k| {
                org || (inbox_id.is_some_and(|i| {
                    k.inbox_id
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(i))
                }) || (inbox_id.is_none()
                    && pod_id.is_some()
                    && k.inbox_id.is_none()
                    && k.pod_id.as_deref() == pod_id))
            })
            .collect();
        out.reverse();
        out
    }

    /// Deletes the key `id` if `visible` (its scope's listing) holds it.
    pub(crate) fn delete(
        &mut self,
        id: &str,
        pod_id: Option<&str>,
        inbox_id: Option<&str>,
    ) -> bool {
        let visible = self
            .list(pod_id, inbox_id)
            .iter()
            .any(|k| k.api_key_id == id);
        if visible {
            self.keys.retain(|k| k.api_key_id != id);
        }
        visible
    }

    /// Forgets a key by its secret (a sign-up rotating its key).
    pub(crate) fn revoke_secret(&mut self, secret: &str) {
        self.keys.retain(|k| k.secret != secret);
    }
}

/// An agent's sign-up (`agent.yml`): its inbox, its key, and the code sent to its
/// human.
#[derive(Clone, Debug)]
pub(crate) struct SignUp {
    /// Empty until a human is attached (at sign-up, or later).
    pub(crate) human_email: String,
    /// How many times the human was replaced (at most 2).
    pub(crate) replaced: u32,
    pub(crate) inbox_id: String,
    pub(crate) api_key_id: String,
    pub(crate) secret: String,
    pub(crate) otp: String,
    pub(crate) attempts: u32,
    pub(crate) verified: bool,
}

/// An AgentID sign-in credential: a public P-256 key.
#[derive(Clone, Debug)]
pub(crate) struct PublicKey {
    pub(crate) api_key_id: String,
    pub(crate) name: String,
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) fingerprint: String,
    /// `{"organization": {}}`, `{"pod": {"id"}}` or `{"inbox": {"id"}}`.
    pub(crate) scope: serde_json::Value,
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// The organization's key generation it was registered in.
    pub(crate) generation: u64,
    pub(crate) revoked_at: Option<OffsetDateTime>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

/// The organization's public-key credentials, oldest first, its key generation,
/// and the receipts of its revoke-alls by idempotency key.
#[derive(Debug, Default)]
pub(crate) struct PublicKeys {
    pub(crate) keys: Vec<PublicKey>,
    pub(crate) generation: u64,
    pub(crate) receipts: std::collections::HashMap<String, serde_json::Value>,
}
