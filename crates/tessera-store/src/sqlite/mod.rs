//! The embedded SQLite backend: one database file, `tessera.db`, in the data directory.
//!
//! - **Journal:** WAL, so readers never block the writer and a commit is one append to the log.
//! - **Durability:** `synchronous = NORMAL`. In WAL mode this is safe against a crash of the
//!   process (a committed transaction is in the WAL file, which the operating system keeps); only a
//!   power loss or kernel crash can roll back the last few commits, and it never corrupts the file.
//!   `FULL` would add an `fsync` to every commit (every login and refresh) for that last case.
//! - **Checkpoints** (copying the WAL into the database file, with an `fsync`) run in a
//!   background task every [`CHECKPOINT_INTERVAL`] (`PRAGMA wal_checkpoint(PASSIVE)`), not in
//!   whichever commit crosses SQLite's automatic threshold: a slow disk then never stalls the
//!   writer, and so never stalls every login and refresh queued behind it. Closing the last
//!   connection checkpoints the rest, as SQLite always does.
//! - **Connections:** every write goes through one dedicated connection (which keeps its page
//!   cache warm: nothing else in the process writes); reads use a pool of
//!   `MAX_CONNECTIONS` (8).
//! - **Concurrency:** every transaction that reads and then writes starts with `BEGIN IMMEDIATE`,
//!   taking SQLite's single write lock before its first read. Two writers, in this process or in
//!   another process sharing the file, are therefore serialized; a waiting writer sleeps for up to
//!   the busy timeout (5 s) rather than failing.
//! - **Schema:** the SQL files in `migrations/sqlite/`, applied by a small runner keyed on
//!   `PRAGMA user_version` (see [`SqliteStore::open`]).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod keys;
mod roles;
mod rotations;

use rotations::{rotate_in_batches, PendingRotation, ROTATION_QUEUE};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::Sqlite;

use crate::rows::{
    self, column, conflict_as, db_time, StoredRow as _, SESSION_COLUMNS, USER_COLUMNS,
};
use crate::{
    AccountStore, Client, ClientStore, NewSession, NewUser, RefreshRecord, Result, Revocation,
    RevocationStore, Rotation, Session, SessionStore, Store, StoreError, TokenHash, User,
};

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "tessera.db";

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the background task checkpoints the WAL into the database file.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Connections in the pool. SQLite has one writer at a time; more connections serve readers.
const MAX_CONNECTIONS: u32 = 8;

/// The schema migrations, in order: applying `MIGRATIONS[i]` takes the database from
/// `PRAGMA user_version` `i` to `i + 1`. Append only; never edit a released migration.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_deployment.sql"),
    include_str!("../../migrations/sqlite/0003_credentials_and_lifetimes.sql"),
    include_str!("../../migrations/sqlite/0004_signing_keys.sql"),
    include_str!("../../migrations/sqlite/0005_user_roles.sql"),
];

/// The SQLite store: a pool of connections to `tessera.db` in the data directory.
///
/// Cloning is cheap and shares the pool. Several stores (or processes) may open the same
/// directory at once: every guarantee of the [`Store`] traits holds across them, because the
/// guarantees rest on SQLite's file locks, not on anything in this process.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connections for reads (and the background checkpoints).
    pool: SqlitePool,
    /// The one connection every write goes through, so this process writes one transaction at a
    /// time. SQLite allows one writer anyway; taking turns here, instead of letting every pooled
    /// connection race for the file lock, avoids SQLite's busy handler, which backs off by
    /// sleeping (up to 100 ms a try) and collapses throughput under concurrent writes. One
    /// connection also keeps its page cache: in WAL mode a connection drops its cache whenever
    /// another one has written since its last transaction, and would read every page again.
    /// Other processes are still kept out by the file lock.
    writer: SqlitePool,
    /// The queue of the task that rotates refresh tokens in batches on the writer connection.
    rotations: tokio::sync::mpsc::Sender<PendingRotation>,
    /// The background checkpoints, stopped when the last clone of the store is dropped.
    _checkpoints: Arc<Checkpoints>,
}

