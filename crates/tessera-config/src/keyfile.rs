//! Loading the signing key of static mode (`JWT_SECRET_KEY`, `JWT_PRIVATE_KEY_FILE`) and the
//! verification keys of `JWT_PREVIOUS_KEY_FILES`.

use crate::{Config, ConfigError, KeySource};
use std::path::{Path, PathBuf};
use tessera_token::{Algorithm, SigningKey};
use zeroize::Zeroizing;

/// A loaded signing key and what loading it did.
#[derive(Debug)]
pub struct LoadedKey {
    /// The key.
    pub key: SigningKey,
}

/// Where a generated key for `algorithm` lives in the data directory.
pub(crate) fn generated_key_path(data_dir: &Path, algorithm: Algorithm) -> PathBuf {
    data_dir.join(format!(
        "signing-key-{}.pem",
        algorithm.name().to_ascii_lowercase()
    ))
}

fn io_error<'a>(
    var: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ConfigError + 'a {
    move |source| ConfigError::Io {
        var,
        path: path.to_owned(),
        source,
    }
}

fn read_pem(
    var: &'static str,
    path: &Path,
    algorithm: Algorithm,
) -> Result<SigningKey, ConfigError> {
    let text = Zeroizing::new(std::fs::read(path).map_err(io_error(var, path))?);
    SigningKey::from_pkcs8_pem(algorithm, &text).map_err(|source| ConfigError::Key { var, source })
}

pub(crate) fn load_previous(
    previous: &[(Algorithm, PathBuf)],
) -> Result<Vec<tessera_token::VerifyingKey>, ConfigError> {
    previous
        .iter()
        .map(|(algorithm, path)| {
            read_pem("JWT_PREVIOUS_KEY_FILES", path, *algorithm)
                .map(|key| key.verifying_key().clone())
        })
        .collect()
}

pub(crate) fn load(config: &Config) -> Result<crate::LoadedKey, ConfigError> {
    match &config.key_source {
        KeySource::HmacSecret(secret) => Ok(LoadedKey {
            key: SigningKey::from_hmac_secret(config.algorithm, secret.expose()).map_err(
                |source| ConfigError::Key {
                    var: "JWT_SECRET_KEY",
                    source,
                },
            )?,
        }),
        KeySource::PrivateKeyFile(path) => Ok(LoadedKey {
            key: read_pem("JWT_PRIVATE_KEY_FILE", path, config.algorithm)?,
        }),
        KeySource::Stored { .. } => Err(crate::invalid(
            "JWT_PRIVATE_KEY_FILE",
            "is not set, so the signing keys are stored in the database: they are read through \
             the store (`tessera keys list`), not from a file",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vars;

    #[test]
    fn stored_mode_has_no_key_file_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let data_text = dir.path().to_str().unwrap();
        let config =
            Config::from_vars(&Vars::from_pairs([("TESSERA_DATA_DIR", data_text)])).unwrap();
        assert!(matches!(config.key_source, KeySource::Stored { .. }));
        let err = config.load_signing_key().unwrap_err();
        assert!(err.to_string().contains("stored in the database"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }

    #[test]
    fn a_bad_key_file_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a key").unwrap();
        let config = Config::from_vars(&Vars::from_pairs([
            ("JWT_ALGORITHM", "RS256"),
            ("JWT_PRIVATE_KEY_FILE", path.to_str().unwrap()),
        ]))
        .unwrap();
        let err = config.load_signing_key().unwrap_err();
        assert!(err.to_string().starts_with("JWT_PRIVATE_KEY_FILE"), "{err}");
        let missing = Config::from_vars(&Vars::from_pairs([
            ("JWT_ALGORITHM", "RS256"),
            ("JWT_PRIVATE_KEY_FILE", "/nonexistent/key.pem"),
        ]))
        .unwrap();
        assert!(missing
            .load_signing_key()
            .unwrap_err()
            .to_string()
            .starts_with("JWT_PRIVATE_KEY_FILE"));
    }
}
