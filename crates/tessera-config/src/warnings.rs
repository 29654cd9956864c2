//! What a valid configuration may still get wrong: the warnings `tessera serve` logs when it
//! starts and `tessera doctor` reports, from this one list.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::{Config, DEFAULT_ISSUER};

/// The listen address the default issuer, [`DEFAULT_ISSUER`], names: a server bound anywhere
/// else is not reached at the issuer's URL, nor at the metadata URLs built from it.
pub const DEFAULT_ISSUER_ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));

/// The longest access-token lifetime that does not draw a warning: 1 hour.
pub const LONGEST_QUIET_ACCESS_TTL: u64 = 3_600;

/// A setting that works but is probably not what the operator wants.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// The refresh lifetime (a session's) is not longer than the access lifetime: access
    /// tokens are capped at their session's end, so they live as long as the session, and a
    /// refresh is never needed.
    RefreshNotLongerThanAccess {
        /// `JWT_ACCESS_TTL`, in seconds.
        access: u64,
        /// `JWT_REFRESH_TTL`, in seconds.
        refresh: u64,
    },
    /// Access tokens live longer than [`LONGEST_QUIET_ACCESS_TTL`]: a service that checks tokens
    /// on its own (JWKS) sees a revocation only when the token expires.
    LongAccessLifetime {
        /// `JWT_ACCESS_TTL`, in seconds.
        access: u64,
    },
    /// `JWT_ISSUER` is the default, but clients cannot reach the server there.
    DefaultIssuer {
        /// Why not.
        reason: String,
    },
}

impl ConfigWarning {
    /// Which `tessera doctor` check reports it (`lifetimes`, `issuer`).
    #[must_use]
    pub fn check(&self) -> &'static str {
        match self {
            ConfigWarning::RefreshNotLongerThanAccess { .. }
            | ConfigWarning::LongAccessLifetime { .. } => "lifetimes",
            ConfigWarning::DefaultIssuer { .. } => "issuer",
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::RefreshNotLongerThanAccess { access, refresh } => write!(
                f,
                "the refresh lifetime ({}) is not longer than the access lifetime ({}): access \
                 tokens are cut short at their session's end, so no refresh is ever needed; set \
                 JWT_REFRESH_TTL longer than JWT_ACCESS_TTL",
                format_duration(*refresh),
                format_duration(*access)
            ),
            ConfigWarning::LongAccessLifetime { access } => write!(
                f,
                "access tokens live {} (JWT_ACCESS_TTL): they should be short-lived (at most 1h; \
                 15m by default), since revocation relies on every verifier consulting the \
                 deny-list, which a service checking tokens on its own with the JWKS never does",
                format_duration(*access)
            ),
            ConfigWarning::DefaultIssuer { reason } => write!(
                f,
                "JWT_ISSUER is the default {DEFAULT_ISSUER}, but {reason}: set it to the URL \
                 clients reach Tessera at"
            ),
        }
    }
}

