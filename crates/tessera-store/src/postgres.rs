//! The PostgreSQL backend: one database shared by any number of Tessera instances.
//!
//! It keeps every guarantee of the [`Store`] traits across connections, pools and processes,
//! because each rests on PostgreSQL's row locks and transactions, never on anything in this
//! process. Transactions run at PostgreSQL's default isolation, READ COMMITTED: each statement
//! sees what was committed before it started. Where a decision reads and then writes, the rows it
//! decides on are locked first.
//!
//! - **Connections:** a pool of at most `max_connections` (see [`PostgresStore::connect`]); a
//!   caller waits up to 5 s for a free connection (or for the server to answer at all), then
//!   gets an error instead of hanging.
//! - **Refresh rotation** ([`SessionStore::rotate_refresh_token`]) is one transaction that locks
//!   the presented token's session row (`SELECT ... FOR UPDATE`), then the token row, and only
//!   then reads whether the token is used, expired, or its user disabled. Of any number of
//!   concurrent rotations of one token, on any connection of any instance, one takes the locks
//!   first and marks the token used; the others wait, then (each statement taking a fresh
//!   snapshot) see `used_at` set and answer [`Rotation::Reused`]. Locking the session before its
//!   token is the order every other writer of those rows follows too (revoking a session locks
//!   the session; purging deletes the session, then its tokens by cascade), so rotations cannot
//!   deadlock with them, and a rotation and a revocation of one session take turns.
//! - **Revocation sequence numbers** must appear in commit order: a server polls
//!   [`RevocationStore::revocations_since`] with the largest `seq` it has seen, so a revocation
//!   that commits *after* a larger number became visible would never be read. A `SEQUENCE` does
//!   not promise that (numbers are handed out when asked for, and transactions commit in any
//!   order). Instead every [`RevocationStore::add_revocation`] transaction starts by incrementing
//!   the single row of `revocation_counter` (`UPDATE ... RETURNING`). The row lock it takes is
//!   held until commit, so revocation writers take turns, and the next writer reads the counter
//!   only after the previous one committed (or rolled back, which also undid its increment):
//!   numbers are handed out in commit order and never twice, so none ever appears below one a
//!   reader has already seen.
//!   Revocations are rare (logout, disable, reuse detection), so the turn-taking costs nothing
//!   that matters.
//! - **Usernames** are unique without regard to ASCII case and only ASCII case (as with SQLite's
//!   `NOCASE`): a unique index on `translate(username, 'A..Z', 'a..z')`, which lookups use with
//!   a parameter folded by [`str::to_ascii_lowercase`]. (`lower()` would fold `É` to `é` too.)
//! - **Durability:** a commit returns once PostgreSQL has flushed it to its write-ahead log (the
//!   default `synchronous_commit = on`), so an added revocation survives a crash of either side.
//! - **Text:** PostgreSQL cannot store the NUL character in `TEXT`. Lookups by a string containing
//!   one find nothing (as they would in SQLite, where no stored value the server wrote contains
//!   one); storing one is a [`StoreError::Database`] error.
//! - **Schema:** the SQL files in `migrations/postgres/`, applied by a small runner keyed on the
//!   `tessera_schema_version` table (see [`PostgresStore::connect`]).

mod keys;
mod roles;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Executor as _;

use crate::rows::{self, conflict_as, db_time, SESSION_COLUMNS, USER_COLUMNS};
use crate::{
    AccountStore, Client, ClientStore, Inspection, NewSession, NewUser, RefreshRecord, Result,
    Revocation, RevocationStore, Rotation, Session, SessionStore, Store, StoreError, TokenHash,
    User,
};

/// How long a caller waits for a pooled connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema migrations, in order: applying `MIGRATIONS[i]` takes the database from schema
/// version `i` to `i + 1`. Append only; never edit a released migration.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_deployment.sql"),
    include_str!("../migrations/postgres/0003_credentials_and_lifetimes.sql"),
    include_str!("../migrations/postgres/0004_signing_keys.sql"),
    include_str!("../migrations/postgres/0005_user_roles.sql"),
];

