//! Opening a connection: TCP, TLS when `wss://`, the WebSocket handshake, all under
//! one timeout; and telling fatal failures (credentials, trust) from transient ones.

use std::io;
use std::sync::Arc;

use http::HeaderValue;
use http::Uri;
use mailwire_source::SourceError;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::TlsError;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::config::{AuthStyle, WsConfig};
use crate::status::DisconnectReason;

/// A connected WebSocket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Retrying cannot help.
    Fatal(SourceError),
    /// Retry after a backoff.
    Transient(DisconnectReason),
}

/// Everything checked and built once, before the first attempt.
pub(crate) struct Endpoint {
    url: String,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    api_key: Option<HeaderValue>,
    auth_style: AuthStyle,
    ws: WebSocketConfig,
    pub(crate) timeout: std::time::Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Validates the URL, key and TLS trust. Errors here are configuration errors.
    pub(crate) fn new(config: &WsConfig) -> Result<Endpoint, SourceError> {
        let uri: Uri = config.url.parse().map_err(|source| {
            SourceError::config(InvalidUrl {
                url: config.url.clone(),
                source,
            })
        })?;
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => {
                return Err(SourceError::config(format!(
                    "{:?} is not a ws:// or wss:// URL",
                    config.url
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| SourceError::config(format!("{:?} has no host", config.url)))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = if secure {
            // Checked here so a bad name is a configuration error, not a retry.
            ServerName::try_from(host.clone()).map_err(|e| {
                SourceError::config(format!("invalid TLS server name {host:?}: {e}"))
            })?;
            Some(config.tls.client_config().map_err(SourceError::tls)?)
        } else {
            None
        };
        let api_key = match &config.api_key {
            None => None,
            Some(key) => {
                let value = match config.auth_style {
                    AuthStyle::Bearer => format!("Bearer {key}"),
                    _ => key.clone(),
                };
                let mut value = HeaderValue::from_str(&value)
                    .map_err(|_| SourceError::config("the API key is not a valid header value"))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        // Events over `max_message_size` (or what the parser reads) are read and
        // skipped, reported with their id (the resume point moves past them); only
        // past this hard bound is the connection dropped.
        let max = config.max_message_size.max(HARD_MESSAGE_LIMIT);
        Ok(Endpoint {
            url: config.url.clone(),
            host,
            port,
            tls,
            api_key,
            auth_style: config.auth_style,
            ws: WebSocketConfig::default()
                .max_message_size(Some(max))
                .max_frame_size(Some(max)),
            timeout: config.connect_timeout,
        })
    }

    /// A fresh handshake request (each needs its own `Sec-WebSocket-Key`).
    fn request(&self) -> Result<Request, ConnectError> {
        let url = match (&self.api_key, self.auth_style) {
            (Some(key), AuthStyle::Query) => {
                let key = key.to_str().unwrap_or_default();
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}api_key={}", self.url, percent_encode(key))
            }
            _ => self.url.clone(),
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| ConnectError::Fatal(SourceError::config(format!("invalid URL: {e}"))))?;
        if let Some(key) = &self.api_key {
            let name = match self.auth_style {
                AuthStyle::XApiKey => Some(http::header::HeaderName::from_static("x-api-key")),
                AuthStyle::Bearer => Some(http::header::AUTHORIZATION),
                AuthStyle::Query => None,
            };
            if let Some(name) = name {
                request.headers_mut().insert(name, key.clone());
            }
        }
        Ok(request)
    }

    /// Connects, bounded by the connect timeout.
    pub(crate) async fn connect(&self) -> Result<Socket, ConnectError> {
        match tokio::time::timeout(self.timeout, self.connect_unbounded()).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Transient(DisconnectReason::ConnectTimeout)),
        }
    }

    async fn connect_unbounded(&self) -> Result<Socket, ConnectError> {
        let io = |e: io::Error| ConnectError::Transient(DisconnectReason::Io(e.to_string()));
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io)?;
        let _ = tcp.set_nodelay(true);
        // TLS (for wss://, with the configured trust) and the handshake, by
        // tokio-tungstenite.
        let connector = match &self.tls {
            Some(config) => Connector::Rustls(config.clone()),
            None => Connector::Plain,
        };
        let request = self.request()?;
        let (socket, _) = tokio_tungstenite::client_async_tls_with_config(
            request,
            tcp,
            Some(self.ws),
            Some(connector),
        )
        .await
        .map_err(handshake_error)?;
        Ok(socket)
    }
}

/// The most a message may hold before the connection is dropped rather than the
/// message skipped: tungstenite's own default.
const HARD_MESSAGE_LIMIT: usize = 64 << 20;

/// RFC 3986's unreserved characters stay in a query value; everything else is
/// percent-encoded.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// A URL that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid URL {url:?}: {source}")]
pub(crate) struct InvalidUrl {
    url: String,
    #[source]
    source: http::uri::InvalidUri,
}

/// The server's certificate was refused; rustls says why.
#[derive(Debug, thiserror::Error)]
#[error("the server's certificate is not trusted: {0}")]
pub(crate) struct Untrusted(#[source] pub(crate) rustls::Error);

/// An untrusted or unusable certificate is fatal: retrying meets the same
/// certificate. Anything else during TLS (a reset, an alert) is transient.
fn tls_error(e: io::Error) -> ConnectError {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType),
        ) => ConnectError::Fatal(SourceError::tls(Untrusted(err.clone()))),
        Some(err) => {
            ConnectError::Transient(DisconnectReason::Io(format!("TLS handshake failed: {err}")))
        }
        None => ConnectError::Transient(DisconnectReason::Io(e.to_string())),
    }
}

fn handshake_error(e: WsError) -> ConnectError {
    match e {
        WsError::Http(response) => {
            let status = response.status().as_u16();
            if status == 401 || status == 403 {
                ConnectError::Fatal(SourceError::auth(format!(
                    "the server answered the handshake with HTTP {status}"
                )))
            } else {
                ConnectError::Transient(DisconnectReason::Rejected(status))
            }
        }
        // TLS failures come as I/O errors carrying rustls' own.
        WsError::Io(e) => tls_error(e),
        WsError::Tls(TlsError::InvalidDnsName) => ConnectError::Fatal(SourceError::config(
            "the URL's host is not a valid TLS server name",
        )),
        other => ConnectError::Transient(DisconnectReason::Protocol(other.to_string())),
    }
}
