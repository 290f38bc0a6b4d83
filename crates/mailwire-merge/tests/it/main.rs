//! The crate's integration tests, one binary: each module is one area.

mod conformance;
mod dedup;
mod one_email;
mod reorder;
mod restart;
mod scale_out;
mod window;
