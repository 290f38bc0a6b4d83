//! The web inspector at `/`: one page, its script and its style, compiled into the
//! binary (nothing fetched from elsewhere, no build step). The page holds no data:
//! everything it shows it reads from the API and the simulator's controls with the
//! API key it is given (`/?api_key=...`, kept in the browser's local storage), and
//! live from the WebSocket.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use hyper::Response;
use hyper::header::{self, HeaderValue};

use crate::Shared;
use crate::http::{Body, not_allowed, only};

const PAGE: &str = include_str!("inspector/index.html");
const SCRIPT: &str = include_str!("inspector/app.js");
const STYLE: &str = include_str!("inspector/app.css");

/// What the page may load: its own script and style, the API over HTTP and
/// WebSocket on the same origin; messages' HTML (in a sandboxed frame, which
/// inherits this policy) may use inline styles and embedded images, and nothing
/// from elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; frame-src 'self' about:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page and its assets, served without a key.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/",
            only(
                get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
                not_allowed,
            ),
        )
        .route(
            "/_sim/inspector/app.js",
            only(
                get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
                not_allowed,
            ),
        )
        .route(
            "/_sim/inspector/app.css",
            only(
                get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
                not_allowed,
            ),
        )
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::from_static(text.as_bytes())));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
