//! One module per command.

pub mod jwks;
pub mod keygen;
pub mod serve;
pub mod token;

use anyhow::Context as _;
use tessera_config::{Config, LoadedKey};

/// Reads and validates the configuration (`.env`, then the environment).
pub fn load_config() -> anyhow::Result<Config> {
    Config::load().context("configuration")
}

/// Loads the configured signing key, generating it on first use and saying so on stderr.
pub fn load_key(config: &Config) -> anyhow::Result<LoadedKey> {
    let loaded = config.load_signing_key().context("signing key")?;
    if let Some(path) = &loaded.generated {
        eprintln!(
            "note: generated a new {} signing key at {} (kid {})",
            loaded.key.algorithm(),
            path.display(),
            loaded.key.kid()
        );
    }
    Ok(loaded)
}
