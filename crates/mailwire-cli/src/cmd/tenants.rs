//! `listen --tenants FILE`: many tenants (a platform's customers, or AgentMail
//! pods) behind one receiver and one merge, each with its own webhook keyring, path
//! or pod/inbox routing and budgets, and optionally a WebSocket of its own; the file
//! is read again when it changes or on SIGHUP, and tenants are added, rotated and
//! removed without a restart.
//!
//! ```toml
//! [[tenant]]
//! id = "acme"
//! secrets = ["whsec_..."]            # webhooks at <--webhook-path>/acme
//! limits = { per_address = "100/s burst 200" }
//!
//! [[tenant]]
//! id = "globex"
//! secrets = ["whsec_..."]
//! [tenant.websocket]                 # also its own WebSocket
//! url = "wss://ws.agentmail.to/v0"
//! api_key_env = "GLOBEX_AGENTMAIL_API_KEY"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use mailwire_source::{Delivery, EventSource, SourceError, TenantId};
use mailwire_webhook_http::{TenantConfig, Tenants, TenantsConfig};
use mailwire_ws::{Status, WsConfig, WsSource};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::AuthArg;
use super::runtime::status;

/// How often the file's modification time is looked at.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries from tenants' WebSockets waiting for the merge.
const CHANNEL: usize = 1024;

/// A tenant's own WebSocket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Socket {
    url: String,
    /// The environment variable holding its API key (the key stays out of the file).
    #[serde(default)]
    api_key_env: Option<String>,
    /// Its API key, when it is kept in the file.
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    auth: Option<String>,
}

impl Socket {
    fn config(&self, tenant: &str) -> anyhow::Result<WsConfig> {
        let key = match (&self.api_key, &self.api_key_env) {
            (Some(key), _) => key.clone(),
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| anyhow!("tenant {tenant}: {var} is not set (its API key)"))?,
            (None, None) => {
                return Err(anyhow!(
                    "tenant {tenant}: its websocket needs api_key_env (or api_key)"
                ));
            }
        };
        let auth = match self.auth.as_deref() {
            None | Some("bearer") => AuthArg::Bearer,
            Some("query") => AuthArg::Query,
            Some("x-api-key") => AuthArg::XApiKey,
            Some(other) => {
                return Err(anyhow!(
                    "tenant {tenant}: websocket auth {other:?}: expected bearer, query or x-api-key"
                ));
            }
        };
        super::runtime::check_url(
            &format!("tenant {tenant}: websocket url"),
            &self.url,
            &["ws", "wss"],
        )?;
        Ok(WsConfig::new(self.url.as_str())
            .api_key(key)
            .auth_style(auth.into()))
    }
}

/// A tenants file read and checked: the receiver's tenants and the WebSockets.
struct Loaded {
    webhooks: TenantsConfig,
    sockets: HashMap<String, Socket>,
}

fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--tenants {}: cannot read it", path.display()))?;
    let bad = |e: &dyn std::fmt::Display| anyhow!("--tenants {}: {e}", path.display());
    let mut file: toml::Table = toml::from_str(&text).map_err(|e| bad(&e.message()))?;
    let entries = match file.remove("tenant") {
        Some(toml::Value::Array(entries)) => entries,
        Some(_) => return Err(bad(&"`tenant` must be an array of tables: [[tenant]]")),
        None => Vec::new(),
    };
    if let Some(key) = file.keys().next() {
        return Err(bad(&format!(
            "unknown key `{key}`: expected [[tenant]] tables"
        )));
    }
    let mut sockets = HashMap::new();
    let mut webhooks = Vec::new();
    for entry in entries {
        let toml::Value::Table(mut table) = entry else {
            return Err(bad(&"each tenant is a [[tenant]] table"));
        };
        // The WebSocket is this command's; the rest is the receiver's tenant, read
        // strictly (an unknown key, e.g. a misspelt `secret`, is an error).
        let socket = table.remove("websocket");
        let tenant: TenantConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| bad(&e.message()))?;
        if let Some(socket) = socket {
            let socket: Socket = socket.try_into().map_err(|e: toml::de::Error| {
                bad(&format!("tenant {}: websocket: {}", tenant.id, e.message()))
            })?;
            // Checked now, so a bad entry refuses the whole file.
            socket.config(&tenant.id)?;
            sockets.insert(tenant.id.clone(), socket);
        }
        webhooks.push(tenant);
    }
    let webhooks = TenantsConfig::new(webhooks);
    // The receiver's own checks (secrets, ids, paths, routes), before anything
    // changes.
    Tenants::from_config(&webhooks).map_err(|e| anyhow!("--tenants {}: {e}", path.display()))?;
    Ok(Loaded { webhooks, sockets })
}