/// The advisory lock held while migrating ("tessera" in ASCII, then 1), so that instances starting
/// together take turns. Advisory locks are per database, so other applications sharing the server
/// are not affected.
const MIGRATION_LOCK: i64 = 0x7465_7373_6572_6101;

/// `username` with ASCII letters folded to lower case: the expression of the unique index
/// `users_username_ascii_folded` (it must stay character for character the same, or lookups stop
/// using the index). Compared with a parameter folded by [`str::to_ascii_lowercase`].
const FOLDED_USERNAME: &str =
    "translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')";

/// The name of the primary key of `users`, to tell a taken id from a taken username.
const USERS_PRIMARY_KEY: &str = "users_pkey";

/// The PostgreSQL store: a pool of connections to one database.
///
/// Cloning is cheap and shares the pool. Any number of stores, in this process or others, may
/// use the same database at once: every guarantee of the [`Store`] traits holds across them (see
/// the module documentation for how).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects a pool of at most `max_connections` to the database at `url` (for example
    /// `postgres://tessera@db.internal:5432/tessera`; every `libpq`-style URL parameter that
    /// sqlx understands, such as `sslmode`, works) and brings its schema up to date.
    ///
    /// One connection is opened at once, so a wrong URL or an unreachable server is reported
    /// here (within about 5 s, as [`StoreError::Unreachable`] with the driver's reason), not at
    /// the first request. Later, a caller waits at most 5 s for a free connection before getting
    /// [`StoreError::Database`].
    ///
    /// Migrations run in one transaction that first takes a PostgreSQL advisory lock, then reads
    /// the schema version from `tessera_schema_version` (creating that table if missing: the highest
    /// version recorded there is the number of migrations applied), applies
    /// the missing migrations in order and records each. So two instances starting at once cannot
    /// both migrate, and a failed migration leaves the database as it was.
    ///
    /// # Errors
    /// [`StoreError::Database`] if the URL is malformed or `max_connections` is 0;
    /// [`StoreError::Unreachable`] if the server cannot be reached or refuses the connection
    /// (its `host:port` and the reason); [`StoreError::Migration`] if a migration
    /// fails or the database was written by a newer Tessera (its schema version is beyond the
    /// migrations known here).
    ///
    /// # Security
    /// The URL may carry a password: it is never logged, and neither are the connect options.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        if max_connections == 0 {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "the PostgreSQL pool needs at least one connection".into(),
            )));
        }
        let options = PgConnectOptions::from_str(url)?.application_name("tessera");
        // One connection on its own first: if the server cannot be reached, this says why (the
        // pool would only say that it timed out waiting, after retrying for ACQUIRE_TIMEOUT).
        let address = format!("{}:{}", options.get_host(), options.get_port());
        let unreachable = |cause: String| StoreError::Unreachable {
            address: address.clone(),
            cause,
        };
        match tokio::time::timeout(
            ACQUIRE_TIMEOUT,
            <PgConnection as sqlx::Connection>::connect_with(&options),
        )
        .await
        {
            Ok(Ok(conn)) => {
                // Closing politely is a courtesy to the server; a failure changes nothing here.
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(err)) => return Err(unreachable(err.to_string())),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} s",
                    ACQUIRE_TIMEOUT.as_secs()
                )))
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        if let Err(error) = migrate(&pool).await {
            pool.close().await;
            return Err(error);
        }
        tracing::debug!(max_connections, "connected to the PostgreSQL store");
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for those in use to be returned. Afterwards every call
    /// on this store (and its clones) fails.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Checks that the database at `url` answers, and returns its clock
    /// (`clock_timestamp()`) in milliseconds since the Unix epoch and what its schema says: for
    /// `tessera doctor`.
    ///
    /// Opens one connection (no pool), runs a few `SELECT`s and closes it, all within 3 s. It
    /// applies no migration and writes nothing, so it is safe against any database.
    ///
    /// # Errors
    /// [`StoreError::Database`] if the URL is malformed, the server cannot be reached, refuses
    /// the connection or does not answer within 3 s; [`StoreError::Corrupt`] if its clock reads
    /// before 1970.
    ///
    /// # Security
    /// The URL may carry a password: it is never logged, and the errors do not contain it.
    pub async fn probe(url: &str) -> Result<PostgresProbe> {
        /// The most the whole probe (connect, query, close) may take.
        const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
        let options = PgConnectOptions::from_str(url)?.application_name("tessera");
        let probe = async {
            let mut conn: PgConnection = sqlx::Connection::connect_with(&options).await?;
            let millis: i64 =
                sqlx::query_scalar("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")
                    .fetch_one(&mut conn)
                    .await?;
            let version: Option<i64> = sqlx::query_scalar(
                "SELECT CASE WHEN to_regclass('tessera_schema_version') IS NULL THEN 0::bigint END",
            )
            .fetch_one(&mut conn)
            .await?;
            let version = match version {
                Some(none) => none,
                None => {
                    sqlx::query_scalar(
                        "SELECT COALESCE(MAX(version), 0) FROM tessera_schema_version",
                    )
                    .fetch_one(&mut conn)
                    .await?
                }
            };
            let has_deployment: bool =
                sqlx::query_scalar("SELECT to_regclass('deployment') IS NOT NULL")
                    .fetch_one(&mut conn)
                    .await?;
            let deployment_id: Option<String> = if has_deployment {
                sqlx::query_scalar("SELECT id FROM deployment LIMIT 1")
                    .fetch_optional(&mut conn)
                    .await?
            } else {
                None
            };
            sqlx::Connection::close(conn).await?;
            Ok::<_, sqlx::Error>((millis, version, deployment_id))
        };
        let (millis, version, deployment_id) = tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
            ))
        })??;
        let clock_ms = u64::try_from(millis).map_err(|_| {
            StoreError::Corrupt(format!(
                "the database clock reads before 1970 ({millis} ms)"
            ))
        })?;
        Ok(PostgresProbe {
            clock_ms,
            inspection: Inspection {
                schema_version: u32::try_from(version).map_err(|_| {
                    StoreError::Corrupt(format!("schema version {version} out of range"))
                })?,
                schema_version_known: known_schema_version(),
                deployment_id,
            },
        })
    }
}

