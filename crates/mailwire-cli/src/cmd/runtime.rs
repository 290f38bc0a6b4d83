//! What the networked commands share: a runtime, a small HTTP client, WebSocket
//! start-up with a clear first error, and status lines on stderr.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use mailwire_client::https::HttpsClient;
use mailwire_client::tls::TlsTrust;
use mailwire_ws::{GapCause, Status, WsConfig, WsSource};

/// Runs `fut` on a multi-threaded runtime, with logging set from `RUST_LOG` (off by
/// default: the commands print their own status lines, and a library's log of the
/// same failure would say it twice).
pub(crate) fn block_on<T>(fut: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    // tungstenite logs the whole handshake request at trace level, the API key in
    // its headers included: when logging is asked for, that one target never goes
    // below debug. With logging off (the default) nothing is added: a directive would
    // turn that target on.
    let filter = match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(filter) => match NO_TRACE_HANDSHAKE.parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        },
        Err(_) => tracing_subscriber::EnvFilter::new("off"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(fut)
}

/// The log target whose trace level would print the WebSocket handshake's headers.
const NO_TRACE_HANDSHAKE: &str = "tungstenite::handshake::client=debug";

/// A status line on stderr.
macro_rules! status {
    ($($arg:tt)*) => {
        eprintln!("mailwire: {}", format_args!($($arg)*))
    };
}
pub(crate) use status;

/// An HTTP(S) client: HTTP/1, rustls over ring, trusting what every mailwire
/// client trusts (the system's and the webpki roots).
pub(crate) fn http_client() -> anyhow::Result<HttpsClient<Full<Bytes>>> {
    mailwire_client::https::client(&TlsTrust::default()).context("setting up TLS")
}

/// One HTTP exchange, bounded by a timeout; errors say what could not be reached.
pub(crate) async fn exchange(
    req: http::Request<Full<Bytes>>,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let target = format!(
        "{}://{}",
        req.uri().scheme_str().unwrap_or("http"),
        req.uri().authority().map_or("?", |a| a.as_str())
    );
    let client = http_client()?;
    let answer = tokio::time::timeout(Duration::from_secs(15), async {
        let res = client.request(req).await.map_err(|e| anyhow!(chain(&e)))?;
        let status = res.status();
        let body = Limited::new(res.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the answer: {e}"))?
            .to_bytes();
        Ok::<_, anyhow::Error>((status, body))
    })
    .await
    .map_err(|_| anyhow!("cannot reach {target}: no answer within 15 s"))?;
    answer.with_context(|| format!("cannot reach {target}"))
}

/// An error and its causes on one line, deepest cause last, without repeats.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// The `{"name","message"}` of an error answer, for a one-line message.
pub(crate) fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => match (v["name"].as_str(), v["message"].as_str()) {
            (Some(name), Some(message)) => format!("{name}: {message}"),
            _ => String::from_utf8_lossy(body).chars().take(200).collect(),
        },
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

/// Starts a WebSocket source and waits for its first subscription, so that an
/// unreachable server or a refused key is one clear error at start-up rather than
/// a retry loop. Later drops are healed by the source (and, with `report`, shown on
/// stderr).
pub(crate) async fn connect_ws(
    config: WsConfig,
    url: &str,
    report: bool,
) -> anyhow::Result<WsSource> {
    let source = WsSource::spawn(config).map_err(|e| anyhow!("--ws {url}: {e}"))?;
    let mut status = source.status();
    let first = tokio::time::timeout(
        Duration::from_secs(20),
        status.wait_for(|s| {
            matches!(
                s,
                Status::Subscribed | Status::Failed(_) | Status::Disconnected { .. }
            )
        }),
    )
    .await;
    let seen = match first {
        Ok(Ok(s)) => s.clone(),
        Ok(Err(_)) => bail!("{url}: the connection task ended"),
        Err(_) => bail!("cannot reach {url}: no answer within 20 s"),
    };
    match seen {
        Status::Subscribed => {}
        Status::Failed(e) => bail!("{url}: {e}"),
        Status::Disconnected { reason, .. } => bail!("cannot reach {url}: {reason}"),
        _ => {}
    }
    let mut source = source;
    if report {
        tokio::spawn(report_status(source.status()));
        if let Some(mut gaps) = source.gaps() {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Some(gap) = gaps.recv().await {
                    let _ = tx.send(gap);
                }
            });
            tokio::spawn(report_gaps(rx));
        }
        if let Some(skipped) = source.skipped() {
            tokio::spawn(report_skipped(skipped));
        }
    }
    Ok(source)
}

