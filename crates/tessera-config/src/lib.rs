//! # tessera-config: configuration read once
//!
//! Tessera's settings come from environment variables, with a `.env` file in the working directory
//! read first and real environment variables winning over it. They are read once, into one typed
//! [`Config`], and validated with messages that name the variable at fault. Nothing else in Tessera
//! reads the environment.
//!
//! Every variable, what it means and its default: the one table, `docs/configuration.md` in the
//! repository. That table describes this crate, so a variable added or changed here is written
//! there in the same change. The defaults that are values are also constants here
//! ([`DEFAULT_ISSUER`], [`DEFAULT_AUDIENCE`], [`DEFAULT_ACCESS_TTL`], [`DEFAULT_REFRESH_TTL`],
//! [`DEFAULT_LEEWAY`], [`DEFAULT_DATA_DIR`], [`DEFAULT_BIND`]).
//!
//! The key itself is loaded by [`Config::load_signing_key`], which may create the data directory
//! and a key file on first use; parsing the configuration never touches the file system beyond
//! reading `.env`. A `.env` line that does not parse is reported by its number alone: it may hold
//! a secret.
#![forbid(unsafe_code)]

mod dotenv;
mod duration;
mod keyfile;
mod warnings;

pub use duration::parse_duration;
pub use keyfile::LoadedKey;
pub use warnings::{
    format_duration, is_default_issuer_address, is_loopback_bind, is_loopback_host, ConfigWarning,
    DEFAULT_ISSUER_ADDRESS, LONGEST_QUIET_ACCESS_TTL,
};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tessera_token::{Algorithm, Secret, SecretText};

/// Default `iss`: the server's default address.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";
/// Default `aud`.
pub const DEFAULT_AUDIENCE: &str = "tessera";
/// Default access-token lifetime: 15 minutes.
pub const DEFAULT_ACCESS_TTL: u64 = 15 * 60;
/// Default refresh-token lifetime: 7 days.
pub const DEFAULT_REFRESH_TTL: u64 = 7 * 24 * 3600;
/// Default clock leeway: 30 seconds.
pub const DEFAULT_LEEWAY: u64 = 30;
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./tessera-data";

/// Everything that can be wrong with the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable has a value Tessera cannot use.
    #[error("{var}: {reason}")]
    Invalid {
        /// The variable at fault.
        var: &'static str,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// The `.env` file exists but cannot be read.
    #[error("{}: {source}", path.display())]
    DotEnvUnreadable {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of the `.env` file does not parse, or is not UTF-8.
    ///
    /// # Security
    /// Names the line by its number and carries none of its text: a line that does not parse
    /// may hold a secret (`JWT_SECRET_KEY=hunter2 hunter2`), and this message is printed.
    #[error(
        "{}: line {line} {problem} (the line is not shown, as it may hold a secret)",
        path.display()
    )]
    DotEnvLine {
        /// The file.
        path: PathBuf,
        /// The number of the line (from 1); for a value that spans lines, the line it starts on.
        line: usize,
        /// What is wrong with the line: `does not parse` or `is not UTF-8`.
        problem: &'static str,
    },
    /// A file could not be read or written.
    #[error("{var}: {path}: {source}")]
    Io {
        /// The variable that named (or implied) the file.
        var: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file or secret was read but refused by the token core.
    #[error("{var}: {source}")]
    Key {
        /// The variable that named (or implied) the key.
        var: &'static str,
        /// Why the key was refused.
        source: tessera_token::Error,
    },
}

/// Where the signing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An HMAC secret from `JWT_SECRET_KEY`.
    HmacSecret(Secret),
    /// A PKCS#8 PEM file named by `JWT_PRIVATE_KEY_FILE`.
    PrivateKeyFile(PathBuf),
    /// Keys kept in the store (the database), encrypted under the key-encryption key, with a
    /// lifecycle (`tessera keys`): the mode when neither `JWT_SECRET_KEY` nor
    /// `JWT_PRIVATE_KEY_FILE` is set. `legacy_file` is where earlier versions generated the key
    /// into the data directory: if it exists when the store holds no key yet, it becomes the
    /// first stored key, so tokens it signed stay valid.
    Stored {
        /// The data directory's generated key file of earlier versions.
        legacy_file: PathBuf,
    },
}

/// Where the key-encryption key comes from (`TESSERA_KEY_ENCRYPTION_KEY` or
/// `TESSERA_KEY_ENCRYPTION_KEY_FILE`): 32 random bytes in base64 (standard or URL-safe, padded or
/// not), e.g. from `openssl rand -base64 32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// The key itself, from `TESSERA_KEY_ENCRYPTION_KEY`.
    Value(SecretText),
    /// A file holding it, from `TESSERA_KEY_ENCRYPTION_KEY_FILE`.
    File(PathBuf),
}

/// The configured key set and what loading it did.
#[derive(Debug)]
pub struct LoadedKeys {
    /// The current signing key and every key that still verifies.
    pub keys: tessera_token::KeySet,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings of `tessera serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Address to listen on (`TESSERA_BIND`).
    pub bind: String,
    /// A separate address for `GET /metrics` (`TESSERA_METRICS_BIND`); `None` serves it on
    /// [`ServerSettings::bind`] with the API. When set, the API's port answers 404 for it.
    pub metrics_bind: Option<String>,
    /// Failed logins for one account within the lockout window before it is throttled
    /// (`TESSERA_LOGIN_MAX_FAILURES`).
    pub login_max_failures: u32,
    /// The lockout window in seconds (`TESSERA_LOGIN_LOCKOUT`).
    pub login_lockout: u64,
    /// Requests per minute per client IP on the credential endpoints; 0 turns the limit off
    /// (`TESSERA_RATE_LIMIT_PER_IP`).
    pub rate_limit_per_ip: u32,
    /// Log format (`TESSERA_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Origins (`scheme://host[:port]`, exact) whose pages may call `/auth/*` with credentials
    /// (`TESSERA_CORS_ORIGINS`); empty: none.
    pub cors_origins: Vec<String>,
    /// Whether `GET /auth/forward` answers with the user's id, name and roles in headers for a
    /// reverse proxy to pass upstream (`TESSERA_FORWARD_USER_HEADERS`).
    pub forward_user_headers: bool,
}

