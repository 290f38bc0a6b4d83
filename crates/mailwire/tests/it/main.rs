//! End-to-end tests across the crates: the simulator, the WebSocket and the webhook
//! receiver feeding one merge over one store, as an application composes them.

mod cost;
mod end_to_end;
