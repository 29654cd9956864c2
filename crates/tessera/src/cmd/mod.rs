//! One module per command.

pub mod client;
pub mod jwks;
pub mod keygen;
pub mod serve;
pub mod token;
pub mod user;

use anyhow::Context as _;
use tessera_config::{Config, LoadedKey};
use tessera_store::sqlite::SqliteStore;

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

/// A single-threaded runtime for the commands that make a few store calls and exit (`serve`
/// builds its own multi-threaded one).
pub fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Opens the store the server uses: the SQLite database in the configured data directory,
/// created (with its schema) if missing. A running server sees what is written here.
pub async fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(&config.data_dir)
        .await
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))
}
