//! The top-level parser and the list of subcommands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;

/// Exit status for a usage error (bad flag, unusable secret, unreadable input
/// format), as clap uses for its own parse errors.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Email events for agents: WebSocket and signed webhooks.
#[derive(Debug, Parser)]
#[command(name = "mailwire", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Every subcommand; one module under `cmd/` each.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a local simulator of the email service (WebSocket, REST, webhooks, chaos).
    Dev(cmd::dev::Args),
    /// Print each event once, as a JSON line, or run a command for it, from the
    /// WebSocket, webhooks, the backfill and the store.
    Listen(Box<cmd::listen::Args>),
    /// POST events from the WebSocket to a local endpoint as signed webhooks.
    Forward(Box<cmd::forward::Args>),
    /// List, retry or drop the events whose handler failed every attempt.
    DeadLetters(cmd::dead_letters::Args),
    /// Serve email tools to agents over the Model Context Protocol (stdio or HTTP),
    /// with wait_for_email.
    Mcp(Box<cmd::mcp::Args>),
    /// Make an email arrive in an inbox of the simulator.
    Send(cmd::send::Args),
    /// Run the whole system in one process: simulator, agent, drop, report.
    Demo(cmd::demo::Args),
    /// Verify a webhook body (stdin) against its headers: exit 0 valid, 1 invalid.
    Verify(cmd::verify::Args),
    /// Sign a webhook body (stdin) and print the headers to send.
    Sign(cmd::sign::Args),
}

impl Command {
    /// Runs the subcommand. An error wrapping [`UsageError`](crate::usage::UsageError) exits with
    /// [`EXIT_USAGE`], any other error with 1.
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Dev(args) => cmd::dev::run(args),
            Self::Listen(args) => cmd::listen::run(*args),
            Self::Forward(args) => cmd::forward::run(*args),
            Self::DeadLetters(args) => cmd::dead_letters::run(args),
            Self::Mcp(args) => cmd::mcp::run(*args),
            Self::Send(args) => cmd::send::run(args),
            Self::Demo(args) => cmd::demo::run(args),
            Self::Verify(args) => cmd::verify::run(args),
            Self::Sign(args) => cmd::sign::run(args),
        }
    }
}