/// A line on stderr for each gap resume could not close (the agent has handed it to
/// its backfill, when it has one).
pub(crate) async fn report_gaps(mut gaps: tokio::sync::mpsc::UnboundedReceiver<mailwire_ws::Gap>) {
    while let Some(gap) = gaps.recv().await {
        let why = match gap.cause {
            GapCause::NotRetained => "the server no longer retains the last event",
            GapCause::NotSupported => "the server does not resume",
            GapCause::NoEventId => "no event had been received to resume from",
            _ => "resume could not close it",
        };
        let secs = gap
            .to
            .duration_since(gap.from)
            .unwrap_or_default()
            .as_secs_f64();
        status!(
            "websocket: gap: events of the last {secs:.1} s may be missing ({why}; last event {})",
            gap.last_event_id.as_deref().unwrap_or("none")
        );
    }
}

/// A line on stderr for each frame the WebSocket skipped.
pub(crate) async fn report_skipped(mut skipped: mailwire_ws::SkippedFrames) {
    while let Some(frame) = skipped.recv().await {
        status!(
            "websocket: skipped a {}-byte frame (event {}): {}; {} skipped in all",
            frame.len,
            frame.id.as_deref().unwrap_or("unknown"),
            frame.reason,
            skipped.count()
        );
    }
}

/// Prints the WebSocket's state changes on stderr.
pub(crate) async fn report_status(mut rx: tokio::sync::watch::Receiver<Status>) {
    while rx.changed().await.is_ok() {
        let status = rx.borrow_and_update().clone();
        match status {
            Status::Subscribed => status!("websocket: subscribed"),
            Status::Disconnected { reason, retry_in } => status!(
                "websocket: disconnected ({reason}); reconnecting in {:.1} s",
                retry_in.as_secs_f64()
            ),
            Status::Failed(e) => status!("websocket: failed: {e}"),
            _ => {}
        }
    }
}

/// Normalizes a server URL for REST: `ws://host/v0` becomes `http://host`.
pub(crate) fn rest_base(server: &str) -> anyhow::Result<String> {
    let uri: http::Uri = server
        .parse()
        .map_err(|e| crate::usage::usage(format!("--server {server:?}: {e}")))?;
    let scheme = match uri.scheme_str() {
        Some("http" | "ws") => "http",
        Some("https" | "wss") => "https",
        _ => {
            return Err(crate::usage::usage(format!(
                "--server {server:?}: expected an http:// or https:// URL"
            )));
        }
    };
    let Some(authority) = uri.authority() else {
        return Err(crate::usage::usage(format!("--server {server:?}: no host")));
    };
    let path = uri.path().trim_end_matches('/');
    let path = match path {
        "/v0" | "/v1/ws" => "",
        other => other,
    };
    Ok(format!("{scheme}://{authority}{path}"))
}

/// Checks a URL option at start: one of `schemes`, with a host. A value that
/// cannot work is a usage error naming the option, before anything is opened.
pub(crate) fn check_url(flag: &str, url: &str, schemes: &[&str]) -> anyhow::Result<()> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| crate::usage::usage(format!("{flag} {url:?}: not a URL ({e})")))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if !schemes.contains(&scheme) {
        let expected: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        return Err(crate::usage::usage(format!(
            "{flag} {url:?}: expected a {} URL",
            expected.join(" or ")
        )));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(crate::usage::usage(format!("{flag} {url:?}: no host")));
    }
    Ok(())
}

