//! The `database`, `redis` and `clock` checks: the servers Tessera talks to answer, and their
//! clocks agree with this host's. URLs are shown and error messages scrubbed without secrets.

use std::path::Path;

use tessera_config::{Config, RedisFallback};
use tessera_store::postgres::PostgresStore;
use tessera_store::redis::{unix_time_ms, RedisState};
use tessera_store::sqlite::SqliteStore;
use tessera_store::Inspection;

use super::{human, Report, CLOCK, DATABASE, REDIS};

/// Clock skew (ms) above which a finding is at least a warning.
const SKEW_WARNING_MS: u64 = 1_000;

/// 2024-01-01T00:00:00Z and 2200-01-01T00:00:00Z: a system clock outside is certainly wrong.
const SANE_CLOCK_SECONDS: std::ops::Range<u64> = 1_704_067_200..7_258_118_400;

/// A server's clock as read between two readings of ours, in ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ServerClock {
    /// Whose clock: `PostgreSQL` or `Redis`.
    name: &'static str,
    /// Our clock just before asking.
    before_ms: u64,
    /// The server's answer.
    server_ms: u64,
    /// Our clock just after the answer.
    after_ms: u64,
}

impl ServerClock {
    /// How far the server's clock is ahead of ours (negative: behind), at least: the server read
    /// its clock at some instant between `before_ms` and `after_ms`, so a reading inside that
    /// interval shows no provable skew.
    fn skew_ms(&self) -> i128 {
        let (server, before, after) = (
            i128::from(self.server_ms),
            i128::from(self.before_ms),
            i128::from(self.after_ms),
        );
        if server < before {
            server - before
        } else if server > after {
            server - after
        } else {
            0
        }
    }
}

/// What the `database` check learnt, for the checks after it.
#[derive(Debug, Default)]
pub(super) struct DatabaseFindings {
    /// The server's clock (PostgreSQL only).
    pub clock: Option<ServerClock>,
    /// The schema version and deployment id, when the database exists.
    pub inspection: Option<Inspection>,
}

/// `database`: PostgreSQL answers (and its clock), or the SQLite data directory is usable; and
/// the schema version of the database found there.
pub(super) async fn check_database(config: &Config) -> (Report, DatabaseFindings) {
    let mut report = Report::default();
    let Some(url) = &config.database_url else {
        check_sqlite_dir(&config.data_dir, &mut report);
        let inspection = match SqliteStore::inspect(&config.data_dir).await {
            Ok(Some(inspection)) => {
                report_schema(&inspection, &mut report);
                Some(inspection)
            }
            Ok(None) => None,
            Err(err) => {
                report.error(
                    DATABASE,
                    format!(
                        "TESSERA_DATA_DIR: the SQLite database in {} cannot be read: {err}",
                        config.data_dir.display()
                    ),
                );
                None
            }
        };
        return (
            report,
            DatabaseFindings {
                clock: None,
                inspection,
            },
        );
    };
    let url = url.expose();
    let shown = redact_url(url);
    let before_ms = unix_time_ms();
    match PostgresStore::probe(url).await {
        Ok(probe) => {
            let after_ms = unix_time_ms();
            report.ok(DATABASE, format!("PostgreSQL at {shown} answers"));
            report_schema(&probe.inspection, &mut report);
            let clock = ServerClock {
                name: "PostgreSQL",
                before_ms,
                server_ms: probe.clock_ms,
                after_ms,
            };
            (
                report,
                DatabaseFindings {
                    clock: Some(clock),
                    inspection: Some(probe.inspection),
                },
            )
        }
        Err(err) => {
            report.error(
                DATABASE,
                format!(
                    "PostgreSQL at {shown} (DATABASE_URL) cannot be used: {}",
                    scrub(&err.to_string(), url)
                ),
            );
            (report, DatabaseFindings::default())
        }
    }
}

/// The schema version of the database against the one this build migrates to.
fn report_schema(inspection: &Inspection, report: &mut Report) {
    let (found, known) = (inspection.schema_version, inspection.schema_version_known);
    if found == 0 {
        report.ok(
            DATABASE,
            format!("schema version 0 (empty): `tessera serve` creates it (version {known})"),
        );
    } else if found < known {
        report.ok(
            DATABASE,
            format!("schema version {found}: `tessera serve` migrates it to {known}"),
        );
    } else if found == known {
        report.ok(DATABASE, format!("schema version {found} (current)"));
    } else {
        report.error(
            DATABASE,
            format!(
                "schema version {found} is newer than this build knows ({known}): the database \
                 was written by a newer Tessera; run that version"
            ),
        );
    }
}

