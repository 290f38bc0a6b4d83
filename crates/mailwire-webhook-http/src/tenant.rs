//! Many tenants behind one receiver: each its keyring, path or routing keys,
//! budgets and stats, changed at run time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use mailwire_proto::{Event, Payload};
pub use mailwire_source::TenantId;
use mailwire_webhook::{Clock, Verifier};

use crate::ConfigError;
use crate::limiter::Limiter;
use crate::limits::RateLimits;
use crate::metric::TenantKeys;
use crate::stats::{Counters, ReceiverStats};
use crate::verify::Verify;

/// One tenant of a receiver (a platform's customer, or one of the service's
/// pods): its id, its keyring, how its webhooks reach it, and its own budgets.
///
/// - **By path** (a tenant with a keyring): webhooks POSTed to
///   `<receiver path>/<id>` (e.g. `/webhooks/acme`), or to the tenant's own
///   [`path`](Self::path), are verified with the tenant's keyring, within the
///   tenant's budgets.
/// - **By pod or inbox** ([`pod`](Self::pod), [`inbox`](Self::inbox)): events
///   POSTed to the receiver's own path, verified with the receiver's keyring (one
///   webhook of the service covering many pods), belong to the tenant whose pod
///   id or inbox id they carry. AgentMail's message events carry an inbox id and
///   no pod id; its domain events carry the pod id. The tenant's budgets do not
///   apply there (the tenant is known only once the body is verified), the
///   receiver's do.
///
/// Its deliveries carry its id in [`Delivery::tenant`](mailwire_source::Delivery::tenant).
///
/// ```
/// use mailwire_webhook::{Keyring, Verifier};
/// use mailwire_webhook_http::{Rate, RateLimits, Tenant};
///
/// let acme = Tenant::new("acme", Verifier::new(Keyring::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?))
///     .pod("pod_acme")
///     .limits(RateLimits::off().per_address(Some(Rate::per_second(100))));
/// assert_eq!(acme.id(), "acme");
/// # Ok::<(), mailwire_webhook::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Tenant {
    id: TenantId,
    verify: Option<Arc<dyn Verify>>,
    path: Option<String>,
    pod_ids: Vec<String>,
    inbox_ids: Vec<String>,
    limits: RateLimits,
}

