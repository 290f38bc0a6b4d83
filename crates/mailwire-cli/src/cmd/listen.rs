//! `mailwire listen`: events from the WebSocket and/or webhooks, merged and
//! deduplicated, one JSON line each on stdout.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use futures::FutureExt as _;
use futures::stream::{FuturesUnordered, StreamExt as _};
use mailwire_agent::{Agent, AgentError};
use mailwire_backfill::{BackfillConfig, Report, Trigger};
use mailwire_proto::EventType;
use mailwire_source::{Delivery, EventSource};
use mailwire_store::Store;
use mailwire_webhook::Verifier;
use mailwire_webhook_http::{Rate, RateLimits, Rejections, WebhookReceiver};
use mailwire_ws::WsConfig;

use super::runtime::{
    Hangup, block_on, chain, check_listen_addr, check_url, interrupted, report_gaps,
    report_skipped, report_status, status,
};
use super::tenants::TenantSet;
use super::{API_KEY_ENV, AuthArg, SECRET_ENV, SchemeArg, Secret, header_name, keyring};

mod exec;
mod line;
mod store;

use line::json_line;
pub(crate) use line::rfc3339;
pub(crate) use store::{Stores, check_redis_url, check_store_path, open_stores};

/// `mailwire listen --ws URL --api-key KEY [--inbox ID]... [--event TYPE]...
/// [--webhook-listen ADDR [--webhook-path P] --secret S --scheme S
/// [--signature-header NAME]] [--store PATH | --redis URL] [--reorder-ms N]`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Listens on the WebSocket, on a webhook endpoint, or both, merges the two \
streams and prints each event once, as one JSON line on stdout:\n\n  \
{\"id\":..,\"type\":..,\"origin\":\"websocket|webhook|log|backfill\",\"tenant\":..,\"received_at\":..,\
\"event\":<the raw event>}\n\n(\"tenant\" only with --tenants.) \
Status goes to stderr. An event is acknowledged once its line is written. After a crash \
(kill -9), the lines printed and not yet acknowledged are printed again at the next start: \
at most 1,024 (the acknowledgements in flight), a handful in practice. With --store, \
events received and never acknowledged (the process stopped first) are printed again at \
the next start, with origin \"log\", and ids already printed are never printed again. \
With --redis, several listeners share one store, each with its own WebSocket and webhook \
endpoint: the first to receive an event claims it and prints it, the others drop their \
copies; an event a listener claimed and did not acknowledge within the lease (it died or \
hung) is taken over and printed by a live listener, without any restart. The WebSocket's \
resume point and the backfill's progress are kept in the store (the --store file, or \
Redis, shared by the listeners on it): a restart resumes after the last event acknowledged \
and reads what the server no longer retains from the REST API.\n\n\
With --tenants FILE, one receiver serves many tenants, each at <--webhook-path>/<id> (or its \
own path) with its own secrets and budgets, or routed by pod or inbox id at \
--webhook-path, and each may have a WebSocket of its own; every line says its tenant. The \
file is TOML:\n\n  \
[[tenant]]\n  id = \"acme\"\n  secrets = [\"whsec_...\"]          # two during a rotation\n  \
limits = { per_address = \"100/s burst 200\" }\n  \
[tenant.websocket]                 # optional\n  url = \"wss://ws.agentmail.to/v0\"\n  \
api_key_env = \"ACME_AGENTMAIL_API_KEY\"\n\n\
It is read again when it changes, or on SIGHUP: tenants are added, rotated and removed \
(their WebSockets opened and closed) without a restart; a file that cannot be used is \
refused with a line on stderr and the tenants in force stay.\n\n\
Webhook requests are rate-limited before their body is read: per client address, in \
total, and tighter for an address whose requests fail verification (429 with \
Retry-After). SIGINT and SIGTERM stop gracefully: requests in flight are answered, \
events held for reordering are printed, every line printed is acknowledged.",
    group = clap::ArgGroup::new("transport").required(true).multiple(true).args(["ws", "webhook_listen", "tenants"])
)]
pub(crate) struct Args {
    /// WebSocket URL, e.g. ws://127.0.0.1:8787/v0 or wss://ws.agentmail.to/v0.
    #[arg(long, value_name = "URL", requires = "api_key")]
    ws: Option<String>,
    /// API key for the WebSocket.
    #[arg(long = "api-key", value_name = "KEY", env = API_KEY_ENV, hide_env_values = true)]
    api_key: Option<Secret>,
    /// How the key is presented: `bearer` (AgentMail), `query` (`?api_key=`), or
    /// `x-api-key` (myagentmail).
    #[arg(long, value_enum, default_value_t = AuthArg::Bearer, requires = "ws")]
    auth: AuthArg,
    /// Only events of this pod (repeatable; filters the WebSocket subscription).
    #[arg(long = "pod", value_name = "ID")]
    pods: Vec<String>,
    /// Only events of this inbox (repeatable; filters the WebSocket subscription, a
    /// webhook's filters are set where it is registered).
    #[arg(long = "inbox", value_name = "ID")]
    inboxes: Vec<String>,
    /// Only events of this type, e.g. message.received (repeatable; filters the
    /// WebSocket subscription).
    #[arg(long = "event", value_name = "TYPE")]
    events: Vec<String>,
    /// Receive webhooks on this address, e.g. 127.0.0.1:3000.
    #[arg(long, value_name = "ADDR")]
    webhook_listen: Option<String>,
    /// The path webhooks are POSTed to.
    #[arg(
        long,
        value_name = "P",
        default_value = "/webhooks",
        requires = "webhook_listen"
    )]
    webhook_path: String,
    // Not tied to --webhook-listen, so an exported MAILWIRE_WEBHOOK_SECRET does not
    // get in the way of a WebSocket-only listen.
    /// Webhook secret (repeat for rotation).
    #[arg(long = "secret", value_name = "S", env = SECRET_ENV, hide_env_values = true)]
    secrets: Vec<Secret>,
    /// Webhook signature scheme.
    #[arg(long, value_enum, requires = "webhook_listen")]
    scheme: Option<SchemeArg>,
    /// The header holding the hex scheme's signature (default x-signature).
    #[arg(long, value_name = "NAME", requires = "webhook_listen")]
    signature_header: Option<String>,
    /// Keep the event log and the ids seen in this redb file, across restarts.
    #[arg(long, value_name = "PATH", conflicts_with = "redis")]
    store: Option<PathBuf>,
    /// Keep the event log and the ids seen in Redis, shared by every listener on it,
    /// e.g. redis://127.0.0.1:6379.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The prefix of the Redis keys (listeners sharing events use the same one).
    #[arg(long, value_name = "P", default_value = "mailwire", requires = "redis")]
    redis_prefix: String,
    /// This listener's name among those sharing the Redis store (default HOST-N,
    /// the lowest N no live listener on this host uses, so a restarted listener
    /// takes its name back and its unacknowledged events with it; names of
    /// listeners long gone with nothing pending are removed).
    #[arg(long, value_name = "NAME", requires = "redis")]
    consumer: Option<String>,
    /// How long the events of a listener that died (or lost Redis) wait before
    /// another listener takes them over. A live listener renews the claims it holds,
    /// however long its consumer takes.
    #[arg(long, value_name = "MS", default_value_t = 15_000)]
    lease_ms: u64,
    /// Hold events up to N ms to print each inbox's events in timestamp order.
    #[arg(long, value_name = "N")]
    reorder_ms: Option<u64>,
    /// Fill the WebSocket's gaps from this REST API (with the same key), e.g.
    /// `https://api.agentmail.to/v0`. On by default with --store when the WebSocket is
    /// AgentMail's or a simulator's (`.../v0`).
    #[arg(
        long,
        value_name = "URL",
        requires = "ws",
        conflicts_with = "no_backfill"
    )]
    backfill: Option<String>,
    /// Never read the REST API to fill gaps.
    #[arg(long)]
    no_backfill: bool,
    /// With a backfill, also read every N seconds, as a safety net.
    #[arg(long, value_name = "N")]
    backfill_every: Option<u64>,
    /// Serve metrics in Prometheus' text format at http://ADDR/metrics, e.g.
    /// 127.0.0.1:9090.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Tenants, each with its webhook secrets, path or pod/inbox routing, budgets
    /// and optionally a WebSocket of its own, from this TOML file; read again when
    /// it changes or on SIGHUP (see below).
    #[arg(long, value_name = "FILE")]
    tenants: Option<PathBuf>,
    /// Webhook requests one client address may make: `N/s`, `N/min` or `N/h`,
    /// optionally `burst N`, or `off`.
    #[arg(long, value_name = "RATE", default_value = "1000/s burst 5000")]
    rate_limit_per_address: String,
    /// Webhook requests all clients together may make (`off` for no limit).
    #[arg(long, value_name = "RATE", default_value = "20000/s burst 40000")]
    rate_limit_total: String,
    /// Webhook connections one client address may hold open at once (0: no cap);
    /// more are closed at once, so no single address can take every slot.
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_connections_per_address: usize,
    /// Seconds a kept-alive webhook connection may sit without a request before it
    /// is closed (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    idle_timeout_secs: u64,
    /// Webhook requests failing verification one address may make before all its
    /// requests get 429 (`off` for no limit).
    #[arg(long, value_name = "RATE", default_value = "10/min burst 20")]
    rate_limit_failures: String,
    /// Run CMD (with `sh -c`) for each event instead of printing it: the event's JSON
    /// line on its stdin; MAILWIRE_EVENT_ID, MAILWIRE_EVENT_TYPE, MAILWIRE_INBOX_ID,
    /// MAILWIRE_THREAD_ID, MAILWIRE_ORIGIN, MAILWIRE_ATTEMPT and MAILWIRE_TENANT in
    /// its environment. Exit status 0 acknowledges the event; anything else (or the
    /// timeout) is a failed attempt, retried with backoff, and after the last one
    /// the event is kept as a dead letter in the store (`mailwire dead-letters`).
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// With --exec: how many commands may run at once.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "exec",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// With --exec: which events run one at a time, in arrival order: `thread` (one
    /// conversation at a time: its thread, else its inbox), `inbox`, or `none`.
    #[arg(long, value_name = "KEY", default_value = "thread", requires = "exec")]
    order_by: mailwire_agent::OrderBy,
    /// With --exec: runs of a failing command before its event is kept as a dead
    /// letter.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "exec",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    attempts: u32,
    /// With --exec: about how long before the first retry (doubling, up to 60 s).
    #[arg(long, value_name = "MS", default_value_t = 1000, requires = "exec")]
    retry_delay_ms: u64,
    /// With --exec: a command running longer is killed (with what it started), a
    /// failed attempt (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = 300, requires = "exec")]
    handler_timeout_secs: u64,
    /// With --exec: at a stop (SIGINT, SIGTERM), how long the commands running may
    /// take to finish before they are killed and their events released for another
    /// listener or the next start.
    #[arg(long, value_name = "SECS", default_value_t = 30, requires = "exec")]
    drain_secs: u64,
}

