//! The crate's integration tests, one binary: each module is one area.

mod common;
mod conformance;
mod crash;
mod metrics;
mod rate_limits;
mod receiver_limits;
mod receiver_load;
mod receiver_table;
mod rejections;
mod sender;
mod sender_tls;
mod tenants;
mod tower;
