//! `listen --exec CMD`: a command per event, run by the agent's runner: many at
//! once, one at a time per conversation, retried, kept as a dead letter after the
//! last attempt.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mailwire_agent::{Agent, Attempt, OrderBy, Retry, RunStats};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt as _;

use super::line::line_of;
use crate::cmd::runtime::status;

/// How `--exec` runs its handlers.
#[derive(Clone, Debug)]
pub(super) struct Handlers {
    pub(super) command: String,
    pub(super) concurrency: usize,
    pub(super) order: OrderBy,
    pub(super) attempts: u32,
    pub(super) retry_delay: Duration,
    pub(super) timeout: Option<Duration>,
    pub(super) drain: Duration,
}

/// Runs the command for each event until `stop`; returns the runner's counters.
pub(super) async fn run(
    agent: &mut Agent,
    handlers: Handlers,
    stop: super::Stop,
) -> Result<RunStats, mailwire_source::SourceError> {
    let command: Arc<str> = handlers.command.into();
    let attempts = handlers.attempts;
    let timeout = handlers.timeout;
    agent
        .runner()
        .concurrency(handlers.concurrency)
        .order_by(handlers.order)
        .retry(Retry::attempts(attempts).delays(handlers.retry_delay, Duration::from_secs(60)))
        .drain_for(handlers.drain)
        .stop_on(stop)
        .run(move |work| {
            let command = command.clone();
            async move {
                let id = work.event.id().to_owned();
                let attempt = work.attempt;
                let ran = match timeout {
                    Some(limit) => tokio::time::timeout(limit, exec(&command, &work))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!("killed after {:.1} s", limit.as_secs_f64()))
                        }),
                    None => exec(&command, &work).await,
                };
                match &ran {
                    Ok(()) => {}
                    Err(e) if attempt < attempts => {
                        status!("{id}: attempt {attempt} of {attempts} failed ({e}); retried");
                    }
                    Err(e) => status!(
                        "{id}: attempt {attempt} of {attempts} failed ({e}); kept as a dead \
letter (mailwire dead-letters list)"
                    ),
                }
                ran
            }
        })
        .await
}

/// Runs the command once for `work`: its JSON line on stdin, its ids in the
/// environment. Exit status 0 is success. The command runs in a process group of
/// its own, killed whole if the attempt is cancelled (a timeout, a stop's deadline).
async fn exec(command: &str, work: &Attempt) -> Result<(), String> {
    let event = &work.event;
    let line = line_of(event, &work.origin, work.tenant.as_ref(), work.received_at);
    let mut child = tokio::process::Command::new("sh");
    child
        .arg("-c")
        .arg(command)
        .env("MAILWIRE_EVENT_ID", event.id())
        .env("MAILWIRE_EVENT_TYPE", event.event_type().as_str())
        .env("MAILWIRE_INBOX_ID", event.inbox_id().unwrap_or_default())
        .env("MAILWIRE_THREAD_ID", event.thread_id().unwrap_or_default())
        .env("MAILWIRE_ORIGIN", work.origin.as_str())
        .env("MAILWIRE_ATTEMPT", work.attempt.to_string())
        .env(
            "MAILWIRE_TENANT",
            work.tenant.as_ref().map_or("", |t| t.as_str()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = child
        .spawn()
        .map_err(|e| format!("cannot run sh -c {command:?}: {e}"))?;
    let group = Group(child.id());
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin closes it: not a failure.
        let _ = stdin.write_all(&line).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("waiting for the command: {e}"))?;
    group.exited();
    exit(status)
}

fn exit(status: ExitStatus) -> Result<(), String> {
    if status.success() {
        return Ok(());
    }
    Err(match status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("{status}"),
    })
}

/// The command's process group, killed whole when an attempt is cancelled before
/// the command exited (what `sh -c` started too, not only the shell).
struct Group(Option<u32>);

impl Group {
    fn exited(mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
