//! `mailwire forward`: events from the WebSocket (and the REST backfill), kept in a
//! store and POSTed to a local endpoint as signed webhooks by the agent's runner: the
//! webhook loop without a tunnel.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::anyhow;
use base64::Engine as _;
use mailwire_agent::{Agent, Attempt, OrderBy, Retry};
use mailwire_backfill::BackfillConfig;
use mailwire_proto::EventType;
use mailwire_webhook::{Signer, Verifier};
use mailwire_webhook_http::WebhookReceiver;
use mailwire_webhook_sender::{Endpoint, Outcome, STANDARD_SCHEDULE, WebhookSender};
use mailwire_ws::WsConfig;

use super::listen::{
    check_redis_url, check_store_path, default_backfill, open_stores, report_backfill, start_error,
};
use super::runtime::{
    Hangup, block_on, check_url, interrupted, report_gaps, report_skipped, report_status, status,
};
use super::{API_KEY_ENV, AuthArg, SECRET_ENV, SchemeArg, Secret, keyring};

/// `mailwire forward --ws URL --api-key KEY --to URL [--secret S | --print-secret]
/// [--scheme S] [--max-attempts N] [--store PATH | --redis URL] [--inbox ID]...
/// [--event TYPE]... [--concurrency N] [--order-by KEY] [--json]`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Receives events on the WebSocket (and, by default with --store or --redis, \
reads what it missed from the REST API: the backfill, see --backfill; with \
--webhook-listen, receives the service's signed webhooks too) and POSTs each one, \
its bytes unchanged, to a local endpoint as a signed webhook, retrying on failure (at \
once, 5 s, 5 min, 30 min, ...). No tunnel, no public URL.\n\nEach event is kept in the \
store before it is sent and acknowledged once the endpoint answers 2xx. With --store (a \
redb file) or --redis, what was not delivered when the process stopped (or crashed) is \
sent at the next start, the WebSocket resumes after the last event acknowledged, and an \
event acknowledged is never sent again (a crash between a 2xx and its acknowledgement \
sends that one again). Without either, the store is in memory and nothing is kept across \
restarts. With --redis, several forwarders share the events, each sent by one of \
them.\n\nUp to --concurrency deliveries at once; those of one conversation (--order-by \
thread, the default: its thread, else its inbox) or of one inbox (--order-by inbox) one \
at a time, in arrival order (--order-by none: no ordering). An event whose delivery gave \
up (every attempt failed, or the endpoint answered 410 Gone) is kept as a dead letter in \
the store (in memory without --store or --redis: gone at exit): `mailwire dead-letters \
list --store PATH` shows them; `retry` puts them back, sent again by a forwarder on \
Redis at once, by one on a --store file at its next start.\n\nWithout --secret, the \
secret is derived from the API key and the --to URL, so it stays the same from run to \
run; it is printed at start (stderr), and alone by --print-secret: configure your \
endpoint with it. A secret you give (--secret or MAILWIRE_WEBHOOK_SECRET) is never \
printed, nor is the API key.\n\nStatus goes to stderr: a line per delivery, per failed \
attempt (with when the next comes), per give-up and per dead letter. With --json, stdout \
gets one JSON line per delivery's end: {\"event_id\",\"type\",\"outcome\":\"delivered|\
gave_up|disabled\",\"attempts\",\"status\"}. SIGINT and SIGTERM stop gracefully: the \
deliveries under way may finish (--drain-secs); with --store or --redis, the rest is \
sent at the next start."
)]
pub(crate) struct Args {
    /// WebSocket URL, e.g. ws://127.0.0.1:8787/v0.
    #[arg(long, value_name = "URL")]
    ws: String,
    /// API key for the WebSocket (and the backfill).
    #[arg(long = "api-key", value_name = "KEY", env = API_KEY_ENV, hide_env_values = true)]
    api_key: Secret,
    /// How the key is presented: `bearer` (AgentMail), `query` (`?api_key=`), or
    /// `x-api-key` (myagentmail).
    #[arg(long, value_enum, default_value_t = AuthArg::Bearer)]
    auth: AuthArg,
    /// Only events of this inbox (repeatable; filters the WebSocket subscription and
    /// the backfill).
    #[arg(long = "inbox", value_name = "ID")]
    inboxes: Vec<String>,
    /// Only events of this type, e.g. message.received (repeatable; filters the
    /// WebSocket subscription and the backfill).
    #[arg(long = "event", value_name = "TYPE")]
    events: Vec<String>,
    /// The endpoint to POST to, e.g. http://127.0.0.1:3000/webhooks.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Signing secret (default: derived from the API key and --to).
    #[arg(
        long,
        value_name = "S",
        env = SECRET_ENV,
        hide_env_values = true,
        conflicts_with = "print_secret"
    )]
    secret: Option<Secret>,
    /// Print the derived signing secret and exit.
    #[arg(long)]
    print_secret: bool,
    /// Signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Standard)]
    scheme: SchemeArg,
    /// Give a delivery up after this many attempts (1 to 8, the standard schedule's
    /// first N); it is then kept as a dead letter.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=8))]
    max_attempts: u32,
    /// One JSON line on stdout per delivery's end.
    #[arg(long)]
    json: bool,
    /// Multiplies the retry delays (for tests and demos).
    #[arg(long, value_name = "F", default_value_t = 1.0, hide = true)]
    retry_scale: f64,
    /// Keep the events, the ids delivered, the dead letters and the WebSocket's
    /// resume point in this redb file, across restarts.
    #[arg(long, value_name = "PATH", conflicts_with = "redis")]
    store: Option<PathBuf>,
    /// Keep them in Redis, shared by every forwarder on it, e.g.
    /// redis://127.0.0.1:6379.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The prefix of the Redis keys (forwarders sharing events use the same one).
    #[arg(long, value_name = "P", default_value = "mailwire", requires = "redis")]
    redis_prefix: String,
    /// This forwarder's name among those sharing the Redis store (default HOST-N).
    #[arg(long, value_name = "NAME", requires = "redis")]
    consumer: Option<String>,
    /// How long the events of a forwarder that died (or lost Redis) wait before
    /// another one takes them over. A live forwarder renews the claims it holds,
    /// however long a delivery takes.
    #[arg(long, value_name = "MS", default_value_t = 15_000)]
    lease_ms: u64,
    /// Fill the WebSocket's gaps from this REST API (with the same key), e.g.
    /// `https://api.agentmail.to/v0`. On by default with --store or --redis when the
    /// WebSocket is AgentMail's or a simulator's (`.../v0`).
    #[arg(long, value_name = "URL", conflicts_with = "no_backfill")]
    backfill: Option<String>,
    /// Never read the REST API to fill gaps.
    #[arg(long)]
    no_backfill: bool,
    /// How many deliveries (retries included) may be under way at once.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Which events are delivered one at a time, in arrival order: `thread` (one
    /// conversation at a time: its thread, else its inbox), `inbox`, or `none`.
    #[arg(long, value_name = "KEY", default_value = "thread")]
    order_by: OrderBy,
    /// At a stop (SIGINT, SIGTERM), how long the deliveries under way may take to
    /// finish before they are abandoned (sent again at the next start with --store
    /// or --redis).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    drain_secs: u64,
    /// Also receive the service's webhooks on this address (e.g. 0.0.0.0:3000): each
    /// event is forwarded once, whether the WebSocket, a webhook or the backfill
    /// brought it first.
    #[arg(long, value_name = "ADDR", requires = "webhook_secrets")]
    webhook_listen: Option<String>,
    /// The path the service POSTs its webhooks to.
    #[arg(
        long,
        value_name = "P",
        default_value = "/webhooks",
        requires = "webhook_listen"
    )]
    webhook_path: String,
    /// The secret the service signs its webhooks with (repeat for rotation).
    #[arg(long = "webhook-secret", value_name = "S", requires = "webhook_listen")]
    webhook_secrets: Vec<Secret>,
    /// The service's webhook signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Standard, requires = "webhook_listen")]
    webhook_scheme: SchemeArg,
}

