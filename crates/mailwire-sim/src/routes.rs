//! The route table, on axum: AgentMail's REST API under `/v0` ([`crate::v0`]), the
//! article's webhook registration under `/v1/webhooks` ([`crate::v1`]), the simulator's own
//! controls under `/_sim` ([`crate::control`]), and the WebSocket upgrades at `/v0` and
//! `/v1/ws` ([`crate::ws`]).
//!
//! Every route needs an accepted API key (the service's 401 otherwise, before the
//! route is looked up), except the download links `/_sim/download/...`, which stand
//! for presigned URLs, the WebSocket paths, which check it themselves, and the
//! services mounted with [`crate::SimulatorBuilder::mount`], which do if they do. Errors
//! keep the service's shape: an unknown route is a 404 and a known one asked with
//! another method (`HEAD` included) a 405, each `{name, message}` (with `code`
//! under `/v0`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::middleware::{self, Next};
use axum::routing::{any, post};
use hyper::{Method, Response, StatusCode};

use crate::Shared;
use crate::http::{Body, Req, error, method_not_allowed, no_route, only, unauthorized, under_v0};

/// Every route of the simulator. A layer wraps the routes added before it (and the
/// fallback), not those added after: the key check covers everything but the
/// downloads and the WebSocket paths, the request count everything but the
/// WebSocket paths. The mounted services come last, outside both.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let keyed = Router::new()
        .merge(crate::v0::routes(&shared))
        .merge(crate::v1::routes())
        .merge(crate::control::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), require_key));
    keyed
        .merge(crate::control::downloads())
        .merge(crate::inspector::routes())
        // Signing up is how an agent gets its first key.
        .route(
            "/v0/agent/sign-up",
            only(post(crate::v0::agent::sign_up), method_not_allowed),
        )
        .layer(middleware::map_response(counted))
        .route("/v0", any(crate::ws::agentmail_socket))
        .route("/v1/ws", any(crate::ws::simple_socket))
        .with_state(shared.clone())
        .merge(shared.mounted.clone())
}

/// The 404 for a path no route matches: in `/v0`'s shape under `/v0`.
async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response<Body> {
    if under_v0(uri.path()) {
        no_route(&method, uri.path())
    } else {
        error(StatusCode::NOT_FOUND, "NotFoundError", "no such route")
    }
}

/// The 401 unless the request carries an accepted key.
async fn require_key(
    State(shared): State<Arc<Shared>>,
    mut req: Req,
    next: Next,
) -> axum::response::Response {
    // A key created through the API: let in, its scope kept for the routes to check.
    let created = {
        let mut mail = shared.mail();
        let presented: Vec<String> = shared
            .keys
            .presented(&req)
            .map(|k| k.into_owned())
            .collect();
        presented
            .iter()
            .find_map(|k| mail.api_keys.used(k).map(crate::keys::Created::scope))
    };
    if let Some(scope) = created {
        req.extensions_mut().insert(scope);
        return next.run(req).await;
    }
    match shared.keys.check(&req) {
        Ok(()) => next.run(req).await,
        Err(missing) => axum::response::IntoResponse::into_response(unauthorized(missing)),
    }
}

/// Counts each REST answer by status.
async fn counted(response: axum::response::Response) -> axum::response::Response {
    let status = response.status().as_u16().to_string();
    metrics::counter!("mailwire_sim_requests_total", "status" => status).increment(1);
    response
}

#[cfg(test)]
mod tests {
    use axum::routing::any;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use crate::{Retention, Simulator};

    /// The status line and body of `GET path`, without a key.
    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        let status = answer.lines().next().unwrap_or_default().to_owned();
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        format!("{status} {body}")
    }

    #[tokio::test]
    async fn a_mounted_service_is_served_without_a_key_across_restarts() {
        let sim = Simulator::builder()
            .api_key("k")
            .mount(
                "/extra",
                any(|uri: hyper::Uri| async move { format!("mounted {}", uri.path()) }),
            )
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = sim.addr();
        assert_eq!(get(addr, "/extra").await, "HTTP/1.1 200 OK mounted /");
        assert_eq!(
            get(addr, "/extra/a/b").await,
            "HTTP/1.1 200 OK mounted /a/b"
        );
        assert!(get(addr, "/v0/inboxes").await.starts_with("HTTP/1.1 401"));
        assert!(get(addr, "/other").await.starts_with("HTTP/1.1 401"));
        sim.restart(Retention::Keep).await.unwrap();
        assert_eq!(get(addr, "/extra/").await, "HTTP/1.1 200 OK mounted /");
    }

    #[test]
    #[should_panic(expected = "a path the simulator serves")]
    fn the_simulator_s_own_paths_cannot_be_mounted() {
        let _ = Simulator::builder().mount("/v0/mcp", any(|| async { "" }));
    }
}
