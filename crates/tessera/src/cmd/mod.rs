//! One module per command.

pub mod client;
pub mod doctor;
pub mod jwks;
pub mod keygen;
pub mod serve;
pub mod token;
pub mod user;

use anyhow::Context as _;
use tessera_config::Config;
use tessera_token::KeySet;

/// Reads and validates the configuration (`.env`, then the environment).
pub fn load_config() -> anyhow::Result<Config> {
    Config::load().context("configuration")
}

/// Loads the configured key set (the signing key, generated on first use and said so on stderr,
/// and the previous keys that still verify).
pub fn load_keys(config: &Config) -> anyhow::Result<KeySet> {
    let loaded = config.load_keys().context("keys")?;
    if let (Some(path), Some(key)) = (&loaded.generated, loaded.keys.signing_key()) {
        eprintln!(
            "note: generated a new {} signing key at {} (kid {})",
            key.algorithm(),
            path.display(),
            key.kid()
        );
    }
    Ok(loaded.keys)
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
pub async fn open_store(
    config: &Config,
) -> anyhow::Result<std::sync::Arc<dyn tessera_store::Store>> {
    tessera_service::open_store(config).await.with_context(|| {
        if config.database_url.is_some() {
            "opening the store (DATABASE_URL)"
        } else {
            "opening the store"
        }
    })
}