/// Parses `TESSERA_CORS_ORIGINS`: comma-separated exact origins, each `http://` or `https://`, a
/// host and an optional port, nothing after (no path, no wildcard).
fn cors_origins(vars: &Vars) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "TESSERA_CORS_ORIGINS";
    let mut origins = Vec::new();
    for entry in vars.get(VAR).unwrap_or_default().split(',') {
        let origin = entry.trim();
        if origin.is_empty() {
            continue;
        }
        let shown: String = origin.chars().take(64).collect();
        if origin.contains('*') {
            return Err(invalid(
                VAR,
                format!("`{shown}`: wildcards are refused; list each origin exactly"),
            ));
        }
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| {
                invalid(
                    VAR,
                    format!("`{shown}` is not an origin: `https://host[:port]` expected"),
                )
            })?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !rest.ends_with(']') => (host, Some(port)),
            _ => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
        // Browsers leave the scheme's default port out of `Origin`: listed with it, the origin
        // would never match, so it is refused rather than ignored.
        let default_port = if origin.starts_with("https://") {
            "443"
        } else {
            "80"
        };
        let port_ok = port.is_none_or(|port| {
            port != default_port && port.parse::<u16>().is_ok_and(|port| port > 0)
        });
        if !host_ok || !port_ok || host.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid(
                VAR,
                format!(
                    "`{shown}` is not an origin: `scheme://host[:port]` in lowercase, with no \
                     path or trailing slash, as browsers send it in `Origin`"
                ),
            ));
        }
        if !origins.iter().any(|known| known == origin) {
            origins.push(origin.to_owned());
        }
    }
    Ok(origins)
}

/// What the server does while Redis is unreachable (`TESSERA_REDIS_FALLBACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisFallback {
    /// Fail closed: authenticated requests and the credential endpoints answer 503 until Redis is
    /// back (`closed`, the default).
    Closed,
    /// Keep serving: revocations are picked up by polling the database (every 100 ms while Redis
    /// is down) and throttling counts in each instance's memory (`database`).
    Database,
}

/// The OAuth scopes each role grants (`TESSERA_ROLE_SCOPES=admin=users:read users:write,
/// editor=posts:write`): an access token's `scope` claim is the union of the scopes of the
/// user's roles, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleScopes {
    grants: Vec<(String, Vec<String>)>,
}

impl RoleScopes {
    /// The sorted, distinct scopes that `roles` grant together.
    #[must_use]
    pub fn scopes_of<S: AsRef<str>>(&self, roles: &[S]) -> Vec<String> {
        let mut scopes: Vec<String> = roles
            .iter()
            .filter_map(|role| {
                self.grants
                    .iter()
                    .find(|(name, _)| name == role.as_ref())
                    .map(|(_, scopes)| scopes)
            })
            .flatten()
            .cloned()
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Every role named in the mapping, with its scopes.
    #[must_use]
    pub fn grants(&self) -> &[(String, Vec<String>)] {
        &self.grants
    }
}

/// Whether `name` is a role name: 1 to 64 ASCII letters, digits, `_`, `-`, `.` or `:`.
#[must_use]
pub fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Whether `scope` is an RFC 6749 scope token (printable ASCII without space, `"` or `\\`).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn role_scopes(vars: &Vars) -> Result<RoleScopes, ConfigError> {
    const VAR: &str = "TESSERA_ROLE_SCOPES";
    let mut grants: Vec<(String, Vec<String>)> = Vec::new();
    for entry in vars.get(VAR).unwrap_or_default().split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let shown: String = entry.chars().take(64).collect();
        let (role, scopes) = entry
            .split_once('=')
            .ok_or_else(|| invalid(VAR, format!("`{shown}`: expected ROLE=SCOPE [SCOPE...]")))?;
        let role = role.trim();
        if !is_role_name(role) {
            return Err(invalid(
                VAR,
                format!("`{shown}`: a role is 1 to 64 letters, digits, `_`, `-`, `.` or `:`"),
            ));
        }
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        if scopes.is_empty() || !scopes.iter().all(|scope| is_scope_token(scope)) {
            return Err(invalid(
                VAR,
                format!(
                    "`{shown}`: scopes are printable ASCII without spaces, quotes or backslashes"
                ),
            ));
        }
        if grants.iter().any(|(known, _)| known == role) {
            return Err(invalid(VAR, format!("role `{role}` is listed twice")));
        }
        grants.push((role.to_owned(), scopes));
    }
    Ok(RoleScopes { grants })
}

/// The longest refresh grace window (`TESSERA_REFRESH_GRACE`): 60 seconds.
pub const MAX_REFRESH_GRACE: u64 = 60;

