//! The guard's HTTP client side: which URLs it may use, the client it builds, and bounded reads.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;

use crate::error::Error;

/// Parses a URL the guard will fetch from, and refuses it unless it is `https`, or `http` to a
/// loopback host (`127.0.0.0/8`, `::1`, `localhost`): keys, revocations and client credentials
/// must not travel in clear over a network.
pub(crate) fn parse_url(text: &str, what: &str) -> Result<Url, Error> {
    let url = Url::parse(text).map_err(|err| Error::config(format!("{what} `{text}`: {err}")))?;
    check_url(&url, what)?;
    Ok(url)
}

/// See [`parse_url`].
pub(crate) fn check_url(url: &Url, what: &str) -> Result<(), Error> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::config(format!(
            "{what} `{url}`: https is required (plain http only to a loopback host)"
        ))),
        other => Err(Error::config(format!(
            "{what} `{url}`: the scheme `{other}` is not https"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The client the guard uses unless given one: rustls with the operating system's roots, no
/// redirects (a redirect could lead from `https` to a clear-text URL), a connect timeout.
pub(crate) fn default_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("tessera-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| Error::config(format!("cannot build the HTTP client: {err}")))
}

/// Reads a response body of at most `cap` bytes, chunk by chunk: a larger body is refused as
/// soon as it passes the cap (or at once, if its `Content-Length` says so), never buffered.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    what: &'static str,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::fetch(what, format!("the answer is larger than {cap} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| Error::fetch(what, describe(&err)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error in one line, without the URL's query (a feed cursor is harmless, but keep the
/// habit) and with the cause reqwest hides in its source chain.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the body could not be read"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `max-age` of a `Cache-Control` header, in seconds: `Some(0)` for `no-store` or `no-cache`,
/// `None` if it says nothing about freshness.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<u64> {
    let mut found = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(0);
            }
            if name.eq_ignore_ascii_case("max-age") {
                if let Some(seconds) = argument
                    .map(|a| a.trim_matches('"'))
                    .and_then(|a| a.parse::<u64>().ok())
                {
                    found = Some(found.map_or(seconds, |earlier: u64| earlier.min(seconds)));
                }
            }
        }
    }
    found
}

/// `Retry-After` in seconds, if the answer carries one.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn https_is_required_except_to_loopback_hosts() {
        for ok in [
            "https://auth.example.com",
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9",
            "http://[::1]:80",
            "http://localhost:1",
            "http://LOCALHOST",
        ] {
            assert!(parse_url(ok, "u").is_ok(), "{ok}");
        }
        for refused in [
            "http://auth.example.com",
            "http://10.0.0.1",
            "http://[::2]",
            "http://localhost.example.com",
            "http://128.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(
                matches!(parse_url(refused, "u"), Err(Error::Config(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn max_age_reads_the_freshness_directives() {
        let of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                reqwest::header::CACHE_CONTROL,
                HeaderValue::from_str(value).unwrap(),
            );
            max_age(&headers)
        };
        assert_eq!(of("public, max-age=300"), Some(300));
        assert_eq!(of("Max-Age=\"20\""), Some(20));
        assert_eq!(of("no-store"), Some(0));
        assert_eq!(of("max-age=600, no-cache"), Some(0));
        assert_eq!(of("public"), None);
        assert_eq!(of("max-age=x"), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
