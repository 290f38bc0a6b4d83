//! `mailwire dev`: the local simulator of the email service.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::anyhow;
use axum::response::IntoResponse as _;
use clap::ValueEnum;
use mailwire_proto::Envelope;
use mailwire_sim::Simulator;

use super::runtime::{Hangup, block_on, check_listen_addr, interrupted, status};
use super::{API_KEY_ENV, Secret};

/// The address `dev` listens on unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// The address `dev` takes mail on over SMTP unless told otherwise (Mailpit's).
pub(crate) const DEFAULT_SMTP: &str = "127.0.0.1:1025";

/// `mailwire dev [--listen ADDR] [--api-key KEY]... [--retain N] [--max-messages N]
/// [--envelope agentmail|simple]`
#[derive(Debug, clap::Args)]
#[command(
    after_help = concat!(
        "Serves until Ctrl-C: a local AgentMail. Its official SDKs work against it with\n",
        "only their base URL changed (Python: AgentMailEnvironment(http=URL, websockets=WS);\n",
        "TypeScript: environment: {http, websockets}). Every event is sent on the WebSocket\n",
        "and POSTed, signed and retried, to each matching webhook.\n\n",
        "AgentMail's API:\n",
        "  WS      /v0                           subscribe -> subscribed, events, error\n",
        "  REST    /v0/inboxes, /v0/inboxes/ID/messages[/send], .../threads, /v0/threads,\n",
        "          /v0/webhooks, /v0/pods, ...   the service's shapes, pages and errors\n",
        "  MCP     /mcp                          mailwire mcp's email tools over Streamable\n",
        "                                        HTTP, on this simulator: list_inboxes,\n",
        "                                        send_message, wait_for_email, ...\n",
        "  Sending to bounce@, complaint@ or reject@simulator.amazonses.com gives\n",
        "  message.bounced, .complained or .rejected instead of message.delivered.\n\n",
        "The article's (--envelope simple):\n",
        "  WS      /v1/ws                        every event from connect, no subscribe\n",
        "  POST    /v1/webhooks                  {url, events?, inbox_ids?, secret?, scheme?}\n",
        "  GET     /v1/webhooks[/ID], DELETE /v1/webhooks/ID\n\n",
        "The simulator's own controls:\n",
        "  POST    /_sim/inboxes/INBOX/messages  {from, to, subject, text, html?, verdict?}\n",
        "  POST    /_sim/events                  a raw event, emitted as given\n",
        "  GET     /_sim/events?after=ID&limit=N retained events, oldest first\n",
        "  POST    /_sim/chaos                   {seed, drop_ws_every, webhook_failure_rate,\n",
        "                                         webhook_max_failures, webhook_delay_ms,\n",
        "                                         duplicate_rate, reorder_rate, ws_down, drop_now}\n",
        "  GET     /_sim/chaos, DELETE /_sim/chaos   read, clear\n",
        "  GET     /_sim/webhooks/ID/deliveries  each delivery with its attempts (status,\n",
        "                                        latency, answer, next retry), newest first\n",
        "  POST    /_sim/webhooks/ID/deliveries/DLV/redeliver   the event sent again\n",
        "  GET     /                             the inspector: inboxes, messages (HTML, text,\n",
        "                                        headers, raw), events live, webhook deliveries\n",
        "                                        with a redeliver button, chaos, search\n\n",
        "SMTP (--smtp, default 127.0.0.1:1025): any client (smtplib, nodemailer, swaks)\n",
        "sends real mail: PIPELINING, 8BITMIME, SMTPUTF8, SIZE; each message arrives in\n",
        "the inbox of each RCPT TO (created on first use), threaded by In-Reply-To and\n",
        "References, as message.received (or .blocked by the inbox's lists).\n\n",
        "With --api-key, every route but /mcp and the inspector's page needs one of the\n",
        "keys: Authorization: Bearer, an X-API-Key header, or ?api_key= (the inspector:\n",
        "open /?api_key=KEY once). The tools at /mcp use the first."
    )
)]
pub(crate) struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: String,
    /// Take mail over SMTP on this address (`off`: not at all). Each message goes
    /// to the inbox of each RCPT TO, created on first use. When the default port is
    /// taken, SMTP is left off with a warning; a port asked for must be free.
    #[arg(long, value_name = "ADDR|off", default_value = DEFAULT_SMTP)]
    smtp: String,
    /// The largest message taken over SMTP, in bytes (SIZE; larger ones get 552).
    #[arg(long, value_name = "BYTES", default_value_t = 25 << 20)]
    smtp_max_size: usize,
    /// Accept this API key (repeatable). Without one, any request is let in.
    #[arg(long = "api-key", value_name = "KEY", env = API_KEY_ENV, hide_env_values = true)]
    api_keys: Vec<Secret>,
    /// How many recent events to keep for resume (`after`) and `GET /_sim/events`.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    retain: usize,
    /// How many messages to keep: past it the oldest are pruned, so memory stays
    /// bounded however long it runs.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    max_messages: usize,
    /// The event envelope on the WebSocket and in webhook bodies.
    #[arg(long, value_enum, default_value_t = EnvelopeArg::Agentmail)]
    envelope: EnvelopeArg,
    /// Print `{"http","ws","mcp"}` as one JSON line on stdout once listening (for a
    /// script that starts it on port 0).
    #[arg(long)]
    json: bool,
    /// Serve the simulator's metrics in Prometheus' text format at
    /// http://ADDR/metrics, e.g. 127.0.0.1:9091.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
}

