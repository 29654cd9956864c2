//! # tessera-store: where Tessera keeps what must outlive a request
//!
//! Storage traits for accounts ([`AccountStore`]), login sessions and their rotating refresh
//! tokens ([`SessionStore`]), the durable revocation record ([`RevocationStore`]), OAuth clients
//! ([`ClientStore`]) and the encrypted signing keys of stored-key mode ([`KeyStore`]), gathered in
//! [`Store`]; and their backends, one module each:
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
mod rows;
pub mod sqlite;

pub use model::{
    Client, KeyChange, KeyRing, NewSession, NewUser, RefreshRecord, Revocation, RevocationKind,
    Rotation, Session, StoredKey, TokenHash, User, REVOCATION_MARGIN,
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
    /// The database server could not be reached at all (at start: refused, unknown host, no
    /// answer in time, refused login).
    #[error("PostgreSQL at {address} cannot be reached: {cause}")]
    Unreachable {
        /// `host:port` (never the password or the rest of the URL).
        address: String,
        /// Why, as the driver said it.
        cause: String,
    },
}

/// The connections of a store's pool, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections lent out to callers now.
    pub in_use: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolStats {
    /// The figures of one sqlx pool.
    fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        let size = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
        PoolStats {
            in_use: size - idle,
            idle,
            max: pool.options().get_max_connections(),
        }
    }

    /// Both pools' figures together.
    #[must_use]
    fn plus(self, other: PoolStats) -> PoolStats {
        PoolStats {
            in_use: self.in_use.saturating_add(other.in_use),
            idle: self.idle.saturating_add(other.idle),
            max: self.max.saturating_add(other.max),
        }
    }
}

/// What `tessera doctor` learns from a database without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The schema version (the number of migrations applied); 0 for an empty database.
    pub schema_version: u32,
    /// The schema version this build migrates to.
    pub schema_version_known: u32,
    /// The deployment id (see [`Store::deployment_id`]), once the schema has one.
    pub deployment_id: Option<String>,
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

/// The state of a presented refresh token, its session and its user, read under the backend's
/// lock: what [`decide_rotation`] decides on.
#[derive(Debug)]
pub(crate) struct RotationState<'a> {
    /// Whether the token was already used.
    pub token_used: bool,
    /// When the token expires.
    pub token_expires_at: u64,
    /// Its session.
    pub session: &'a Session,
    /// Whether the user is disabled.
    pub user_disabled: bool,
    /// Whether the session was made under the user's current credentials
    /// ([`User::credential_epoch`]).
    pub credentials_current: bool,
}

/// Decides a rotation from the token's and session's state, read under the backend's lock.
pub(crate) fn decide_rotation(state: &RotationState<'_>, now: u64) -> RotationDecision {
    if state.token_used {
        RotationDecision::Reused
    } else if state.token_expires_at <= now
        || state.session.expires_at <= now
        || state.session.revoked_at.is_some()
        || state.user_disabled
        || !state.credentials_current
    {
        RotationDecision::Invalid
    } else {
        RotationDecision::Rotate
    }
}

/// How long a revocation is kept: the rule of [`Revocation`], given the deployment's longest
/// access-token lifetime. Both backends call it inside the transaction that records the entry.
pub(crate) fn kept_until(revocation: &Revocation, longest_access_ttl: u64) -> u64 {
    revocation.expires_at.max(
        revocation
            .not_before
            .saturating_add(longest_access_ttl)
            .saturating_add(REVOCATION_MARGIN),
    )
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

    /// Changes a user's password, in one transaction: replaces the hash and bumps
    /// [`User::credential_epoch`] (so no login that checked the old password can still create a
    /// session), moves the `keep` session to the new epoch, and revokes every other session of
    /// the user that is not revoked yet, expired ones included, with a deny-list entry for each
    /// (see [`SessionStore::revoke_session`]). Returns the sessions revoked, newest first.
    ///
    /// Returns `None`, changing nothing, if there is no such user, it is disabled, or its epoch
    /// is no longer `expected_epoch` (the credentials that were checked changed meanwhile).
    async fn change_password(
        &self,
        user_id: &str,
        expected_epoch: u64,
        password_hash: &str,
        keep: &str,
        now: u64,
    ) -> Result<Option<Vec<Session>>>;

    /// Disables a user by username (ASCII case-insensitive), in one transaction: sets the flag,
    /// bumps [`User::credential_epoch`], revokes every session not yet revoked (with a deny-list
    /// entry each) and records a user revocation of every token issued before `now`. All or
    /// nothing. Returns the user as updated and the sessions revoked, or `None` if there is no
    /// such user. Disabling a disabled user revokes again (harmless).
    async fn disable_user(&self, username: &str, now: u64) -> Result<Option<(User, Vec<Session>)>>;

    /// Re-enables a user by username. Revocations stay: nothing issued before stays usable.
    /// Returns the user as updated, or `None` if there is none.
    async fn enable_user(&self, username: &str) -> Result<Option<User>>;
}

