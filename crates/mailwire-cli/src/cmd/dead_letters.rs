//! `mailwire dead-letters`: the events whose handler failed every attempt, kept in
//! the store: list them, put them back to be handled again, or drop them.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use mailwire_store::{DeadLetter, Store};

use super::listen::open_stores;
use super::runtime::{block_on, status};

/// `mailwire dead-letters (list|retry|drop) (--store PATH | --redis URL)`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "An event whose --exec command failed every attempt (or that `forward` \
gave up on) is kept as a dead letter in the listener's store, acknowledged everywhere \
else. `list` shows them, oldest first; `retry` puts them back in the store's log, so a \
running listener on a shared Redis handles them again at once, and one on a --store file \
at its next start; `drop` deletes them for good. A --store file can be used by one \
process at a time: stop its listener first."
)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    /// The listener's redb file.
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "redis")]
    store: Option<PathBuf>,
    /// The listeners' Redis.
    #[arg(long, value_name = "URL", global = true)]
    redis: Option<String>,
    /// The prefix of the Redis keys (the listeners').
    #[arg(long, value_name = "P", default_value = "mailwire", global = true)]
    redis_prefix: String,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show the dead letters, oldest first.
    List {
        /// At most this many.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// One JSON line each: {"id","type","attempts","error","at","event"}.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back, to be handled again.
    Retry(Pick),
    /// Delete dead letters for good.
    Drop(Pick),
}

#[derive(Debug, clap::Args)]
struct Pick {
    /// The ids (as `list` shows them).
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    ids: Vec<String>,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.store.is_none() && args.redis.is_none() {
        return Err(crate::usage::usage(
            "dead-letters: the listener's --store PATH or --redis URL is needed",
        ));
    }
    if let Some(path) = &args.store
        && !path.exists()
    {
        return Err(anyhow!("--store {}: no such file", path.display()));
    }
    block_on(async move {
        let stores = open_stores(
            args.store.as_deref(),
            args.redis.as_deref(),
            &args.redis_prefix,
            Some("mailwire-dead-letters"),
            DEFAULT_LEASE_MS,
        )
        .await
        .map_err(|e| match &args.store {
            // redb allows one process per file.
            Some(_) => anyhow!("{e} (a listener running on it holds it: stop it first)"),
            None => e,
        })?;
        let result = act(&args.action, &*stores.store).await;
        stores.close().await?;
        result
    })
}

/// The lease the store reports: irrelevant here (nothing is claimed), the listeners'
/// default.
const DEFAULT_LEASE_MS: u64 = 15_000;

async fn act(action: &Action, store: &dyn Store) -> anyhow::Result<ExitCode> {
    match action {
        Action::List { limit, json } => {
            let letters = store.dead_letters(*limit).await?;
            let mut out = std::io::stdout().lock();
            for letter in &letters {
                let line = if *json {
                    json_line(letter)
                } else {
                    text_line(letter)
                };
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            if !json {
                status!("{} dead letters", letters.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Retry(pick) | Action::Drop(pick) => {
            let retry = matches!(action, Action::Retry(_));
            let ids = if pick.all {
                let mut ids = Vec::new();
                loop {
                    // Each pass takes the letters out, so the next page is new.
                    let page = store.dead_letters(1000).await?;
                    if page.is_empty() {
                        break;
                    }
                    for letter in page {
                        let id = letter.id().to_owned();
                        take(store, &id, retry).await?;
                        ids.push(id);
                    }
                }
                ids
            } else {
                let mut ids = Vec::new();
                for id in &pick.ids {
                    if !take(store, id, retry).await? {
                        return Err(anyhow!("{id}: no such dead letter"));
                    }
                    ids.push(id.clone());
                }
                ids
            };
            status!(
                "{} {} dead letters",
                if retry { "put back" } else { "dropped" },
                ids.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn take(store: &dyn Store, id: &str, retry: bool) -> anyhow::Result<bool> {
    Ok(if retry {
        store.revive(id).await?
    } else {
        store.discard(id).await?
    })
}

fn text_line(letter: &DeadLetter) -> String {
    format!(
        "{}  {}  {} attempts  {}  {}",
        letter.id(),
        letter.event.event_type().as_str(),
        letter.attempts,
        super::listen::rfc3339(letter.at),
        letter.error
    )
}

fn json_line(letter: &DeadLetter) -> String {
    let event: serde_json::Value = serde_json::from_slice(letter.event.raw())
        .unwrap_or_else(|_| String::from_utf8_lossy(letter.event.raw()).into());
    serde_json::json!({
        "id": letter.id(),
        "event_id": letter.event.id(),
        "type": letter.event.event_type().as_str(),
        "attempts": letter.attempts,
        "error": letter.error,
        "at": super::listen::rfc3339(letter.at),
        "event": event,
    })
    .to_string()
}
