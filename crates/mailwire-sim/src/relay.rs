//! The chaos relay: a small HTTP forwarder on loopback that webhook deliveries go
//! through while chaos fails webhooks. It decides each attempt's fate from the seed,
//! the event id and the attempt number, so the failures are real HTTP failures that
//! the real sender retries on its real (scaled) schedule:
//!
//! - *refused*: answered 503 without forwarding (the receiver never saw it);
//! - *answer lost*: forwarded, then answered 502 whatever the receiver said, so the
//!   sender retries what the receiver already accepted: a duplicate it must absorb.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use mailwire_client::https::HttpsClient;
use mailwire_client::tls::TlsTrust;
use mailwire_proto::Event;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::chaos::{AttemptFate, ChaosState, bump};

/// Larger bodies are refused: the sender never sends more than an event.
const MAX_BODY: usize = 8 << 20;

struct State {
    chaos: Arc<ChaosState>,
    targets: Mutex<HashMap<String, Uri>>,
    attempts: Mutex<HashMap<(String, String), u32>>,
    client: HttpsClient<Full<Bytes>>,
}

/// A running relay; stops when dropped.
pub(crate) struct Relay {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("addr", &self.addr).finish()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Single inserts and removals: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Relay {
    pub(crate) async fn start(chaos: Arc<ChaosState>) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The same client as the sender's, so an https:// endpoint is reached too.
        let client =
            mailwire_client::https::client(&TlsTrust::default()).map_err(std::io::Error::other)?;
        let state = Arc::new(State {
            chaos,
            targets: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            client,
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(Relay { addr, state, task })
    }

    /// The URL that relays to `target` (an `http://` URL) for webhook `id`, or `None`
    /// when the target cannot be relayed (`https://`).
    pub(crate) fn register(&self, id: &str, target: &str) -> Option<String> {
        let uri: Uri = target.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        lock(&self.state.targets).insert(id.to_owned(), uri);
        Some(format!("http://{}/{id}", self.addr))
    }

    pub(crate) fn forget(&self, id: &str) {
        lock(&self.state.targets).remove(id);
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(relay(req, &state).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

fn answer(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn relay(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    let hook = req.uri().path().trim_start_matches('/').to_owned();
    let Some(target) = lock(&state.targets).get(&hook).cloned() else {
        return answer(StatusCode::NOT_FOUND, "no such webhook");
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return answer(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let body = body.to_bytes();
    // The sender uses the event id as the webhook id; only the hex and stripe
    // schemes, which carry no id header, need the body parsed.
    let event_id = match parts
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) => id.to_owned(),
        None => Event::parse(body.clone()).map_or_else(|_| String::new(), |e| e.id().to_owned()),
    };
    let key = (hook, event_id);
    let attempt = {
        let mut attempts = lock(&state.attempts);
        let n = attempts.entry(key.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let fate = state
        .chaos
        .current()
        .map_or(AttemptFate::Pass, |c| c.webhook_attempt(&key.1, attempt));
    if fate == AttemptFate::Refuse {
        bump(&state.chaos.webhook_refused);
        return answer(StatusCode::SERVICE_UNAVAILABLE, "chaos: refused");
    }
    let mut forward = Request::post(target)
        .body(Full::new(body))
        .unwrap_or_default();
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            forward.headers_mut().append(name, value.clone());
        }
    }
    let answered = match state.client.request(forward).await {
        Ok(res) => {
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, 64 << 10)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut response = Response::new(Full::new(body));
            *response.status_mut() = parts.status;
            for name in [hyper::header::RETRY_AFTER, hyper::header::CONTENT_TYPE] {
                if let Some(v) = parts.headers.get(&name) {
                    response.headers_mut().insert(name, v.clone());
                }
            }
            response
        }
        Err(_) => answer(StatusCode::BAD_GATEWAY, "relay: target unreachable"),
    };
    if fate == AttemptFate::LoseAnswer {
        bump(&state.chaos.webhook_answers_lost);
        return answer(StatusCode::BAD_GATEWAY, "chaos: answer lost");
    }
    if answered.status().is_success() {
        lock(&state.attempts).remove(&key);
    }
    answered
}
