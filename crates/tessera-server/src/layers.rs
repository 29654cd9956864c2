//! The middleware every request passes through: the request timeout, the security headers and
//! the request metrics, in one layer.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use crate::cookies::session_cookies;
use crate::cors::{CorsPolicy, Verdict};
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

/// The path of the revocation feed, whose requests wait by design (a long poll).
const LONG_POLL_PATH: &str = "/oauth/revocations";

/// How long a long poll may take: its longest wait and [`REQUEST_TIMEOUT`] for the work.
pub const LONG_POLL_TIMEOUT: Duration =
    Duration::from_secs(crate::routes::feed::MAX_WAIT.as_secs() + REQUEST_TIMEOUT.as_secs());

/// The headers on every response, errors and 404 included.
///
/// `X-XSS-Protection: 0` turns off the legacy XSS auditor, whose `1; mode=block` could be abused
/// to blank or probe pages (OWASP now recommends `0`); the `Content-Security-Policy` is the
/// protection that works. The API serves no HTML, so its CSP allows nothing at all; the pages
/// set their own ([`crate::pages::PAGE_CSP`]), which this layer keeps.
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

/// What [`edge`] needs: the metrics and the cross-origin policy.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Where requests are counted.
    pub metrics: Arc<Metrics>,
    /// `TESSERA_CORS_ORIGINS` and the cross-site refusal.
    pub cors: Arc<CorsPolicy>,
}

/// The one middleware every request passes through: it answers 431 (JSON) if the headers exceed
/// [`MAX_HEADER_BYTES`] or [`MAX_HEADER_COUNT`], 400 (JSON) if a Tessera cookie is sent twice
/// ([`crate::cookies::session_cookies`]), 503 (JSON) if the handler takes longer than [`REQUEST_TIMEOUT`]
/// ([`LONG_POLL_TIMEOUT`] for the revocation feed's long poll, whose latency is not recorded), adds the security headers to every response (errors and 404
/// included), and records the response's status class and latency in the metrics. One layer
/// instead of three: each `from_fn` layer costs a boxed future per request.
pub async fn edge(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let Edge { metrics, cors } = edge;
    let started = std::time::Instant::now();
    let long_poll = request.uri().path() == LONG_POLL_PATH;
    let auth_path = request.uri().path().starts_with("/auth/");
    let mut cors_origin = None;
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
        match cors.judge(request.method(), request.uri().path(), request.headers()) {
            // A preflight, or a cross-site write refused.
            Verdict::Answer(answer) => answer,
            Verdict::Pass(origin) => {
                cors_origin = origin;
                let limit = if long_poll {
                    LONG_POLL_TIMEOUT
                } else {
                    REQUEST_TIMEOUT
                };
                match tokio::time::timeout(limit, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => ApiError::Unavailable("the request took too long").into_response(),
                }
            }
        }
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if name == header::CONTENT_SECURITY_POLICY && headers.contains_key(&name) {
            // A page's own policy ([`crate::pages::PAGE_CSP`]), as strict for what it is.
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    cors.decorate(auth_path, cors_origin, headers);
    if long_poll {
        metrics.response(response.status().as_u16());
    } else {
        metrics.request(response.status().as_u16(), started.elapsed());
    }
    response
}