/// The tenants of a running `listen`: the receiver's table, the tenants'
/// WebSockets, and the file they come from.
pub(crate) struct TenantSet {
    path: PathBuf,
    tenants: Tenants,
    sockets: Sockets,
    modified: Option<SystemTime>,
}

impl TenantSet {
    /// Reads the file; a file that cannot be used is an error at start.
    pub(crate) fn open(
        path: &Path,
        checkpoints: Arc<dyn mailwire_store::Store>,
    ) -> anyhow::Result<(TenantSet, TenantSockets)> {
        let loaded = load(path)?;
        let tenants = Tenants::from_config(&loaded.webhooks)
            .map_err(|e| anyhow!("--tenants {}: {e}", path.display()))?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let mut set = TenantSet {
            path: path.to_owned(),
            tenants,
            sockets: Sockets {
                tx,
                running: HashMap::new(),
                checkpoints,
            },
            modified: modified(path),
        };
        set.sockets.apply(loaded.sockets);
        status!(
            "tenants: {} from {} ({} with a WebSocket)",
            set.tenants.len(),
            path.display(),
            set.sockets.running.len()
        );
        Ok((set, TenantSockets { rx }))
    }

    /// The receiver's tenants (a handle: changes show at once).
    pub(crate) fn tenants(&self) -> Tenants {
        self.tenants.clone()
    }

    /// Reads the file again when it changed, or on SIGHUP, until the process ends.
    pub(crate) async fn watch(mut self) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut every = tokio::time::interval(POLL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let forced = async {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let forced = std::future::pending::<()>();
            let why = tokio::select! {
                () = forced => "SIGHUP",
                _ = every.tick() => {
                    let now = modified(&self.path);
                    if now == self.modified {
                        continue;
                    }
                    self.modified = now;
                    "the file changed"
                }
            };
            self.reload(why);
        }
    }

