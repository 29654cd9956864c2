//! Cross-origin browser apps (`TESSERA_CORS_ORIGINS`) and the refusal of cross-site requests to
//! the credential endpoints.
//!
//! Listed origins (exact `scheme://host[:port]`) may call `/auth/*` with credentials: preflights
//! are answered, and responses carry `Access-Control-Allow-Origin` echoing the origin,
//! `Access-Control-Allow-Credentials: true` and `Vary: Origin`. Any other origin gets no CORS
//! header at all. Independently, a state-changing request to `/auth/*` or `/oauth/revoke` that
//! the browser marks `Sec-Fetch-Site: cross-site` is refused with 403 unless its `Origin` is
//! listed: a page on another site cannot sign the browser in (login CSRF), register, refresh or
//! sign out, whatever the request's media type.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The methods a listed origin may use on `/auth/*`.
const ALLOWED_METHODS: &str = "GET, POST, DELETE";
/// The request headers a listed origin may send.
const ALLOWED_HEADERS: &str = "Content-Type, Authorization, X-CSRF-Token";
/// The response headers its scripts may read besides the simple ones.
const EXPOSED_HEADERS: &str = "Retry-After, WWW-Authenticate";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The configured origins.
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

/// What the policy says about a request before it is routed.
#[derive(Debug)]
pub enum Verdict {
    /// Route it; if `Some`, the response gets the CORS headers for this origin.
    Pass(Option<HeaderValue>),
    /// Answer with this at once (a preflight, or a refusal).
    Answer(Response),
}

impl CorsPolicy {
    /// A policy for these exact origins (validated by the configuration).
    #[must_use]
    pub fn new(origins: Vec<String>) -> Self {
        CorsPolicy { origins }
    }

    fn listed<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|listed| listed == text)
            .then_some(origin)
    }

    /// Judges a request to `path`.
    pub fn judge(&self, method: &Method, path: &str, headers: &HeaderMap) -> Verdict {
        let auth = path.starts_with("/auth/");
        if !auth && path != "/oauth/revoke" {
            return Verdict::Pass(None);
        }
        let listed = self.listed(headers).filter(|_| auth).cloned();
        if *method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            if let Some(origin) = listed {
                let mut response = StatusCode::NO_CONTENT.into_response();
                let out = response.headers_mut();
                allow(out, origin);
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOWED_METHODS),
                );
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOWED_HEADERS),
                );
                out.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE),
                );
                return Verdict::Answer(response);
            }
            return Verdict::Pass(None);
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if changes_state && cross_site && listed.is_none() {
            tracing::info!(
                event = "cross_site_refused",
                path,
                "cross-site request to a credential endpoint refused"
            );
            return Verdict::Answer(ApiError::CrossSite.into_response());
        }
        Verdict::Pass(listed)
    }

    /// Adds `Vary: Origin` (whenever origins are configured, so shared caches keep answers for
    /// different origins apart) and, for a listed origin, the CORS headers.
    /// `auth_path`: whether the request was to `/auth/*`.
    pub fn decorate(&self, auth_path: bool, origin: Option<HeaderValue>, headers: &mut HeaderMap) {
        if self.origins.is_empty() || !auth_path {
            return;
        }
        vary_on_origin(headers);
        if let Some(origin) = origin {
            allow(headers, origin);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
}

fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    vary_on_origin(headers);
}

/// Adds `Vary: Origin` unless the response varies on it already (keeping any other `Vary`).
fn vary_on_origin(headers: &mut HeaderMap) {
    let present = headers
        .get_all(header::VARY)
        .iter()
        .any(|value| value.as_bytes().eq_ignore_ascii_case(b"origin"));
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_listed_origins_get_cors_headers_and_cross_site_writes_are_refused() {
        let policy = CorsPolicy::new(vec!["https://app.example.com".into()]);
        let listed = headers(&[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
        ]);
        let Verdict::Answer(preflight) = policy.judge(&Method::OPTIONS, "/auth/login", &listed)
        else {
            panic!("a listed preflight is answered");
        };
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        let other = headers(&[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(matches!(
            policy.judge(&Method::OPTIONS, "/auth/login", &other),
            Verdict::Pass(None)
        ));
        let cross = headers(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        for path in [
            "/auth/login",
            "/auth/register",
            "/auth/refresh",
            "/oauth/revoke",
        ] {
            let Verdict::Answer(refused) = policy.judge(&Method::POST, path, &cross) else {
                panic!("{path}: a cross-site write is refused");
            };
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        }
        assert!(matches!(
            policy.judge(&Method::GET, "/auth/me", &cross),
            Verdict::Pass(None)
        ));
        let same_site = headers(&[("sec-fetch-site", "same-site")]);
        assert!(matches!(
            policy.judge(&Method::POST, "/auth/login", &same_site),
            Verdict::Pass(None)
        ));
        let listed_cross = headers(&[
            ("origin", "https://app.example.com"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(matches!(
            policy.judge(&Method::POST, "/auth/login", &listed_cross),
            Verdict::Pass(Some(_))
        ));
    }
}
