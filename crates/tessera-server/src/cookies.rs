//! The cookies a browser session uses.
//!
//! - `__Host-tessera-access`: the access token; HttpOnly, Secure, SameSite=Strict, Path=/.
//! - `__Secure-tessera-refresh`: the refresh token; HttpOnly, Secure, SameSite=Strict, sent
//!   only to `/auth`.
//! - `__Host-tessera-csrf`: the CSRF token, readable by scripts, to be echoed in `X-CSRF-Token`
//!   on state-changing requests (double submit). The `__Host-` prefix means no other origin,
//!   not even a sibling subdomain, can plant it.

use axum::http::{header, HeaderMap, HeaderValue};

/// Name of the access-token cookie.
pub const ACCESS_COOKIE: &str = "__Host-tessera-access";
/// Name of the refresh-token cookie.
pub const REFRESH_COOKIE: &str = "__Secure-tessera-refresh";
/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "__Host-tessera-csrf";
/// The header that must echo the CSRF cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Path the refresh cookie is restricted to.
pub const REFRESH_COOKIE_PATH: &str = "/auth";

/// The cookies set after a login or refresh.
#[derive(Debug)]
pub struct SessionCookies<'a> {
    /// The access token.
    pub access_token: &'a str,
    /// Its lifetime in seconds.
    pub access_ttl: u64,
    /// The refresh token.
    pub refresh_token: &'a str,
    /// Its lifetime in seconds.
    pub refresh_ttl: u64,
    /// The CSRF token.
    pub csrf_token: &'a str,
}

fn append(headers: &mut HeaderMap, cookie: &str) {
    // Cookie values here are base64url or compact JWS: always valid header text.
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Appends the three session cookies.
pub fn set_session_cookies(headers: &mut HeaderMap, cookies: &SessionCookies<'_>) {
    append(
        headers,
        &format!(
            "{ACCESS_COOKIE}={}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
            cookies.access_token, cookies.access_ttl
        ),
    );
    append(
        headers,
        &format!(
            "{REFRESH_COOKIE}={}; Path={REFRESH_COOKIE_PATH}; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
            cookies.refresh_token, cookies.refresh_ttl
        ),
    );
    append(
        headers,
        &format!(
            "{CSRF_COOKIE}={}; Path=/; Max-Age={}; Secure; SameSite=Strict",
            cookies.csrf_token, cookies.refresh_ttl
        ),
    );
}

/// Appends cookies that delete all three session cookies.
pub fn clear_session_cookies(headers: &mut HeaderMap) {
    append(
        headers,
        &format!("{ACCESS_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"),
    );
    append(
        headers,
        &format!("{REFRESH_COOKIE}=; Path={REFRESH_COOKIE_PATH}; Max-Age=0; Secure; HttpOnly; SameSite=Strict"),
    );
    append(
        headers,
        &format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; Secure; SameSite=Strict"),
    );
}

/// The value of the request cookie `name`, if present.
#[must_use]
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies_from_one_or_many_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tessera-csrf=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn session_cookies_have_the_required_attributes() {
        let mut headers = HeaderMap::new();
        set_session_cookies(
            &mut headers,
            &SessionCookies {
                access_token: "a.b.c",
                access_ttl: 900,
                refresh_token: "tsr_x",
                refresh_ttl: 60,
                csrf_token: "csrf",
            },
        );
        let all: Vec<&str> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all.len(), 3);
        assert!(
            all[0].starts_with("__Host-tessera-access=a.b.c; Path=/;")
                && all[0].contains("HttpOnly")
        );
        assert!(
            all[1].contains("Path=/auth")
                && all[1].contains("HttpOnly")
                && all[1].contains("Secure")
        );
        assert!(!all[2].contains("HttpOnly") && all[2].contains("SameSite=Strict"));
    }
}