impl Tenant {
    /// A tenant verified with `verifier` (its keyring), served at
    /// `<receiver path>/<id>`, with no budgets of its own. The id is checked when
    /// the tenant is inserted (1 to 64 ASCII letters, digits, `.`, `_`, `-`).
    ///
    /// To rotate its secret, insert it again with a keyring holding the old and
    /// the new secret, then once the sender signs with the new one, with the new
    /// one alone.
    pub fn new<C: Clock + Send + Sync + 'static>(
        id: impl Into<TenantId>,
        verifier: Verifier<C>,
    ) -> Tenant {
        Tenant::routed(id).verifier(verifier)
    }

    /// A tenant without a keyring of its own, reached only through its pod and
    /// inbox ids at the receiver's own path.
    pub fn routed(id: impl Into<TenantId>) -> Tenant {
        Tenant {
            id: id.into(),
            verify: None,
            path: None,
            pod_ids: Vec::new(),
            inbox_ids: Vec::new(),
            limits: RateLimits::off(),
        }
    }

    /// Replaces its keyring (and so its secrets).
    pub fn verifier<C: Clock + Send + Sync + 'static>(mut self, verifier: Verifier<C>) -> Tenant {
        self.verify = Some(Arc::new(verifier));
        self
    }

    /// Serves it at `path` instead of `<receiver path>/<id>`.
    pub fn path(mut self, path: impl Into<String>) -> Tenant {
        self.path = Some(path.into());
        self
    }

    /// Events of pod `pod_id` POSTed to the receiver's own path are its.
    pub fn pod(mut self, pod_id: impl Into<String>) -> Tenant {
        self.pod_ids.push(pod_id.into());
        self
    }

    /// Events of inbox `inbox_id` POSTed to the receiver's own path are its.
    pub fn inbox(mut self, inbox_id: impl Into<String>) -> Tenant {
        self.inbox_ids.push(inbox_id.into());
        self
    }

    /// Its own budgets, checked after the receiver's for requests to its path.
    pub fn limits(mut self, limits: RateLimits) -> Tenant {
        self.limits = limits;
        self
    }

    /// Its id.
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// Its own path, when it has one instead of `<receiver path>/<id>`.
    pub fn own_path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// True when it has a keyring, so a path of its own.
    pub fn has_keyring(&self) -> bool {
        self.verify.is_some()
    }

    /// Its budgets.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.limits
    }

    fn check(&self) -> Result<(), ConfigError> {
        let id = self.id.as_str();
        let id_ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && id != "."
            && id != "..";
        if !id_ok {
            return Err(ConfigError::InvalidTenantId(id.to_owned()));
        }
        if let Some(path) = &self.path {
            let bad = |c: char| c.is_whitespace() || c.is_control() || c == '?' || c == '#';
            if !path.starts_with('/') || path.chars().any(bad) {
                return Err(ConfigError::InvalidPath(path.clone()));
            }
        }
        if self.verify.is_none() && self.pod_ids.is_empty() && self.inbox_ids.is_empty() {
            return Err(ConfigError::Unroutable(self.id.clone()));
        }
        Ok(())
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .field("keyring", &self.verify.is_some())
            .field("path", &self.path)
            .field("pod_ids", &self.pod_ids)
            .field("inbox_ids", &self.inbox_ids)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A tenant as the receiver holds it: its configuration, budgets and counters.
pub(crate) struct Entry {
    pub(crate) tenant: Tenant,
    pub(crate) limiter: Option<Arc<Limiter>>,
    pub(crate) counters: Arc<Counters>,
    /// Its request counters' keys, labelled with its id.
    pub(crate) metrics: TenantKeys,
}

impl Entry {
    pub(crate) fn verify(&self) -> Option<Arc<dyn Verify>> {
        self.tenant.verify.clone()
    }
}

#[derive(Default)]
struct Table {
    by_id: HashMap<String, Arc<Entry>>,
    by_path: HashMap<String, Arc<Entry>>,
    by_pod: HashMap<String, Arc<Entry>>,
    by_inbox: HashMap<String, Arc<Entry>>,
}

impl Table {
    /// Adds `tenant`, replacing the entry with its id. Its counters, and its
    /// budgets' state when its limits are unchanged, carry over from `previous`.
    fn put(&mut self, tenant: Tenant, previous: Option<&Entry>) -> Result<(), ConfigError> {
        tenant.check()?;
        let id = tenant.id.as_str();
        let taken =
            |map: &HashMap<String, Arc<Entry>>, kind: &'static str, key: &str| match map.get(key) {
                Some(other) if other.tenant.id != tenant.id => Err(ConfigError::Taken {
                    kind,
                    key: key.to_owned(),
                    tenant: other.tenant.id.clone(),
                }),
                _ => Ok(()),
            };
        if let Some(path) = &tenant.path {
            taken(&self.by_path, "path", path)?;
        }
        for pod in &tenant.pod_ids {
            taken(&self.by_pod, "pod", pod)?;
        }
        for inbox in &tenant.inbox_ids {
            taken(&self.by_inbox, "inbox", inbox)?;
        }
        let limiter = match previous {
            Some(old) if old.tenant.limits == tenant.limits => old.limiter.clone(),
            _ => Limiter::new(&tenant.limits).map(Arc::new),
        };
        let counters = previous.map_or_else(Arc::default, |old| old.counters.clone());
        self.take(id);
        let entry = Arc::new(Entry {
            metrics: TenantKeys::new(&tenant.id),
            tenant,
            limiter,
            counters,
        });
        let t = &entry.tenant;
        if let Some(path) = &t.path {
            self.by_path.insert(path.clone(), entry.clone());
        }
        for pod in &t.pod_ids {
            self.by_pod.insert(pod.clone(), entry.clone());
        }
        for inbox in &t.inbox_ids {
            self.by_inbox.insert(inbox.clone(), entry.clone());
        }
        self.by_id.insert(t.id.as_str().to_owned(), entry);
        Ok(())
    }

    /// Removes the tenant `id` and its routes.
    fn take(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.by_id.remove(id)?;
        let t = &entry.tenant;
        if let Some(path) = &t.path {
            self.by_path.remove(path);
        }
        for pod in &t.pod_ids {
            self.by_pod.remove(pod);
        }
        for inbox in &t.inbox_ids {
            self.by_inbox.remove(inbox);
        }
        Some(entry)
    }
}

/// The tenants of a receiver: a cheap handle to clone, shared with the receiver
/// ([`WebhookReceiver::tenants`](crate::WebhookReceiver::tenants)), through
/// which tenants are added, rotated and removed while it serves. Each request
/// reads the table under a read lock for one lookup; changes take the write
/// lock briefly and apply at once (a request already past its lookup finishes
/// with the tenant it found).
///
/// ```
/// use mailwire_webhook::{Keyring, Scheme, Verifier};
/// use mailwire_webhook_http::{Tenant, Tenants};
///
/// const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// const NEW: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// let tenants = Tenants::new();
/// tenants.insert(Tenant::new("acme", Verifier::new(Keyring::standard(OLD)?)))?;
///
/// // Rotation: old and new accepted, then the new one alone.
/// let both = Keyring::new(Scheme::Standard, [OLD, NEW])?;
/// tenants.update("acme", |t| t.verifier(Verifier::new(both)))?;
/// tenants.update("acme", |t| t.verifier(Verifier::new(Keyring::standard(NEW).unwrap())))?;
///
/// assert_eq!(tenants.stats("acme").unwrap().requests(), 0);
/// assert!(tenants.remove("acme").is_some());
/// assert!(tenants.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Tenants {
    table: Arc<RwLock<Table>>,
}