/// The shortest automatic key rotation period (`TESSERA_KEY_ROTATION`): one hour.
pub const MIN_KEY_ROTATION: u64 = 3600;

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Tessera's validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The signing algorithm.
    pub algorithm: Algorithm,
    /// Where the signing key comes from.
    pub key_source: KeySource,
    /// The `iss` stamped on tokens and required of them.
    pub issuer: String,
    /// The `aud` stamped on tokens and required of them.
    pub audience: String,
    /// Access-token lifetime in seconds.
    pub access_ttl: u64,
    /// Refresh-token lifetime in seconds.
    pub refresh_ttl: u64,
    /// Clock leeway in seconds.
    pub leeway: u64,
    /// The refresh grace window in seconds (`TESSERA_REFRESH_GRACE`): within it after a
    /// rotation, the immediately preceding refresh token works once more (0: never).
    pub refresh_grace: u64,
    /// The data directory.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: a `postgres://` URL selects the PostgreSQL backend; unset means SQLite in
    /// the data directory. A secret: it may carry a password.
    pub database_url: Option<SecretText>,
    /// Connections in the PostgreSQL pool (`TESSERA_DATABASE_POOL_SIZE`).
    pub database_pool_size: u32,
    /// `REDIS_URL`: shared state for many instances (deny-list entries, throttle counters,
    /// revocation broadcast); unset means each instance keeps them in memory. A secret: it may
    /// carry a password.
    pub redis_url: Option<SecretText>,
    /// Prefix of every Redis key and channel (`TESSERA_REDIS_PREFIX`). `None`: the server derives
    /// it from the database's deployment id, so that deployments sharing one Redis never share
    /// keys while the instances of one deployment always do.
    pub redis_prefix: Option<String>,
    /// What happens while Redis is unreachable (`TESSERA_REDIS_FALLBACK`).
    pub redis_fallback: RedisFallback,
    /// Keys that no longer sign but still verify (rotation), each with its algorithm
    /// (`JWT_PREVIOUS_KEY_FILES`).
    pub previous_keys: Vec<(Algorithm, PathBuf)>,
    /// The key-encryption key of the stored signing keys, if configured.
    pub key_encryption_key: Option<KekSource>,
    /// With stored keys: rotate the signing key automatically this often, in seconds
    /// (`TESSERA_KEY_ROTATION`, e.g. `30d`); `None`: only by `tessera keys rotate`.
    pub key_rotation: Option<u64>,
    /// The OAuth scopes each role grants (`TESSERA_ROLE_SCOPES`), for the `scope` claim.
    pub role_scopes: RoleScopes,
    /// Server settings.
    pub server: ServerSettings,
}

/// The variables read: `.env` entries overlaid by the real environment.
#[derive(Debug, Default, Clone)]
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// Reads `dir/.env` if it exists, then overlays the process environment (which wins).
    ///
    /// # Errors
    /// [`ConfigError::DotEnvUnreadable`] if `.env` exists but cannot be read;
    /// [`ConfigError::DotEnvLine`] naming the first line of it that does not parse.
    pub fn from_env_and_dotenv(dir: &Path) -> Result<Self, ConfigError> {
        let mut vars: HashMap<String, String> =
            dotenv::read(&dir.join(".env"))?.into_iter().collect();
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str()) {
                vars.insert(name.to_owned(), value.to_owned());
            }
        }
        Ok(Vars(vars))
    }

    /// Variables from explicit pairs (tests, embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Vars(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        )
    }

    /// A variable's value; an empty value counts as unset.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

fn duration_var(vars: &Vars, var: &'static str) -> Result<Option<u64>, ConfigError> {
    vars.get(var)
        .map(|text| parse_duration(text).map_err(|reason| invalid(var, reason)))
        .transpose()
}

fn count_var(vars: &Vars, var: &'static str, unit: u64) -> Result<Option<u64>, ConfigError> {
    vars.get(var)
        .map(|text| {
            text.trim()
                .parse::<u64>()
                .ok()
                .and_then(|count| count.checked_mul(unit))
                .ok_or_else(|| invalid(var, format!("`{text}` is not a whole number")))
        })
        .transpose()
}

/// One `JWT_PREVIOUS_KEY_FILES` entry: `PATH` (an asymmetric key of `JWT_ALGORITHM`) or
/// `ALG:PATH`.
fn parse_previous_key(
    entry: &str,
    current: Algorithm,
) -> Result<(Algorithm, PathBuf), ConfigError> {
    let (algorithm, path) = entry
        .split_once(':')
        .and_then(|(name, path)| Some((name.parse::<Algorithm>().ok()?, path)))
        .unwrap_or((current, entry));
    if algorithm.is_symmetric() {
        return Err(invalid(
            "JWT_PREVIOUS_KEY_FILES",
            format!("`{entry}`: previous keys are PKCS#8 private keys of an asymmetric algorithm; prefix the path with the algorithm, e.g. ES256:/keys/old.pem"),
        ));
    }
    Ok((algorithm, PathBuf::from(path)))
}

fn number_var(vars: &Vars, var: &'static str, min: u32) -> Result<Option<u32>, ConfigError> {
    vars.get(var)
        .map(|text| {
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|number| *number >= min)
                .ok_or_else(|| {
                    invalid(
                        var,
                        format!("`{text}` is not a whole number of at least {min}"),
                    )
                })
        })
        .transpose()
}

impl Config {
    /// Reads `.env` in the working directory and the environment, then validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable at fault.
    pub fn load() -> Result<Self, ConfigError> {
        let vars = Vars::from_env_and_dotenv(Path::new("."))?;
        Config::from_vars(&vars)
    }

