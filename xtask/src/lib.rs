//! The checks behind `cargo xtask`, as a library so that `xtask/tests/tidy.rs` runs
//! them under `cargo test --workspace` (rust-analyzer's tidy runs the same way).

pub mod api;
pub mod bench;
pub mod tidy;
