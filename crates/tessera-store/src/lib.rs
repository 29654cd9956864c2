//! # tessera-store: where Tessera keeps what must outlive a request
//!
//! Storage traits for accounts ([`AccountStore`]), login sessions and their rotating refresh
//! tokens ([`SessionStore`]), the durable revocation record ([`RevocationStore`]) and OAuth clients
//! ([`ClientStore`]), gathered in [`Store`]; and their backends, one module each:
//!
//! - SQLite ([`sqlite::SqliteStore`], WAL mode, in the data directory): the embedded default;
//! - PostgreSQL ([`postgres::PostgresStore`], a connection pool sized by the caller): for several
//!   instances sharing one database;
//! - Redis ([`redis::RedisState`]): not a [`Store`], but the fast state many instances share
//!   (deny-list entries with TTLs, throttle counters, the revocation broadcast), which may be lost
//!   at any time without losing a revocation.
//!
//! Both apply their schema migrations when they start and behave the same, which the same
//! conformance suite (`tests/it/conformance.rs`) proves against each.
//!
//! ## Rules every backend keeps
//! - Secrets are never stored: refresh tokens and client secrets only as SHA-256 digests
//!   ([`TokenHash`]), passwords only as argon2id PHC strings (hashed by the caller).
//! - Refresh rotation is one atomic step: of any number of concurrent rotations of the same token,
//!   exactly one returns [`Rotation::Rotated`]; every other sees [`Rotation::Reused`].
//! - A revocation, once [`RevocationStore::add_revocation`] has returned, survives a restart.
//! - Times are seconds since the Unix epoch, given by the caller (the server's clock), so tests
//!   can step time without sleeping.
#![forbid(unsafe_code)]

mod model;
pub mod postgres;
pub mod redis;
pub mod sqlite;

pub use model::{
    Client, NewSession, NewUser, RefreshRecord, Revocation, RevocationKind, Rotation, Session,
    TokenHash, User,
};

use async_trait::async_trait;

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique value (a username, a client id) is already taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The data directory or database file could not be prepared.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Redis could not be reached, did not answer in time, or answered with an error.
    #[error("redis: {0}")]
    Redis(String),
    /// A stored row could not be read back (a corrupted or foreign database).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a rotation does with a presented refresh token: decided once, here, for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RotationDecision {
    /// Already used: a replay. Reported whatever the state of the token or session, so that the
    /// caller revokes the session (again, harmlessly, if it already is).
    Reused,
    /// Expired, or its session is revoked or expired, or its user is disabled.
    Invalid,
    /// Live: mark it used and store its successor.
    Rotate,
}

/// Decides a rotation from the token's and session's state, read under the backend's lock.
pub(crate) fn decide_rotation(
    token_used: bool,
    token_expires_at: u64,
    session: &Session,
    user_disabled: bool,
    now: u64,
) -> RotationDecision {
    if token_used {
        RotationDecision::Reused
    } else if token_expires_at <= now
        || session.expires_at <= now
        || session.revoked_at.is_some()
        || user_disabled
    {
        RotationDecision::Invalid
    } else {
        RotationDecision::Rotate
    }
}

/// Runs the start of a transaction in its own task, so that it always completes.
///
/// sqlx 0.8 starts a transaction in two steps (send `BEGIN`, then build the guard that rolls it
/// back on drop). A caller cancelled between them, such as a request whose client hung up, would
/// return a pooled connection still inside the transaction, and with SQLite's `BEGIN IMMEDIATE`
/// still holding the database's write lock, so every later write would wait and fail. In a task
/// of its own the start always finishes; if nobody awaits the result any more, the transaction
/// guard is dropped there and rolls back.
pub(crate) async fn detached<T: Send + 'static>(
    start: impl std::future::Future<Output = std::result::Result<T, sqlx::Error>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(start)
        .await
        .map_err(|err| {
            StoreError::Database(sqlx::Error::Protocol(format!(
                "transaction start task failed: {err}"
            )))
        })?
        .map_err(StoreError::Database)
}

/// User accounts.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user. Usernames are unique without regard to ASCII case.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;

    /// The user with this username (ASCII case-insensitive), if any.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;

    /// The user with this id, if any.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>>;

    /// All users, oldest first.
    async fn list_users(&self) -> Result<Vec<User>>;

    /// Replaces a user's password hash. Returns `false` if there is no such user.
    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> Result<bool>;

    /// Disables or re-enables a user by username. Returns the user, or `None` if there is none.
    async fn set_disabled(&self, username: &str, disabled: bool) -> Result<Option<User>>;
}