/// Forwards until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let derived = args.secret.is_none();
    let secret = match &args.secret {
        Some(secret) => secret.expose().to_owned(),
        None => derived_secret(args.api_key.expose(), &args.to),
    };
    check_url("--to", &args.to, &["http", "https"])?;
    if args.print_secret {
        println!("{secret}");
        return Ok(ExitCode::SUCCESS);
    }
    check(&args)?;
    let signer = Signer::new(keyring(
        args.scheme,
        &[Secret::from_str(&secret).map_err(|e| crate::usage::usage(format!("--secret: {e}")))?],
    )?);
    let endpoint = Endpoint::new(&args.to, signer)
        .map_err(|e| crate::usage::usage(format!("--to {:?}: {e}", args.to)))?;
    let schedule = STANDARD_SCHEDULE[..args.max_attempts as usize].to_vec();
    block_on(async move {
        // Before anything else: a signal while starting stops gracefully too.
        let stop = interrupted(Hangup::Stops);
        let sender = WebhookSender::builder()
            .schedule(schedule)
            .time_scale(args.retry_scale)
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        let stores = open_stores(
            args.store.as_deref(),
            args.redis.as_deref(),
            &args.redis_prefix,
            args.consumer.as_deref(),
            args.lease_ms,
        )
        .await?;
        let durable = args.store.is_some() || args.redis.is_some();
        let mut config = WsConfig::new(args.ws.as_str())
            .api_key(args.api_key.expose())
            .auth_style(args.auth.into());
        if !args.events.is_empty() {
            config = config.event_types(args.events.iter().map(|t| EventType::from_name(t)));
        }
        if !args.inboxes.is_empty() {
            config = config.inbox_ids(args.inboxes.iter().cloned());
        }
        let mut builder = Agent::builder()
            .store(stores.store.clone())
            .websocket(config);
        let backfill_url = match (&args.backfill, args.no_backfill) {
            (Some(url), _) => Some(url.clone()),
            (None, false) if durable => default_backfill(&args.ws),
            _ => None,
        };
        if let Some(rest) = &backfill_url {
            let mut config = BackfillConfig::new(rest.as_str(), args.api_key.expose());
            if !args.inboxes.is_empty() {
                config = config.inboxes(args.inboxes.iter().cloned());
            }
            if !args.events.is_empty() {
                config = config.event_types(args.events.iter().map(|t| EventType::from_name(t)));
            }
            builder = builder.backfill(config);
        }
        if let Some(addr) = &args.webhook_listen {
            let verifier = Verifier::new(keyring(args.webhook_scheme, &args.webhook_secrets)?);
            let receiver = WebhookReceiver::new(verifier).path(args.webhook_path.as_str());
            builder = builder.webhooks(receiver, addr.as_str());
        }
        status!("websocket: connecting to {}", args.ws);
        let mut agent = builder.start().await.map_err(|e| start_error(&e))?;
        if let Some(local) = agent.webhook_addr() {
            status!("webhooks: receiving on http://{local}{}", args.webhook_path);
        }
        if let Some(rest) = &backfill_url {
            status!("backfill: filling gaps from {rest}");
        }
        // Where a dead letter is kept, as `mailwire dead-letters` is told it.
        let kept: Arc<str> = match (&args.store, &stores.redis) {
            (Some(path), _) => {
                status!("store: {}", path.display());
                format!("(mailwire dead-letters list --store {})", path.display()).into()
            }
            (None, Some(store)) => {
                status!("store: Redis, as consumer {}", store.consumer());
                "(mailwire dead-letters list --redis URL)".into()
            }
            (None, None) => "in memory, gone at exit (--store keeps it)".into(),
        };
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
        status!(
            "forward: up to {} at once, one at a time per {}",
            args.concurrency,
            match args.order_by {
                OrderBy::Thread => "thread",
                OrderBy::Inbox => "inbox",
                _ => "event",
            }
        );
        let scheme = SchemeArg::name(args.scheme);
        if derived {
            status!(
                "ready: forwarding to {} ({scheme} signatures); your webhook signing secret \
is {secret} (Ctrl-C to quit)",
                args.to
            );
        } else {
            status!(
                "ready: forwarding to {} ({scheme} signatures, with the secret you gave) \
(Ctrl-C to quit)",
                args.to
            );
        }
        // Set once the stop begins: a delivery that fails from then on is released
        // (sent again at the next start), not kept as a dead letter.
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = {
            let stopping = stopping.clone();
            async move {
                stop.await;
                stopping.store(true, Ordering::SeqCst);
            }
        };
        let forwarder = Forwarder {
            sender,
            endpoint,
            json: args.json,
            stopping,
            kept,
            durable,
        };
        let ran = agent
            .runner()
            .concurrency(args.concurrency as usize)
            .order_by(args.order_by.clone())
            // The sender retried on its own schedule already.
            .retry(Retry::attempts(1))
            .drain_for(Duration::from_secs(args.drain_secs))
            .stop_on(stop)
            .run(move |work| forwarder.clone().forward(work))
            .await;
        agent.stop().await;
        let result = match ran {
            Ok(run) => {
                let released = if run.released == 0 {
                    String::new()
                } else if durable {
                    format!(", {} left for the next start", run.released)
                } else {
                    format!(", {} not delivered (no --store to keep them)", run.released)
                };
                status!(
                    "stopped: {} delivered, {} dead letters{released}",
                    run.handled,
                    run.dead_letters
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(anyhow!("{e}")),
        };
        drop(agent);
        stores.close().await?;
        result
    })
}

/// Option values that cannot work, refused at start with the option's name.
fn check(args: &Args) -> anyhow::Result<()> {
    check_url("--ws", &args.ws, &["ws", "wss"])?;
    if let Some(addr) = &args.webhook_listen {
        super::runtime::check_listen_addr("--webhook-listen", addr)?;
    }
    if let Some(url) = &args.backfill {
        check_url("--backfill", url, &["http", "https"])?;
    }
    if let Some(url) = &args.redis {
        check_redis_url(url)?;
    }
    if let Some(path) = &args.store {
        check_store_path(path)?;
    }
    if args.lease_ms == 0 {
        return Err(crate::usage::usage("--lease-ms: expected at least 1"));
    }
    if !(args.retry_scale.is_finite() && args.retry_scale >= 0.0) {
        return Err(crate::usage::usage("--retry-scale: expected a number >= 0"));
    }
    Ok(())
}

/// What each delivery needs: the sender and its endpoint, and how to report.
#[derive(Clone)]
struct Forwarder {
    sender: WebhookSender,
    endpoint: Endpoint,
    json: bool,
    stopping: Arc<AtomicBool>,
    /// Where a dead letter is kept, said after its id on its stderr line.
    kept: Arc<str>,
    durable: bool,
}

impl Forwarder {
    /// POSTs one event on the sender's schedule. `Ok` (a 2xx) acknowledges it; an
    /// error (it gave up, the endpoint is disabled) is kept as a dead letter.
    async fn forward(self, work: Attempt) -> Result<(), String> {
        let event = work.event;
        let (id, kind) = (event.id(), event.event_type());
        let outcome = self
            .sender
            .send_observed(
                &self.endpoint,
                id,
                event.raw().clone(),
                |failed| match failed.retry_in {
                    Some(wait) => status!(
                        "{id} {kind} -> attempt {} failed ({}); next in {:.1} s",
                        failed.attempt,
                        failed.failure,
                        wait.as_secs_f64()
                    ),
                    None => status!(
                        "{id} {kind} -> attempt {} failed ({})",
                        failed.attempt,
                        failed.failure
                    ),
                },
            )
            .await;
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        let failure = match &outcome {
            Outcome::Delivered { attempts, status } => {
                status!(
                    "{id} {kind} -> {status} ({attempts} attempt{})",
                    plural(*attempts)
                );
                None
            }
            Outcome::GaveUp { attempts, last } => {
                status!(
                    "{id} {kind} -> gave up after {attempts} attempt{} (last: {last})",
                    plural(*attempts)
                );
                Some(format!(
                    "gave up after {attempts} attempt{} (last: {last})",
                    plural(*attempts)
                ))
            }
            Outcome::Disabled { .. } => {
                status!(
                    "{id} {kind} -> not sent: the endpoint answered 410 Gone, forwarding to \
it is disabled"
                );
                Some("not sent: the endpoint answered 410 Gone".to_owned())
            }
            other => {
                status!("{id} {kind} -> not delivered: {other:?}");
                Some(format!("not delivered: {other:?}"))
            }
        };
        if self.json {
            print_outcome(id, kind.as_str(), &outcome);
        }
        let Some(failure) = failure else {
            return Ok(());
        };
        if self.stopping.load(Ordering::SeqCst) {
            if self.durable {
                status!("{id} {kind} -> stopping: sent again at the next start");
            } else {
                status!("{id} {kind} -> stopping: not kept (no --store)");
            }
        } else {
            status!(
                "{id} {kind} -> kept as dead letter {} {}",
                event.dedup_id(),
                self.kept
            );
        }
        Err(failure)
    }
}

/// One JSON line on stdout for a delivery's end.
fn print_outcome(id: &str, kind: &str, outcome: &Outcome) {
    let (name, status) = match outcome {
        Outcome::Delivered { status, .. } => ("delivered", Some(status.as_u16())),
        Outcome::GaveUp { .. } => ("gave_up", None),
        _ => ("disabled", None),
    };
    let line = serde_json::json!({
        "event_id": id,
        "type": kind,
        "outcome": name,
        "attempts": outcome.attempts(),
        "status": status,
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

impl SchemeArg {
    fn name(self) -> &'static str {
        mailwire_webhook::Scheme::from(self).as_str()
    }
}

/// `whsec_` + base64 of HMAC-SHA256(API key, "mailwire forward\n" + URL): stable per
/// key and endpoint, never the key itself, valid for every scheme.
fn derived_secret(api_key: &str, to: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, api_key.as_bytes());
    let mut msg = b"mailwire forward\n".to_vec();
    msg.extend_from_slice(to.as_bytes());
    let tag = ring::hmac::sign(&key, &msg);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(&tag.as_ref()[..24])
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_derived_secret_is_stable_and_depends_on_key_and_url() {
        let a = super::derived_secret("sk_1", "http://127.0.0.1:3000/h");
        assert_eq!(a, super::derived_secret("sk_1", "http://127.0.0.1:3000/h"));
        assert_ne!(a, super::derived_secret("sk_2", "http://127.0.0.1:3000/h"));
        assert_ne!(a, super::derived_secret("sk_1", "http://127.0.0.1:3001/h"));
        assert!(a.starts_with("whsec_") && !a.contains("sk_1"));
        assert!(mailwire_webhook::Keyring::standard(&a).is_ok());
    }
}
