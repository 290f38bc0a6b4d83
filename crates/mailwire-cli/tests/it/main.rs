//! The crate's integration tests, one binary: each module is one area.

mod chaos;
mod commands;
mod common;
mod dev;
mod forward;
mod gaps;
mod handlers;
mod lossless;
mod mcp;
mod observability;
mod redis_outage;
mod scale_out;
mod sign_verify;
mod signals;
mod tenants;
