//! The crate's integration tests, one binary: each module is one area.

mod differential;
mod fuzz_corpus;
mod roundtrip;
mod rules;
mod vectors;