/// A `--rate-limit-*` value: a rate, or `off`.
fn rate(flag: &str, value: &str) -> anyhow::Result<Option<Rate>> {
    if value.trim() == "off" {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|e| crate::usage::usage(format!("{flag} {value:?}: {e}")))
}

fn rate_limits(args: &Args) -> anyhow::Result<RateLimits> {
    Ok(RateLimits::default()
        .per_address(rate(
            "--rate-limit-per-address",
            &args.rate_limit_per_address,
        )?)
        .total(rate("--rate-limit-total", &args.rate_limit_total)?)
        .failures_per_address(rate("--rate-limit-failures", &args.rate_limit_failures)?))
}

/// The REST API beside a WebSocket URL: AgentMail's, or a simulator's on the same
/// address (`ws://host:port/v0`).
pub(crate) fn default_backfill(ws: &str) -> Option<String> {
    let uri: http::Uri = ws.parse().ok()?;
    let scheme = match uri.scheme_str()? {
        "wss" => "https",
        "ws" => "http",
        _ => return None,
    };
    match uri.host()? {
        "ws.agentmail.to" => Some("https://api.agentmail.to/v0".into()),
        "ws.agentmail.eu" => Some("https://api.agentmail.eu/v0".into()),
        _ if uri.path().trim_end_matches('/') == "/v0" => {
            Some(format!("{scheme}://{}/v0", uri.authority()?))
        }
        _ => None,
    }
}

