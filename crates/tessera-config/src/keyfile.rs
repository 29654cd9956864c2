//! Loading the signing key, and generating it into the data directory on first use.

use crate::{Config, ConfigError, KeySource};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tessera_token::{Algorithm, SigningKey};
use zeroize::Zeroizing;

/// A loaded signing key and what loading it did.
#[derive(Debug)]
pub struct LoadedKey {
    /// The key.
    pub key: SigningKey,
    /// `Some(path)` when the key was generated just now and written to `path`.
    pub generated: Option<PathBuf>,
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
            generated: None,
        }),
        KeySource::PrivateKeyFile(path) => Ok(LoadedKey {
            key: read_pem("JWT_PRIVATE_KEY_FILE", path, config.algorithm)?,
            generated: None,
        }),
        KeySource::Generated(path) => {
            if path.exists() {
                return Ok(LoadedKey {
                    key: read_pem("TESSERA_DATA_DIR", path, config.algorithm)?,
                    generated: None,
                });
            }
            let (key, der) =
                SigningKey::generate(config.algorithm).map_err(|source| ConfigError::Key {
                    var: "JWT_ALGORITHM",
                    source,
                })?;
            let pem_text = Zeroizing::new(pem::encode(&pem::Pem::new(
                "PRIVATE KEY",
                der.expose().to_vec(),
            )));
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&config.data_dir)
                .map_err(io_error("TESSERA_DATA_DIR", &config.data_dir))?;
            // create_new: if another process generated the key meanwhile, use theirs.
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(mut file) => {
                    file.write_all(pem_text.as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(io_error("TESSERA_DATA_DIR", path))?;
                    Ok(LoadedKey {
                        key,
                        generated: Some(path.clone()),
                    })
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(LoadedKey {
                    key: read_pem("TESSERA_DATA_DIR", path, config.algorithm)?,
                    generated: None,
                }),
                Err(err) => Err(io_error("TESSERA_DATA_DIR", path)(err)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vars;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_with_mode_0600_and_reloads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let data_text = data.to_str().unwrap();
        let config =
            Config::from_vars(&Vars::from_pairs([("TESSERA_DATA_DIR", data_text)])).unwrap();
        let first = config.load_signing_key().unwrap();
        let path = first.generated.clone().expect("generated on first use");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = config.load_signing_key().unwrap();
        assert!(second.generated.is_none());
        assert_eq!(first.key.kid(), second.key.kid(), "stable across restarts");
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