/// What [`PostgresStore::probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresProbe {
    /// The server's clock, in milliseconds since the Unix epoch.
    pub clock_ms: u64,
    /// The schema version and deployment id.
    pub inspection: Inspection,
}

/// The schema version this build migrates a PostgreSQL database to.
fn known_schema_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Starts a transaction that is rolled back, not left open on a pooled connection, if the caller
/// is cancelled while it starts (see [`crate::detached`]).
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let pool = pool.clone();
    crate::detached(async move { pool.begin().await }).await
}

/// Applies the migrations the database has not seen yet; see [`PostgresStore::connect`].
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    // On an error the transaction is dropped, which rolls it back and releases the lock.
    migrate_locked(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The body of [`migrate`], run inside its transaction on `conn`.
async fn migrate_locked(conn: &mut PgConnection) -> Result<()> {
    // Released when the transaction ends, however it ends.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    // Checked first rather than `CREATE TABLE IF NOT EXISTS`, which logs a notice on every start.
    let versioned: bool =
        sqlx::query_scalar("SELECT to_regclass('tessera_schema_version') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !versioned {
        conn.execute(
            "CREATE TABLE tessera_schema_version (\
                 version    BIGINT      NOT NULL PRIMARY KEY, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await?;
    }
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM tessera_schema_version")
            .fetch_one(&mut *conn)
            .await?;
    let applied = usize::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {current}")))?;
    if applied > MIGRATIONS.len() {
        return Err(sqlx::migrate::MigrateError::VersionMissing(current).into());
    }
    for (version, sql) in (1_i64..).zip(MIGRATIONS).skip(applied) {
        // A string without arguments goes by the simple query protocol, which runs several
        // statements (and, unlike `sqlx::raw_sql`, keeps `connect` spawnable: its future `Send`).
        conn.execute(*sql)
            .await
            .map_err(|e| sqlx::migrate::MigrateError::ExecuteMigration(e, version))?;
        sqlx::query("INSERT INTO tessera_schema_version (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *conn)
            .await?;
        tracing::info!(version, "applied PostgreSQL schema migration");
    }
    Ok(())
}

/// Whether `text` can be stored in a PostgreSQL `TEXT` column (it has no NUL character). A
/// lookup by a value that cannot have been stored finds nothing without asking the database,
/// which would refuse the parameter with an error.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Inserts a refresh token into `session_id` (its own `session_id` field is not consulted).
async fn insert_refresh_token(
    conn: &mut PgConnection,
    record: &RefreshRecord,
    session_id: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&record.hash.0[..])
    .bind(session_id)
    .bind(db_time(record.created_at)?)
    .bind(db_time(record.expires_at)?)
    .execute(conn)
    .await
    .map_err(conflict_as("refresh token"))?;
    Ok(())
}

/// The body of [`SessionStore::rotate_refresh_token`], run inside a transaction on `conn`; the
/// same decisions, in the same order, as the SQLite backend's. Returns without writing for every
/// outcome but `Rotated`.
async fn rotate_locked(
    conn: &mut PgConnection,
    presented: &TokenHash,
    next: &RefreshRecord,
    now: u64,
) -> Result<Rotation> {
    let now_db = db_time(now)?;
    // 1. Lock the session the token belongs to (a token never changes session). A concurrent
    //    rotation of the same token waits here until the first commits, then reads the session as
    //    that one left it; a session deleted meanwhile is not found.
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions \
         WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = $1) \
         FOR UPDATE"
    ))
    .bind(&presented.0[..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    let session = rows::session(&row)?;
    // 2. Lock the token and read it and its user. Holding the session lock, nothing else can be
    //    holding this token's lock, so this statement does not wait and its snapshot, taken now,
    //    includes every rotation that committed before we got the session.
    let row = sqlx::query(
        "SELECT t.used_at AS token_used_at, t.expires_at AS token_expires_at, \
                u.disabled AS user_disabled, \
                s.credential_epoch = u.credential_epoch AS credentials_current \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         JOIN users u ON u.id = s.user_id \
         WHERE t.hash = $1 \
         FOR UPDATE OF t",
    )
    .bind(&presented.0[..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    match rows::rotation_decision(&row, &session, now)? {
        crate::RotationDecision::Reused => return Ok(Rotation::Reused(session)),
        crate::RotationDecision::Invalid => return Ok(Rotation::Invalid),
        crate::RotationDecision::Rotate => {}
    }
    let marked =
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL")
            .bind(now_db)
            .bind(&presented.0[..])
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if marked != 1 {
        // Cannot happen while we hold the token's lock; if it ever did, someone else won.
        return Ok(Rotation::Reused(session));
    }
    // The successor never outlives its session.
    let successor = RefreshRecord {
        expires_at: next.expires_at.min(session.expires_at),
        ..next.clone()
    };
    insert_refresh_token(conn, &successor, &session.id).await?;
    sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
        .bind(now_db)
        .bind(&session.id)
        .execute(&mut *conn)
        .await?;
    Ok(Rotation::Rotated(Session {
        last_used_at: now,
        ..session
    }))
}

#[async_trait]
impl AccountStore for PostgresStore {
    /// # Errors
    /// [`StoreError::Conflict`] with `"user id"` if the id is taken, `"username"` if the
    /// username is taken in any ASCII case.
    async fn create_user(&self, user: &NewUser) -> Result<User> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(db_time(user.created_at)?)
        .execute(&self.pool)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(e) if e.is_unique_violation() => {
                if e.constraint() == Some(USERS_PRIMARY_KEY) {
                    StoreError::Conflict("user id")
                } else {
                    StoreError::Conflict("username")
                }
            }
            _ => StoreError::Database(error),
        })?;
        Ok(User {
            id: user.id.clone(),
            username: user.username.clone(),
            password_hash: user.password_hash.clone(),
            created_at: user.created_at,
            disabled: false,
            credential_epoch: 0,
        })
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        if !storable(username) {
            return Ok(None);
        }
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {FOLDED_USERNAME} = $1"
        ))
        .bind(username.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        if !storable(id) {
            return Ok(None);
        }
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, insertion_order"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    /// The user row is updated first, so its lock orders this change against logins (which
    /// read the row `FOR SHARE` before creating a session): a login either committed before and
    /// its session is revoked here, or waits and then finds the epoch changed.
    async fn change_password(
        &self,
        user_id: &str,
        expected_epoch: u64,
        password_hash: &str,
        keep: &str,
        now: u64,
    ) -> Result<Option<Vec<Session>>> {
        if !storable(user_id) {
            return Ok(None);
        }
        let mut tx = begin(&self.pool).await?;
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, credential_epoch = credential_epoch + 1 \
             WHERE id = $2 AND credential_epoch = $3 AND NOT disabled \
             RETURNING credential_epoch",
        )
        .bind(password_hash)
        .bind(user_id)
        .bind(db_time(expected_epoch)?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(epoch) = epoch else {
            return Ok(None);
        };
        let keep = Some(keep).filter(|id| storable(id));
        sqlx::query("UPDATE sessions SET credential_epoch = $1 WHERE id = $2 AND user_id = $3")
            .bind(epoch)
            .bind(keep)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let revoked = revoke_sessions_of(&mut tx, user_id, keep, now).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn disable_user(&self, username: &str, now: u64) -> Result<Option<(User, Vec<Session>)>> {
        if !storable(username) {
            return Ok(None);
        }
        let mut tx = begin(&self.pool).await?;
        let user = sqlx::query(&format!(
            "UPDATE users SET disabled = TRUE, credential_epoch = credential_epoch + 1 \
             WHERE {FOLDED_USERNAME} = $1 RETURNING {USER_COLUMNS}"
        ))
        .bind(username.to_ascii_lowercase())
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()?;
        let Some(user) = user else {
            return Ok(None);
        };
        let revoked = revoke_sessions_of(&mut tx, &user.id, None, now).await?;
        record_revocation(&mut tx, &rows::user_revocation(&user.id, now)).await?;
        tx.commit().await?;
        Ok(Some((user, revoked)))
    }

    async fn enable_user(&self, username: &str) -> Result<Option<User>> {
        if !storable(username) {
            return Ok(None);
        }
        sqlx::query(&format!(
            "UPDATE users SET disabled = FALSE WHERE {FOLDED_USERNAME} = $1 \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(username.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }
}

/// Inside a transaction: revokes every session of `user_id` not yet revoked (expired ones too)
/// except `except`, with a deny-list entry for each. Returns them as they were, newest first.
/// One statement, so the sessions it returns are exactly the ones it revoked.
async fn revoke_sessions_of(
    conn: &mut PgConnection,
    user_id: &str,
    except: Option<&str>,
    now: u64,
) -> Result<Vec<Session>> {
    // The updated rows were not revoked, so `revoked_at` was NULL before the update.
    let sessions = sqlx::query(
        "WITH revoked AS ( \
             UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND id IS DISTINCT FROM $3 AND revoked_at IS NULL \
             RETURNING id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
                       insertion_order) \
         SELECT id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
                NULL::BIGINT AS revoked_at \
         FROM revoked ORDER BY created_at DESC, insertion_order DESC",
    )
    .bind(db_time(now)?)
    .bind(user_id)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(rows::session)
    .collect::<Result<Vec<_>>>()?;
    for session in &sessions {
        record_revocation(conn, &rows::session_revocation(&session.id, now)).await?;
    }
    Ok(sessions)
}

/// Inside a transaction: records `revocation` under the next number of `revocation_counter`
/// (whose row lock is then held to the commit: see the module documentation), merged with any
/// entry for the same kind and subject (the larger `not_before`, the later expiry) and kept at
/// least as long as [`crate::kept_until`] says. Returns it as stored.
async fn record_revocation(
    conn: &mut PgConnection,
    revocation: &Revocation,
) -> Result<(i64, Revocation)> {
    let seq: i64 = sqlx::query_scalar(
        "UPDATE revocation_counter SET value = value + 1 WHERE singleton RETURNING value",
    )
    .fetch_one(&mut *conn)
    .await?;
    let longest: i64 = sqlx::query_scalar("SELECT longest_access_ttl FROM deployment LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
    let longest = rows::stored_time("longest_access_ttl", longest)?;
    let row = sqlx::query(
        "INSERT INTO revocations (seq, kind, subject, not_before, expires_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (kind, subject) DO UPDATE SET \
             seq = EXCLUDED.seq, \
             not_before = GREATEST(revocations.not_before, EXCLUDED.not_before), \
             expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at) \
         RETURNING seq, kind, subject, not_before, expires_at",
    )
    .bind(seq)
    .bind(revocation.kind.as_str())
    .bind(&revocation.subject)
    .bind(db_time(revocation.not_before)?)
    .bind(db_time(crate::kept_until(revocation, longest))?)
    .fetch_one(&mut *conn)
    .await?;
    rows::revocation(&row)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn refresh_within_grace(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        grace: u64,
        now: u64,
    ) -> Result<Option<Session>> {
        let mut tx = begin(&self.pool).await?;
        // The session row is locked first, as a rotation does: a rotation of the same session
        // waits for this step or this one for it, so "no token used after it" holds at commit.
        sqlx::query(
            "SELECT 1 FROM sessions WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = $1) \
             FOR UPDATE",
        )
        .bind(&presented.0[..])
        .fetch_optional(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE id = (SELECT p.session_id FROM refresh_tokens p \
                         JOIN sessions s ON s.id = p.session_id \
                         JOIN users u ON u.id = s.user_id \
                         WHERE p.hash = $1 AND p.used_at IS NOT NULL AND p.used_at >= $2 \
                           AND s.revoked_at IS NULL AND s.expires_at > $3 \
                           AND u.disabled = false AND s.credential_epoch = u.credential_epoch \
                           AND NOT EXISTS (SELECT 1 FROM refresh_tokens t \
                                           WHERE t.session_id = s.id AND t.hash <> p.hash \
                                             AND t.used_at >= p.used_at) \
                           AND EXISTS (SELECT 1 FROM refresh_tokens t \
                                       WHERE t.session_id = s.id AND t.used_at IS NULL \
                                         AND t.expires_at > $3))"
        ))
        .bind(&presented.0[..])
        .bind(db_time(now.saturating_sub(grace))?)
        .bind(db_time(now)?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let session = rows::session(&row)?;
        let branch = RefreshRecord {
            expires_at: next.expires_at.min(session.expires_at),
            ..next.clone()
        };
        insert_refresh_token(&mut tx, &branch, &session.id).await?;
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(db_time(now)?)
            .bind(&session.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Session {
            last_used_at: now,
            ..session
        }))
    }

    /// Creates the session and its first token in one transaction. The token joins `session`
    /// whatever its own `session_id` says.
    ///
    /// The user row is read `FOR SHARE` first: a password change or disable (which update that
    /// row) either committed before, and the epoch no longer matches, or waits for this commit and
    /// then revokes the new session.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"session"` or `"refresh token"`) if the id or digest is taken.
    /// Nothing is stored then.
    async fn create_session(&self, session: &NewSession, first: &RefreshRecord) -> Result<bool> {
        if !storable(&session.user_id) {
            return Ok(false);
        }
        let mut tx = begin(&self.pool).await?;
        let current: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM users WHERE id = $1 AND NOT disabled AND credential_epoch = $2 \
             FOR SHARE",
        )
        .bind(&session.user_id)
        .bind(db_time(session.credential_epoch)?)
        .fetch_optional(&mut *tx)
        .await?;
        if current.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sessions \
             (id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
              credential_epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id)
        .bind(&session.user_id)
        .bind(db_time(session.created_at)?)
        .bind(db_time(session.created_at)?)
        .bind(db_time(session.expires_at)?)
        .bind(session.user_agent.as_deref())
        .bind(session.ip.as_deref())
        .bind(db_time(session.credential_epoch)?)
        .execute(&mut *tx)
        .await
        .map_err(conflict_as("session"))?;
        insert_refresh_token(&mut tx, first, &session.id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Rotates in one transaction that locks the token's session and then the token before
    /// reading them, so of any number of concurrent rotations of one token (on any connection of
    /// any instance) exactly one sees it unused; see the module documentation. The successor
    /// always joins the presented token's session, whatever `next.session_id` says.
    ///
    /// A used token is [`Rotation::Reused`] even when its session is already revoked or expired:
    /// reuse is reported before validity.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        now: u64,
    ) -> Result<Rotation> {
        let pool = self.pool.clone();
        let (presented, next) = (*presented, next.clone());
        // The whole rotation runs in a task of its own: a caller cancelled half-way (a client
        // hanging up) cannot interrupt it between its statements or during its COMMIT.
        tokio::spawn(async move {
            let mut tx = begin(&pool).await?;
            // On an error the transaction is dropped, which rolls it back.
            let outcome = rotate_locked(&mut tx, &presented, &next, now).await?;
            // For `Reused` and `Invalid` nothing was written; committing just releases the locks.
            tx.commit().await?;
            Ok(outcome)
        })
        .await
        .map_err(|err| {
            StoreError::Database(sqlx::Error::Protocol(format!(
                "rotation task failed: {err}"
            )))
        })?
    }

    async fn session(&self, session_id: &str) -> Result<Option<Session>> {
        if !storable(session_id) {
            return Ok(None);
        }
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn session_by_refresh_token(&self, token: &TokenHash) -> Result<Option<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = $1)"
        ))
        .bind(&token.0[..])
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn live_refresh_token(&self, token: &TokenHash, now: u64) -> Result<Option<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE id = (SELECT session_id FROM refresh_tokens \
                         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2) \
               AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(&token.0[..])
        .bind(db_time(now)?)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn live_sessions(&self, user_id: &str, now: u64) -> Result<Vec<Session>> {
        if !storable(user_id) {
            return Ok(Vec::new());
        }
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, insertion_order DESC"
        ))
        .bind(user_id)
        .bind(db_time(now)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::session)
        .collect()
    }

    /// Keeps the first revocation time: revoking a revoked session changes nothing and returns
    /// it with its original `revoked_at`. The session row is locked while deciding, so this and
    /// a concurrent rotation in the session take turns.
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<Option<Session>> {
        if !storable(session_id) {
            return Ok(None);
        }
        let now_db = db_time(now)?;
        let mut tx = begin(&self.pool).await?;
        let before = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE"
        ))
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()?;
        if before.as_ref().is_some_and(|s| s.revoked_at.is_none()) {
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2")
                .bind(now_db)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
            record_revocation(&mut tx, &rows::session_revocation(session_id, now)).await?;
        }
        tx.commit().await?;
        Ok(before)
    }

    /// Returns the sessions as they were before (so `revoked_at` is `None`), newest first.
    async fn revoke_user_sessions(&self, user_id: &str, now: u64) -> Result<Vec<Session>> {
        if !storable(user_id) {
            return Ok(Vec::new());
        }
        let mut tx = begin(&self.pool).await?;
        let revoked = revoke_sessions_of(&mut tx, user_id, None, now).await?;
        record_revocation(&mut tx, &rows::user_revocation(user_id, now)).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn purge_expired_sessions(&self, before: u64) -> Result<u64> {
        // Refresh tokens go with their session (ON DELETE CASCADE).
        let purged = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(db_time(before)?)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(purged)
    }
}

