//! The `key` and `previous-keys` checks: the signing key and the keys that still verify load,
//! match their algorithm, are not placeholders, and are not readable by others.

use std::path::Path;

use tessera_config::{Config, KekSource, KeySource};
use tessera_service::keys::{kek, KeyEncryptionKey};
use tessera_token::{Algorithm, KeySet, SigningKey};
use zeroize::Zeroizing;

use super::{Report, KEY, PREVIOUS_KEYS};

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

/// `key`: the signing key. Returns it when it loads (for the duplicate-`kid` check).
pub(super) fn check_key(config: &Config, report: &mut Report) -> Option<SigningKey> {
    let algorithm = config.algorithm;
    match &config.key_source {
        KeySource::HmacSecret(_) => report.ok(
            KEY,
            "static mode: the JWT_SECRET_KEY secret signs; rotating it is yours to do \
             (JWT_PREVIOUS_KEY_FILES does not apply to secrets)",
        ),
        KeySource::PrivateKeyFile(_) => report.ok(
            KEY,
            "static mode: the JWT_PRIVATE_KEY_FILE key signs; rotate with \
             JWT_PREVIOUS_KEY_FILES and a restart of every instance",
        ),
        KeySource::Stored { .. } => {}
    }
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
        KeySource::Stored { legacy_file } => {
            check_stored_mode(config, legacy_file, report);
            None
        }
    };
    key
}

/// Stored mode: where the keys are, and whether the key-encryption key is there and well formed
/// (without reading the database or creating anything).
fn check_stored_mode(config: &Config, legacy_file: &Path, report: &mut Report) {
    let place = if config.database_url.is_some() {
        "PostgreSQL (DATABASE_URL)"
    } else {
        "the SQLite database in TESSERA_DATA_DIR"
    };
    let kek = match &config.key_encryption_key {
        Some(KekSource::Value(text)) => Some(
            KeyEncryptionKey::from_base64(kek::KEK_VAR, text.expose())
                .map(|kek| format!("{} from {}", kek.id(), kek::KEK_VAR)),
        ),
        Some(KekSource::File(path)) => {
            warn_if_exposed(KEY, path, report);
            Some(
                kek::read_kek_file(kek::KEK_FILE_VAR, path)
                    .map(|kek| format!("{} from {}", kek.id(), path.display())),
            )
        }
        None if config.database_url.is_some() => {
            report.error(
                KEY,
                format!(
                    "stored mode on PostgreSQL needs {} (or {}): the signing keys are sealed \
                     under it, so that a database dump cannot sign; make one with `openssl rand \
                     -base64 32` and give every instance the same one",
                    kek::KEK_VAR,
                    kek::KEK_FILE_VAR
                ),
            );
            return;
        }
        None => {
            let path = config.data_dir.join(kek::GENERATED_KEK_FILE);
            path.exists().then(|| {
                warn_if_exposed(KEY, &path, report);
                kek::read_kek_file("TESSERA_DATA_DIR", &path)
                    .map(|kek| format!("{} from {}", kek.id(), path.display()))
            })
        }
    };
    let sealing = match kek {
        Some(Ok(described)) => format!("sealed under key-encryption key {described}"),
        Some(Err(err)) => {
            report.error(KEY, err.to_string());
            return;
        }
        None => format!(
            "sealed under a key-encryption key that the first start generates into {}",
            config.data_dir.join(kek::GENERATED_KEK_FILE).display()
        ),
    };
    report.ok(
        KEY,
        format!(
            "stored mode: the signing keys are kept in {place}, {sealing}; every instance \
             sharing the database signs with the same key (`tessera keys list`)"
        ),
    );
    if legacy_file.exists() {
        report.ok(
            KEY,
            format!(
                "{} (the key of earlier versions) becomes the first stored key if the database \
                 has none, and is then deleted",
                legacy_file.display()
            ),
        );
    }
    if let Some(period) = config.key_rotation {
        report.ok(
            KEY,
            format!("rotated automatically every {}", describe_period(period)),
        );
    }
}

/// A period in the largest whole unit (`30d`, `12h`, `90m`, `45s`).
fn describe_period(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
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
pub(super) fn check_previous_keys(
    config: &Config,
    signing_key: Option<&SigningKey>,
    report: &mut Report,
) {
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
            KeySource::PrivateKeyFile(current) if current == path
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

/// `count thing` or `count things`.
fn plural(count: usize, thing: &str) -> String {
    if count == 1 {
        format!("1 {thing}")
    } else {
        format!("{count} {thing}s")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

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
}