    fn reload(&mut self, why: &str) {
        let loaded = match load(&self.path) {
            Ok(loaded) => loaded,
            Err(e) => {
                status!("tenants: not reloaded ({why}): {e}; the previous tenants stay");
                return;
            }
        };
        let before = self.tenants.ids();
        let applied = loaded
            .webhooks
            .to_tenants()
            .and_then(|t| self.tenants.replace_all(t));
        if let Err(e) = applied {
            status!("tenants: not reloaded ({why}): {e}; the previous tenants stay");
            return;
        }
        self.sockets.apply(loaded.sockets);
        let after = self.tenants.ids();
        let added = after.iter().filter(|t| !before.contains(t)).count();
        let removed = before.iter().filter(|t| !after.contains(t)).count();
        status!(
            "tenants: reloaded ({why}): {} tenants, {added} added, {removed} removed, {} with a WebSocket",
            after.len(),
            self.sockets.running.len()
        );
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The store key of a tenant's WebSocket resume point: the tenant is the
/// subscription (an agent without tenants keeps `default/websocket/after`).
fn resume_key(tenant: &str) -> String {
    format!("{tenant}/websocket/after")
}

/// The tenants' WebSockets, one task each.
struct Sockets {
    tx: mpsc::Sender<Delivery>,
    running: HashMap<String, (Socket, JoinHandle<()>)>,
    /// Where each tenant's WebSocket keeps its resume point: the store.
    checkpoints: Arc<dyn mailwire_store::Store>,
}

impl Sockets {
    /// Opens what is new or changed, closes what is gone or changed.
    fn apply(&mut self, wanted: HashMap<String, Socket>) {
        self.running.retain(|id, (socket, task)| {
            let keep = wanted.get(id) == Some(socket);
            if !keep {
                task.abort();
                status!("tenant {id}: websocket closed");
            }
            keep
        });
        for (id, socket) in wanted {
            if self.running.contains_key(&id) {
                continue;
            }
            let mut config = match socket.config(&id) {
                Ok(config) => config,
                Err(e) => {
                    status!("{e}");
                    continue;
                }
            };
            let checkpoints: Arc<dyn mailwire_source::Checkpoints> = self.checkpoints.clone();
            config = config.checkpoints(checkpoints, resume_key(&id));
            let source = match WsSource::spawn(config) {
                Ok(source) => source,
                Err(e) => {
                    status!("tenant {id}: websocket {}: {e}", socket.url);
                    continue;
                }
            };
            let task = tokio::spawn(forward(id.clone(), source, self.tx.clone()));
            self.running.insert(id, (socket, task));
        }
    }
}

/// Hands a tenant's WebSocket events to the merge, tagged with the tenant. Ends when
/// the tenant is removed (the task is aborted, the source dropped and closed), its
/// source fails for good, or the merge is gone.
async fn forward(id: String, mut source: WsSource, tx: mpsc::Sender<Delivery>) {
    let tenant = Some(TenantId::new(id.as_str()));
    let mut status_rx = source.status();
    tokio::spawn({
        let id = id.clone();
        async move {
            while status_rx.changed().await.is_ok() {
                let now = status_rx.borrow_and_update().clone();
                match now {
                    Status::Subscribed => status!("tenant {id}: websocket subscribed"),
                    Status::Disconnected { reason, .. } => {
                        status!("tenant {id}: websocket disconnected ({reason})");
                    }
                    Status::Failed(e) => status!("tenant {id}: websocket failed: {e}"),
                    _ => {}
                }
            }
        }
    });
    loop {
        match source.next().await {
            Ok(Some(delivery)) => {
                if tx.send(delivery.with_tenant(tenant.clone())).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) if e.is_fatal() => {
                status!("tenant {id}: websocket stopped: {e}");
                return;
            }
            Err(e) => status!("tenant {id}: websocket: {e} (carrying on)"),
        }
    }
}

/// The tenants' WebSocket events, as one source of the merge. Never ends on its own:
/// tenants come and go while it runs.
pub(crate) struct TenantSockets {
    rx: mpsc::Receiver<Delivery>,
}

#[async_trait]
impl EventSource for TenantSockets {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        Ok(self.rx.recv().await)
    }

    fn name(&self) -> &str {
        "tenant websockets"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("tenants.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_file_is_read_with_webhooks_routes_limits_and_websockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            r#"
[[tenant]]
id = "acme"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
limits = { per_address = "100/s burst 200" }

[[tenant]]
id = "globex"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
pod_ids = ["pod_1"]
[tenant.websocket]
url = "ws://127.0.0.1:1/v0"
api_key = "sk_globex"
auth = "x-api-key"
"#,
        );
        let loaded = load(&path).unwrap();
        let ids: Vec<_> = loaded
            .webhooks
            .tenants
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(ids, ["acme", "globex"]);
        assert_eq!(loaded.sockets.len(), 1);
        assert_eq!(loaded.sockets["globex"].url, "ws://127.0.0.1:1/v0");
    }

    #[test]
    fn a_file_that_cannot_be_used_says_why_without_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            (
                "[[tenant]]\nid = \"a\"\nsecrets = [\"whsec_!!!\"]\n",
                "tenant a",
            ),
            (
                "[[tenant]]\nid = \"a b\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n",
                "invalid tenant id",
            ),
            ("[[tenant]]\nid = \"a\"\nsecret = \"x\"\n", "unknown field"),
            (
                "[[tenant]]\nid = \"a\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n[tenant.websocket]\nurl = \"http://h/v0\"\napi_key = \"k\"\n",
                "expected a ws:// or wss:// URL",
            ),
            (
                "[[tenant]]\nid = \"a\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n[tenant.websocket]\nurl = \"ws://h/v0\"\napi_key_env = \"MAILWIRE_TEST_SURELY_UNSET\"\n",
                "MAILWIRE_TEST_SURELY_UNSET is not set",
            ),
            ("not toml at all [", "--tenants"),
        ] {
            let path = write(dir.path(), text);
            let err = load(&path).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(
                !err.contains("whsec_!!!") && !err.contains("MfKQ9r8"),
                "{err}"
            );
        }
    }
}
