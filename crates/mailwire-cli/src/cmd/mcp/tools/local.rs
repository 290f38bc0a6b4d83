//! The tools over a simulator in the same process (`mailwire dev`'s `/mcp`).

use anyhow::anyhow;
use mailwire_agent::Agent;
use mailwire_proto::EventType;
use mailwire_ws::WsConfig;

use crate::cmd::mcp::{MailTools, Mailbox, Rest};

/// The most emails the simulator's own tools hold for `wait_for_email` (the
/// simulator keeps 5,000 messages by default); the next wait unread.
const HELD: usize = 1_000;

/// How long the simulator's own tools remember an email they returned.
const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(60 * 60);

impl MailTools {
    /// The tools over the simulator at `base_url` (`http://127.0.0.1:8787`) with
    /// `key`: its REST API at `/v0`, `wait_for_email` on its WebSocket at `/v0`,
    /// emails remembered in memory, every inbox served.
    pub(crate) async fn for_simulator(base_url: &str, key: &str) -> anyhow::Result<MailTools> {
        let base = base_url.trim_end_matches('/');
        let rest = Rest::new(&format!("{base}/v0"), key)?;
        let ws = match base.split_once("://") {
            Some(("https", host)) => format!("wss://{host}/v0"),
            Some((_, host)) => format!("ws://{host}/v0"),
            None => format!("ws://{base}/v0"),
        };
        // In memory, as the simulator it serves: what it remembers of returned
        // emails (to return each once) is forgotten after an hour, not kept forever.
        let store = mailwire_store::MemoryStore::new().forget_acked_after(FORGET_AFTER);
        let agent = Agent::builder()
            .subscription("mcp")
            .store(store)
            .websocket(
                WsConfig::new(ws)
                    .api_key(key)
                    .event_types([EventType::MessageReceived]),
            )
            .start()
            .await
            .map_err(|e| anyhow!("{}", crate::cmd::runtime::chain(&e)))?;
        Ok(MailTools::new(
            rest,
            Mailbox::holding(agent, HELD),
            Vec::new(),
        ))
    }
}