/// The SQLite case: the data directory exists and is writable, or its nearest existing parent
/// is (`tessera serve` creates it). Judged from permission bits: nothing is written.
fn check_sqlite_dir(dir: &Path, report: &mut Report) {
    let usable = format!(
        "SQLite in {} (one instance; set DATABASE_URL for several)",
        dir.display()
    );
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => report.error(
            DATABASE,
            format!("TESSERA_DATA_DIR: {} is not a directory", dir.display()),
        ),
        Ok(meta) if meta.permissions().readonly() => report.error(
            DATABASE,
            format!("TESSERA_DATA_DIR: {} is read-only", dir.display()),
        ),
        Ok(_) => report.ok(DATABASE, usable),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let parent = dir
                .ancestors()
                .skip(1)
                .map(|a| {
                    if a.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        a
                    }
                })
                .find(|a| a.exists())
                .unwrap_or(Path::new("/"));
            match std::fs::metadata(parent) {
                Ok(meta) if meta.is_dir() && !meta.permissions().readonly() => report.ok(
                    DATABASE,
                    format!("{usable}; `tessera serve` creates the directory"),
                ),
                _ => report.error(
                    DATABASE,
                    format!(
                        "TESSERA_DATA_DIR: {} does not exist and cannot be created in {}",
                        dir.display(),
                        parent.display()
                    ),
                ),
            }
        }
        Err(err) => report.error(
            DATABASE,
            format!("TESSERA_DATA_DIR: {}: {err}", dir.display()),
        ),
    }
}

/// The Redis key prefix the server uses: `TESSERA_REDIS_PREFIX`, or one made of the database's
/// deployment id (as `tessera serve` derives it).
fn redis_prefix(config: &Config, deployment_id: Option<&str>) -> String {
    match (&config.redis_prefix, deployment_id) {
        (Some(prefix), _) => format!("`{prefix}` (TESSERA_REDIS_PREFIX)"),
        (None, Some(id)) => format!("`tessera:{id}:` (from the database's deployment id)"),
        (None, None) => {
            "tessera:<the database's deployment id, made at the first start>:".to_owned()
        }
    }
}

/// `redis`: Redis answers and keeps something on disk (and its clock), or what running without
/// it means; the key prefix in use (`deployment_id`: the database's, when known).
pub(super) async fn check_redis(
    config: &Config,
    deployment_id: Option<&str>,
) -> (Report, Option<ServerClock>) {
    let mut report = Report::default();
    let Some(url) = &config.redis_url else {
        if config.database_url.is_some() {
            report.warn(
                REDIS,
                "REDIS_URL is not set: instances then share no throttle counters, and see \
                 other instances' revocations only by polling the database every second",
            );
        } else {
            report.ok(REDIS, "not configured (single instance)");
        }
        return (report, None);
    };
    let url = url.expose();
    let shown = redact_url(url);
    // Only reachability, persistence and the clock are checked: the key prefix does not matter.
    let redis = match RedisState::new(url, config.redis_prefix.as_deref().unwrap_or("tessera:")) {
        Ok(redis) => redis,
        Err(err) => {
            report.error(REDIS, scrub(&err.to_string(), url));
            return (report, None);
        }
    };
    if let Err(err) = redis.ping().await {
        report.error(
            REDIS,
            format!(
                "Redis at {shown} (REDIS_URL) does not answer: {}",
                scrub(&err.to_string(), url)
            ),
        );
        return (report, None);
    }
    let fallback = match config.redis_fallback {
        RedisFallback::Closed => "closed",
        RedisFallback::Database => "database",
    };
    report.ok(
        REDIS,
        format!(
            "Redis at {shown} answers (key prefix {}, fallback while unreachable: {fallback})",
            redis_prefix(config, deployment_id)
        ),
    );
    match redis.persistence().await {
        Ok(persistence) if persistence.rdb_save.trim().is_empty() && !persistence.aof_enabled => {
            report.warn(
                REDIS,
                "Redis keeps nothing on disk (no RDB snapshots, no AOF): after it restarts, \
                 throttle counters start over; revocations are rebuilt from the database",
            );
        }
        Ok(persistence) => report.ok(
            REDIS,
            format!(
                "persistence: RDB snapshots {}, AOF {}",
                if persistence.rdb_save.trim().is_empty() {
                    "off".to_owned()
                } else {
                    format!("\"{}\"", persistence.rdb_save.trim())
                },
                if persistence.aof_enabled { "on" } else { "off" }
            ),
        ),
        Err(err) => report.warn(
            REDIS,
            format!(
                "cannot read persistence settings (managed services often disable CONFIG): {}",
                scrub(&err.to_string(), url)
            ),
        ),
    }
    let before_ms = unix_time_ms();
    match redis.server_time_ms().await {
        Ok(server_ms) => {
            let clock = ServerClock {
                name: "Redis",
                before_ms,
                server_ms,
                after_ms: unix_time_ms(),
            };
            (report, Some(clock))
        }
        Err(err) => {
            report.warn(
                REDIS,
                format!(
                    "cannot read Redis's clock (TIME): {}",
                    scrub(&err.to_string(), url)
                ),
            );
            (report, None)
        }
    }
}