async fn open_store(args: &Args) -> anyhow::Result<Stores> {
    open_stores(
        args.store.as_deref(),
        args.redis.as_deref(),
        &args.redis_prefix,
        args.consumer.as_deref(),
        args.lease_ms,
    )
    .await
}

/// Prints until Ctrl-C, or until every source has ended.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Usage errors first, before anything is opened or bound.
    check(&args)?;
    let verifier = match (&args.webhook_listen, args.scheme) {
        (Some(_), Some(scheme)) => {
            let mut verifier = Verifier::new(keyring(scheme, &args.secrets)?);
            if let Some(name) = &args.signature_header {
                verifier = verifier.with_signature_header(header_name(name)?.as_str());
            }
            Some(verifier)
        }
        (Some(_), None) if args.tenants.is_none() => {
            return Err(crate::usage::usage(
                "--webhook-listen needs --scheme and --secret (or --tenants)",
            ));
        }
        _ => None,
    };
    let limits = rate_limits(&args)?;
    block_on(async move {
        // Before anything else: a signal while starting stops gracefully too.
        let stop = interrupted(if args.tenants.is_some() {
            Hangup::Reloads
        } else {
            Hangup::Stops
        });
        if let Some(addr) = &args.metrics {
            let local = super::metrics::serve(addr).await?;
            status!("metrics: http://{local}/metrics");
        }
        let stores = open_store(&args).await?;
        if let Some(path) = &args.store {
            migrate_progress_file(path, &stores.store).await?;
        }
        let durable = args.store.is_some() || args.redis.is_some();
        let mut builder = Agent::builder().store(stores.store.clone());
        if let Some(ms) = args.reorder_ms {
            builder = builder.reorder(Duration::from_millis(ms));
        }
        let tenants = match &args.tenants {
            Some(path) => {
                let (set, sockets) = TenantSet::open(path, stores.store.clone())?;
                builder = builder.source(sockets);
                Some(set)
            }
            None => None,
        };
        if let Some(addr) = &args.webhook_listen {
            let receiver = match (verifier, &tenants) {
                (Some(verifier), Some(set)) => {
                    WebhookReceiver::new(verifier).tenants(set.tenants())
                }
                (Some(verifier), None) => WebhookReceiver::new(verifier),
                (None, Some(set)) => WebhookReceiver::for_tenants(set.tenants()),
                (None, None) => unreachable!("refused by the checks above"),
            };
            let receiver = receiver
                .path(args.webhook_path.as_str())
                .rate_limits(limits)
                .max_connections_per_address(
                    Some(args.max_connections_per_address).filter(|&n| n > 0),
                )
                .idle_timeout(
                    Some(Duration::from_secs(args.idle_timeout_secs)).filter(|d| !d.is_zero()),
                );
            builder = builder.webhooks(receiver, addr.as_str());
        }
        let mut backfill_url = None;
        if let (Some(url), Some(key)) = (&args.ws, &args.api_key) {
            let mut config = WsConfig::new(url.as_str())
                .api_key(key.expose())
                .auth_style(args.auth.into());
            if !args.pods.is_empty() {
                config = config.pod_ids(args.pods.iter().cloned());
            }
            if !args.events.is_empty() {
                config = config.event_types(args.events.iter().map(|t| EventType::from_name(t)));
            }
            if !args.inboxes.is_empty() {
                config = config.inbox_ids(args.inboxes.iter().cloned());
            }
            builder = builder.websocket(config);
            backfill_url = match (&args.backfill, args.no_backfill) {
                (Some(url), _) => Some(url.clone()),
                (None, false) if durable => default_backfill(url),
                _ => None,
            };
            if let Some(rest) = &backfill_url {
                let mut config = BackfillConfig::new(rest.as_str(), key.expose());
                if !args.inboxes.is_empty() {
                    config = config.inboxes(args.inboxes.iter().cloned());
                }
                if !args.events.is_empty() {
                    config =
                        config.event_types(args.events.iter().map(|t| EventType::from_name(t)));
                }
                if let Some(secs) = args.backfill_every {
                    config = config.interval(Duration::from_secs(secs.max(1)));
                }
                builder = builder.backfill(config);
            }
            status!("websocket: connecting to {url}");
        }
        let mut agent = builder.start().await.map_err(|e| start_error(&e))?;
        if let Some(rest) = &backfill_url {
            status!("backfill: filling gaps from {rest}");
        }
        // The lines printed here come before those of the reporters' own tasks.
        if let Some(local) = agent.webhook_addr() {
            status!("webhooks: receiving on http://{local}{}", args.webhook_path);
            if let Some(set) = &tenants {
                for id in set.tenants().ids() {
                    if let Some(tenant) = set.tenants().get(id.as_str()) {
                        let path = tenant.own_path().map_or_else(
                            || format!("{}/{id}", args.webhook_path.trim_end_matches('/')),
                            str::to_owned,
                        );
                        if tenant.has_keyring() {
                            status!("webhooks: tenant {id} on http://{local}{path}");
                        }
                    }
                }
            }
        }
        if let Some(path) = &args.store {
            status!("store: {}", path.display());
        }
        if let Some(store) = &stores.redis {
            status!("store: Redis, as consumer {}", store.consumer());
        }
        if let Some(reports) = agent.take_backfill_reports() {
            tokio::spawn(report_backfill(reports));
        }
        if let Some(status) = agent.websocket_status() {
            tokio::spawn(report_status(status));
        }
        if let Some(gaps) = agent.take_gaps() {
            tokio::spawn(report_gaps(gaps));
        }
        if let Some(skipped) = agent.take_skipped() {
            tokio::spawn(report_skipped(skipped));
        }
        if let Some(rejections) = agent.take_rejections() {
            tokio::spawn(report_rejections(rejections));
        }
        if let Some(set) = tenants {
            tokio::spawn(set.watch());
        }
        let result = match handlers(&args) {
            Some(handlers) => {
                status!(
                    "exec: up to {} at once, one at a time per {}: {}",
                    handlers.concurrency,
                    match handlers.order {
                        mailwire_agent::OrderBy::Thread => "thread",
                        mailwire_agent::OrderBy::Inbox => "inbox",
                        _ => "event",
                    },
                    handlers.command
                );
                let ran = exec::run(&mut agent, handlers, stop).await;
                agent.stop().await;
                match ran {
                    Ok(run) => {
                        status!(
                            "stopped: {} events handled, {} failed attempts, {} dead letters, \
{} released, {} duplicates suppressed",
                            run.handled,
                            run.failed,
                            run.dead_letters,
                            run.released,
                            agent.stats().duplicates()
                        );
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => Err(anyhow!("{e}")),
                }
            }
            None => {
                let mut printed = 0u64;
                let result = print_events(&mut agent, &mut printed, stop).await;
                agent.stop().await;
                status!(
                    "stopped: {} events printed, {} duplicates suppressed",
                    printed,
                    agent.stats().duplicates()
                );
                result
            }
        };
        drop(agent);
        stores.close().await?;
        result
    })
}