    /// Builds and validates the configuration from the given variables.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable at fault.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let secret = vars.get("JWT_SECRET_KEY");
        let key_file = vars.get("JWT_PRIVATE_KEY_FILE");
        let algorithm = match vars.get("JWT_ALGORITHM") {
            Some(name) => name.trim().parse::<Algorithm>().map_err(|_| {
                invalid(
                    "JWT_ALGORITHM",
                    format!(
                        "`{}` is not supported; use one of {}",
                        name.chars().take(32).collect::<String>(),
                        Algorithm::ALL.map(Algorithm::name).join(", ")
                    ),
                )
            })?,
            None if secret.is_some() => Algorithm::HS256,
            None => Algorithm::ES256,
        };
        let data_dir = PathBuf::from(vars.get("TESSERA_DATA_DIR").unwrap_or(DEFAULT_DATA_DIR));
        let key_source = if algorithm.is_symmetric() {
            if key_file.is_some() {
                return Err(invalid(
                    "JWT_PRIVATE_KEY_FILE",
                    format!("{algorithm} uses JWT_SECRET_KEY, not a private key file"),
                ));
            }
            let secret = secret.ok_or_else(|| {
                invalid("JWT_SECRET_KEY", format!("required for {algorithm}; generate one with `tessera keygen --alg {algorithm}`"))
            })?;
            let min = algorithm.hash_len();
            if secret.len() < min {
                return Err(invalid(
                    "JWT_SECRET_KEY",
                    format!(
                        "is {} bytes; {algorithm} needs at least {min} bytes (RFC 7518 section 3.2); \
                         generate one with `tessera keygen --alg {algorithm}`",
                        secret.len()
                    ),
                ));
            }
            KeySource::HmacSecret(Secret::new(secret.as_bytes().to_vec()))
        } else {
            if secret.is_some() {
                return Err(invalid(
                    "JWT_SECRET_KEY",
                    format!("is set, but {algorithm} signs with a private key (JWT_PRIVATE_KEY_FILE); unset one of them"),
                ));
            }
            match key_file {
                Some(path) => KeySource::PrivateKeyFile(PathBuf::from(path)),
                None => KeySource::Stored {
                    legacy_file: keyfile::generated_key_path(&data_dir, algorithm),
                },
            }
        };