/// The background checkpoint task; aborted on drop.
#[derive(Debug)]
struct Checkpoints(tokio::task::JoinHandle<()>);

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_INTERVAL`] until the pool is closed. `PASSIVE` copies
/// what no reader still needs and never waits for (or blocks) a writer; a failure is logged and
/// retried at the next round.
async fn checkpoint_regularly(pool: SqlitePool) {
    let mut ticker = tokio::time::interval(CHECKPOINT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the first checkpoint is one interval after opening.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %err, "SQLite checkpoint failed; retrying");
        }
    }
}

/// A `BEGIN IMMEDIATE` transaction on the writer connection, which it holds until it ends.
struct WriteTransaction {
    transaction: sqlx::Transaction<'static, Sqlite>,
}

impl WriteTransaction {
    async fn commit(self) -> Result<()> {
        self.transaction.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.transaction
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.transaction
    }
}

impl SqliteStore {
    /// Starts a write transaction: waits for the writer connection, then `BEGIN IMMEDIATE`.
    async fn begin_write(&self) -> Result<WriteTransaction> {
        Ok(WriteTransaction {
            transaction: begin_immediate(&self.writer).await?,
        })
    }

    /// Opens (creating if missing) the database in `data_dir` and brings its schema up to date.
    ///
    /// A missing `data_dir` is created with mode 0700 (with any missing parents) and a new
    /// database file with mode 0600: it holds password hashes. Existing modes are left alone.
    ///
    /// Migrations run in one `BEGIN IMMEDIATE` transaction that first reads `PRAGMA user_version`
    /// (the number of migrations applied), applies the missing ones in order and sets the new
    /// version, so two processes starting at once cannot both migrate, and a failed migration
    /// leaves the database as it was.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory or file cannot be created, [`StoreError::Database`] if
    /// SQLite cannot open the file, [`StoreError::Migration`] if a migration fails or the database
    /// was written by a newer Tessera (its version is beyond the migrations known here).
    pub async fn open(data_dir: &Path) -> Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| StoreError::Io {
                path: data_dir.to_path_buf(),
                source,
            })?;
        let path = data_dir.join(DATABASE_FILE);
        // Create the file ourselves so that it gets mode 0600 (SQLite would use the umask, and
        // gives the -wal and -shm files the database file's mode). An empty file is a valid,
        // empty SQLite database; an existing file is neither truncated nor re-moded.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;

        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: durable across process crashes; see the module documentation.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Checkpoints run in the background (see the module documentation).
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        migrate(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        tracing::debug!(path = %path.display(), "opened the SQLite store");
        let checkpoints = Checkpoints(tokio::spawn(checkpoint_regularly(pool.clone())));
        // Ends when the last clone of the store, and so the last sender, is dropped.
        let (rotations, queue) = tokio::sync::mpsc::channel(ROTATION_QUEUE);
        tokio::spawn(rotate_in_batches(writer.clone(), queue));
        Ok(Self {
            pool,
            writer,
            rotations,
            _checkpoints: Arc::new(checkpoints),
        })
    }

    /// Reads the schema version and deployment id of the database in `data_dir` without
    /// changing anything (read-only; no migration, no file created): for `tessera doctor`.
    /// `None` when there is no database there yet.
    ///
    /// # Errors
    /// [`StoreError::Database`] if the file cannot be opened or read.
    pub async fn inspect(data_dir: &Path) -> Result<Option<crate::Inspection>> {
        let path = data_dir.join(DATABASE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT);
        let mut conn: SqliteConnection = sqlx::Connection::connect_with(&options).await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut conn)
            .await?;
        let has_deployment: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deployment')",
        )
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
        Ok(Some(crate::Inspection {
            schema_version: u32::try_from(version).map_err(|_| {
                StoreError::Corrupt(format!("schema version {version} out of range"))
            })?,
            schema_version_known: u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX),
            deployment_id,
        }))
    }

    /// Closes every connection, waiting for those in use to be returned. Afterwards every call
    /// on this store (and its clones) fails; the last connection to close checkpoints the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Applies the migrations the database has not seen yet; see [`SqliteStore::open`].
async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut tx = begin_immediate(pool).await?;
    let current: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    let applied = usize::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {current}")))?;
    if applied > MIGRATIONS.len() {
        return Err(sqlx::migrate::MigrateError::VersionMissing(current).into());
    }
    for (version, sql) in (1_i64..).zip(MIGRATIONS).skip(applied) {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| sqlx::migrate::MigrateError::ExecuteMigration(e, version))?;
        // `version` is an integer we computed, not input: formatting it into the pragma is safe
        // (pragmas take no bound parameters).
        sqlx::raw_sql(&format!("PRAGMA user_version = {version}"))
            .execute(&mut *tx)
            .await?;
        tracing::info!(version, "applied SQLite schema migration");
    }
    tx.commit().await?;
    Ok(())
}

/// Starts a transaction holding SQLite's write lock from the start, so that what it reads cannot
/// change before it writes (no other writer, in any process, can commit in between).
async fn begin_immediate(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, Sqlite>> {
    let pool = pool.clone();
    crate::detached(async move { pool.begin_with("BEGIN IMMEDIATE").await }).await
}

/// Inserts a refresh token into `session_id` (its own `session_id` field is not consulted).
async fn insert_refresh_token(
    conn: &mut SqliteConnection,
    record: &RefreshRecord,
    session_id: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
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

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: &NewUser) -> Result<User> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(db_time(user.created_at)?)
        .execute(&self.writer)
        .await
        .map_err(|error| match &error {
            // The primary key is reported as SQLITE_CONSTRAINT_PRIMARYKEY (1555), the username
            // as SQLITE_CONSTRAINT_UNIQUE (2067).
            sqlx::Error::Database(e) if e.is_unique_violation() => {
                if e.code().as_deref() == Some("1555") {
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
        // `username` is declared COLLATE NOCASE, so `=` compares ASCII case-insensitively.
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, rowid"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn change_password(
        &self,
        user_id: &str,
        expected_epoch: u64,
        password_hash: &str,
        keep: &str,
        now: u64,
    ) -> Result<Option<Vec<Session>>> {
        let mut tx = self.begin_write().await?;
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = ?, credential_epoch = credential_epoch + 1 \
             WHERE id = ? AND credential_epoch = ? AND disabled = 0 \
             RETURNING credential_epoch",
        )
        .bind(password_hash)
        .bind(user_id)
        .bind(db_time(expected_epoch)?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(epoch) = epoch else {
            // Dropping the transaction rolls it back; nothing was written anyway.
            return Ok(None);
        };
        sqlx::query("UPDATE sessions SET credential_epoch = ? WHERE id = ? AND user_id = ?")
            .bind(epoch)
            .bind(keep)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let revoked = revoke_sessions_of(&mut tx, user_id, Some(keep), now).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn disable_user(&self, username: &str, now: u64) -> Result<Option<(User, Vec<Session>)>> {
        let mut tx = self.begin_write().await?;
        let user = sqlx::query(&format!(
            "UPDATE users SET disabled = 1, credential_epoch = credential_epoch + 1 \
             WHERE username = ? RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
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
        sqlx::query(&format!(
            "UPDATE users SET disabled = 0 WHERE username = ? RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .fetch_optional(&self.writer)
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }
}

/// Inside a write transaction: revokes every session of `user_id` not yet revoked (expired ones
/// too: an access token may outlive nothing, but a late revocation costs nothing) except
/// `except`, with a deny-list entry for each. Returns them as they were, newest first.
async fn revoke_sessions_of(
    conn: &mut SqliteConnection,
    user_id: &str,
    except: Option<&str>,
    now: u64,
) -> Result<Vec<Session>> {
    let now_db = db_time(now)?;
    // `id IS NOT ?` is true for every id when `except` is NULL.
    let revoked = sqlx::query(&format!(
        "UPDATE sessions SET revoked_at = ? \
         WHERE user_id = ? AND id IS NOT ? AND revoked_at IS NULL \
         RETURNING {SESSION_COLUMNS}, rowid AS insertion_order"
    ))
    .bind(now_db)
    .bind(user_id)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    let mut sessions = Vec::with_capacity(revoked.len());
    for row in &revoked {
        let session = Session {
            revoked_at: None,
            ..rows::session(row)?
        };
        let order: i64 = column(row, "insertion_order")?;
        record_revocation(conn, &rows::session_revocation(&session.id, now)).await?;
        sessions.push((session, order));
    }
    sessions.sort_by(|(a, a_order), (b, b_order)| {
        (b.created_at, b_order).cmp(&(a.created_at, a_order))
    });
    Ok(sessions.into_iter().map(|(session, _)| session).collect())
}

/// Inside a write transaction: records `revocation`, merged with any entry for the same kind and
/// subject (the larger `not_before`, the later expiry) and kept at least as long as
/// [`crate::kept_until`] says, under a new sequence number. Returns it as stored.
async fn record_revocation(
    conn: &mut SqliteConnection,
    revocation: &Revocation,
) -> Result<(i64, Revocation)> {
    let kind = revocation.kind.as_str();
    let longest: i64 = sqlx::query_scalar("SELECT longest_access_ttl FROM deployment LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
    let longest = rows::stored_time("longest_access_ttl", longest)?;
    let mut stored = Revocation {
        expires_at: crate::kept_until(revocation, longest),
        ..revocation.clone()
    };
    let existing = sqlx::query(
        "SELECT not_before, expires_at FROM revocations WHERE kind = ? AND subject = ?",
    )
    .bind(kind)
    .bind(&revocation.subject)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = existing {
        stored.not_before = stored.not_before.max(row.time("not_before")?);
        stored.expires_at = stored.expires_at.max(row.time("expires_at")?);
        // Delete and insert rather than update: the new row gets a new AUTOINCREMENT `seq`.
        sqlx::query("DELETE FROM revocations WHERE kind = ? AND subject = ?")
            .bind(kind)
            .bind(&revocation.subject)
            .execute(&mut *conn)
            .await?;
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO revocations (kind, subject, not_before, expires_at) VALUES (?, ?, ?, ?) \
         RETURNING seq",
    )
    .bind(kind)
    .bind(&stored.subject)
    .bind(db_time(stored.not_before)?)
    .bind(db_time(stored.expires_at)?)
    .fetch_one(&mut *conn)
    .await?;
    Ok((seq, stored))
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn refresh_within_grace(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        grace: u64,
        now: u64,
    ) -> Result<Option<Session>> {
        // On the writer, like every rotation: decided and written in one serialised step.
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE id = (SELECT p.session_id FROM refresh_tokens p \
                         JOIN sessions s ON s.id = p.session_id \
                         JOIN users u ON u.id = s.user_id \
                         WHERE p.hash = ? AND p.used_at IS NOT NULL AND p.used_at >= ? \
                           AND s.revoked_at IS NULL AND s.expires_at > ? \
                           AND u.disabled = 0 AND s.credential_epoch = u.credential_epoch \
                           AND NOT EXISTS (SELECT 1 FROM refresh_tokens t \
                                           WHERE t.session_id = s.id AND t.hash <> p.hash \
                                             AND t.used_at >= p.used_at) \
                           AND EXISTS (SELECT 1 FROM refresh_tokens t \
                                       WHERE t.session_id = s.id AND t.used_at IS NULL \
                                         AND t.expires_at > ?))"
        ))
        .bind(&presented.0[..])
        .bind(db_time(now.saturating_sub(grace))?)
        .bind(db_time(now)?)
        .bind(db_time(now)?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session = rows::session(&row)?;
        let branch = RefreshRecord {
            expires_at: next.expires_at.min(session.expires_at),
            ..next.clone()
        };
        insert_refresh_token(&mut tx, &branch, &session.id).await?;
        sqlx::query("UPDATE sessions SET last_used_at = ? WHERE id = ?")
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
    /// The user's state is read under the write lock the insert holds (`BEGIN IMMEDIATE`), so a
    /// password change or a disable commits either before (and the session is not created) or
    /// after (and revokes it).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] (`"session"` or `"refresh token"`) if the id or digest is taken.
    /// Nothing is stored then.
    async fn create_session(&self, session: &NewSession, first: &RefreshRecord) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM users WHERE id = ? AND disabled = 0 AND credential_epoch = ?",
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

    /// Rotates in a `BEGIN IMMEDIATE` transaction, with the other rotations queued meanwhile
    /// (the writer task's batches): the write lock is taken before the token is read, so of any
    /// number of concurrent rotations of one token (in this process or another sharing the file)
    /// exactly one sees it unused. The successor always joins the presented token's session,
    /// whatever `next.session_id` says.
    ///
    /// A used token is [`Rotation::Reused`] even when its session is already revoked or expired:
    /// reuse is reported before validity.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &RefreshRecord,
        now: u64,
    ) -> Result<Rotation> {
        let (outcome, answer) = tokio::sync::oneshot::channel();
        let pending = PendingRotation {
            presented: *presented,
            next: next.clone(),
            now,
            outcome,
        };
        let gone = || {
            StoreError::Database(sqlx::Error::Protocol(
                "the rotation task has stopped".into(),
            ))
        };
        // The rotation runs in the writer task, whole, even if this caller is cancelled half-way
        // (a client hanging up): it can never leave the writer inside a transaction.
        self.rotations.send(pending).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn session(&self, session_id: &str) -> Result<Option<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
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
             WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = ?)"
        ))
        .bind(&token.0[..])
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn live_refresh_token(&self, token: &TokenHash, now: u64) -> Result<Option<Session>> {
        let now = db_time(now)?;
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE id = (SELECT session_id FROM refresh_tokens \
                         WHERE hash = ? AND used_at IS NULL AND expires_at > ?) \
               AND revoked_at IS NULL AND expires_at > ?"
        ))
        .bind(&token.0[..])
        .bind(now)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
    }

    async fn live_sessions(&self, user_id: &str, now: u64) -> Result<Vec<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? \
             ORDER BY created_at DESC, rowid DESC"
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
    /// it with its original `revoked_at`.
    async fn revoke_session(&self, session_id: &str, now: u64) -> Result<Option<Session>> {
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ))
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()?;
        if before.as_ref().is_some_and(|s| s.revoked_at.is_none()) {
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(db_time(now)?)
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
        let mut tx = self.begin_write().await?;
        let revoked = revoke_sessions_of(&mut tx, user_id, None, now).await?;
        record_revocation(&mut tx, &rows::user_revocation(user_id, now)).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn purge_expired_sessions(&self, before: u64) -> Result<u64> {
        // Refresh tokens go with their session (ON DELETE CASCADE; foreign keys are on).
        let purged = sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(db_time(before)?)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(purged)
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    /// Replaces any existing entry for the same kind and subject by one carrying the larger
    /// `not_before` and the larger `expires_at`, under a new sequence number, so that
    /// [`RevocationStore::revocations_since`] reports the change. The commit is durable before
    /// this returns (see the module documentation for the power-loss caveat).
    async fn add_revocation(&self, revocation: &Revocation) -> Result<(i64, Revocation)> {
        let mut tx = self.begin_write().await?;
        let stored = record_revocation(&mut tx, revocation).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn raise_longest_access_ttl(&self, ttl: u64) -> Result<u64> {
        let longest: Option<i64> = sqlx::query_scalar(
            "UPDATE deployment SET longest_access_ttl = MAX(longest_access_ttl, ?) \
             RETURNING longest_access_ttl",
        )
        .bind(db_time(ttl)?)
        .fetch_optional(&self.writer)
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
             WHERE expires_at > ? ORDER BY seq",
        )
        .bind(db_time(now)?)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::revocation)
        .collect()
    }

    /// With SQLite, sequence numbers are assigned under the single write lock, so they appear in
    /// commit order: a reader that has seen `n` never later finds a new row below `n`.
    async fn revocations_since(&self, after: i64) -> Result<Vec<(i64, Revocation)>> {
        sqlx::query(
            "SELECT seq, kind, subject, not_before, expires_at FROM revocations \
             WHERE seq > ? ORDER BY seq",
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
        // AUTOINCREMENT keeps the highest number ever handed out in `sqlite_sequence`, purged
        // rows included.
        let newest: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0)",
        )
        .fetch_one(&self.pool)
        .await?;
        let page = sqlx::query(
            "SELECT seq, kind, subject, not_before, expires_at FROM revocations \
             WHERE seq > ? ORDER BY seq LIMIT ?",
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
        let purged = sqlx::query("DELETE FROM revocations WHERE expires_at < ?")
            .bind(db_time(before)?)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(purged)
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(&client.secret_hash.0[..])
        .bind(db_time(client.created_at)?)
        .execute(&self.writer)
        .await
        .map_err(conflict_as("client"))?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>> {
        sqlx::query(
            "SELECT client_id, name, secret_hash, created_at FROM clients WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(rows::client)
        .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>> {
        sqlx::query(
            "SELECT client_id, name, secret_hash, created_at FROM clients \
             ORDER BY created_at, client_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::client)
        .collect()
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn set_client_secret(&self, client_id: &str, secret_hash: &TokenHash) -> Result<bool> {
        let changed = sqlx::query("UPDATE clients SET secret_hash = ? WHERE client_id = ?")
            .bind(&secret_hash.0[..])
            .bind(client_id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(changed > 0)
    }
}

#[async_trait]
impl Store for SqliteStore {
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
        // The first writer sets it; everyone (that writer included) reads what is stored.
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "UPDATE deployment SET secret = coalesce(secret, ?) RETURNING secret",
        )
        .bind(&candidate[..])
        .fetch_optional(&self.writer)
        .await?;
        rows::deployment_secret(stored)
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_stats(&self) -> crate::PoolStats {
        crate::PoolStats::of(&self.pool).plus(crate::PoolStats::of(&self.writer))
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}