/// The `--exec` handlers, when asked for.
fn handlers(args: &Args) -> Option<exec::Handlers> {
    Some(exec::Handlers {
        command: args.exec.clone()?,
        concurrency: args.concurrency as usize,
        order: args.order_by.clone(),
        attempts: args.attempts,
        retry_delay: Duration::from_millis(args.retry_delay_ms),
        timeout: Some(Duration::from_secs(args.handler_timeout_secs)).filter(|d| !d.is_zero()),
        drain: Duration::from_secs(args.drain_secs),
    })
}

/// An agent that could not start, said the way the command line says it: the
/// option, and what went wrong.
pub(crate) fn start_error(e: &AgentError) -> anyhow::Error {
    match e {
        AgentError::Backfill { url, source } => anyhow!("--backfill {url}: {}", chain(source)),
        AgentError::WebSocket { url, source } => anyhow!("{url}: {}", chain(&**source)),
        AgentError::Webhooks { addr, source } => anyhow!("cannot listen on {addr}: {source}"),
        other => anyhow!("{}", chain(other)),
    }
}

/// The file an earlier version kept beside a redb store (`<store>.progress.json`:
/// the WebSocket's resume point and the backfill's progress): its values move into
/// the store, under the keys the agent reads, and the file is renamed, so nothing is
/// read from two places. A file that is not such a file is an error, not a fresh
/// start.
async fn migrate_progress_file(
    store_path: &std::path::Path,
    store: &Arc<dyn Store>,
) -> anyhow::Result<()> {
    let mut name = store_path.as_os_str().to_owned();
    name.push(".progress.json");
    let path = PathBuf::from(name);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(anyhow!("reading {}: {e}", path.display())),
    };
    let values: std::collections::BTreeMap<String, String> = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("{}: not a progress file: {e}", path.display()))?;
    for (key, value) in &values {
        let key = if key == "websocket:after" {
            "default/websocket/after".to_owned()
        } else if let Some(tenant) = key.strip_prefix("websocket:after:") {
            format!("{tenant}/websocket/after")
        } else {
            // The backfill's keys (`backfill:{inbox}`), under the default
            // subscription.
            format!("default/{key}")
        };
        store
            .save(&key, value)
            .await
            .map_err(|e| anyhow!("moving {} into the store: {e}", path.display()))?;
    }
    let moved = path.with_extension("json.migrated");
    std::fs::rename(&path, &moved).with_context(|| format!("renaming {}", path.display()))?;
    status!(
        "store: {} checkpoints moved from {} into the store",
        values.len(),
        path.display()
    );
    Ok(())
}

