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
//! # Security
//! Doctor only reads. It creates no key, no data directory and no schema (PostgreSQL is probed
//! with one `SELECT`). It never prints a secret: not the HMAC secret, and URLs only as
//! `scheme://host:port/path`, without user, password or query.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use tessera_config::{is_loopback_host, Config, KeySource, RedisFallback};
use tessera_store::postgres::PostgresStore;
use tessera_store::redis::{unix_time_ms, RedisState};
use tessera_token::{Algorithm, KeySet, SigningKey};
use zeroize::Zeroizing;

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

/// Well-known placeholder secrets (compared without regard to case, as substrings).
const PLACEHOLDERS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "changeit",
    "password",
    "example",
    "placeholder",
    "default",
    "replace",
];

/// Clock skew (ms) above which a finding is at least a warning.
const SKEW_WARNING_MS: u64 = 1_000;

/// 2024-01-01T00:00:00Z and 2200-01-01T00:00:00Z: a system clock outside is certainly wrong.
const SANE_CLOCK_SECONDS: std::ops::Range<u64> = 1_704_067_200..7_258_118_400;

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
    let ((database, database_clock), (redis, redis_clock)) =
        runtime.block_on(async { tokio::join!(check_database(config), check_redis(config)) });
    report.append(database);
    report.append(redis);
    let clocks: Vec<ServerClock> = [database_clock, redis_clock]
        .into_iter()
        .flatten()
        .collect();
    check_clock(config, &clocks, report);
    let issuer = parse_issuer(&config.issuer);
    check_cookies(issuer.as_ref().ok(), report);
    check_issuer(config, &issuer, report);
    Ok(())
}

/// `key`: the signing key. Returns it when it loads (for the duplicate-`kid` check).
fn check_key(config: &Config, report: &mut Report) -> Option<SigningKey> {
    let algorithm = config.algorithm;
    let key = match &config.key_source {
        KeySource::HmacSecret(secret) => {
            let bytes = secret.expose();
            match SigningKey::from_hmac_secret(algorithm, bytes) {
                Ok(key) => {
                    report.ok(
                        KEY,
                        format!(
                            "{algorithm} with the JWT_SECRET_KEY secret: {} bytes (at least {} \
                             needed)",
                            bytes.len(),
                            algorithm.hash_len()
                        ),
                    );
                    if let Some(weakness) = secret_weakness(bytes) {
                        report.warn(
                            KEY,
                            format!(
                                "JWT_SECRET_KEY {weakness}; generate a random one with \
                                 `tessera keygen --alg {algorithm}`"
                            ),
                        );
                    }
                    Some(key)
                }
                Err(err) => {
                    report.error(KEY, format!("JWT_SECRET_KEY: {err}"));
                    None
                }
            }
        }
        KeySource::PrivateKeyFile(path) => {
            check_key_file(KEY, "JWT_PRIVATE_KEY_FILE", algorithm, path, report)
        }
        KeySource::Generated(path) => match path.try_exists() {
            Ok(true) => check_key_file(KEY, "TESSERA_DATA_DIR", algorithm, path, report),
            Ok(false) => {
                report.warn(
                    KEY,
                    format!(
                        "no signing key yet: `tessera serve` generates one ({algorithm}) at {}",
                        path.display()
                    ),
                );
                None
            }
            Err(err) => {
                report.error(KEY, format!("TESSERA_DATA_DIR: {}: {err}", path.display()));
                None
            }
        },
    };
    if matches!(config.key_source, KeySource::Generated(_)) && config.database_url.is_some() {
        report.warn(
            KEY,
            "DATABASE_URL is set, so several instances may run: each signs with the key in its \
             own data directory, and unless they all share one, they refuse each other's \
             tokens; give them one key with JWT_PRIVATE_KEY_FILE",
        );
    }
    key
}

