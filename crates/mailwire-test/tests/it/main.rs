//! The crate's integration tests, one binary: each module is one area.

mod conformance;
mod fake;
mod fixtures;
