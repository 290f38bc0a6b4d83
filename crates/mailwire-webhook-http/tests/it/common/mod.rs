//! Helpers shared by the integration tests: signing, a loopback client, raw
//! sockets for malformed requests, and logs that fail or block on demand.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mailwire_proto::Event;
use mailwire_source::{Delivery, EventSource};
use mailwire_store::{Appended, MemoryStore, Store, StoreError};
use mailwire_webhook::{Keyring, Signer, Verifier};
use mailwire_webhook_http::{WebhookReceiver, WebhookSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

/// Bounds a hang; never the expected duration of anything.
pub const HANG: Duration = Duration::from_secs(10);

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const PATH: &str = "/webhooks";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn keyring() -> Keyring {
    Keyring::standard(SECRET).unwrap()
}

pub fn verifier() -> Verifier {
    Verifier::new(keyring())
}

pub fn receiver() -> WebhookReceiver {
    WebhookReceiver::new(verifier())
}

pub async fn bind(receiver: WebhookReceiver) -> (WebhookSource, SocketAddr) {
    let source = receiver.bind("127.0.0.1:0").await.unwrap();
    let addr = source.local_addr().unwrap();
    (source, addr)
}

/// A realistic `message.received` event with this id.
pub fn event(id: &str) -> Event {
    mailwire_test::fixtures::message_received(id, mailwire_test::fixtures::INBOX)
}

pub fn sign_at(id: &str, ts: i64, body: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    Signer::new(keyring()).sign(id, ts, body).unwrap()
}

pub fn sign(id: &str, body: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    sign_at(id, now(), body)
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn request(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: &str,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .unwrap();
    for (name, value) in headers {
        req.headers_mut().append(name, value);
    }
    let res = tokio::time::timeout(HANG, client.request(req))
        .await
        .expect("hang")
        .unwrap();
    let (parts, body) = res.into_parts();
    let text = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        text: String::from_utf8_lossy(&text).into_owned(),
    }
}

/// POSTs `body` to the webhook path, signed with a fresh timestamp.
pub async fn post(addr: SocketAddr, msg_id: &str, body: Bytes) -> Reply {
    let headers = sign(msg_id, &body);
    request(
        &client(),
        "POST",
        format!("http://{addr}{PATH}"),
        headers,
        body,
    )
    .await
}

/// POSTs the event with this id, signed.
pub async fn post_event(addr: SocketAddr, id: &str) -> Reply {
    post(addr, &format!("msg_{id}"), event(id).raw().clone()).await
}

/// The next delivery, or a panic if the source hangs.
pub async fn next(source: &mut WebhookSource) -> Delivery {
    tokio::time::timeout(HANG, source.next())
        .await
        .expect("source hung")
        .unwrap()
        .expect("source ended")
}

/// Writes `bytes` on a fresh connection and reads until the server closes.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_to_close(&mut stream).await
}

/// Reads until EOF or a reset: everything the server sent before closing.
pub async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG, stream.read(&mut buf))
            .await
            .expect("server never closed")
        {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An event log over `MemoryStore` whose appends fail while `failing` is set.
#[derive(Clone, Default)]
pub struct FlakyLog {
    pub inner: MemoryStore,
    pub failing: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl mailwire_source::Checkpoints for FlakyLog {
    async fn load(&self, key: &str) -> Result<Option<String>, mailwire_source::BoxError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> Result<(), mailwire_source::BoxError> {
        self.inner.save(key, value).await
    }
}

#[async_trait]
impl Store for FlakyLog {
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.claim(limit).await
    }
    fn release(&self, id: &str) {
        self.inner.release(id);
    }
    fn lease(&self) -> std::time::Duration {
        self.inner.lease()
    }
    fn holds(&self, id: &str) -> bool {
        self.inner.holds(id)
    }
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("disk full (test)".into()));
        }
        self.inner.append(event).await
    }
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.unacked(limit).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.inner.ack(id).await
    }
    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.contains(id).await
    }
    async fn bury(&self, letter: &mailwire_store::DeadLetter) -> Result<(), StoreError> {
        self.inner.bury(letter).await
    }
    async fn dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<mailwire_store::DeadLetter>, StoreError> {
        self.inner.dead_letters(limit).await
    }
    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.revive(id).await
    }
    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.discard(id).await
    }
}

/// An event log whose appends wait for the test's permission, announcing that they
/// have started: a request held in flight, deterministically.
#[derive(Clone)]
pub struct GatedLog {
    pub inner: MemoryStore,
    pub entered: Arc<Notify>,
    pub gate: Arc<Semaphore>,
}

impl Default for GatedLog {
    fn default() -> Self {
        GatedLog {
            inner: MemoryStore::new(),
            entered: Arc::new(Notify::new()),
            gate: Arc::new(Semaphore::new(0)),
        }
    }
}

#[async_trait::async_trait]
impl mailwire_source::Checkpoints for GatedLog {
    async fn load(&self, key: &str) -> Result<Option<String>, mailwire_source::BoxError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &str, value: &str) -> Result<(), mailwire_source::BoxError> {
        self.inner.save(key, value).await
    }
}

#[async_trait]
impl Store for GatedLog {
    async fn claim(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.claim(limit).await
    }
    fn release(&self, id: &str) {
        self.inner.release(id);
    }
    fn lease(&self) -> std::time::Duration {
        self.inner.lease()
    }
    fn holds(&self, id: &str) -> bool {
        self.inner.holds(id)
    }
    async fn append(&self, event: &Event) -> Result<Appended, StoreError> {
        self.entered.notify_one();
        self.gate.acquire().await.unwrap().forget();
        self.inner.append(event).await
    }
    async fn unacked(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.unacked(limit).await
    }
    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.inner.ack(id).await
    }
    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.contains(id).await
    }
    async fn bury(&self, letter: &mailwire_store::DeadLetter) -> Result<(), StoreError> {
        self.inner.bury(letter).await
    }
    async fn dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<mailwire_store::DeadLetter>, StoreError> {
        self.inner.dead_letters(limit).await
    }
    async fn revive(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.revive(id).await
    }
    async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.discard(id).await
    }
}

/// Signs `body` as Svix does with `secret` (a `whsec_` secret).
pub fn sign_with(secret: &str, msg_id: &str, body: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    Signer::new(Keyring::standard(secret).unwrap())
        .sign(msg_id, now(), body)
        .unwrap()
}

/// Headers that fail verification: a signature made with another secret.
pub fn bad_signature(msg_id: &str, body: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    sign_with("whsec_dGVuYW50LWFjbWUtcm90YXRlZC0wMDAx", msg_id, body)
}

/// POSTs `body` to `path` over a fresh connection whose source address is
/// `from` (any loopback address, e.g. 127.0.0.2, so the receiver sees distinct
/// clients), closed after the answer.
pub async fn post_from(
    from: std::net::IpAddr,
    addr: SocketAddr,
    path: &str,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: &[u8],
) -> Reply {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = tokio::time::timeout(HANG, socket.connect(addr))
        .await
        .expect("connect hung")
        .unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.unwrap();
    parse_reply(&read_to_close(&mut stream).await)
}

/// A raw HTTP/1.1 answer as a [`Reply`].
pub fn parse_reply(raw: &str) -> Reply {
    let (head, text) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
    }
    Reply {
        status: StatusCode::from_u16(code).unwrap(),
        headers,
        text: text.to_owned(),
    }
}

/// A loopback address other than 127.0.0.1: `ip(2)` is 127.0.0.2.
pub fn ip(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, last])
}