/// Why an HMAC secret looks chosen by hand rather than generated, if it does.
fn secret_weakness(secret: &[u8]) -> Option<String> {
    let lower = Zeroizing::new(secret.to_ascii_lowercase());
    if PLACEHOLDERS
        .iter()
        .any(|word| lower.windows(word.len()).any(|w| w == word.as_bytes()))
    {
        return Some("looks like a placeholder (it contains a well-known word)".to_owned());
    }
    let mut seen = [false; 256];
    for byte in secret {
        seen[usize::from(*byte)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    (distinct < 8).then(|| format!("has only {distinct} distinct byte values: it is not random"))
}

/// Loads the PKCS#8 key file `path` for `algorithm`, reporting under `check`: its `kid` when it
/// loads, an error naming `var` otherwise, and a warning if others may read it.
fn check_key_file(
    check: &'static str,
    var: &str,
    algorithm: Algorithm,
    path: &Path,
    report: &mut Report,
) -> Option<SigningKey> {
    let key = match read_key_file(algorithm, path) {
        Ok(key) => {
            report.ok(
                check,
                format!(
                    "{algorithm} key from {} (kid {})",
                    path.display(),
                    key.kid()
                ),
            );
            Some(key)
        }
        Err(reason) => {
            report.error(check, format!("{var}: {}: {reason}", path.display()));
            None
        }
    };
    warn_if_exposed(check, path, report);
    key
}

/// Reads a PKCS#8 PEM private key without ever generating one.
fn read_key_file(algorithm: Algorithm, path: &Path) -> Result<SigningKey, String> {
    let text = Zeroizing::new(std::fs::read(path).map_err(|err| err.to_string())?);
    SigningKey::from_pkcs8_pem(algorithm, &text).map_err(|err| {
        let reason = err.to_string();
        if reason.contains(algorithm.name()) {
            reason
        } else {
            format!("{reason} (expected a key for {algorithm})")
        }
    })
}

/// Warns under `check` if group or others have any access to the private key file `path`.
fn warn_if_exposed(check: &'static str, path: &Path, report: &mut Report) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        report.warn(
            check,
            format!(
                "{} holds a private key but group or others have access (mode {mode:03o}); \
                 `chmod 600 {}`",
                path.display(),
                path.display()
            ),
        );
    }
}

