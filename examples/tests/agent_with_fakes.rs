//! Testing an agent without a network: the code under test takes any `EventSource`,
//! and the test hands it in-memory fakes, scripted event by event.

use mailwire::merge::Merge;
use mailwire::test::{FakeSource, fixtures};
use mailwire::{EventSource, Origin, Payload, SourceError};

/// The code under test: replies to each received message once, and collects the
/// addresses that bounced. Acks each event after handling it.
async fn run_agent(
    mut source: impl EventSource,
) -> Result<(Vec<String>, Vec<String>), SourceError> {
    let (mut replies, mut bounced) = (Vec::new(), Vec::new());
    while let Some(delivery) = source.next().await? {
        match delivery.event.payload() {
            Payload::Message { message, .. } => {
                replies.push(format!("Re: {}", message.subject.as_deref().unwrap_or("")));
            }
            Payload::Bounced(bounce) => {
                bounced.extend(bounce.recipients.iter().filter_map(|r| r.address.clone()));
            }
            _ => {}
        }
        delivery.ack().await?;
    }
    Ok((replies, bounced))
}

#[tokio::test]
async fn replies_once_and_collects_bounces() {
    let (source, handle) = FakeSource::new();
    handle
        .push(fixtures::message_received("evt_1", "ada@agentmail.to"))
        .push(fixtures::message_bounced("evt_2", "ada@agentmail.to"))
        .push(fixtures::message_delivered("evt_3", "ada@agentmail.to"))
        .end();

    let (replies, bounced) = run_agent(source).await.unwrap();

    assert_eq!(replies.len(), 1);
    assert!(replies[0].starts_with("Re: "));
    assert_eq!(bounced, ["no-such-user@example.com"]);
    assert_eq!(
        handle.acked(),
        ["evt_1", "evt_2", "evt_3"],
        "every event acked"
    );
}

#[tokio::test]
async fn the_same_email_by_websocket_and_webhook_is_answered_once() {
    let (ws, ws_feed) = FakeSource::builder()
        .name("websocket")
        .origin(Origin::WebSocket)
        .build();
    let (hooks, hook_feed) = FakeSource::builder()
        .name("webhook")
        .origin(Origin::Webhook)
        .build();
    let email = fixtures::message_received("evt_1", "ada@agentmail.to");
    // The WebSocket drops after evt_1; the webhooks bring evt_1 again and evt_2.
    ws_feed.push(email.clone()).end();
    hook_feed
        .push(email)
        .push(fixtures::message_received("evt_2", "ada@agentmail.to"))
        .end();

    let merged = Merge::builder().source(ws).source(hooks).build();
    let (replies, _) = run_agent(merged).await.unwrap();

    assert_eq!(replies.len(), 2, "two emails, two replies");
    // The suppressed copy was settled in its own source too.
    assert_eq!(hook_feed.acked(), ["evt_1", "evt_2"]);
}

#[tokio::test]
async fn a_revoked_key_stops_the_agent_with_an_auth_error() {
    let (source, handle) = FakeSource::new();
    handle
        .push(fixtures::message_received("evt_1", "ada@agentmail.to"))
        .fail(SourceError::Auth("key revoked".into()));

    let err = run_agent(source).await.unwrap_err();

    assert!(matches!(err, SourceError::Auth(_)));
    assert_eq!(
        handle.acked(),
        ["evt_1"],
        "what came before the error was handled"
    );
}