impl Tenants {
    /// No tenants yet.
    pub fn new() -> Tenants {
        Tenants::default()
    }

    /// Adds `tenant`, or replaces the tenant with its id (its stats carry over,
    /// and its budgets' state when its limits are unchanged). Returns `true` when
    /// it replaced one. Refused when its id or path is invalid, when it cannot be
    /// reached, or when its path, a pod or an inbox routes to another tenant.
    pub fn insert(&self, tenant: Tenant) -> Result<bool, ConfigError> {
        let mut table = self.write();
        let previous = table.by_id.get(tenant.id.as_str()).cloned();
        table.put(tenant, previous.as_deref())?;
        Ok(previous.is_some())
    }

    /// Changes the tenant `id`: `change` gets a copy of it and returns what it
    /// becomes (its id stays), which is checked as [`insert`](Self::insert)
    /// checks it.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(Tenant) -> Tenant,
    ) -> Result<(), ConfigError> {
        let mut table = self.write();
        let previous = table
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| ConfigError::UnknownTenant(TenantId::from(id)))?;
        let mut tenant = change(previous.tenant.clone());
        tenant.id = previous.tenant.id.clone();
        table.put(tenant, Some(&previous))
    }

    /// Removes the tenant `id`: its path answers 404 from now on and its pods and
    /// inboxes route to no tenant. Returns its final stats, or `None` if there
    /// was no such tenant.
    pub fn remove(&self, id: &str) -> Option<ReceiverStats> {
        let entry = self.write().take(id)?;
        Some(entry.counters.snapshot())
    }

    /// Makes the tenants exactly `tenants`, at once (for a reloaded configuration
    /// file): those not listed are removed, the others inserted or replaced (a
    /// tenant kept keeps its stats, and its budgets' state when its limits are
    /// unchanged). Nothing changes when one of them is refused.
    pub fn replace_all(
        &self,
        tenants: impl IntoIterator<Item = Tenant>,
    ) -> Result<(), ConfigError> {
        let mut table = self.write();
        let mut next = Table::default();
        for tenant in tenants {
            if next.by_id.contains_key(tenant.id.as_str()) {
                return Err(ConfigError::DuplicateTenant(tenant.id));
            }
            let previous = table.by_id.get(tenant.id.as_str()).cloned();
            next.put(tenant, previous.as_deref())?;
        }
        *table = next;
        Ok(())
    }

    /// A copy of the tenant `id`.
    pub fn get(&self, id: &str) -> Option<Tenant> {
        self.read().by_id.get(id).map(|e| e.tenant.clone())
    }

    /// True when there is a tenant `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.read().by_id.contains_key(id)
    }

    /// The tenants' ids, sorted.
    pub fn ids(&self) -> Vec<TenantId> {
        let mut ids: Vec<TenantId> = self
            .read()
            .by_id
            .values()
            .map(|e| e.tenant.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// What the receiver answered for the tenant `id` so far (requests to its
    /// path, and events routed to it by pod or inbox).
    pub fn stats(&self, id: &str) -> Option<ReceiverStats> {
        self.read().by_id.get(id).map(|e| e.counters.snapshot())
    }

    /// How many tenants there are.
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.read().by_id.is_empty()
    }

    /// The tenant served at `path`: its own path, or `<base>/<id>` when `base`
    /// is given, or (in a router, `base` = `None`) the last segment of the path.
    /// Only tenants with a keyring are reachable by path.
    pub(crate) fn by_path(&self, base: Option<&str>, path: &str) -> Option<Arc<Entry>> {
        let table = self.read();
        if table.by_id.is_empty() {
            return None;
        }
        let entry = table.by_path.get(path).or_else(|| {
            let id = match base {
                Some(base) => path.strip_prefix(base)?.strip_prefix('/')?,
                None => path.rsplit('/').next()?,
            };
            table.by_id.get(id).filter(|e| e.tenant.path.is_none())
        })?;
        entry.tenant.verify.is_some().then(|| entry.clone())
    }

    /// The tenant an event verified at the receiver's own path belongs to, by its
    /// pod id, then its inbox id.
    pub(crate) fn by_event(&self, event: &Event) -> Option<Arc<Entry>> {
        let table = self.read();
        if table.by_pod.is_empty() && table.by_inbox.is_empty() {
            return None;
        }
        let pod = match event.payload() {
            Payload::Domain(domain) => domain.pod_id.as_deref(),
            _ => None,
        };
        pod.and_then(|pod| table.by_pod.get(pod))
            .or_else(|| event.inbox_id().and_then(|i| table.by_inbox.get(i)))
            .cloned()
    }

    // Every change builds its entries before it touches the table, and a failed
    // check leaves it as it was: a poisoned lock is still consistent.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenants").field("ids", &self.ids()).finish()
    }
}
