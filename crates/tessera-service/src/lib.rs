//! # tessera-service: Tessera's use cases, each written once
//!
//! What a registration, a login, a refresh, a logout, a password change, a disable and an OAuth
//! client do, as plain async functions over the store ([`tessera_store::Store`]), the password
//! hasher ([`tessera_password::PasswordHasher`]) and the token issuer
//! ([`tessera_token::TokenIssuer`]). The axum handlers of `tessera-server` and the commands of
//! the `tessera` CLI both call these functions, so a rule (what a disable revokes, how long a
//! session's access token lives, which revocations a logout records) has one home. There is no
//! HTTP here: errors are [`ServiceError`], which the server maps to statuses in one place and the
//! CLI prints.
//!
//! ## Modules
//! - [`accounts`]: registration, checking a login's password, password changes, disable and
//!   enable.
//! - [`sessions`]: starting a session with its tokens, rotating a refresh token (and what a
//!   replay does), ending one session or all of a user's.
//! - [`revocations`]: who hears of a revocation once the store has recorded it
//!   ([`revocations::RevocationListener`]: the server's in-process deny-list, or the CLI's
//!   broadcast), and the connection to the shared Redis.
//! - [`roles`]: users' roles, and the `roles` and `scope` claims they put in access tokens.
//! - [`clients`]: OAuth clients of the introspection endpoint.
//! - [`keys`]: the signing keys kept in the store (stored-key mode): the first key, rotation,
//!   retirement, the key-encryption key.
//! - [`credentials`]: the random values Tessera hands out (ids, refresh tokens, client secrets,
//!   CSRF tokens) and the digests it stores instead of them.
//!
//! Revocations are recorded by the store in the same transaction as the change they belong to
//! (a logout marks the session revoked and denies its `sid` together); a use case then tells its
//! [`revocations::RevocationListener`], which never decides anything: the durable record is the
//! only source.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod clients;
pub mod credentials;
mod error;
pub mod keys;
pub mod revocations;
pub mod roles;
pub mod sessions;

pub use error::ServiceError;

use std::sync::Arc;
use tessera_config::Config;
use tessera_store::postgres::PostgresStore;
use tessera_store::sqlite::SqliteStore;
use tessera_store::{Store, StoreError};

/// Opens the configured store: PostgreSQL when `DATABASE_URL` is set, else SQLite in the data
/// directory. The server and the CLI share it, so they always use the same database.
///
/// # Errors
/// The store's error if it cannot be opened, reached, or migrated.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    match &config.database_url {
        Some(url) => {
            let store = PostgresStore::connect(url.expose(), config.database_pool_size).await?;
            Ok(Arc::new(store))
        }
        None => Ok(Arc::new(SqliteStore::open(&config.data_dir).await?)),
    }
}
