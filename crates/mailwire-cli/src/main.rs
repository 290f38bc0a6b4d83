//! `mailwire`: the command line of the mailwire workspace.
//!
//! Each subcommand lives in its own module under `cmd/`, exposing an `Args`
//! struct (clap) and a `run` function; [`cli::Command`] lists them.

mod cli;
mod cmd;
mod usage;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // Choose rustls' crypto provider explicitly. When a build compiles in more
    // than one backend (cargo unifies features across a workspace build, and
    // `svix`, a dev-dependency of mailwire-webhook, brings aws-lc-rs), rustls
    // cannot pick one and panics at the first TLS client made without one.
    // An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // clap prints usage errors itself and exits with status 2.
    let cli = cli::Cli::parse();
    match cli.command.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mailwire: {err:#}");
            if err.downcast_ref::<usage::UsageError>().is_some() {
                ExitCode::from(cli::EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
