//! One module per command.

pub mod client;
pub mod doctor;
pub mod jwks;
pub mod keygen;
pub mod keys;
pub mod serve;
pub mod token;
pub mod user;

use anyhow::Context as _;
use tessera_config::{Config, KeySource};
use tessera_service::keys as stored_keys;
use tessera_token::KeySet;

/// Reads and validates the configuration (`.env`, then the environment).
pub fn load_config() -> anyhow::Result<Config> {
    Config::load().context("configuration")
}

/// What the keys are loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Signing: in stored mode the current key is opened (and the first key made if there is
    /// none, as `tessera serve` would).
    Sign,
    /// Verifying and publishing: public keys only (no key-encryption key needed).
    Verify,
}

/// Loads the configured key set: in static mode the key of `JWT_SECRET_KEY` or
/// `JWT_PRIVATE_KEY_FILE`, in stored mode the keys in the database; with the previous keys of
/// `JWT_PREVIOUS_KEY_FILES` that still verify.
pub fn load_keys(config: &Config, purpose: KeyUse) -> anyhow::Result<KeySet> {
    let KeySource::Stored { legacy_file } = &config.key_source else {
        return Ok(config.load_keys().context("keys")?.keys);
    };
    let now = unix_now();
    let no_database = config.database_url.is_none()
        && !config
            .data_dir
            .join(tessera_store::sqlite::DATABASE_FILE)
            .exists();
    let mut keys = if purpose == KeyUse::Verify && no_database {
        // Nothing was ever signed with a stored key here: do not create the database to say so.
        KeySet::new()
    } else {
        current_thread_runtime()?.block_on(stored_key_set(config, legacy_file, purpose, now))?
    };
    if purpose == KeyUse::Verify && keys.is_empty() && legacy_file.exists() {
        // Not imported yet (the first start or mint imports it): its tokens verify meanwhile.
        let legacy = tessera_token::SigningKey::from_pkcs8_pem(
            config.algorithm,
            &zeroize::Zeroizing::new(
                std::fs::read(legacy_file)
                    .with_context(|| format!("reading {}", legacy_file.display()))?,
            ),
        )
        .with_context(|| format!("{}", legacy_file.display()))?;
        keys.add_verifying_key(legacy.verifying_key().clone())?;
    }
    for previous in config.load_previous_keys().context("keys")? {
        keys.add_verifying_key(previous)
            .context("JWT_PREVIOUS_KEY_FILES")?;
    }
    Ok(keys)
}

/// The stored keys: public ones to verify, or (making the first key if there is none) the
/// signing key with them.
async fn stored_key_set(
    config: &Config,
    legacy_file: &std::path::Path,
    purpose: KeyUse,
    now: u64,
) -> anyhow::Result<KeySet> {
    let store = open_store(config).await?;
    let keys = match purpose {
        KeyUse::Verify => {
            // Authenticated by the key-encryption key when one is at hand (configured, or the
            // data directory's), never generating one to verify.
            let at_hand = config.key_encryption_key.is_some()
                || (config.database_url.is_none()
                    && config
                        .data_dir
                        .join(stored_keys::kek::GENERATED_KEK_FILE)
                        .exists());
            let kek = if at_hand {
                Some(stored_keys::load_kek(config)?.0)
            } else {
                None
            };
            stored_keys::published_keys(store.as_ref(), kek.as_ref(), now).await?
        }
        KeyUse::Sign => {
            // As a server start does: revocations and previous keys are then kept at least
            // as long as the tokens minted here (with the default lifetime) live.
            store.raise_longest_access_ttl(config.access_ttl).await?;
            let (kek, _) = stored_keys::load_kek(config)?;
            let made = stored_keys::ensure_signing_key(
                store.as_ref(),
                &kek,
                config.algorithm,
                Some(legacy_file),
                now,
            )
            .await?;
            if let stored_keys::FirstKey::Created { kid, .. } = made {
                eprintln!(
                    "note: made the first {} signing key (kid {kid})",
                    config.algorithm
                );
            }
            stored_keys::load_active(store.as_ref(), &kek, now, None)
                .await?
                .keys
        }
    };
    store.close().await;
    Ok(keys)
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
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
