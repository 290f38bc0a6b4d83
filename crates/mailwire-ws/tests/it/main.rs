//! The crate's integration tests, one binary: each module is one area.

mod checkpoints;
mod common;
mod conformance;
mod faults;
mod jitter;
mod large;
mod resume;
mod strict_server;
mod tls;
