//! The HTTP vocabulary every route speaks: bodies read within limits, answers in
//! JSON, the service's error shapes (`{name, code, message}` under `/v0`,
//! `{name, message}` elsewhere), path parameters, query strings and pages.

mod query;

use std::time::Duration;

use axum::extract::{FromRequestParts, Path};
use axum::routing::{MethodRouter, any};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use query::{FILTERED_LIMIT, MESSAGE_FILTERS, Query, THREAD_FILTERS, page_token};

/// The body of every non-upgrade answer.
pub(crate) type Body = Full<Bytes>;

/// How long a request body may take to arrive, carried to the handlers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// An error answer in the service's JSON shape.
pub(crate) fn error(status: StatusCode, name: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "name": name, "message": message }).to_string();
    let mut response = Response::new(Body::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A request as the handlers take it.
pub(crate) type Req = axum::extract::Request;

/// The largest request body read: 1 MiB.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The service's 401, in its error shape.
pub(crate) fn unauthorized(missing: bool) -> Response<Body> {
    let (code, message) = if missing {
        (
            "missing_authorization",
            "Missing API key: send it as Authorization: Bearer <api_key>",
        )
    } else {
        ("unknown_api_key", "Unknown API key")
    };
    let body = serde_json::json!({
        "name": "UnauthorizedError",
        "code": code,
        "message": message,
        "docs": format!("https://docs.agentmail.to/errors#{code}"),
    });
    to_json(StatusCode::UNAUTHORIZED, &body)
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A value as a JSON answer.
pub(crate) fn to_json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => json(status, body),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "could not encode the answer",
        ),
    }
}

pub(crate) fn invalid(message: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "ValidationError", message)
}

/// An answer sent instead of going on (boxed: it is the rare path).
#[derive(Debug)]
pub(crate) struct Refusal(Box<Response<Body>>);

impl Refusal {
    pub(crate) fn new(answer: Response<Body>) -> Refusal {
        Refusal(Box::new(answer))
    }

    /// The answer to send.
    pub(crate) fn answer(self) -> Response<Body> {
        *self.0
    }
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        self.answer().into_response()
    }
}

/// Reads the body, at most [`MAX_BODY`]: `Err` is the answer to send instead.
pub(crate) async fn read_body(req: Req) -> Result<Bytes, Refusal> {
    let timeout = req
        .extensions()
        .get::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(30), |t| t.0);
    match tokio::time::timeout(timeout, read_body_now(req)).await {
        Ok(read) => read,
        Err(_) => Err(Refusal::new(error(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutError",
            "the request body did not arrive in time",
        ))),
    }
}

async fn read_body_now(req: Req) -> Result<Bytes, Refusal> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        Refusal::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            "request body over 1 MiB",
        ))
    };
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(Refusal::new(invalid("unreadable request body"))),
    }
}

/// Parses a JSON body (an explicit `null` member being the member's absence, see
/// [`absent_nulls`]): `Err` is the 400 to send.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let refuse = |e: serde_json::Error| Refusal::new(invalid(&format!("invalid JSON body: {e}")));
    let value = serde_json::from_slice(body).map_err(refuse)?;
    serde_json::from_value(absent_nulls(value, &[])).map_err(refuse)
}

/// A request body with every `null` member of its object left out: the fields of the
/// service's request bodies are `optional<...>`, and an explicit `null` is their
/// absence, whatever their type. The members named in `nullable` keep their `null`:
/// those the definition makes `nullable<...>`, where it says something (clear this).
pub(crate) fn absent_nulls(mut body: serde_json::Value, nullable: &[&str]) -> serde_json::Value {
    if let serde_json::Value::Object(members) = &mut body {
        members.retain(|name, value| !value.is_null() || nullable.contains(&name.as_str()));
    }
    body
}

/// `methods`, and `refuse` for every other method, `HEAD` included (axum answers it
/// with the `GET` route otherwise) and without an `Allow` header: the simulator's
/// 405s have always been the bare error body.
pub(crate) fn only<S>(methods: MethodRouter<S>, refuse: fn() -> Response<Body>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let refuse = move || async move { refuse() };
    methods.head(refuse).merge(any(refuse))
}

/// The 405 outside `/v0`.
pub(crate) fn not_allowed() -> Response<Body> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedError",
        "method not allowed on this route",
    )
}

pub(crate) fn under_v0(path: &str) -> bool {
    path.trim_matches('/').split('/').next() == Some("v0")
}

