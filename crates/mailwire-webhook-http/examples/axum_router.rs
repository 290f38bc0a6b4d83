//! Webhook verification and the durable append, mounted in your own axum router
//! next to your other routes.
//!
//! ```sh
//! WEBHOOK_SECRET=whsec_... cargo run -p mailwire-webhook-http --example axum_router
//! ```
//!
//! Then point the email service's webhook at `http://<host>:3000/webhooks/agentmail`.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::get;
use mailwire_source::EventSource;
use mailwire_store::MemoryStore;
use mailwire_webhook::{Keyring, Verifier};
use mailwire_webhook_http::WebhookReceiver;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let secret = std::env::var("WEBHOOK_SECRET")
        .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
    let verifier = Verifier::new(Keyring::standard(&secret)?);

    // A redb `RedbStore` here keeps accepted events across restarts.
    let (webhooks, mut events) = WebhookReceiver::new(verifier)
        .store(Arc::new(MemoryStore::new()))
        .into_service();

    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/webhooks/agentmail", webhooks)
        // The receiver's budgets per client address read the address from a
        // `SocketAddr` extension: copied there from axum's `ConnectInfo`.
        .layer(axum::middleware::map_request(
            |ConnectInfo(client): ConnectInfo<SocketAddr>, mut req: Request| async move {
                req.extensions_mut().insert(client);
                req
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    while let Some(delivery) = events.next().await? {
        println!("{} {}", delivery.event.event_type(), delivery.event.id());
        delivery.ack().await?; // after handling it: it will not be replayed
    }
    Ok(())
}