/// Checks a listening address option at start: `HOST:PORT` or `[V6]:PORT`, with a
/// port (0 picks a free one).
pub(crate) fn check_listen_addr(flag: &str, addr: &str) -> anyhow::Result<()> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let port_ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if port_ok {
        return Ok(());
    }
    Err(crate::usage::usage(format!(
        "{flag} {addr:?}: expected HOST:PORT, e.g. 127.0.0.1:3000"
    )))
}

/// What SIGHUP does to a running command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hangup {
    /// Stops it the graceful way, as SIGINT and SIGTERM do (a closed terminal, or a
    /// supervisor that sends SIGHUP).
    Stops,
    /// Left to another listener (`listen --tenants` reloads its file): this one only
    /// keeps SIGHUP from killing the process before that listener is installed.
    Reloads,
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and systemd send), and
/// on SIGHUP when `hangup` says it stops: they stop a command the same graceful way.
/// The handlers are installed when this is called, not when the future is first
/// polled, so a signal that comes while the command is still starting is kept rather
/// than killing the process: call it first. Must be called inside the runtime.
pub(crate) fn interrupted(hangup: Hangup) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            return Box::pin(async move {
                loop {
                    tokio::select! {
                        _ = int.recv() => return,
                        _ = term.recv() => return,
                        _ = hup.recv() => {
                            if hangup == Hangup::Stops {
                                return;
                            }
                        }
                    }
                }
            });
        }
    }
    let _ = hangup;
    Box::pin(async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling available: run until killed.
            std::future::pending::<()>().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_base_accepts_websocket_urls_and_refuses_others() {
        assert_eq!(
            rest_base("http://127.0.0.1:8787").unwrap(),
            "http://127.0.0.1:8787"
        );
        assert_eq!(
            rest_base("ws://127.0.0.1:8787/v0").unwrap(),
            "http://127.0.0.1:8787"
        );
        assert_eq!(
            rest_base("wss://h.example/v1/ws").unwrap(),
            "https://h.example"
        );
        assert_eq!(
            rest_base("https://h.example/api/").unwrap(),
            "https://h.example/api"
        );
        assert!(rest_base("ftp://x").is_err());
        assert!(rest_base("not a url").is_err());
    }

    #[test]
    fn url_and_address_options_are_checked_at_start() {
        assert!(check_url("--ws", "ws://127.0.0.1:8787/v0", &["ws", "wss"]).is_ok());
        assert!(check_url("--ws", "wss://ws.agentmail.to/v0", &["ws", "wss"]).is_ok());
        let err = check_url("--ws", "http://h/v0", &["ws", "wss"]).unwrap_err();
        assert!(
            err.to_string().contains("expected a ws:// or wss:// URL"),
            "{err}"
        );
        assert!(check_url("--ws", "ws:///v0", &["ws", "wss"]).is_err());
        assert!(check_url("--to", "not a url", &["http", "https"]).is_err());
        assert!(check_listen_addr("--webhook-listen", "127.0.0.1:3000").is_ok());
        assert!(check_listen_addr("--webhook-listen", "[::1]:0").is_ok());
        assert!(check_listen_addr("--webhook-listen", "localhost:3000").is_ok());
        assert!(check_listen_addr("--webhook-listen", "3000").is_err());
        assert!(check_listen_addr("--webhook-listen", "127.0.0.1:99999").is_err());
    }

    #[test]
    fn error_text_reads_the_service_shape() {
        assert_eq!(
            error_text(br#"{"name":"AuthenticationError","message":"bad key"}"#),
            "AuthenticationError: bad key"
        );
        assert_eq!(error_text(b"plain"), "plain");
    }
}
