//! `tessera doctor`: checks the configuration and its environment, and prints what it finds.
//!
//! One line per finding, `LEVEL  CHECK  MESSAGE` (LEVEL is `ok`, `warn` or `error`), then a
//! summary line; the exit status is 1 when any finding is an error, else 0. The checks, in order:
//!
//! - `config`: the configuration parses (if not, the reason is the only finding);
//! - `key`: the signing key loads and matches `JWT_ALGORITHM`; an HMAC secret that looks like a
//!   placeholder; a key file that group or others may read;
//! - `previous-keys`: every key of `JWT_PREVIOUS_KEY_FILES` loads, with no duplicate `kid`;
//! - `lifetimes`: the refresh lifetime exceeds the access lifetime; access tokens stay short;
//! - `database`: PostgreSQL answers, or the SQLite data directory is usable;
//! - `redis`: Redis answers and whether it keeps anything on disk, or what its absence means;
//! - `clock`: the system clock is plausible and agrees with PostgreSQL's and Redis's;
//! - `cookies`: browsers will keep the `Secure` session cookies at the issuer's address;
//! - `issuer`: `JWT_ISSUER` is an absolute http(s) URL without query or fragment (RFC 8414
//!   section 2), and not left at its default where that cannot be right (several instances, or
//!   `TESSERA_BIND` other than the default's `127.0.0.1:8080`); `JWT_AUDIENCE` is set.
//!
//! This module runs them in that order and prints the report; the checks live by concern in
//! `key` (signing and previous keys), `services` (database, Redis, clocks) and `web` (cookies,
//! issuer).
//!
//! # Security
//! Doctor only reads. It creates no key, no data directory and no schema (PostgreSQL is probed
//! with one `SELECT`). It never prints a secret: not the HMAC secret, and URLs only as
//! `scheme://host:port/path`, without user, password or query.

mod key;
mod services;
mod web;

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use tessera_config::Config;

use key::{check_key, check_previous_keys};
use services::{check_clock, check_database, check_redis, ServerClock};
use web::{check_cookies, check_issuer, parse_issuer};

/// The name of each check, as printed.
const CONFIG: &str = "config";
const KEY: &str = "key";
const PREVIOUS_KEYS: &str = "previous-keys";
const LIFETIMES: &str = "lifetimes";
const DATABASE: &str = "database";
const REDIS: &str = "redis";
const CLOCK: &str = "clock";
const COOKIES: &str = "cookies";
const ISSUER: &str = "issuer";

/// Width of the check column: the longest check name.
const CHECK_WIDTH: usize = PREVIOUS_KEYS.len();

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Checked and fine.
    Ok,
    /// Works, but probably not as intended.
    Warn,
    /// Will not work, or is unsafe: `doctor` exits with status 1.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    level: Level,
    check: &'static str,
    message: String,
}

/// The findings so far, in the order they are printed.
#[derive(Debug, Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, level: Level, check: &'static str, message: impl Into<String>) {
        // One finding, one line, whatever an underlying error message contains.
        let message = message.into().replace(['\n', '\r'], " ");
        self.findings.push(Finding {
            level,
            check,
            message,
        });
    }

    fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Level::Ok, check, message);
    }

    fn warn(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Level::Warn, check, message);
    }

    fn error(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Level::Error, check, message);
    }

    fn append(&mut self, other: Report) {
        self.findings.extend(other.findings);
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// The findings, one per line, then the summary line.
    fn render(&self) -> String {
        let mut text = String::new();
        for finding in &self.findings {
            text.push_str(&format!(
                "{:<5}  {:<CHECK_WIDTH$}  {}\n",
                finding.level, finding.check, finding.message
            ));
        }
        let (errors, warnings) = (self.count(Level::Error), self.count(Level::Warn));
        text.push_str(&format!(
            "doctor: {errors} {}, {warnings} {}\n",
            if errors == 1 { "error" } else { "errors" },
            if warnings == 1 { "warning" } else { "warnings" },
        ));
        text
    }
}

/// Runs `tessera doctor`: prints the report, and returns status 1 if it has an error.
///
/// # Errors
/// Only if the async runtime cannot start; everything wrong with the configuration or its
/// environment is a finding instead.
pub fn run() -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    match Config::load() {
        // The error names the variable, or the `.env` line by number (never its text).
        Err(err) => report.error(CONFIG, err.to_string()),
        Ok(config) => diagnose(&config, &mut report)?,
    }
    print!("{}", report.render());
    Ok(if report.count(Level::Error) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check after `config`, in order.
fn diagnose(config: &Config, report: &mut Report) -> anyhow::Result<()> {
    let source = if Path::new(".env").exists() {
        "the environment and ./.env"
    } else {
        "the environment (no ./.env)"
    };
    report.ok(CONFIG, format!("read from {source}"));
    let signing_key = check_key(config, report);
    check_previous_keys(config, signing_key.as_ref(), report);
    check_lifetimes(config, report);
    let runtime = super::current_thread_runtime()?;
    // One after the other: the Redis key prefix comes from the database's deployment id.
    let ((database, findings), (redis, redis_clock)) = runtime.block_on(async {
        let (database, findings) = check_database(config).await;
        let deployment_id = findings
            .inspection
            .as_ref()
            .and_then(|inspection| inspection.deployment_id.clone());
        let redis = check_redis(config, deployment_id.as_deref()).await;
        ((database, findings), redis)
    });
    report.append(database);
    report.append(redis);
    let clocks: Vec<ServerClock> = [findings.clock, redis_clock]
        .into_iter()
        .flatten()
        .collect();
    check_clock(config, &clocks, report);
    let issuer = parse_issuer(&config.issuer);
    check_cookies(issuer.as_ref().ok(), report);
    check_issuer(config, &issuer, report);
    Ok(())
}

/// `lifetimes`: the lifetime warnings of the configuration ([`Config::warnings`], which
/// `tessera serve` logs too).
fn check_lifetimes(config: &Config, report: &mut Report) {
    let mut clean = true;
    for warning in config.warnings() {
        if warning.check() == LIFETIMES {
            clean = false;
            report.warn(LIFETIMES, warning.to_string());
        }
    }
    if clean {
        report.ok(
            LIFETIMES,
            format!(
                "access {}, refresh {}, leeway {}",
                human(config.access_ttl),
                human(config.refresh_ttl),
                human(config.leeway)
            ),
        );
    }
}

/// A duration as the configuration shows it (`7d`, `1h`, `15m`, `90s`).
fn human(seconds: u64) -> String {
    tessera_config::format_duration(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_print_in_fixed_columns_then_a_summary() {
        let mut report = Report::default();
        report.ok(CONFIG, "fine");
        report.warn(PREVIOUS_KEYS, "hmm");
        report.error(DATABASE, "broken\nacross lines");
        assert_eq!(
            report.render(),
            "ok     config         fine\n\
             warn   previous-keys  hmm\n\
             error  database       broken across lines\n\
             doctor: 1 error, 1 warning\n"
        );
        assert_eq!(Report::default().render(), "doctor: 0 errors, 0 warnings\n");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(90), "90s");
        assert_eq!(human(900), "15m");
        assert_eq!(human(7_200), "2h");
        assert_eq!(human(604_800), "7d");
    }
}