        let access_ttl = match duration_var(vars, "JWT_ACCESS_TTL")? {
            Some(ttl) => ttl,
            None => count_var(vars, "JWT_EXPIRY_HOURS", 3600)?.unwrap_or(DEFAULT_ACCESS_TTL),
        };
        if access_ttl == 0 {
            return Err(invalid("JWT_ACCESS_TTL", "must be longer than zero"));
        }
        let refresh_ttl = match duration_var(vars, "JWT_REFRESH_TTL")? {
            Some(ttl) => ttl,
            None => count_var(vars, "JWT_REFRESH_EXPIRY_DAYS", 24 * 3600)?
                .unwrap_or(DEFAULT_REFRESH_TTL),
        };
        if refresh_ttl == 0 {
            return Err(invalid("JWT_REFRESH_TTL", "must be longer than zero"));
        }
        let refresh_grace = duration_var(vars, "TESSERA_REFRESH_GRACE")?.unwrap_or(0);
        if refresh_grace > MAX_REFRESH_GRACE {
            return Err(invalid(
                "TESSERA_REFRESH_GRACE",
                format!(
                    "at most {MAX_REFRESH_GRACE}s: the window exists for retries and racing tabs, \
                     and every second of it is a second a stolen token also works"
                ),
            ));
        }
        let leeway = duration_var(vars, "JWT_LEEWAY")?.unwrap_or(DEFAULT_LEEWAY);
        if leeway > 300 {
            return Err(invalid(
                "JWT_LEEWAY",
                "over 5 minutes is not a clock skew; at most 300s",
            ));
        }
        let previous_keys = match vars.get("JWT_PREVIOUS_KEY_FILES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| parse_previous_key(entry, algorithm))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let database_url = match vars.get("DATABASE_URL") {
            None => None,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(SecretText::new(url.to_owned()))
            }
            Some(_) => {
                return Err(invalid(
                    "DATABASE_URL",
                    "only postgres:// (or postgresql://) URLs are supported; unset it to use SQLite in TESSERA_DATA_DIR",
                ))
            }
        };
        let database_pool_size = number_var(vars, "TESSERA_DATABASE_POOL_SIZE", 1)?.unwrap_or(10);
        let redis_url = match vars.get("REDIS_URL") {
            None | Some("") => None,
            Some(url) if url.starts_with("redis://") => Some(SecretText::new(url.to_owned())),
            Some(_) => {
                return Err(invalid(
                    "REDIS_URL",
                    "only redis:// URLs are supported (no TLS: keep Redis on a private network); unset it to keep shared state in memory",
                ))
            }
        };
        let redis_prefix = vars.get("TESSERA_REDIS_PREFIX").map(str::to_owned);
        if let Some(prefix) = &redis_prefix {
            if prefix.is_empty()
                || prefix.len() > 64
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
            {
                return Err(invalid(
                    "TESSERA_REDIS_PREFIX",
                    "use 1 to 64 of the characters A-Z a-z 0-9 - _ : .",
                ));
            }
        }
        let redis_fallback = match vars.get("TESSERA_REDIS_FALLBACK") {
            None | Some("closed") => RedisFallback::Closed,
            Some("database") => RedisFallback::Database,
            Some(other) => {
                return Err(invalid(
                    "TESSERA_REDIS_FALLBACK",
                    format!(
                        "`{}` is not `closed` or `database`",
                        other.chars().take(16).collect::<String>()
                    ),
                ))
            }
        };
        let server = ServerSettings {
            bind: vars.get("TESSERA_BIND").unwrap_or(DEFAULT_BIND).to_owned(),
            metrics_bind: vars.get("TESSERA_METRICS_BIND").map(str::to_owned),
            cors_origins: cors_origins(vars)?,
            forward_user_headers: match vars.get("TESSERA_FORWARD_USER_HEADERS") {
                None | Some("0" | "false") => false,
                Some("1" | "true") => true,
                Some(_) => {
                    return Err(invalid(
                        "TESSERA_FORWARD_USER_HEADERS",
                        "must be `true` or `false` (or `1` or `0`)",
                    ))
                }
            },
            login_max_failures: number_var(vars, "TESSERA_LOGIN_MAX_FAILURES", 1)?.unwrap_or(5),
            login_lockout: duration_var(vars, "TESSERA_LOGIN_LOCKOUT")?.unwrap_or(15 * 60),
            rate_limit_per_ip: number_var(vars, "TESSERA_RATE_LIMIT_PER_IP", 0)?.unwrap_or(600),
            log_format: match vars.get("TESSERA_LOG_FORMAT") {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(invalid(
                        "TESSERA_LOG_FORMAT",
                        format!(
                            "`{}` is not `text` or `json`",
                            other.chars().take(16).collect::<String>()
                        ),
                    ))
                }
            },
        };
        let key_encryption_key = match (
            vars.get("TESSERA_KEY_ENCRYPTION_KEY"),
            vars.get("TESSERA_KEY_ENCRYPTION_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "TESSERA_KEY_ENCRYPTION_KEY",
                    "is set, and so is TESSERA_KEY_ENCRYPTION_KEY_FILE: set one of them",
                ))
            }
            (Some(value), None) => Some(KekSource::Value(SecretText::new(value.trim().to_owned()))),
            (None, Some(path)) => Some(KekSource::File(PathBuf::from(path))),
            (None, None) => None,
        };
        let key_rotation = duration_var(vars, "TESSERA_KEY_ROTATION")?;
        if let Some(period) = key_rotation {
            if !matches!(key_source, KeySource::Stored { .. }) {
                return Err(invalid(
                    "TESSERA_KEY_ROTATION",
                    "rotates stored keys; with JWT_SECRET_KEY or JWT_PRIVATE_KEY_FILE the key is \
                     yours to rotate (unset those to keep the keys in the database)",
                ));
            }
            if period < MIN_KEY_ROTATION {
                return Err(invalid(
                    "TESSERA_KEY_ROTATION",
                    format!(
                        "at least {}h: a key must be published before it signs and stay until \
                         its tokens expire",
                        MIN_KEY_ROTATION / 3600
                    ),
                ));
            }
        }
        if server.login_lockout == 0 {
            return Err(invalid("TESSERA_LOGIN_LOCKOUT", "must be longer than zero"));
        }
        Ok(Config {
            algorithm,
            key_source,
            issuer: vars.get("JWT_ISSUER").unwrap_or(DEFAULT_ISSUER).to_owned(),
            audience: vars
                .get("JWT_AUDIENCE")
                .unwrap_or(DEFAULT_AUDIENCE)
                .to_owned(),
            access_ttl,
            refresh_ttl,
            leeway,
            refresh_grace,
            data_dir,
            database_url,
            database_pool_size,
            redis_url,
            redis_prefix,
            redis_fallback,
            previous_keys,
            key_encryption_key,
            key_rotation,
            role_scopes: role_scopes(vars)?,
            server,
        })
    }

    /// The key set of static mode: the signing key of `JWT_SECRET_KEY` or
    /// `JWT_PRIVATE_KEY_FILE` and the verification-only keys of `JWT_PREVIOUS_KEY_FILES` (rotation).
    ///
    /// # Errors
    /// [`ConfigError::Io`] or [`ConfigError::Key`] naming the variable behind the failing key
    /// (a previous key with the same `kid` as another is refused too).
    pub fn load_keys(&self) -> Result<LoadedKeys, ConfigError> {
        let LoadedKey { key } = self.load_signing_key()?;
        let mut keys = tessera_token::KeySet::with_signing_key(key);
        for previous in keyfile::load_previous(&self.previous_keys)? {
            keys.add_verifying_key(previous)
                .map_err(|source| ConfigError::Key {
                    var: "JWT_PREVIOUS_KEY_FILES",
                    source,
                })?;
        }
        Ok(LoadedKeys { keys })
    }

    /// The verification-only keys of `JWT_PREVIOUS_KEY_FILES`.
    ///
    /// # Errors
    /// [`ConfigError::Io`] or [`ConfigError::Key`] naming `JWT_PREVIOUS_KEY_FILES`.
    pub fn load_previous_keys(&self) -> Result<Vec<tessera_token::VerifyingKey>, ConfigError> {
        keyfile::load_previous(&self.previous_keys)
    }

    /// Loads the signing key of static mode.
    ///
    /// # Errors
    /// [`ConfigError::Io`] or [`ConfigError::Key`] naming the variable behind the key;
    /// [`ConfigError::Invalid`] in stored mode ([`KeySource::Stored`]), whose keys are read
    /// through the store.
    pub fn load_signing_key(&self) -> Result<LoadedKey, ConfigError> {
        keyfile::load(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(&Vars::from_pairs(pairs.iter().copied()))
    }

    fn var_of(err: ConfigError) -> &'static str {
        match err {
            ConfigError::Invalid { var, .. }
            | ConfigError::Io { var, .. }
            | ConfigError::Key { var, .. } => var,
            ConfigError::DotEnvUnreadable { .. } | ConfigError::DotEnvLine { .. } => ".env",
        }
    }

    #[test]
    fn zero_configuration_defaults() {
        let config = config(&[]).unwrap();
        assert_eq!(config.algorithm, Algorithm::ES256);
        assert_eq!(
            config.key_source,
            KeySource::Stored {
                legacy_file: PathBuf::from("./tessera-data/signing-key-es256.pem")
            }
        );
        assert_eq!(config.key_encryption_key, None);
        assert_eq!(config.key_rotation, None);
        assert_eq!(config.access_ttl, 900);
        assert_eq!(config.refresh_ttl, 7 * 86400);
        assert_eq!(config.leeway, 30);
        assert_eq!(config.issuer, DEFAULT_ISSUER);
        assert_eq!(config.data_dir, PathBuf::from("./tessera-data"));
    }

    #[test]
    fn the_key_encryption_key_comes_from_one_variable_or_its_file() {
        let value = config(&[("TESSERA_KEY_ENCRYPTION_KEY", " abc= ")]).unwrap();
        assert_eq!(
            value.key_encryption_key,
            Some(KekSource::Value(SecretText::new("abc=".into())))
        );
        let file = config(&[("TESSERA_KEY_ENCRYPTION_KEY_FILE", "/run/kek")]).unwrap();
        assert_eq!(
            file.key_encryption_key,
            Some(KekSource::File(PathBuf::from("/run/kek")))
        );
        let both = config(&[
            ("TESSERA_KEY_ENCRYPTION_KEY", "abc="),
            ("TESSERA_KEY_ENCRYPTION_KEY_FILE", "/run/kek"),
        ]);
        assert_eq!(var_of(both.unwrap_err()), "TESSERA_KEY_ENCRYPTION_KEY");
    }

    #[test]
    fn automatic_rotation_is_for_stored_keys_and_at_least_an_hour() {
        let monthly = config(&[("TESSERA_KEY_ROTATION", "30d")]).unwrap();
        assert_eq!(monthly.key_rotation, Some(30 * 86400));
        let hourly = config(&[("TESSERA_KEY_ROTATION", "1h")]).unwrap();
        assert_eq!(hourly.key_rotation, Some(3600));
        let too_often = config(&[("TESSERA_KEY_ROTATION", "10m")]).unwrap_err();
        assert_eq!(var_of(too_often), "TESSERA_KEY_ROTATION");
        let secret = "s".repeat(32);
        let static_key = config(&[("JWT_SECRET_KEY", &secret), ("TESSERA_KEY_ROTATION", "30d")]);
        assert_eq!(var_of(static_key.unwrap_err()), "TESSERA_KEY_ROTATION");
    }

    #[test]
    fn cors_origins_are_exact_and_wildcards_are_refused() {
        assert!(config(&[]).unwrap().server.cors_origins.is_empty());
        let listed = config(&[(
            "TESSERA_CORS_ORIGINS",
            "https://app.example.com, http://localhost:5173,,https://[::1]:8443,https://app.example.com",
        )])
        .unwrap();
        assert_eq!(
            listed.server.cors_origins,
            [
                "https://app.example.com",
                "http://localhost:5173",
                "https://[::1]:8443"
            ]
        );
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://App.example.com",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://app.example.com:443",
            "http://localhost:80",
            "null",
            "ftp://app.example.com",
        ] {
            let err = config(&[("TESSERA_CORS_ORIGINS", bad)]).unwrap_err();
            assert_eq!(var_of(err), "TESSERA_CORS_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn the_refresh_grace_is_off_by_default_and_at_most_a_minute() {
        assert_eq!(config(&[]).unwrap().refresh_grace, 0);
        assert_eq!(
            config(&[("TESSERA_REFRESH_GRACE", "30s")])
                .unwrap()
                .refresh_grace,
            30
        );
        assert_eq!(
            config(&[("TESSERA_REFRESH_GRACE", "1m")])
                .unwrap()
                .refresh_grace,
            60
        );
        let long = config(&[("TESSERA_REFRESH_GRACE", "61")]).unwrap_err();
        assert_eq!(var_of(long), "TESSERA_REFRESH_GRACE");
    }

    #[test]
    fn forward_user_headers_are_off_unless_asked_for() {
        assert!(!config(&[]).unwrap().server.forward_user_headers);
        let on = config(&[("TESSERA_FORWARD_USER_HEADERS", "true")]).unwrap();
        assert!(on.server.forward_user_headers);
        let odd = config(&[("TESSERA_FORWARD_USER_HEADERS", "yes")]).unwrap_err();
        assert_eq!(var_of(odd), "TESSERA_FORWARD_USER_HEADERS");
    }

    #[test]
    fn role_scopes_map_roles_to_sorted_distinct_scopes() {
        let mapped = config(&[(
            "TESSERA_ROLE_SCOPES",
            "admin=users:write users:read, editor=posts:write users:read",
        )])
        .unwrap()
        .role_scopes;
        assert_eq!(
            mapped.scopes_of(&["editor", "admin", "unknown"]),
            ["posts:write", "users:read", "users:write"]
        );
        assert!(mapped.scopes_of::<&str>(&[]).is_empty());
        assert!(config(&[]).unwrap().role_scopes.grants().is_empty());
        for bad in [
            "admin",
            "admin=",
            "ad min=x",
            "admin=a\"b",
            "admin=x,admin=y",
        ] {
            let err = config(&[("TESSERA_ROLE_SCOPES", bad)]).unwrap_err();
            assert_eq!(var_of(err), "TESSERA_ROLE_SCOPES", "{bad}");
        }
    }

    #[test]
    fn a_secret_selects_hs256() {
        let secret = "s".repeat(32);
        let config = config(&[("JWT_SECRET_KEY", &secret)]).unwrap();
        assert_eq!(config.algorithm, Algorithm::HS256);
        assert_eq!(
            config.key_source,
            KeySource::HmacSecret(Secret::new(secret.into_bytes()))
        );
    }

    #[test]
    fn short_secrets_are_refused_per_algorithm() {
        for (alg, min) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
            let short = "s".repeat(min - 1);
            let err = config(&[("JWT_ALGORITHM", alg), ("JWT_SECRET_KEY", &short)]).unwrap_err();
            assert!(err.to_string().contains(&min.to_string()), "{err}");
            assert_eq!(var_of(err), "JWT_SECRET_KEY");
            let long = "s".repeat(min);
            config(&[("JWT_ALGORITHM", alg), ("JWT_SECRET_KEY", &long)]).unwrap();
        }
    }

    #[test]
    fn none_and_unknown_algorithms_are_refused() {
        for alg in ["none", "NONE", "HS1", "rs256"] {
            let err = config(&[("JWT_ALGORITHM", alg)]).unwrap_err();
            assert_eq!(var_of(err), "JWT_ALGORITHM", "{alg}");
        }
    }

    #[test]
    fn mismatched_key_material_is_refused() {
        let secret = "s".repeat(64);
        assert_eq!(
            var_of(config(&[("JWT_ALGORITHM", "RS256"), ("JWT_SECRET_KEY", &secret)]).unwrap_err()),
            "JWT_SECRET_KEY"
        );
        assert_eq!(
            var_of(
                config(&[
                    ("JWT_ALGORITHM", "HS256"),
                    ("JWT_PRIVATE_KEY_FILE", "k.pem")
                ])
                .unwrap_err()
            ),
            "JWT_PRIVATE_KEY_FILE"
        );
        assert_eq!(
            var_of(config(&[("JWT_ALGORITHM", "HS256")]).unwrap_err()),
            "JWT_SECRET_KEY"
        );
    }

    #[test]
    fn previous_keys_take_the_current_algorithm_or_a_prefix() {
        let c = config(&[(
            "JWT_PREVIOUS_KEY_FILES",
            "/k/a.pem, RS256:/k/b.pem,,EdDSA:/k/c.pem",
        )])
        .unwrap();
        assert_eq!(
            c.previous_keys,
            vec![
                (Algorithm::ES256, PathBuf::from("/k/a.pem")),
                (Algorithm::RS256, PathBuf::from("/k/b.pem")),
                (Algorithm::EdDSA, PathBuf::from("/k/c.pem")),
            ]
        );
        assert_eq!(
            var_of(config(&[("JWT_PREVIOUS_KEY_FILES", "HS256:/k/s")]).unwrap_err()),
            "JWT_PREVIOUS_KEY_FILES"
        );
        let secret = "s".repeat(32);
        assert_eq!(
            var_of(
                config(&[
                    ("JWT_SECRET_KEY", &secret),
                    ("JWT_PREVIOUS_KEY_FILES", "/k/a.pem")
                ])
                .unwrap_err()
            ),
            "JWT_PREVIOUS_KEY_FILES",
            "a bare path takes JWT_ALGORITHM, which is HS256 here"
        );
    }

    #[test]
    fn database_url_selects_postgres_and_is_kept_secret() {
        let c = config(&[]).unwrap();
        assert!(c.database_url.is_none());
        assert_eq!(c.database_pool_size, 10);
        let c = config(&[
            ("DATABASE_URL", "postgres://tessera:hunter2@db:5432/tessera"),
            ("TESSERA_DATABASE_POOL_SIZE", "32"),
        ])
        .unwrap();
        assert_eq!(
            c.database_url.as_ref().unwrap().expose(),
            "postgres://tessera:hunter2@db:5432/tessera"
        );
        assert_eq!(c.database_pool_size, 32);
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "Debug must not show the URL"
        );
        assert_eq!(
            var_of(config(&[("DATABASE_URL", "mysql://x")]).unwrap_err()),
            "DATABASE_URL"
        );
        assert_eq!(
            var_of(config(&[("TESSERA_DATABASE_POOL_SIZE", "0")]).unwrap_err()),
            "TESSERA_DATABASE_POOL_SIZE"
        );
    }

    #[test]
    fn redis_settings() {
        let c = config(&[]).unwrap();
        assert!(c.redis_url.is_none());
        assert_eq!(
            c.redis_prefix, None,
            "derived from the database by the server"
        );
        assert_eq!(c.redis_fallback, RedisFallback::Closed);
        let c = config(&[
            ("REDIS_URL", "redis://:sekrit@cache:6379/2"),
            ("TESSERA_REDIS_PREFIX", "prod-eu:"),
            ("TESSERA_REDIS_FALLBACK", "database"),
        ])
        .unwrap();
        assert_eq!(
            c.redis_url.as_ref().unwrap().expose(),
            "redis://:sekrit@cache:6379/2"
        );
        assert_eq!(c.redis_prefix.as_deref(), Some("prod-eu:"));
        assert_eq!(c.redis_fallback, RedisFallback::Database);
        assert!(!format!("{c:?}").contains("sekrit"));
        for (var, value) in [
            ("REDIS_URL", "memcached://x"),
            ("TESSERA_REDIS_PREFIX", "has space"),
            ("TESSERA_REDIS_FALLBACK", "open"),
        ] {
            assert_eq!(var_of(config(&[(var, value)]).unwrap_err()), var);
        }
    }

    #[test]
    fn server_settings() {
        let c = config(&[]).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8080");
        assert_eq!(
            (c.server.login_max_failures, c.server.login_lockout),
            (5, 900)
        );
        assert_eq!(c.server.rate_limit_per_ip, 600);
        assert_eq!(c.server.log_format, LogFormat::Text);
        assert_eq!(c.server.metrics_bind, None);
        let c = config(&[
            ("TESSERA_BIND", "0.0.0.0:9000"),
            ("TESSERA_METRICS_BIND", "127.0.0.1:9100"),
            ("TESSERA_LOGIN_MAX_FAILURES", "3"),
            ("TESSERA_LOGIN_LOCKOUT", "1m"),
            ("TESSERA_RATE_LIMIT_PER_IP", "0"),
            ("TESSERA_LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:9000");
        assert_eq!(c.server.metrics_bind.as_deref(), Some("127.0.0.1:9100"));
        assert_eq!(
            (c.server.login_max_failures, c.server.login_lockout),
            (3, 60)
        );
        assert_eq!(c.server.rate_limit_per_ip, 0);
        assert_eq!(c.server.log_format, LogFormat::Json);
        for (name, value) in [
            ("TESSERA_LOGIN_MAX_FAILURES", "0"),
            ("TESSERA_LOGIN_LOCKOUT", "0"),
            ("TESSERA_RATE_LIMIT_PER_IP", "-1"),
            ("TESSERA_LOG_FORMAT", "xml"),
        ] {
            assert_eq!(var_of(config(&[(name, value)]).unwrap_err()), name);
        }
    }

    #[test]
    fn ttl_names_old_and_new() {
        let c = config(&[("JWT_EXPIRY_HOURS", "2"), ("JWT_REFRESH_EXPIRY_DAYS", "3")]).unwrap();
        assert_eq!((c.access_ttl, c.refresh_ttl), (7200, 3 * 86400));
        let c = config(&[
            ("JWT_EXPIRY_HOURS", "2"),
            ("JWT_ACCESS_TTL", "90s"),
            ("JWT_REFRESH_EXPIRY_DAYS", "3"),
            ("JWT_REFRESH_TTL", "1h"),
        ])
        .unwrap();
        assert_eq!(
            (c.access_ttl, c.refresh_ttl),
            (90, 3600),
            "the *_TTL names win"
        );
        assert_eq!(
            var_of(config(&[("JWT_ACCESS_TTL", "soon")]).unwrap_err()),
            "JWT_ACCESS_TTL"
        );
        assert_eq!(
            var_of(config(&[("JWT_ACCESS_TTL", "0")]).unwrap_err()),
            "JWT_ACCESS_TTL"
        );
        assert_eq!(
            var_of(config(&[("JWT_EXPIRY_HOURS", "1.5")]).unwrap_err()),
            "JWT_EXPIRY_HOURS"
        );
        assert_eq!(config(&[("JWT_LEEWAY", "0")]).unwrap().leeway, 0);
        assert_eq!(
            var_of(config(&[("JWT_LEEWAY", "1h")]).unwrap_err()),
            "JWT_LEEWAY"
        );
    }

    #[test]
    fn dotenv_is_read_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "JWT_AUDIENCE=from-dotenv\nTESSERA_TEST_ONLY_VAR=dotenv\n",
        )
        .unwrap();
        let vars = Vars::from_env_and_dotenv(dir.path()).unwrap();
        assert_eq!(
            vars.get("JWT_AUDIENCE"),
            std::env::var("JWT_AUDIENCE")
                .ok()
                .as_deref()
                .or(Some("from-dotenv"))
        );
        assert_eq!(vars.get("TESSERA_TEST_ONLY_VAR"), Some("dotenv"));
        // PATH is always in the real environment and must not be shadowed.
        std::fs::write(dir.path().join(".env"), "PATH=/nowhere\n").unwrap();
        let vars = Vars::from_env_and_dotenv(dir.path()).unwrap();
        assert_ne!(vars.get("PATH"), Some("/nowhere"));
    }

    /// Review finding 7: a `.env` line that does not parse was echoed (`Error parsing line:
    /// 'hunter2 hunter2'`) by every command. The error names the file and the line, counting
    /// comments, blank lines and every line of a multi-line quoted value, and carries no part of
    /// the file's text.
    #[test]
    fn dotenv_parse_errors_name_the_line_and_never_echo_it() {
        let dir = tempfile::tempdir().unwrap();
        let dotenv = dir.path().join(".env");
        for (text, line) in [
            ("JWT_SECRET_KEY=hunter2 hunter2\n", 1),
            (
                "# a comment\n\nJWT_AUDIENCE=a\r\nJWT_SECRET_KEY=hunter2 hunter2\nJWT_ISSUER=x\n",
                4,
            ),
            // A quoted value over three lines, then a comment after a value: one logical line
            // each, but the count is of the file's lines.
            (
                "A=\"one\ntwo\nthree\"\nB=b # note\nJWT_SECRET_KEY=\"hunter2\" hunter2",
                5,
            ),
            // A quote that never closes: the line it opens on.
            ("A=a\nJWT_SECRET_KEY='hunter2 hunter2\nB=b\n", 2),
            ("A=a\nhunter2 hunter2\n", 2),
            ("A=a\nJWT_SECRET_KEY=hunter2\\q\n", 2),
            ("A=a\n\nexport hunter2 hunter2\n", 3),
            // Inside a multi-line quoted value, `x y` is text, not a line that does not parse.
            ("A=\"x y\nz w\"\nhunter2 hunter2\n", 3),
        ] {
            std::fs::write(&dotenv, text).unwrap();
            let err = Vars::from_env_and_dotenv(dir.path()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(".env") && message.contains(&format!("line {line}")),
                "{text:?}: {message}"
            );
            assert!(
                !message.contains("hunter2") && !format!("{err:?}").contains("hunter2"),
                "{text:?}: {message}"
            );
        }
        // Not UTF-8: the line too, and nothing of it.
        std::fs::write(&dotenv, b"A=a\nJWT_SECRET_KEY=hunter2\xff\n").unwrap();
        let message = Vars::from_env_and_dotenv(dir.path())
            .unwrap_err()
            .to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
