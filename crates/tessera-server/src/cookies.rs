//! The cookies a browser session uses.
//!
//! - `__Host-tessera-access`: the access token; HttpOnly, Secure, SameSite=Strict, Path=/.
//! - `__Secure-tessera-refresh`: the refresh token; HttpOnly, Secure, SameSite=Strict, sent
//!   only to `/auth`.
//! - `__Host-tessera-csrf`: the CSRF token, readable by scripts, to be echoed in `X-CSRF-Token`
//!   on state-changing requests (double submit). It is an HMAC of the session id under a secret
//!   all instances share ([`tessera_service::credentials::csrf_token`]), so a token from one session is
//!   worth nothing in another. The `__Host-` prefix means no other origin, not even a sibling
//!   subdomain, can plant it.
//!
//! A request that carries two cookies of one of these names is refused
//! ([`session_cookies`]): a sibling subdomain can plant a second `__Secure-` cookie with another
//! `Path`, and browsers send both, in an order the server must not trust.

use axum::http::{header, HeaderMap, HeaderValue};

use crate::error::ApiError;

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

/// The value of the request cookie `name`, if present (the first, if several: use
/// [`session_cookies`] for Tessera's own cookies, which refuses that case).
#[must_use]
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookie_pairs(headers)
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

/// Tessera's session cookies as the request carries them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCookies<'h> {
    /// `__Host-tessera-access`.
    pub access: Option<&'h str>,
    /// `__Secure-tessera-refresh`.
    pub refresh: Option<&'h str>,
    /// `__Host-tessera-csrf`.
    pub csrf: Option<&'h str>,
}

/// Reads Tessera's session cookies from the request.
///
/// # Errors
/// [`ApiError::BadRequest`] if any of them appears more than once: another site (a sibling
/// subdomain) may have planted one, and which is ours cannot be told, so neither is used.
pub fn session_cookies(headers: &HeaderMap) -> Result<RequestCookies<'_>, ApiError> {
    let mut found = RequestCookies::default();
    for (name, value) in cookie_pairs(headers) {
        let slot = match name {
            ACCESS_COOKIE => &mut found.access,
            REFRESH_COOKIE => &mut found.refresh,
            CSRF_COOKIE => &mut found.csrf,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::BadRequest(format!(
                "the request carries the {name} cookie twice; another site may have set one: \
                 clear this site's cookies and sign in again"
            )));
        }
    }
    Ok(found)
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
    fn a_tessera_cookie_sent_twice_is_refused_whatever_the_order() {
        for lines in [
            [
                "__Secure-tessera-refresh=mine",
                "__Secure-tessera-refresh=planted",
            ],
            [
                "__Secure-tessera-refresh=planted; a=1",
                "__Secure-tessera-refresh=mine",
            ],
        ] {
            let mut headers = HeaderMap::new();
            for line in lines {
                headers.append(header::COOKIE, HeaderValue::from_static(line));
            }
            assert!(session_cookies(&headers).is_err(), "{lines:?}");
        }
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static(
                "__Host-tessera-csrf=c; other=1; other=2; __Host-tessera-access=a",
            ),
        );
        let cookies = session_cookies(&headers).unwrap();
        assert_eq!(
            (cookies.access, cookies.refresh, cookies.csrf),
            (Some("a"), None, Some("c"))
        );
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