/// `clock`: the system clock is plausible, and within the leeway of the servers' clocks.
pub(super) fn check_clock(config: &Config, servers: &[ServerClock], report: &mut Report) {
    let now = unix_time_ms() / 1000;
    if SANE_CLOCK_SECONDS.contains(&now) {
        report.ok(CLOCK, format!("system clock reads {}", utc(now)));
    } else {
        report.error(
            CLOCK,
            format!(
                "system clock reads {}, not a date between 2024 and 2200: tokens would carry \
                 wrong times; fix the clock (NTP)",
                utc(now)
            ),
        );
    }
    let leeway_ms = i128::from(config.leeway) * 1000;
    for server in servers {
        let skew = server.skew_ms();
        let abs = skew.unsigned_abs();
        let seconds = format!("{}.{} s", abs / 1000, abs % 1000 / 100);
        let direction = if skew > 0 { "behind" } else { "ahead of" };
        let message = format!(
            "this host's clock is {seconds} {direction} {}'s",
            server.name
        );
        if abs <= u128::from(SKEW_WARNING_MS) {
            report.ok(CLOCK, format!("within 1 s of {}'s clock", server.name));
        } else if skew.abs() > leeway_ms {
            report.error(
                CLOCK,
                format!(
                    "{message}, more than JWT_LEEWAY ({}): instances with clocks this far \
                     apart refuse each other's fresh tokens; synchronise clocks (NTP)",
                    human(config.leeway)
                ),
            );
        } else {
            report.warn(CLOCK, format!("{message}; synchronise clocks (NTP)"));
        }
    }
}

/// `url` as `scheme://host:port/path`: without user information (password), query (which may
/// carry `password=`) or fragment. When in doubt it drops more, never less: everything up to
/// the last `@` goes, even one in a password or query.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(a URL that does not parse)".to_owned();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    format!("{scheme}://{}", &rest[..end])
}

/// `message` with the secret parts of `url` (the URL itself, its password, the values of its
/// query) replaced, in case an underlying error echoes them. A second line of defence: no error
/// seen so far echoes any of them.
fn scrub(message: &str, url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let password = rest
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    let query_values = url
        .split_once('?')
        .map(|(_, query)| query)
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter_map(|pair| pair.split_once('=').map(|(_, value)| value));
    let mut scrubbed = message.replace(url, &redact_url(url));
    // Shorter values would garble ordinary words ("ex***ected" for the password "p").
    for secret in password.into_iter().chain(query_values) {
        if secret.len() >= 4 {
            scrubbed = scrubbed.replace(secret, "***");
        }
    }
    scrubbed
}

/// Seconds since the Unix epoch as an RFC 3339 UTC date-time (proleptic Gregorian calendar).
fn utc(seconds: u64) -> String {
    let days = i128::from(seconds / 86_400);
    let time = seconds % 86_400;
    // Days to civil date: Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3_600,
        time % 3_600 / 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_user_password_or_query() {
        for (url, shown) in [
            (
                "postgres://u:hunter2@db.internal:5432/tessera",
                "postgres://db.internal:5432/tessera",
            ),
            (
                "postgres://db:5432/t?sslmode=require&password=hunter2",
                "postgres://db:5432/t",
            ),
            (
                "redis://:hunter2@127.0.0.1:6379/2",
                "redis://127.0.0.1:6379/2",
            ),
            ("redis://127.0.0.1", "redis://127.0.0.1"),
            // A password with `/` or `@` in it (not percent-encoded) is still dropped.
            ("postgres://u:hun/ter@2@db/x", "postgres://db/x"),
            ("postgres://u:p@ss@db/x#frag", "postgres://db/x"),
            ("nonsense", "(a URL that does not parse)"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("hunter2"));
        }
    }

    #[test]
    fn scrubbing_removes_passwords_and_queries_that_an_error_echoes() {
        let url = "postgres://u:hunter2@db/x?password=swordfish";
        let message = format!("could not connect to {url}; hunter2 swordfish");
        let scrubbed = scrub(&message, url);
        assert!(!scrubbed.contains("hunter2"), "{scrubbed}");
        assert!(!scrubbed.contains("swordfish"), "{scrubbed}");
        assert!(scrubbed.contains("postgres://db/x"), "{scrubbed}");
    }

    #[test]
    fn skew_counts_only_what_the_round_trip_cannot_explain() {
        let clock = |server_ms| ServerClock {
            name: "PostgreSQL",
            before_ms: 10_000,
            server_ms,
            after_ms: 10_500,
        };
        assert_eq!(clock(10_250).skew_ms(), 0);
        assert_eq!(clock(12_500).skew_ms(), 2_000);
        assert_eq!(clock(7_000).skew_ms(), -3_000);
    }

    #[test]
    fn dates_read_naturally() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(SANE_CLOCK_SECONDS.start), "2024-01-01T00:00:00Z");
        assert_eq!(utc(SANE_CLOCK_SECONDS.end), "2200-01-01T00:00:00Z");
        assert_eq!(utc(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
