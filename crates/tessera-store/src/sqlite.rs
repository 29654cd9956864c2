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

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Decode, Row, Sqlite, Type};

use crate::{
    AccountStore, Client, ClientStore, NewSession, NewUser, RefreshRecord, Result, Revocation,
    RevocationKind, RevocationStore, Rotation, Session, SessionStore, Store, StoreError, TokenHash,
    User,
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
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_deployment.sql"),
    include_str!("../migrations/sqlite/0003_credentials_and_lifetimes.sql"),
];

/// The columns of `sessions`, in the order [`session_from_row`] reads them.
const SESSION_COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at";

/// The columns of `users`, in the order [`user_from_row`] reads them.
const USER_COLUMNS: &str = "id, username, password_hash, created_at, disabled, credential_epoch";

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

/// A time for the database. SQLite integers are `i64`; a time beyond `i64::MAX` seconds is refused
/// rather than wrapped (it would compare as the past).
fn db_time(seconds: u64) -> Result<i64> {
    i64::try_from(seconds).map_err(|_| {
        StoreError::Database(sqlx::Error::Encode(
            format!("time {seconds} is beyond the range the store can keep").into(),
        ))
    })
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`, and any other
/// error to [`StoreError::Database`].
fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(error),
    }
}

/// Reads one column; any mismatch (type, NULL, missing column) means the row is not what this
/// schema writes.
fn column<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Reads a time column: a non-negative integer.
fn time_column(row: &SqliteRow, name: &str) -> Result<u64> {
    let value: i64 = column(row, name)?;
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("column {name}: negative time {value}")))
}

/// Reads a nullable time column.
fn optional_time_column(row: &SqliteRow, name: &str) -> Result<Option<u64>> {
    let value: Option<i64> = column(row, name)?;
    value
        .map(|v| {
            u64::try_from(v)
                .map_err(|_| StoreError::Corrupt(format!("column {name}: negative time {v}")))
        })
        .transpose()
}

/// Reads a digest column: exactly 32 bytes.
fn hash_column(row: &SqliteRow, name: &str) -> Result<TokenHash> {
    let bytes: Vec<u8> = column(row, name)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(TokenHash)
        .map_err(|_| {
            StoreError::Corrupt(format!(
                "column {name}: a digest of {} bytes, not 32",
                bytes.len()
            ))
        })
}

fn user_from_row(row: &SqliteRow) -> Result<User> {
    let disabled = match column::<i64>(row, "disabled")? {
        0 => false,
        1 => true,
        other => {
            return Err(StoreError::Corrupt(format!(
                "column disabled: {other} is not a boolean"
            )))
        }
    };
    Ok(User {
        id: column(row, "id")?,
        username: column(row, "username")?,
        password_hash: column(row, "password_hash")?,
        created_at: time_column(row, "created_at")?,
        disabled,
        credential_epoch: time_column(row, "credential_epoch")?,
    })
}

fn session_from_row(row: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: column(row, "id")?,
        user_id: column(row, "user_id")?,
        created_at: time_column(row, "created_at")?,
        last_used_at: time_column(row, "last_used_at")?,
        expires_at: time_column(row, "expires_at")?,
        user_agent: column(row, "user_agent")?,
        ip: column(row, "ip")?,
        revoked_at: optional_time_column(row, "revoked_at")?,
    })
}

fn revocation_from_row(row: &SqliteRow) -> Result<(i64, Revocation)> {
    let kind: String = column(row, "kind")?;
    let kind = RevocationKind::parse(&kind).ok_or_else(|| {
        StoreError::Corrupt(format!("column kind: unknown revocation kind {kind:?}"))
    })?;
    Ok((
        column(row, "seq")?,
        Revocation {
            kind,
            subject: column(row, "subject")?,
            not_before: time_column(row, "not_before")?,
            expires_at: time_column(row, "expires_at")?,
        },
    ))
}

fn client_from_row(row: &SqliteRow) -> Result<Client> {
    Ok(Client {
        client_id: column(row, "client_id")?,
        name: column(row, "name")?,
        secret_hash: hash_column(row, "secret_hash")?,
        created_at: time_column(row, "created_at")?,
    })
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

/// Why a token was not rotated (`Reused` or `Invalid`), read after the rotation's transaction.
async fn explain_unrotated(
    conn: &mut SqliteConnection,
    presented: &TokenHash,
    now: u64,
) -> Result<Rotation> {
    let row = sqlx::query(
        "SELECT t.used_at AS token_used_at, t.expires_at AS token_expires_at, \
                s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, \
                s.user_agent, s.ip, s.revoked_at, u.disabled AS user_disabled, \
                s.credential_epoch = u.credential_epoch AS credentials_current \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         JOIN users u ON u.id = s.user_id \
         WHERE t.hash = ?",
    )
    .bind(&presented.0[..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Rotation::Invalid);
    };
    let session = session_from_row(&row)?;
    Ok(
        match crate::decide_rotation(
            &crate::RotationState {
                token_used: optional_time_column(&row, "token_used_at")?.is_some(),
                token_expires_at: time_column(&row, "token_expires_at")?,
                session: &session,
                user_disabled: column(&row, "user_disabled")?,
                credentials_current: column(&row, "credentials_current")?,
            },
            now,
        ) {
            crate::RotationDecision::Reused => Rotation::Reused(session),
            // `Rotate` cannot be decided here (the batch would have rotated a live token); if
            // it ever were, refusing is the safe answer.
            crate::RotationDecision::Invalid | crate::RotationDecision::Rotate => Rotation::Invalid,
        },
    )
}

/// The SQL of one rotation inside a batch ([`rotate_batch_on`] puts the transaction around it):
/// mark the token used only if it, its session and its user are all live (the conditions of
/// [`crate::decide_rotation`]); insert its successor (expiring no later than the session); touch
/// the session and return it, tagged with the rotation's `slot` in the batch. Each write runs
/// only if the one before changed exactly one row (`changes() = 1`), so each rotation is all or
/// nothing by construction. Ten parameters, in the order [`bind_rotation`] binds them.
fn rotation_statements(slot: usize) -> String {
    format!(
        "UPDATE refresh_tokens SET used_at = ? \
          WHERE hash = ? AND used_at IS NULL AND expires_at > ? \
            AND session_id IN (SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id \
                               WHERE s.revoked_at IS NULL AND s.expires_at > ? \
                                 AND u.disabled = 0 \
                                 AND s.credential_epoch = u.credential_epoch); \
         INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) \
          SELECT ?, s.id, ?, MIN(?, s.expires_at) \
          FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
          WHERE t.hash = ? AND changes() = 1; \
         UPDATE sessions SET last_used_at = ? \
          WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = ?) AND changes() = 1 \
          RETURNING {SESSION_COLUMNS}, {slot} AS batch_slot; "
    )
}

/// A rotation waiting for the writer connection, and where its outcome goes.
pub(crate) struct PendingRotation {
    presented: TokenHash,
    next: RefreshRecord,
    now: u64,
    outcome: tokio::sync::oneshot::Sender<Result<Rotation>>,
}

/// Most rotations committed in one transaction.
const MAX_ROTATION_BATCH: usize = 32;

/// Rotations queued for the writer task at most; callers beyond wait for room.
const ROTATION_QUEUE: usize = 1024;

/// The writer task's loop: takes every rotation queued (up to [`MAX_ROTATION_BATCH`]) and
/// commits them in one transaction, until every sender (every clone of the store) is gone.
///
/// Group commit: while a batch is in SQLite, the requests arriving meanwhile queue and go in the
/// next one, so the hand-offs to SQLite's thread, the write lock and the WAL append are paid per
/// batch instead of per refresh. Each rotation keeps its own conditions, so the outcome of each
/// is what it would have been alone, in queue order: of two rotations of one token in a batch,
/// the first rotates it and the second finds it used.
async fn rotate_in_batches(
    writer: SqlitePool,
    mut queue: tokio::sync::mpsc::Receiver<PendingRotation>,
) {
    let mut batch = Vec::with_capacity(MAX_ROTATION_BATCH);
    while queue.recv_many(&mut batch, MAX_ROTATION_BATCH).await > 0 {
        let outcomes = rotate_batch(&writer, &batch).await;
        for (pending, outcome) in batch.drain(..).zip(outcomes) {
            // The caller may have gone (a client hanging up): the rotation stands regardless.
            let _ = pending.outcome.send(outcome);
        }
    }
}

/// Rotates `batch` in one transaction and says what happened to each, in order. If the batch
/// fails as a whole, each rotation is retried alone, so that one failing rotation (or a
/// database that is down) gives each caller its own answer.
async fn rotate_batch(writer: &SqlitePool, batch: &[PendingRotation]) -> Vec<Result<Rotation>> {
    if batch.len() > 1 {
        match writer.acquire().await {
            Ok(mut conn) => match rotate_batch_on(&mut conn, batch).await {
                Ok(outcomes) => return outcomes,
                Err(err) => {
                    tracing::debug!(error = %err, size = batch.len(), "a rotation batch failed; rotating one by one");
                    close_after_failure(conn).await;
                }
            },
            Err(err) => {
                tracing::debug!(error = %err, "no writer connection for a rotation batch");
            }
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for pending in batch {
        outcomes.push(rotate_alone(writer, pending).await);
    }
    outcomes
}

/// One rotation in its own transaction: a batch of one.
async fn rotate_alone(writer: &SqlitePool, pending: &PendingRotation) -> Result<Rotation> {
    let mut conn = writer.acquire().await?;
    match rotate_batch_on(&mut conn, std::slice::from_ref(pending)).await {
        Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| {
            Err(StoreError::Corrupt(
                "a rotation batch of one answered nothing".into(),
            ))
        }),
        Err(err) => {
            close_after_failure(conn).await;
            Err(err)
        }
    }
}

/// Closes a connection whose transaction may still be open: closing rolls it back, where
/// returning it to the pool would keep SQLite's write lock.
async fn close_after_failure(conn: sqlx::pool::PoolConnection<Sqlite>) {
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing a connection after a failed rotation");
    }
}

/// The body of [`rotate_batch`] on one connection: one round trip to SQLite's worker thread for
/// the whole batch (`BEGIN IMMEDIATE`, each rotation's statements, `COMMIT`), then, only for
/// each rotation that did not happen, the read that says why (`Reused` or `Invalid`).
///
/// On an error the transaction may still be open: the caller must close the connection (which
/// rolls it back), never return it to the pool.
async fn rotate_batch_on(
    conn: &mut SqliteConnection,
    batch: &[PendingRotation],
) -> Result<Vec<Result<Rotation>>> {
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    for slot in 0..batch.len() {
        sql.push_str(&rotation_statements(slot));
    }
    sql.push_str("COMMIT");
    let mut query = sqlx::query(&sql);
    for pending in batch {
        query = bind_rotation(query, &pending.presented, &pending.next, pending.now)?;
    }
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .map_err(conflict_as("refresh token"))?;
    let mut rotated: Vec<Option<Session>> = vec![None; batch.len()];
    for row in &rows {
        let slot: i64 = column(row, "batch_slot")?;
        let slot = usize::try_from(slot)
            .ok()
            .filter(|slot| *slot < batch.len())
            .ok_or_else(|| StoreError::Corrupt(format!("rotation batch slot {slot}")))?;
        rotated[slot] = Some(session_from_row(row)?);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for (pending, session) in batch.iter().zip(rotated) {
        outcomes.push(match session {
            Some(session) => Ok(Rotation::Rotated(session)),
            None => explain_unrotated(conn, &pending.presented, pending.now).await,
        });
    }
    Ok(outcomes)
}

/// Binds the ten parameters of one rotation's statements ([`rotation_statements`]).
fn bind_rotation<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    presented: &'q TokenHash,
    next: &'q RefreshRecord,
    now: u64,
) -> Result<sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>> {
    let now_db = db_time(now)?;
    Ok(query
        .bind(now_db)
        .bind(&presented.0[..])
        .bind(now_db)
        .bind(now_db)
        .bind(&next.hash.0[..])
        .bind(db_time(next.created_at)?)
        .bind(db_time(next.expires_at)?)
        .bind(&presented.0[..])
        .bind(now_db)
        .bind(&presented.0[..]))
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
        .map(user_from_row)
        .transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, rowid"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from_row)
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
        .map(user_from_row)
        .transpose()?;
        let Some(user) = user else {
            return Ok(None);
        };
        let revoked = revoke_sessions_of(&mut tx, &user.id, None, now).await?;
        record_revocation(&mut tx, &user_revocation(&user.id, now)).await?;
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
        .map(user_from_row)
        .transpose()
    }
}

/// The user revocation that ends every token issued to `user_id` before `now`.
fn user_revocation(user_id: &str, now: u64) -> Revocation {
    Revocation {
        kind: RevocationKind::User,
        subject: user_id.to_owned(),
        not_before: now,
        expires_at: 0,
    }
}

/// The revocation of every access token of `session_id`, made at `now`.
fn session_revocation(session_id: &str, now: u64) -> Revocation {
    Revocation {
        kind: RevocationKind::Session,
        subject: session_id.to_owned(),
        not_before: now,
        expires_at: 0,
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
            ..session_from_row(row)?
        };
        let order: i64 = column(row, "insertion_order")?;
        record_revocation(conn, &session_revocation(&session.id, now)).await?;
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
    let longest = u64::try_from(longest)
        .map_err(|_| StoreError::Corrupt(format!("negative longest_access_ttl {longest}")))?;
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
        stored.not_before = stored.not_before.max(time_column(&row, "not_before")?);
        stored.expires_at = stored.expires_at.max(time_column(&row, "expires_at")?);
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
        .map(session_from_row)
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
        .map(session_from_row)
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
        .map(session_from_row)
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
        .map(session_from_row)
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
        .map(session_from_row)
        .transpose()?;
        if before.as_ref().is_some_and(|s| s.revoked_at.is_none()) {
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(db_time(now)?)
                .bind(session_id)
                .execute(&mut *tx)
                .await?;
            record_revocation(&mut tx, &session_revocation(session_id, now)).await?;
        }
        tx.commit().await?;
        Ok(before)
    }

    /// Returns the sessions as they were before (so `revoked_at` is `None`), newest first.
    async fn revoke_user_sessions(&self, user_id: &str, now: u64) -> Result<Vec<Session>> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke_sessions_of(&mut tx, user_id, None, now).await?;
        record_revocation(&mut tx, &user_revocation(user_id, now)).await?;
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
        let longest: i64 = sqlx::query_scalar(
            "UPDATE deployment SET longest_access_ttl = MAX(longest_access_ttl, ?) \
             RETURNING longest_access_ttl",
        )
        .bind(db_time(ttl)?)
        .fetch_optional(&self.writer)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the deployment table is empty".into()))?;
        u64::try_from(longest)
            .map_err(|_| StoreError::Corrupt(format!("negative longest_access_ttl {longest}")))
    }

    async fn longest_access_ttl(&self) -> Result<u64> {
        let longest: i64 = sqlx::query_scalar("SELECT longest_access_ttl FROM deployment LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the deployment table is empty".into()))?;
        u64::try_from(longest)
            .map_err(|_| StoreError::Corrupt(format!("negative longest_access_ttl {longest}")))
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
        .map(revocation_from_row)
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
        .map(revocation_from_row)
        .collect()
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
        .map(client_from_row)
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
        .map(client_from_row)
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
        sqlx::query_scalar("SELECT id FROM deployment LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the deployment table is empty".into()))
    }

    async fn deployment_secret(&self, candidate: &[u8; 32]) -> Result<[u8; 32]> {
        // The first writer sets it; everyone (that writer included) reads what is stored.
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "UPDATE deployment SET secret = coalesce(secret, ?) RETURNING secret",
        )
        .bind(&candidate[..])
        .fetch_optional(&self.writer)
        .await?;
        let stored =
            stored.ok_or_else(|| StoreError::Corrupt("the deployment table is empty".into()))?;
        <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| {
            StoreError::Corrupt(format!(
                "the deployment secret has {} bytes, not 32",
                stored.len()
            ))
        })
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const LIFE: u64 = 86_400;

    fn record(hash: u8, session_id: &str) -> RefreshRecord {
        RefreshRecord {
            hash: TokenHash([hash; 32]),
            session_id: session_id.to_owned(),
            created_at: NOW,
            expires_at: NOW + LIFE,
        }
    }

    fn pending(presented: u8, next: u8) -> PendingRotation {
        PendingRotation {
            presented: TokenHash([presented; 32]),
            next: record(next, ""),
            now: NOW + 60,
            outcome: tokio::sync::oneshot::channel().0,
        }
    }

    /// A store on a fresh data directory with user `u-1` and the given sessions, each with
    /// its first refresh token.
    async fn store_with_sessions(sessions: &[(&str, u8)]) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        store
            .create_user(&NewUser {
                id: "u-1".into(),
                username: "alice".into(),
                password_hash: "$argon2id$unused".into(),
                created_at: NOW,
            })
            .await
            .unwrap();
        for (session, token) in sessions {
            store
                .create_session(
                    &NewSession {
                        id: (*session).into(),
                        user_id: "u-1".into(),
                        created_at: NOW,
                        expires_at: NOW + LIFE,
                        user_agent: None,
                        ip: None,
                        credential_epoch: 0,
                    },
                    &record(*token, session),
                )
                .await
                .unwrap();
        }
        (dir, store)
    }

    /// One batch holding a rotation that cannot commit (its successor's hash is taken): the
    /// batch's transaction fails as a whole, and each rotation is then decided alone, so the
    /// others still rotate (or see reuse) and only the faulty one fails.
    #[tokio::test]
    async fn a_failing_rotation_in_a_batch_fails_alone() {
        let (_dir, store) = store_with_sessions(&[("s-1", 1), ("s-2", 2), ("s-3", 3)]).await;
        // Token 2's successor would be token 3, which exists.
        let batch = [
            pending(1, 11),
            pending(2, 3),
            pending(1, 12),
            pending(3, 13),
        ];
        let outcomes = rotate_batch(&store.writer, &batch).await;
        assert!(
            matches!(&outcomes[0], Ok(Rotation::Rotated(session)) if session.id == "s-1"),
            "{:?}",
            outcomes[0]
        );
        assert!(
            matches!(&outcomes[1], Err(StoreError::Conflict("refresh token"))),
            "{:?}",
            outcomes[1]
        );
        assert!(
            matches!(&outcomes[2], Ok(Rotation::Reused(session)) if session.id == "s-1"),
            "{:?}",
            outcomes[2]
        );
        assert!(
            matches!(&outcomes[3], Ok(Rotation::Rotated(session)) if session.id == "s-3"),
            "{:?}",
            outcomes[3]
        );
        assert!(store
            .live_refresh_token(&TokenHash([2; 32]), NOW + 60)
            .await
            .unwrap()
            .is_some());
    }

    /// A batch without faults commits whole, in one transaction, with each rotation decided in
    /// queue order.
    #[tokio::test]
    async fn a_batch_decides_each_rotation_in_queue_order() {
        let (_dir, store) = store_with_sessions(&[("s-1", 1)]).await;
        // The successor rotates within the same batch; the original is then reuse; an unknown
        // token is invalid.
        let batch = [pending(1, 2), pending(2, 3), pending(1, 4), pending(9, 10)];
        let mut conn = store.writer.acquire().await.unwrap();
        let outcomes = rotate_batch_on(&mut conn, &batch).await.unwrap();
        let kinds: Vec<&str> = outcomes
            .iter()
            .map(|outcome| match outcome {
                Ok(Rotation::Rotated(_)) => "rotated",
                Ok(Rotation::Reused(_)) => "reused",
                Ok(Rotation::Invalid) => "invalid",
                Err(err) => panic!("{err}"),
            })
            .collect();
        assert_eq!(kinds, ["rotated", "rotated", "reused", "invalid"]);
    }
}