/// The MCP service, once built.
type Mcp = Arc<
    OnceLock<
        rmcp::transport::streamable_http_server::StreamableHttpService<
            crate::cmd::mcp::MailTools,
            rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
        >,
    >,
>;

/// `/mcp`: the MCP service, or a 503 until it is built (or when it could not be).
fn mcp_route(mcp: Mcp) -> axum::routing::MethodRouter {
    axum::routing::any(move |req: axum::extract::Request| {
        let mcp = mcp.clone();
        async move {
            match mcp.get() {
                Some(service) => service.handle(req).await.into_response(),
                None => (
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "the MCP tools are not available",
                )
                    .into_response(),
            }
        }
    })
}

/// The simulator's URL as the process itself reaches it: on loopback when it
/// listens on every address.
fn local_url(sim: &Simulator) -> String {
    let addr = sim.addr();
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        let local = SocketAddr::new(ip, addr.port());
        return sim
            .http_url()
            .replace(&addr.to_string(), &local.to_string());
    }
    sim.http_url()
}

/// `--envelope` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EnvelopeArg {
    /// AgentMail's `{"type":"event","event_type","event_id",...}`; webhooks signed
    /// with Standard Webhooks by default.
    Agentmail,
    /// The simple `{"id","type","data"}`; webhooks signed with a hex HMAC in
    /// `x-signature` by default.
    Simple,
}

/// Serves until Ctrl-C.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    check_listen_addr("--listen", &args.listen)?;
    if args.smtp != "off" {
        check_listen_addr("--smtp", &args.smtp)?;
    }
    if let Some(addr) = &args.metrics {
        check_listen_addr("--metrics", addr)?;
    }
    block_on(async move {
        // Before anything else: a signal while starting stops gracefully too.
        let stop = interrupted(Hangup::Stops);
        if let Some(addr) = &args.metrics {
            let local = super::metrics::serve(addr).await?;
            status!("metrics: http://{local}/metrics");
        }
        let mut builder = Simulator::builder()
            .smtp_max_size(args.smtp_max_size)
            .retain(args.retain)
            .max_messages(args.max_messages)
            .envelope(match args.envelope {
                EnvelopeArg::Agentmail => Envelope::AgentMail,
                EnvelopeArg::Simple => Envelope::Simple,
            });
        for key in &args.api_keys {
            builder = builder.api_key(key.expose());
        }
        // The tools need the address bound: the route is there from the start and
        // serves once they are built.
        let mcp = Arc::new(OnceLock::new());
        builder = builder.mount("/mcp", mcp_route(mcp.clone()));
        let sim = builder
            .bind(args.listen.as_str())
            .await
            .map_err(|e| anyhow!("cannot listen on {}: {e}", args.listen))?;
        let base = sim.http_url();
        status!("simulator listening on {base}");
        let smtp = match args.smtp.as_str() {
            "off" => None,
            addr => match sim.serve_smtp(addr).await {
                Ok(local) => {
                    status!("smtp: {local}");
                    Some(local)
                }
                Err(e) if addr == DEFAULT_SMTP => {
                    status!("smtp: off: cannot listen on {addr}: {e} (--smtp ADDR picks another)");
                    None
                }
                Err(e) => return Err(anyhow!("cannot listen on {addr} (--smtp): {e}")),
            },
        };
        let key = args.api_keys.first().map_or("any", |k| k.expose());
        let mcp_url = match crate::cmd::mcp::MailTools::for_simulator(&local_url(&sim), key).await {
            Ok(tools) => {
                let loopback = sim.addr().ip().is_loopback();
                let _ = mcp.set(crate::cmd::mcp::http_service(tools, loopback));
                let url = format!("{base}/mcp");
                status!("mcp: {url}");
                Some(url)
            }
            Err(e) => {
                status!("mcp: unavailable: {e}");
                None
            }
        };
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "http": base,
                    "ws": sim.ws_url(),
                    "mcp": mcp_url,
                    "smtp": smtp.map(|a| a.to_string()),
                })
            );
        }
        eprintln!("  WebSocket  {}  (the article's: /v1/ws)", sim.ws_url());
        eprintln!("  REST       {base}/v0/...  (AgentMail's; controls under /_sim, see --help)");
        eprintln!("  inspector  {base}/  (every inbox, message, event and webhook delivery, live)");
        if let Some(smtp) = smtp {
            eprintln!("  SMTP       {smtp}  (mail to any address creates its inbox)");
        }
        eprintln!(
            "  envelope   {}; {}",
            match args.envelope {
                EnvelopeArg::Agentmail => "agentmail",
                EnvelopeArg::Simple => "simple",
            },
            match args.api_keys.len() {
                0 => "any API key accepted".to_owned(),
                n => format!("{n} API key(s) accepted"),
            }
        );
        // The key is never printed: the hint names where it comes from.
        let key = if args.api_keys.is_empty() {
            "any"
        } else {
            "\"$AGENTMAIL_API_KEY\""
        };
        eprintln!(
            "  try        mailwire listen --ws {} --api-key {key}",
            sim.ws_url()
        );
        eprintln!(
            "             mailwire send --server {base} --api-key {key} --inbox ada@agentmail.to \
--from bob@example.com --subject hello --text 'Your code is 481516'"
        );
        stop.await;
        status!("stopping");
        sim.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}