impl Config {
    /// The warnings of this configuration, for a server bound where `TESSERA_BIND` says.
    #[must_use]
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        self.warnings_when_bound(&self.server.bind)
    }

    /// The warnings of this configuration for a server bound at `bound` (`host:port`: the port
    /// actually bound, which differs from `TESSERA_BIND` when that asks for port 0).
    #[must_use]
    pub fn warnings_when_bound(&self, bound: &str) -> Vec<ConfigWarning> {
        let mut warnings = Vec::new();
        if self.refresh_ttl <= self.access_ttl {
            warnings.push(ConfigWarning::RefreshNotLongerThanAccess {
                access: self.access_ttl,
                refresh: self.refresh_ttl,
            });
        }
        if self.access_ttl > LONGEST_QUIET_ACCESS_TTL {
            warnings.push(ConfigWarning::LongAccessLifetime {
                access: self.access_ttl,
            });
        }
        // The configuration does not record whether JWT_ISSUER was given, so an issuer equal to
        // the default counts as not set.
        if self.issuer == DEFAULT_ISSUER {
            let reason = if self.database_url.is_some() {
                Some("DATABASE_URL is set (several instances behind one address)".to_owned())
            } else if !is_loopback_bind(bound) {
                Some(format!(
                    "TESSERA_BIND ({bound}) accepts connections from other machines"
                ))
            } else if !is_default_issuer_address(bound) {
                Some(format!(
                    "the server listens at TESSERA_BIND ({bound}), not {DEFAULT_ISSUER_ADDRESS}, \
                     so the issuer and the metadata URLs (jwks_uri and the others) name an address where it is \
                     not found"
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                warnings.push(ConfigWarning::DefaultIssuer { reason });
            }
        }
        warnings
    }
}

/// Whether `host` names this machine only (`localhost`, `*.localhost`, a loopback address).
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether the listen address `bind` (`host:port`) is reachable only from this machine.
#[must_use]
pub fn is_loopback_bind(bind: &str) -> bool {
    match bind.parse::<SocketAddr>() {
        Ok(address) => address.ip().is_loopback(),
        Err(_) => bind
            .rsplit_once(':')
            .is_some_and(|(host, _)| is_loopback_host(host)),
    }
}

/// Whether `address` (`host:port`) is the address the default issuer names, `127.0.0.1:8080`. A
/// host name never is, not even `localhost`: it may resolve to `::1` first, and the server then
/// listens there only.
#[must_use]
pub fn is_default_issuer_address(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .is_ok_and(|address| address == DEFAULT_ISSUER_ADDRESS)
}

/// A duration in the largest whole unit that fits it exactly: `7d`, `1h`, `15m`, `90s`.
#[must_use]
pub fn format_duration(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use crate::Vars;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_vars(&Vars::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn the_defaults_draw_no_warning() {
        assert_eq!(config(&[]).warnings(), []);
    }

    #[test]
    fn lifetimes_that_defeat_their_purpose_are_warned_about() {
        let warnings = config(&[("JWT_ACCESS_TTL", "2h"), ("JWT_REFRESH_TTL", "1h")]).warnings();
        assert_eq!(
            warnings,
            [
                ConfigWarning::RefreshNotLongerThanAccess {
                    access: 7_200,
                    refresh: 3_600
                },
                ConfigWarning::LongAccessLifetime { access: 7_200 },
            ]
        );
        assert!(warnings[0].to_string().contains("refresh lifetime (1h)"));
        assert!(warnings.iter().all(|w| w.check() == "lifetimes"));
    }

    #[test]
    fn the_default_issuer_is_warned_about_where_clients_cannot_reach_it() {
        assert_eq!(config(&[]).warnings_when_bound("127.0.0.1:8080"), []);
        for (vars, bound) in [
            (&[][..], "127.0.0.1:9000"),
            (&[][..], "0.0.0.0:8080"),
            (
                &[("DATABASE_URL", "postgres://db/tessera")][..],
                "127.0.0.1:8080",
            ),
        ] {
            let warnings = config(vars).warnings_when_bound(bound);
            assert_eq!(warnings.len(), 1, "{bound}");
            assert_eq!(warnings[0].check(), "issuer");
        }
        let set = config(&[("JWT_ISSUER", "https://auth.example")]);
        assert_eq!(set.warnings_when_bound("0.0.0.0:8080"), []);
    }

    #[test]
    fn only_127_0_0_1_port_8080_is_the_default_issuers_address() {
        assert_eq!(DEFAULT_ISSUER, format!("http://{DEFAULT_ISSUER_ADDRESS}"));
        assert!(is_default_issuer_address("127.0.0.1:8080"));
        for address in [
            "127.0.0.1:8081",
            "127.0.0.1:0",
            "127.0.0.2:8080",
            "0.0.0.0:8080",
            "[::1]:8080",
            "localhost:8080",
            "auth.internal:8080",
            "not an address",
        ] {
            assert!(!is_default_issuer_address(address), "{address}");
        }
    }

    #[test]
    fn loopback_hosts_and_binds_are_recognised() {
        for host in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "auth.example.com",
            "10.0.0.1",
            "[::]",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_loopback_bind("127.0.0.1:8080"));
        assert!(is_loopback_bind("[::1]:8080"));
        assert!(is_loopback_bind("localhost:8080"));
        assert!(!is_loopback_bind("0.0.0.0:8080"));
        assert!(!is_loopback_bind("[::]:8080"));
        assert!(!is_loopback_bind("auth.internal:8080"));
    }

    #[test]
    fn durations_are_shown_in_their_largest_exact_unit() {
        assert_eq!(format_duration(604_800), "7d");
        assert_eq!(format_duration(3_600), "1h");
        assert_eq!(format_duration(900), "15m");
        assert_eq!(format_duration(90), "90s");
    }
}
