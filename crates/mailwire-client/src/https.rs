//! The one HTTP(S) client every mailwire client builds: hyper 1 over HTTP/1,
//! rustls with ring, trusting what [`TlsTrust`] says, `http://` allowed beside
//! `https://` (a simulator or a proxy on loopback), `TCP_NODELAY`, 10 s to
//! connect, idle connections kept 30 s.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use mailwire_client::https::{HttpsClient, client};
//! use mailwire_client::tls::TlsTrust;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mailwire_client::tls::TlsError> {
//! let client: HttpsClient<Full<Bytes>> = client(&TlsTrust::default())?;
//! # drop(client);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::tls::{TlsError, TlsTrust};

/// The connector under [`client`]: TCP, then TLS for `https://` URLs.
pub type Connector = HttpsConnector<HttpConnector>;

/// An HTTP(S) client sending bodies of type `B`.
pub type HttpsClient<B> = Client<Connector, B>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// How long a TCP connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connector: TCP with `TCP_NODELAY` and a 10 s connect timeout, TLS per
/// `trust` for `https://`, plain for `http://`, HTTP/1.
pub fn connector(trust: &TlsTrust) -> Result<Connector, TlsError> {
    let tls = trust.client_config()?;
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(Arc::unwrap_or_clone(tls))
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp))
}

/// A pooled client over [`connector`]. Must be used inside a tokio runtime.
pub fn client<B>(trust: &TlsTrust) -> Result<HttpsClient<B>, TlsError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .build(connector(trust)?))
}