/// Option values that cannot work, refused at start with the option's name.
fn check(args: &Args) -> anyhow::Result<()> {
    if let Some(url) = &args.ws {
        check_url("--ws", url, &["ws", "wss"])?;
    }
    if let Some(url) = &args.backfill {
        check_url("--backfill", url, &["http", "https"])?;
    }
    if let Some(url) = &args.redis {
        check_redis_url(url)?;
    }
    if let Some(addr) = &args.metrics {
        check_listen_addr("--metrics", addr)?;
    }
    if let Some(addr) = &args.webhook_listen {
        check_listen_addr("--webhook-listen", addr)?;
        let path = &args.webhook_path;
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(crate::usage::usage(format!(
                "--webhook-path {path:?}: expected a path starting with /, e.g. /webhooks"
            )));
        }
    }
    if let Some(path) = &args.store {
        check_store_path(path)?;
    }
    if args.lease_ms == 0 {
        return Err(crate::usage::usage("--lease-ms: expected at least 1"));
    }
    if args.backfill_every == Some(0) {
        return Err(crate::usage::usage(
            "--backfill-every: expected at least 1 second",
        ));
    }
    Ok(())
}

/// The signal listener, installed at start.
type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// How many acknowledgements may be in flight at once. Acks are pipelined: the next
/// line is printed while the previous ones are being made durable, so the store's
/// group commit puts many of them in one transaction (one fsync) instead of waiting
/// for one fsync per line.
const ACKS_IN_FLIGHT: usize = 1024;

