//! A transport of your own: an `EventSource` that polls the service's REST API
//! (`GET /_sim/events?after=...`), in a few lines. It plugs into everything else, a
//! `Merge` included, like the built-in sources.
//!
//! Runs self-contained against an embedded simulator:
//! `cargo run -p mailwire-examples --example custom_source`

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailwire::prelude::*;
use mailwire::sim::Simulator;
use mailwire::source::async_trait;
use mailwire::test::fixtures;
use serde_json::value::RawValue;

/// Polls `GET /_sim/events?after=<last id>` and yields what is new.
struct RestPoller {
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    api_key: String,
    every: Duration,
    /// The last event fetched: the next poll starts after it.
    after: Option<String>,
    fetched: VecDeque<Event>,
    /// The last event acked: what a real poller would persist to resume from.
    checkpoint: Arc<Mutex<Option<String>>>,
}

#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

impl RestPoller {
    async fn poll(&mut self) -> Result<(), SourceError> {
        let mut url = format!("{}/_sim/events?limit=100", self.base);
        if let Some(after) = &self.after {
            url.push_str(&format!("&after={after}"));
        }
        let req = hyper::Request::get(url)
            .header("x-api-key", &self.api_key)
            .body(Empty::new())
            .map_err(SourceError::config)?;
        let res = self
            .client
            .request(req)
            .await
            .map_err(SourceError::transport)?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(SourceError::transport)?
            .to_bytes();
        match status.as_u16() {
            200 => {}
            401 | 403 => return Err(SourceError::auth(format!("HTTP {status}"))),
            // Our position is no longer retained: carry on from the oldest event kept.
            410 => {
                eprintln!("gap: events after {:?} may be missing", self.after);
                self.after = None;
                return Ok(());
            }
            _ => return Err(SourceError::transport(format!("HTTP {status}"))),
        }
        let page: Page<'_> = serde_json::from_slice(&body).map_err(SourceError::protocol)?;
        for raw in page.events {
            let event =
                Event::parse(raw.get().as_bytes().to_vec()).map_err(SourceError::protocol)?;
            self.after = Some(event.id().to_owned());
            self.fetched.push_back(event);
        }
        Ok(())
    }
}

#[async_trait]
impl EventSource for RestPoller {
    async fn next(&mut self) -> Result<Option<Delivery>, SourceError> {
        loop {
            if let Some(event) = self.fetched.pop_front() {
                let (checkpoint, id) = (self.checkpoint.clone(), event.id().to_owned());
                let ack = Ack::from_fn(move || *checkpoint.lock().unwrap() = Some(id));
                return Ok(Some(
                    Delivery::new(event, Origin::custom("rest-poll")).with_ack(ack),
                ));
            }
            match self.poll().await {
                Ok(()) if self.fetched.is_empty() => tokio::time::sleep(self.every).await,
                Ok(()) => {}
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    eprintln!("poll failed ({e}); retrying");
                    tokio::time::sleep(self.every).await;
                }
            }
        }
    }

    fn name(&self) -> &str {
        "rest-poll"
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = Simulator::builder()
        .api_key("sk_example")
        .bind("127.0.0.1:0")
        .await?;
    let checkpoint = Arc::new(Mutex::new(None));
    let mut poller = RestPoller {
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        base: sim.http_url(),
        api_key: "sk_example".into(),
        every: Duration::from_millis(100),
        after: None,
        fetched: VecDeque::new(),
        checkpoint: checkpoint.clone(),
    };

    sim.emit(fixtures::message_received("evt_1", "ada@agentmail.to"));
    sim.emit(fixtures::message_bounced("evt_2", "ada@agentmail.to"));
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        sim.emit(fixtures::message_received("evt_3", "ada@agentmail.to"));
        sim
    });

    for _ in 0..3 {
        let delivery = tokio::time::timeout(Duration::from_secs(10), poller.next())
            .await??
            .ok_or_else(|| anyhow::anyhow!("the poller ended"))?;
        println!(
            "[{}] {} {}",
            delivery.origin,
            delivery.event.id(),
            delivery.event.event_type()
        );
        delivery.ack().await?;
    }
    println!("checkpoint: {:?}", checkpoint.lock().unwrap());
    drop(later.await?);
    Ok(())
}
