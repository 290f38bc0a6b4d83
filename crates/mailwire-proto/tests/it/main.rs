//! The crate's integration tests, one binary: each module is one area.

mod fixtures;
mod fuzz_regressions;
mod hostile;
mod lossless;
mod roundtrip;
mod unknown;
