//! The middleware every request passes through: the request timeout, the security headers and
//! the request metrics, in one layer.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use crate::cookies::session_cookies;
use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::State;
use std::sync::Arc;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Largest total size of a request's headers (names, values and separators), in bytes: beyond
/// it, 431 with a JSON error. hyper's own read buffer (about 400 KiB) is the hard limit before
/// this one; an access token above its 8 KiB cap but within this bound is a plain 401.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Most header fields a request may carry: beyond it, 431 with a JSON error. hyper parses up to
/// 256 and answers a bare 431 past that (see [`crate::serve`]).
pub const MAX_HEADER_COUNT: usize = 100;

/// How long a request may take before it is answered with 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The headers on every response, errors and 404 included.
///
/// `X-XSS-Protection: 0` turns off the legacy XSS auditor, whose `1; mode=block` could be abused
/// to blank or probe pages (OWASP now recommends `0`); the `Content-Security-Policy` is the
/// protection that works. The API serves no HTML, so the CSP allows nothing at all.
const SECURITY_HEADERS: [(HeaderName, &str); 7] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000; includeSubDomains",
    ),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (header::X_XSS_PROTECTION, "0"),
];

/// The one middleware every request passes through: it answers 431 (JSON) if the headers exceed
/// [`MAX_HEADER_BYTES`] or [`MAX_HEADER_COUNT`], 400 (JSON) if a Tessera cookie is sent twice
/// ([`crate::cookies::session_cookies`]), 503 (JSON) if the handler takes longer than [`REQUEST_TIMEOUT`], adds the security headers to every response (errors and 404
/// included), and records the response's status class and latency in the metrics. One layer
/// instead of three: each `from_fn` layer costs a boxed future per request.
pub async fn edge(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let mut response = if header_bytes > MAX_HEADER_BYTES {
        ApiError::HeadersTooLarge.into_response()
    } else if request.headers().len() > MAX_HEADER_COUNT {
        ApiError::TooManyHeaders.into_response()
    } else if let Err(refusal) = session_cookies(request.headers()) {
        // A Tessera cookie sent twice: refused on every endpoint, whether or not it reads it.
        refusal.into_response()
    } else {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::Unavailable("the request took too long").into_response(),
        }
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    metrics.request(response.status().as_u16(), started.elapsed());
    response
}