/// Login sessions and their refresh tokens (one family per session).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session together with its first refresh token, atomically.
    async fn create_session(&self, session: &NewSession, first: &RefreshRecord) -> Result<()>;

    /// Rotates the refresh token whose digest is `presented`: marks it used and stores `next`
    /// (its successor in the same session) in one atomic step, and touches the session's
    /// `last_used_at`.
    ///
    /// Returns [`Rotation::Reused`] when the token exists but was already used (the caller then
    /// revokes the whole session), [`Rotation::Invalid`] when it is unknown, expired, its
    /// session is revoked or expired, or its user is disabled. `next.session_id` is ignored: the
    /// successor always joins the presented token's session, and its expiry is capped at the
    /// session's.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        now: u64,
    ) -> Result<Rotation>;

    /// The session with this id, revoked or not.
    async fn session(&self, session_id: &str) -> Result<Option<Session>>;

    /// The session a refresh token belongs to, if the digest is known (used or not).
    async fn session_by_refresh_token(&self, token: &TokenHash) -> Result<Option<Session>>;

    /// The session of a refresh token that is live at `now`: known, not yet used, not expired,
    /// and in a session that is neither revoked nor expired. Changes nothing (for
    /// introspection and revocation lookups, which must not count as a use).
    async fn live_refresh_token(&self, token: &TokenHash, now: u64) -> Result<Option<Session>>;

    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn live_sessions(&self, user_id: &str, now: u64) -> Result<Vec<Session>>;

    /// Marks a session revoked at `now` (its refresh tokens stop working). Returns the session
    /// as it was, or `None` if there is no such session.
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<Option<Session>>;

    /// Revokes every live session of a user except `keep`; returns the sessions revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
        now: u64,
    ) -> Result<Vec<Session>>;

    /// Deletes sessions (and their refresh tokens) that expired before `before`.
    async fn purge_expired_sessions(&self, before: u64) -> Result<u64>;
}

/// The durable deny-list: every revocation, kept until the tokens it denies would have expired.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revocation durably. Recording the same revocation twice keeps the later expiry.
    async fn add_revocation(&self, revocation: &Revocation) -> Result<()>;

    /// Every revocation that has not expired at `now`, with its sequence number (increasing in
    /// the order revocations were recorded).
    async fn live_revocations(&self, now: u64) -> Result<Vec<(i64, Revocation)>>;

    /// Revocations recorded after sequence number `after` (by this or any other process sharing
    /// the database), oldest first: how a running server learns of revocations made elsewhere,
    /// such as `tessera user disable`.
    async fn revocations_since(&self, after: i64) -> Result<Vec<(i64, Revocation)>>;

    /// Deletes revocations that expired before `before`.
    async fn purge_expired_revocations(&self, before: u64) -> Result<u64>;
}

/// OAuth clients that may call the introspection endpoint.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates a client.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the client id is taken.
    async fn create_client(&self, client: &Client) -> Result<()>;

    /// The client with this id, if any.
    async fn client(&self, client_id: &str) -> Result<Option<Client>>;

    /// Every client, oldest first (by `created_at`, then by `client_id`, so every backend lists
    /// clients created in the same second in the same order).
    async fn list_clients(&self) -> Result<Vec<Client>>;

    /// Deletes a client: its id and secret stop authenticating at once. Returns `false` if there
    /// is no such client.
    async fn delete_client(&self, client_id: &str) -> Result<bool>;

    /// Replaces a client's secret digest: the old secret stops authenticating at once. Returns
    /// `false` if there is no such client.
    async fn set_client_secret(&self, client_id: &str, secret_hash: &TokenHash) -> Result<bool>;
}

/// A complete backend.
#[async_trait]
pub trait Store: AccountStore + SessionStore + RevocationStore + ClientStore {
    /// Checks that the database answers (for readiness probes).
    async fn ping(&self) -> Result<()>;

    /// A random id of this database, made when its schema was created and the same for every
    /// process that uses it: the default prefix of the Redis keys, so that deployments sharing
    /// one Redis never share keys.
    ///
    /// # Errors
    /// The store's error; [`StoreError::Corrupt`] if the id is missing.
    async fn deployment_id(&self) -> Result<String>;

    /// A short name of the backend for logs (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// Closes every connection (waiting for those in use). Afterwards every call fails.
    async fn close(&self);
}