type AckFuture = futures::future::BoxFuture<'static, Result<(), mailwire_source::SourceError>>;

/// At most one line a second for refused webhook requests (a flood of bad
/// signatures must not flood stderr), each saying how many went unshown.
async fn report_rejections(mut rejections: Rejections) {
    let mut last: Option<std::time::Instant> = None;
    let mut counted = 0u64;
    while let Some(r) = rejections.recv().await {
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
            continue;
        }
        let total = rejections.count();
        let unshown = total.saturating_sub(counted + 1);
        counted = total;
        last = Some(now);
        let from = r
            .peer
            .map_or_else(|| "a client".to_owned(), |p| p.ip().to_string());
        let tenant = r
            .tenant
            .as_ref()
            .map_or_else(String::new, |t| format!(" for tenant {t}"));
        let more = if unshown > 0 {
            format!(" ({unshown} more refused since the last such line)")
        } else {
            String::new()
        };
        status!(
            "webhooks: answered {} to {from}{tenant}: {}{more}",
            r.status.as_u16(),
            r.reason
        );
    }
}

/// Prints a line for each backfill pass, and one for each inbox it could not read
/// (a 404 names an inbox that does not exist for this key) or left for later.
pub(crate) async fn report_backfill(mut reports: tokio::sync::mpsc::Receiver<Report>) {
    while let Some(r) = reports.recv().await {
        let why = match r.trigger {
            Trigger::Startup => "at start-up".to_owned(),
            Trigger::Gap { from, to } => format!(
                "for a gap of {:.1} s",
                to.duration_since(from).unwrap_or_default().as_secs_f64()
            ),
            Trigger::Interval => "on its interval".to_owned(),
            Trigger::Retry => "retrying what failed".to_owned(),
            _ => "on demand".to_owned(),
        };
        if let Some(error) = &r.error {
            let retry = r.retry_in.map_or_else(String::new, |d| {
                format!("; trying again in {:.1} s", d.as_secs_f64())
            });
            status!("backfill: {why}: {}{retry}", chain(&**error));
            continue;
        }
        status!(
            "backfill: {why}: {} messages found in {} inboxes ({} pages, from {})",
            r.found,
            r.inboxes,
            r.pages,
            rfc3339(r.from)
        );
        for failure in &r.failures {
            status!("backfill: {}", chain(failure));
        }
        if !r.deferred.is_empty() {
            status!(
                "backfill: not read this time (tried again later): {}",
                r.deferred.join(", ")
            );
        }
    }
}