/// `previous-keys`: every key of `JWT_PREVIOUS_KEY_FILES` loads, and no two keys share a `kid`.
fn check_previous_keys(config: &Config, signing_key: Option<&SigningKey>, report: &mut Report) {
    if config.previous_keys.is_empty() {
        report.ok(PREVIOUS_KEYS, "none (JWT_PREVIOUS_KEY_FILES is not set)");
        return;
    }
    let mut keys = KeySet::new();
    if let Some(key) = signing_key {
        // Fresh set: the first key cannot collide.
        let _ = keys.add_verifying_key(key.verifying_key().clone());
    }
    let mut loaded = Vec::new();
    for (algorithm, path) in &config.previous_keys {
        match read_key_file(*algorithm, path) {
            Ok(key) => match keys.add_verifying_key(key.verifying_key().clone()) {
                Ok(()) => loaded.push(format!("{algorithm} kid {}", key.kid())),
                Err(err) => report.error(
                    PREVIOUS_KEYS,
                    format!("JWT_PREVIOUS_KEY_FILES: {}: {err}", path.display()),
                ),
            },
            Err(reason) => report.error(
                PREVIOUS_KEYS,
                format!("JWT_PREVIOUS_KEY_FILES: {}: {reason}", path.display()),
            ),
        }
        let is_signing_key_file = matches!(
            &config.key_source,
            KeySource::PrivateKeyFile(current) | KeySource::Generated(current) if current == path
        );
        if !is_signing_key_file {
            warn_if_exposed(PREVIOUS_KEYS, path, report);
        }
    }
    if loaded.len() == config.previous_keys.len() {
        report.ok(
            PREVIOUS_KEYS,
            format!(
                "{} still {}: {}",
                plural(loaded.len(), "previous key"),
                if loaded.len() == 1 {
                    "verifies"
                } else {
                    "verify"
                },
                loaded.join(", ")
            ),
        );
    }
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

/// A server's clock as read between two readings of ours, in ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServerClock {
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

/// `database`: PostgreSQL answers (and its clock), or the SQLite data directory is usable.
async fn check_database(config: &Config) -> (Report, Option<ServerClock>) {
    let mut report = Report::default();
    let Some(url) = &config.database_url else {
        check_sqlite_dir(&config.data_dir, &mut report);
        return (report, None);
    };
    let url = url.expose();
    let shown = redact_url(url);
    let before_ms = unix_time_ms();
    match PostgresStore::probe(url).await {
        Ok(server_ms) => {
            let after_ms = unix_time_ms();
            report.ok(DATABASE, format!("PostgreSQL at {shown} answers"));
            let clock = ServerClock {
                name: "PostgreSQL",
                before_ms,
                server_ms,
                after_ms,
            };
            (report, Some(clock))
        }
        Err(err) => {
            report.error(
                DATABASE,
                format!(
                    "PostgreSQL at {shown} (DATABASE_URL) cannot be used: {}",
                    scrub(&err.to_string(), url)
                ),
            );
            (report, None)
        }
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

/// `redis`: Redis answers and keeps something on disk (and its clock), or what running without
/// it means.
async fn check_redis(config: &Config) -> (Report, Option<ServerClock>) {
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
            config.redis_prefix.as_deref().map_or_else(
                || "tessera:<the database's deployment id>:".to_owned(),
                |prefix| format!("`{prefix}`")
            )
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
fn check_clock(config: &Config, servers: &[ServerClock], report: &mut Report) {
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

/// `JWT_ISSUER` taken apart (enough to judge it; not a general URL parser).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IssuerUrl<'a> {
    /// `http` or `https`, lower case.
    scheme: String,
    /// The host, IPv6 addresses with their brackets.
    host: &'a str,
    /// The path, empty or starting with `/`.
    path: &'a str,
}

/// Parses `text` as an absolute http(s) URL without user information, query or fragment.
fn parse_issuer(text: &str) -> Result<IssuerUrl<'_>, String> {
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
fn check_cookies(issuer: Option<&IssuerUrl<'_>>, report: &mut Report) {
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
fn check_issuer(config: &Config, issuer: &Result<IssuerUrl<'_>, String>, report: &mut Report) {
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

/// A duration as the configuration shows it (`7d`, `1h`, `15m`, `90s`).
fn human(seconds: u64) -> String {
    tessera_config::format_duration(seconds)
}

/// `count thing` or `count things`.
fn plural(count: usize, thing: &str) -> String {
    if count == 1 {
        format!("1 {thing}")
    } else {
        format!("{count} {thing}s")
    }
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
    #![allow(clippy::unwrap_used, reason = "test code")]
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
    fn placeholder_and_low_entropy_secrets_are_flagged() {
        for weak in [
            "changemechangemechangemechangeme",
            "my-Super-SECRET-value-for-jwt-tokens-1234",
            "your-secret-key-xxxxxxxxxxxxxxxxxxxxxxxxxx",
        ] {
            let why = secret_weakness(weak.as_bytes()).unwrap();
            assert!(why.contains("placeholder"), "{weak}: {why}");
        }
        let why = secret_weakness(&[b'a'; 64]).unwrap();
        assert!(why.contains("1 distinct"), "{why}");
        assert_eq!(
            secret_weakness(b"q3Vb0xN7-LwK2pZt9JmR4cYh8dGs1fUe6aTo5iXk_Ey"),
            None
        );
    }

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
    fn durations_and_dates_read_naturally() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(90), "90s");
        assert_eq!(human(900), "15m");
        assert_eq!(human(7_200), "2h");
        assert_eq!(human(604_800), "7d");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(SANE_CLOCK_SECONDS.start), "2024-01-01T00:00:00Z");
        assert_eq!(utc(SANE_CLOCK_SECONDS.end), "2200-01-01T00:00:00Z");
        assert_eq!(utc(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
