//! The crate's integration tests, one binary: each module is one area.

mod chaos;
mod hygiene;
mod metrics;
mod rest;
mod routing;
mod sdk;
mod smtp;
mod v0;
mod websocket;
