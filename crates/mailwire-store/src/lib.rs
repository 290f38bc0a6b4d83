//! Durable event log and seen-set.
//!
//! (Crate docs with a runnable example: to be written with the implementations.)

mod traits;

pub use traits::{EventLog, SeenSet, StoreError};
