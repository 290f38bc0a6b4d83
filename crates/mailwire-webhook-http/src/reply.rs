//! The receiver's answers: a status and a short plain-text reason.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The response body type of the receiver and of its tower service.
pub type ReplyBody = Full<Bytes>;

/// A response with a short plain-text reason. The reason never holds a secret or a
/// computed signature: it is made from the failed rule's name.
pub(crate) fn reply(status: StatusCode, reason: impl Into<Bytes>) -> Response<ReplyBody> {
    let mut res = Response::new(Full::new(reason.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// A response after which the connection is closed: the request body was not read
/// in full, so the connection cannot carry another request.
pub(crate) fn closing(status: StatusCode, reason: &'static str) -> Response<ReplyBody> {
    let mut res = reply(status, reason);
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// 503 with `Retry-After` in whole seconds (at least 1).
pub(crate) fn unavailable(reason: &'static str, retry_after: Duration) -> Response<ReplyBody> {
    let mut res = reply(StatusCode::SERVICE_UNAVAILABLE, reason);
    let secs = retry_after.as_secs().max(1);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// 503 with `Retry-After`, after which the connection closes: the body was
/// not read in full.
pub(crate) fn unavailable_closing(
    reason: &'static str,
    retry_after: Duration,
) -> Response<ReplyBody> {
    let mut res = unavailable(reason, retry_after);
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// 429 with `Retry-After`: whole seconds until the budget has room (rounded up,
/// at least 1). The connection closes: its body, if any, was never read.
pub(crate) fn too_many_requests(wait: Duration) -> Response<ReplyBody> {
    let mut res = closing(StatusCode::TOO_MANY_REQUESTS, "too many requests");
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// 405 with the one method allowed.
pub(crate) fn method_not_allowed() -> Response<ReplyBody> {
    let mut res = reply(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}