/// The path's parameters, percent-decoded by axum: an escape that is not one is kept
/// as it is (`%zz`, a lone `%`). A parameter that is not UTF-8 once decoded (`%ff`)
/// is a 400 in the route's error shape.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response<Body>;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(params)) => Ok(Params(params)),
            Err(rejected) => {
                let message = rejected.body_text();
                Err(if under_v0(parts.uri.path()) {
                    validation(&message)
                } else {
                    invalid(&message)
                })
            }
        }
    }
}

/// The 404 of a path no `/v0` route matches.
pub(crate) fn no_route(method: &Method, path: &str) -> Response<Body> {
    api_error(
        StatusCode::NOT_FOUND,
        "NotFoundError",
        "not_found",
        &format!("no route {method} {path}"),
    )
}

/// An error in the service's shape: `{name, code, message}`.
pub(crate) fn api_error(
    status: StatusCode,
    name: &str,
    code: &str,
    message: &str,
) -> Response<Body> {
    let mut body = serde_json::json!({ "name": name, "code": code, "message": message });
    if status == StatusCode::BAD_REQUEST {
        body["errors"] = serde_json::json!([{ "path": [], "message": message }]);
    }
    let mut response = to_json(status, &body);
    *response.status_mut() = status;
    response
}

pub(crate) fn not_found(what: &str) -> Response<Body> {
    api_error(
        StatusCode::NOT_FOUND,
        "NotFoundError",
        "not_found",
        &format!("{what} not found"),
    )
}

pub(crate) fn validation(message: &str) -> Response<Body> {
    api_error(
        StatusCode::BAD_REQUEST,
        "ValidationError",
        "validation_error",
        message,
    )
}

pub(crate) fn refusal(r: Response<Body>) -> Refusal {
    Refusal::new(r)
}

/// A 2xx with no body, as the service answers deletes.
pub(crate) fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub(crate) fn ok(value: &impl Serialize) -> Response<Body> {
    to_json(StatusCode::OK, value)
}

/// One page of a sorted list, in the service's list shape.
pub(crate) fn page<T: Serialize>(
    key: &str,
    items: Vec<T>,
    query: &Query,
) -> Result<Response<Body>, Refusal> {
    page_of(key, items, query, query.limit()?)
}

/// One page of `limit` items at most.
pub(crate) fn page_of<T: Serialize>(
    key: &str,
    items: Vec<T>,
    query: &Query,
    limit: usize,
) -> Result<Response<Body>, Refusal> {
    let offset = query.page_offset()?;
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let end = offset + page.len();
    let mut body = serde_json::Map::new();
    body.insert("count".into(), page.len().into());
    body.insert("limit".into(), limit.into());
    if end < total {
        body.insert("next_page_token".into(), query::page_token(end).into());
    }
    body.insert(
        key.into(),
        serde_json::to_value(&page).unwrap_or(serde_json::Value::Array(Vec::new())),
    );
    Ok(ok(&body))
}

/// The body of a JSON request, 400 in the service's shape when it is not one. An
/// explicit `null` member is the member's absence ([`absent_nulls`]).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(req: Req) -> Result<T, Refusal> {
    JsonBody::read(req, &[]).await?.parse()
}

/// A JSON request body, read, its `null` members left out (but those named
/// `nullable`).
#[derive(Debug)]
pub(crate) struct JsonBody(serde_json::Value);

fn invalid_body(e: serde_json::Error) -> Refusal {
    refusal(validation(&format!("invalid body: {e}")))
}

impl JsonBody {
    pub(crate) async fn read(req: Req, nullable: &[&str]) -> Result<JsonBody, Refusal> {
        let body = read_body(req).await?;
        // An optional body the client left out comes as nothing, or as `null`.
        let body: &[u8] =
            if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
                b"{}"
            } else {
                &body
            };
        let value = serde_json::from_slice(body).map_err(invalid_body)?;
        Ok(JsonBody(absent_nulls(value, nullable)))
    }

    pub(crate) fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, Refusal> {
        T::deserialize(&self.0).map_err(invalid_body)
    }

    /// The body as read: two requests that differ only in spacing, member order or
    /// `null` members have equal values.
    pub(crate) fn value(&self) -> &serde_json::Value {
        &self.0
    }
}

pub(crate) fn method_not_allowed() -> Response<Body> {
    api_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedError",
        "method_not_allowed",
        "method not allowed on this route",
    )
}