async fn print_events(
    agent: &mut Agent,
    printed: &mut u64,
    stop: Stop,
) -> anyhow::Result<ExitCode> {
    let mut acks = FuturesUnordered::new();
    let result = print_lines(agent, &mut acks, printed, stop).await;
    // Every line written is acknowledged before the store is closed (and each
    // WebSocket's resume point, moved by those acks, saved with them).
    while let Some(acked) = acks.next().await {
        if let Err(e) = acked {
            status!("could not acknowledge an event: {e}");
        }
    }
    result
}

async fn print_lines(
    merge: &mut Agent,
    acks: &mut FuturesUnordered<AckFuture>,
    printed: &mut u64,
    mut stop: Stop,
) -> anyhow::Result<ExitCode> {
    let mut out = Printer {
        stdout: std::io::stdout().lock(),
        acks,
        printed,
    };
    // One listener for the whole run: a signal that lands while a line is written
    // or acked is kept, not lost between two `select!`s.
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stop => {
                // What the reorder window holds back is printed now, out of its
                // window, rather than left for the next start (or lost with the
                // memory store).
                let held = merge.take_held();
                if !held.is_empty() {
                    status!("printing the {} events held for reordering", held.len());
                }
                for delivery in held {
                    if !out.print(delivery) {
                        break;
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            Some(acked) = out.acks.next(), if !out.acks.is_empty() => {
                if let Err(e) = acked {
                    status!("could not acknowledge an event: {e}");
                }
                continue;
            }
            next = merge.next(), if out.acks.len() < ACKS_IN_FLIGHT => next,
        };
        let delivery = match next {
            Ok(Some(delivery)) => delivery,
            Ok(None) => return Ok(ExitCode::SUCCESS),
            Err(e) if e.is_fatal() => return Err(anyhow!("{e}")),
            Err(e) => {
                status!("{e} (carrying on)");
                continue;
            }
        };
        if !out.print(delivery) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Writes lines and starts their acks.
struct Printer<'a> {
    stdout: std::io::StdoutLock<'static>,
    acks: &'a mut FuturesUnordered<AckFuture>,
    printed: &'a mut u64,
}

impl Printer<'_> {
    /// Prints one line and starts its ack; false when stdout is gone (a closed
    /// pipe), the event left unacked so it is printed again next time.
    fn print(&mut self, delivery: Delivery) -> bool {
        let line = json_line(&delivery);
        if self
            .stdout
            .write_all(&line)
            .and_then(|()| self.stdout.flush())
            .is_err()
        {
            return false;
        }
        *self.printed += 1;
        tracing::debug!(parent: delivery.span(), "printed");
        metrics::counter!(super::metrics::PRINTED, "origin" => delivery.origin.as_str().to_owned())
            .increment(1);
        // Acking moves the source's checkpoint too (a WebSocket's resume point).
        self.acks.push(delivery.ack().boxed());
        true
    }
}
