//! The crate's integration tests, one binary: each module is one area.

mod behaviour;
mod crash;
mod heal;
mod memory;
mod model;
mod redb;
mod redis;
mod redis_dead_letters;
mod redis_names;
mod suite;