#[async_trait]
impl RevocationStore for PostgresStore {
    /// Replaces any existing entry for the same kind and subject by one carrying the larger
    /// `not_before` and the larger `expires_at`, under a new sequence number, so that
    /// [`RevocationStore::revocations_since`] reports the change. The sequence number comes from
    /// `revocation_counter`, whose row lock makes revocation writers take turns, so numbers
    /// appear in commit order (see the module documentation). The commit is durable before this
    /// returns.
    async fn add_revocation(&self, revocation: &Revocation) -> Result<(i64, Revocation)> {
        let mut tx = begin(&self.pool).await?;
        let stored = record_revocation(&mut tx, revocation).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn raise_longest_access_ttl(&self, ttl: u64) -> Result<u64> {
        let longest: Option<i64> = sqlx::query_scalar(
            "UPDATE deployment SET longest_access_ttl = GREATEST(longest_access_ttl, $1) \
             RETURNING longest_access_ttl",
        )
        .bind(db_time(ttl)?)
        .fetch_optional(&self.pool)
        .await?;
        rows::stored_time("longest_access_ttl", rows::deployment_row(longest)?)
    }

    async fn longest_access_ttl(&self) -> Result<u64> {
        let longest: Option<i64> =
            sqlx::query_scalar("SELECT longest_access_ttl FROM deployment LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        rows::stored_time("longest_access_ttl", rows::deployment_row(longest)?)
    }

    async fn live_revocations(&self, now: u64) -> Result<Vec<(i64, Revocation)>> {
        sqlx::query(
            "SELECT seq, kind, subject, not_before, expires_at FROM revocations \
             WHERE expires_at > $1 ORDER BY seq",
        )
        .bind(db_time(now)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::revocation)
        .collect()
    }

    /// Sequence numbers are handed out in commit order (see the module documentation), so a
    /// reader that has seen `n` never later finds a new row below `n`.
    async fn revocations_since(&self, after: i64) -> Result<Vec<(i64, Revocation)>> {
        sqlx::query(
            "SELECT seq, kind, subject, not_before, expires_at FROM revocations \
             WHERE seq > $1 ORDER BY seq",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::revocation)
        .collect()
    }

    async fn revocations_page(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<(i64, Revocation)>, i64)> {
        // The counter first: every number handed out before this call is at most it (numbers
        // are committed in counter order).
        let newest: i64 =
            sqlx::query_scalar("SELECT value FROM revocation_counter WHERE singleton")
                .fetch_one(&self.pool)
                .await?;
        let page = sqlx::query(
            "SELECT seq, kind, subject, not_before, expires_at FROM revocations \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::revocation)
        .collect::<Result<Vec<_>>>()?;
        Ok((page, newest))
    }

    async fn purge_expired_revocations(&self, before: u64) -> Result<u64> {
        // `revocation_counter` is left alone, so purged numbers are never handed out again.
        let purged = sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(db_time(before)?)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(purged)
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create_client(&self, client: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(&client.secret_hash.0[..])
        .bind(db_time(client.created_at)?)
        .execute(&self.pool)
        .await
        .map_err(conflict_as("client"))?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>> {
        if !storable(client_id) {
            return Ok(None);
        }
        sqlx::query(
            "SELECT client_id, name, secret_hash, created_at FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::client)
        .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>> {
        // `COLLATE "C"`: byte order, as SQLite sorts, whatever the database's collation.
        sqlx::query(
            "SELECT client_id, name, secret_hash, created_at FROM clients \
             ORDER BY created_at, client_id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::client)
        .collect()
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        if !storable(client_id) {
            return Ok(false);
        }
        let deleted = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn set_client_secret(&self, client_id: &str, secret_hash: &TokenHash) -> Result<bool> {
        if !storable(client_id) {
            return Ok(false);
        }
        let changed = sqlx::query("UPDATE clients SET secret_hash = $1 WHERE client_id = $2")
            .bind(&secret_hash.0[..])
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(changed > 0)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn deployment_id(&self) -> Result<String> {
        rows::deployment_row(
            sqlx::query_scalar("SELECT id FROM deployment LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn deployment_secret(&self, candidate: &[u8; 32]) -> Result<[u8; 32]> {
        // One statement: the first writer sets it, and everyone reads what is stored.
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "UPDATE deployment SET secret = coalesce(secret, $1) RETURNING secret",
        )
        .bind(&candidate[..])
        .fetch_optional(&self.pool)
        .await?;
        rows::deployment_secret(stored)
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn pool_stats(&self) -> crate::PoolStats {
        crate::PoolStats::of(&self.pool)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