/// Login sessions and their refresh tokens (one family per session).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session together with its first refresh token, atomically, if the user is still
    /// enabled and its [`User::credential_epoch`] is still `session.credential_epoch` (checked
    /// under the same lock as the insert). Returns `false`, storing nothing, otherwise: the
    /// credentials that were checked changed, or the user was disabled, while the login ran.
    async fn create_session(&self, session: &NewSession, first: &RefreshRecord) -> Result<bool>;

    /// Rotates the refresh token whose digest is `presented`: marks it used and stores `next`
    /// (its successor in the same session) in one atomic step, and touches the session's
    /// `last_used_at`.
    ///
    /// Returns [`Rotation::Reused`] when the token exists but was already used (the caller then
    /// revokes the whole session), [`Rotation::Invalid`] when it is unknown, expired, its
    /// session is revoked or expired, its user is disabled, or the session was made under
    /// credentials that have changed since. `next.session_id` is ignored: the
    /// successor always joins the presented token's session, and its expiry is capped at the
    /// session's.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        now: u64,
    ) -> Result<Rotation>;

    /// The refresh grace window: a used token presented again is let through once more, in one
    /// atomic step, when it is the *immediately preceding* token of its session (no token of the
    /// session was used after it, and the session has a live token: its successor, or a branch
    /// minted by this method) and it was used at most `grace` seconds before `now`, its session
    /// and user still valid. Then `next` joins the session as a new live token (a branch, capped
    /// at the session's expiry) and the session, as updated, is returned. Otherwise `None` and
    /// nothing is written: the caller treats the presentation as a replay.
    async fn refresh_within_grace(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        grace: u64,
        now: u64,
    ) -> Result<Option<Session>>;

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

    /// Marks a session revoked at `now` (its refresh tokens stop working) and, in the same
    /// transaction, records a deny-list entry for its `sid` (its access tokens stop working), kept
    /// as [`Revocation`] explains. Returns the session as it was, or `None` if there is no such
    /// session. Revoking a revoked session changes nothing.
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<Option<Session>>;

    /// Logs a user out everywhere, in one transaction: revokes every session not yet revoked
    /// (expired ones included), with a deny-list entry for each `sid`, and records a user
    /// revocation of every token issued before `now`. Returns the sessions revoked, newest first.
    async fn revoke_user_sessions(&self, user_id: &str, now: u64) -> Result<Vec<Session>>;

    /// Deletes sessions (and their refresh tokens) that expired before `before`.
    async fn purge_expired_sessions(&self, before: u64) -> Result<u64>;
}

