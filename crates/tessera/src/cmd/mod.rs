//! One module per command.

pub mod jwks;
pub mod keygen;
pub mod token;

use anyhow::Context as _;
use tessera_config::{Config, LoadedKey};

/// Loads the configuration and its signing key, noting on stderr when a key was generated.
pub fn load_key() -> anyhow::Result<(Config, LoadedKey)> {
    let config = Config::load().context("configuration")?;
    let loaded = config.load_signing_key().context("signing key")?;
    if let Some(path) = &loaded.generated {
        eprintln!(
            "note: generated a new {} signing key at {} (kid {})",
            loaded.key.algorithm(),
            path.display(),
            loaded.key.kid()
        );
    }
    Ok((config, loaded))
}
