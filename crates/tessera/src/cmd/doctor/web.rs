//! The `cookies` and `issuer` checks: `JWT_ISSUER` is an issuer identifier browsers and
//! verifiers can use, and `JWT_AUDIENCE` is set.

use tessera_config::{is_loopback_host, Config};

use super::{Report, COOKIES, ISSUER};

/// `JWT_ISSUER` taken apart (enough to judge it; not a general URL parser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IssuerUrl<'a> {
    /// `http` or `https`, lower case.
    scheme: String,
    /// The host, IPv6 addresses with their brackets.
    host: &'a str,
    /// The path, empty or starting with `/`.
    path: &'a str,
}

/// Parses `text` as an absolute http(s) URL without user information, query or fragment.
pub(super) fn parse_issuer(text: &str) -> Result<IssuerUrl<'_>, String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters".to_owned());
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("is not an absolute URL (expected https://HOST[:PORT][/PATH])".to_owned());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("has the scheme `{scheme}`; use https (or http)"));
    }
    if rest.contains('?') {
        return Err("has a query, which an issuer must not (RFC 8414 section 2)".to_owned());
    }
    if rest.contains('#') {
        return Err("has a fragment, which an issuer must not (RFC 8414 section 2)".to_owned());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("has user information before the host".to_owned());
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or_else(|| "has an unclosed `[` in its host".to_owned())?;
        let (host, after) = authority.split_at(end + 1);
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("has `{after}` after its host"))?,
            ),
        };
        if host[1..end].parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("has `{host}`, which is not an IPv6 address"));
        }
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    if !host.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(format!("has `{host}`, which is not a host name or address"));
    }
    if let Some(port) = port {
        if port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err()
        {
            return Err(format!(
                "has the port `{port}`, not a number from 0 to 65535"
            ));
        }
    }
    Ok(IssuerUrl { scheme, host, path })
}

/// `cookies`: the session cookies are always `Secure`; browsers keep them only over HTTPS (or
/// from localhost). The issuer is the address browsers use. Skipped if the issuer does not parse
/// (the `issuer` check reports that).
pub(super) fn check_cookies(issuer: Option<&IssuerUrl<'_>>, report: &mut Report) {
    let Some(issuer) = issuer else {
        return;
    };
    if issuer.scheme == "https" {
        report.ok(
            COOKIES,
            "the issuer is https: browsers keep the Secure session cookies",
        );
    } else if is_loopback_host(issuer.host) {
        report.ok(
            COOKIES,
            format!(
                "the issuer is http on {}: browsers accept Secure cookies from this machine \
                 (development only)",
                issuer.host
            ),
        );
    } else {
        report.warn(
            COOKIES,
            format!(
                "the issuer is http://{}: Tessera's session cookies are always Secure \
                 (the __Host-/__Secure- prefixes require it), and browsers drop them over plain \
                 HTTP; serve over HTTPS (e.g. TLS at a proxy) and make JWT_ISSUER the https URL",
                issuer.host
            ),
        );
    }
}

/// `issuer`: `JWT_ISSUER` is a usable issuer identifier and not a forgotten default;
/// `JWT_AUDIENCE` is set.
pub(super) fn check_issuer(
    config: &Config,
    issuer: &Result<IssuerUrl<'_>, String>,
    report: &mut Report,
) {
    let mut clean = true;
    match issuer {
        Err(reason) => {
            clean = false;
            report.error(
                ISSUER,
                format!(
                    "JWT_ISSUER `{}` {reason}",
                    config
                        .issuer
                        .chars()
                        .take(100)
                        .collect::<String>()
                        .escape_debug()
                ),
            );
        }
        Ok(parsed) if parsed.path.ends_with('/') => {
            clean = false;
            report.warn(
                ISSUER,
                format!(
                    "JWT_ISSUER `{}` ends with `/`: `iss` is compared character for \
                     character, so verifiers configured without the slash refuse every token",
                    config.issuer
                ),
            );
        }
        Ok(_) => {}
    }
    for warning in config.warnings() {
        if warning.check() == ISSUER {
            clean = false;
            report.warn(ISSUER, warning.to_string());
        }
    }
    if config.audience.trim().is_empty() {
        clean = false;
        report.error(ISSUER, "JWT_AUDIENCE is empty");
    }
    if clean {
        report.ok(
            ISSUER,
            format!("iss {}, aud {}", config.issuer, config.audience),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn issuers_must_be_absolute_http_urls_without_query_or_fragment() {
        let parsed = parse_issuer("https://auth.example.com/tenant").unwrap();
        assert_eq!(
            parsed,
            IssuerUrl {
                scheme: "https".to_owned(),
                host: "auth.example.com",
                path: "/tenant",
            }
        );
        assert_eq!(
            parse_issuer("HTTP://127.0.0.1:8080").unwrap().scheme,
            "http"
        );
        assert_eq!(parse_issuer("http://[::1]:8080/").unwrap().host, "[::1]");
        for bad in [
            "not-a-url",
            "auth.example.com",
            "ftp://auth.example.com",
            "https://auth.example.com/?tenant=1",
            "https://auth.example.com#top",
            "https://user@auth.example.com",
            "https://",
            "https://:8080",
            "https://auth.example.com:99999",
            "https://auth.example.com:",
            "https://[::1",
            "https://[nope]",
            "https://auth example.com",
            "https://auth.example.com/a b",
        ] {
            assert!(parse_issuer(bad).is_err(), "{bad}");
        }
    }
}