/// The durable deny-list: every revocation, kept until the tokens it denies would have expired.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revocation durably and returns it as stored: with its sequence number, and an
    /// expiry no earlier than the rule of [`Revocation`] demands. Recording the same revocation
    /// twice keeps the larger `not_before` and the later expiry.
    async fn add_revocation(&self, revocation: &Revocation) -> Result<(i64, Revocation)>;

    /// Raises the deployment's longest access-token lifetime to at least `ttl` seconds (it is
    /// never lowered) and returns the mark as it now is. A server calls it with its
    /// `JWT_ACCESS_TTL` before it issues its first token, so every revocation recorded afterwards,
    /// by any process, outlives the tokens it covers.
    async fn raise_longest_access_ttl(&self, ttl: u64) -> Result<u64>;

    /// The deployment's longest access-token lifetime (0 before any server raised it).
    async fn longest_access_ttl(&self) -> Result<u64>;

    /// Every revocation that has not expired at `now`, with its sequence number (increasing in
    /// the order revocations were recorded).
    async fn live_revocations(&self, now: u64) -> Result<Vec<(i64, Revocation)>>;

    /// Revocations recorded after sequence number `after` (by this or any other process sharing
    /// the database), oldest first: how a running server learns of revocations made elsewhere,
    /// such as `tessera user disable`.
    async fn revocations_since(&self, after: i64) -> Result<Vec<(i64, Revocation)>>;

    /// At most `limit` revocations with a sequence number above `after`, in order (expired ones
    /// included), and the highest sequence number handed out so far (read first: at least every
    /// number ever reported to a caller before this call). For the revocation feed, whose pages
    /// must stay bounded and which must tell a cursor from the future.
    async fn revocations_page(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<(i64, Revocation)>, i64)>;

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

/// Users' roles (carried in access tokens as `roles`, and mapped to OAuth scopes).
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// The user's roles, sorted; empty for an unknown user.
    async fn user_roles(&self, user_id: &str) -> Result<Vec<String>>;

    /// Gives the user a role. Returns `false`, changing nothing, if it had it already.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"user"`) if there is no such user.
    async fn add_user_role(&self, user_id: &str, role: &str) -> Result<bool>;

    /// Takes a role away and, in the same transaction, records a user revocation of every token
    /// issued before `not_before` (so no access token still carries the role; kept as
    /// [`Revocation`] explains). Returns `false`, recording nothing, if the user did not have it.
    async fn remove_user_role(&self, user_id: &str, role: &str, not_before: u64) -> Result<bool>;
}

/// The signing keys of stored-key mode, changed only as a whole under a version check, so that
/// instances sharing the database never lose each other's changes.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored key and the ring's version, read together (one consistent snapshot).
    async fn key_ring(&self) -> Result<KeyRing>;

    /// The ring's version alone (cheap: polled by every instance to notice changes).
    async fn key_ring_version(&self) -> Result<i64>;

    /// Applies `changes` in order, all or nothing, if the ring is still at `expected_version`,
    /// and returns the new version (`expected_version + 1`); returns `None`, changing nothing, if
    /// another writer changed the ring first (the caller re-reads and decides again). Of any
    /// number of concurrent calls with the same `expected_version`, exactly one applies.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (changing nothing) if an inserted `kid` exists already or a change
    /// names a `kid` that does not exist; the store's error otherwise.
    async fn change_key_ring(
        &self,
        expected_version: i64,
        changes: &[KeyChange],
    ) -> Result<Option<i64>>;
}

/// A complete backend.
#[async_trait]
pub trait Store:
    AccountStore + SessionStore + RevocationStore + ClientStore + KeyStore + RoleStore
{
    /// Checks that the database answers (for readiness probes).
    async fn ping(&self) -> Result<()>;

    /// A random id of this database, made when its schema was created and the same for every
    /// process that uses it: the default prefix of the Redis keys, so that deployments sharing
    /// one Redis never share keys.
    ///
    /// # Errors
    /// The store's error; [`StoreError::Corrupt`] if the id is missing.
    async fn deployment_id(&self) -> Result<String>;

    /// A random 256-bit secret of this deployment, shared by every process that uses the
    /// database (the CSRF token key, so that a token made by one instance is accepted by all).
    /// The first caller's `candidate` (fresh random bytes) becomes the secret; later callers get
    /// it back.
    ///
    /// # Security
    /// It is stored in the database: anyone who can read the database can read it.
    async fn deployment_secret(&self, candidate: &[u8; 32]) -> Result<[u8; 32]>;

    /// A short name of the backend for logs (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// The connections of the pool now (for metrics; no I/O).
    fn pool_stats(&self) -> PoolStats;

    /// Closes every connection (waiting for those in use). Afterwards every call fails.
    async fn close(&self);
}
