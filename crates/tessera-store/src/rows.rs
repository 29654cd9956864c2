//! What both backends share below their SQL: reading rows back into records, the revocations a
//! store step records, and the conversions at the database's edge. Only the SQL, which differs
//! per dialect, stays in `sqlite.rs` and `postgres.rs`.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{
    Client, KeyRing, Result, Revocation, RevocationKind, Session, StoreError, StoredKey, TokenHash,
    User,
};

/// Reads one column of a row of either backend; any mismatch (type, NULL, missing column) means
/// the row is not what this schema writes.
pub(crate) fn column<'r, R, T>(row: &'r R, name: &str) -> Result<T>
where
    R: Row,
    for<'n> &'n str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// A stored time: a non-negative integer.
pub(crate) fn stored_time(name: &str, value: i64) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("column {name}: negative time {value}")))
}

/// A row of either backend, read as the records need it.
pub(crate) trait StoredRow {
    /// A text column.
    fn text(&self, name: &str) -> Result<String>;
    /// A nullable text column.
    fn optional_text(&self, name: &str) -> Result<Option<String>>;
    /// An integer column.
    fn integer(&self, name: &str) -> Result<i64>;
    /// A nullable integer column.
    fn optional_integer(&self, name: &str) -> Result<Option<i64>>;
    /// A byte column.
    fn bytes(&self, name: &str) -> Result<Vec<u8>>;
    /// A flag (SQLite: an integer 0 or 1, kept so by a CHECK; PostgreSQL: a boolean).
    fn flag(&self, name: &str) -> Result<bool>;

    /// A time column: a non-negative integer.
    fn time(&self, name: &str) -> Result<u64> {
        stored_time(name, self.integer(name)?)
    }

    /// A nullable time column.
    fn optional_time(&self, name: &str) -> Result<Option<u64>> {
        self.optional_integer(name)?
            .map(|value| stored_time(name, value))
            .transpose()
    }

    /// A digest column: exactly 32 bytes.
    fn digest(&self, name: &str) -> Result<TokenHash> {
        let bytes = self.bytes(name)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(TokenHash)
            .map_err(|_| {
                StoreError::Corrupt(format!(
                    "column {name}: a digest of {} bytes, not 32",
                    bytes.len()
                ))
            })
    }
}

/// Every driver row whose database decodes these Rust types (SQLite's and PostgreSQL's do).
impl<R> StoredRow for R
where
    R: Row,
    for<'n> &'n str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, name: &str) -> Result<String> {
        column(self, name)
    }
    fn optional_text(&self, name: &str) -> Result<Option<String>> {
        column(self, name)
    }
    fn integer(&self, name: &str) -> Result<i64> {
        column(self, name)
    }
    fn optional_integer(&self, name: &str) -> Result<Option<i64>> {
        column(self, name)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        column(self, name)
    }
    fn flag(&self, name: &str) -> Result<bool> {
        column(self, name)
    }
}

/// The columns of `users`, in the order [`user`] reads them.
pub(crate) const USER_COLUMNS: &str =
    "id, username, password_hash, created_at, disabled, credential_epoch";

/// The columns of `sessions`, in the order [`session`] reads them.
pub(crate) const SESSION_COLUMNS: &str =
    "id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at";

/// A user, from [`USER_COLUMNS`].
pub(crate) fn user(row: &impl StoredRow) -> Result<User> {
    Ok(User {
        id: row.text("id")?,
        username: row.text("username")?,
        password_hash: row.text("password_hash")?,
        created_at: row.time("created_at")?,
        disabled: row.flag("disabled")?,
        credential_epoch: row.time("credential_epoch")?,
    })
}

/// A session, from [`SESSION_COLUMNS`].
pub(crate) fn session(row: &impl StoredRow) -> Result<Session> {
    Ok(Session {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        created_at: row.time("created_at")?,
        last_used_at: row.time("last_used_at")?,
        expires_at: row.time("expires_at")?,
        user_agent: row.optional_text("user_agent")?,
        ip: row.optional_text("ip")?,
        revoked_at: row.optional_time("revoked_at")?,
    })
}

/// A revocation and its sequence number, from `seq, kind, subject, not_before, expires_at`.
pub(crate) fn revocation(row: &impl StoredRow) -> Result<(i64, Revocation)> {
    let kind = row.text("kind")?;
    let kind = RevocationKind::parse(&kind).ok_or_else(|| {
        StoreError::Corrupt(format!("column kind: unknown revocation kind {kind:?}"))
    })?;
    Ok((
        row.integer("seq")?,
        Revocation {
            kind,
            subject: row.text("subject")?,
            not_before: row.time("not_before")?,
            expires_at: row.time("expires_at")?,
        },
    ))
}

/// A client, from `client_id, name, secret_hash, created_at`.
pub(crate) fn client(row: &impl StoredRow) -> Result<Client> {
    Ok(Client {
        client_id: row.text("client_id")?,
        name: row.text("name")?,
        secret_hash: row.digest("secret_hash")?,
        created_at: row.time("created_at")?,
    })
}

/// The columns of `signing_keys`, in the order [`stored_key`] reads them.
pub(crate) const KEY_COLUMNS: &str =
    "kid, algorithm, wrapped_private, kek_id, public_jwk, created_at, activates_at, retired_at";

/// What [`StoreError::Conflict`] names when a change of the key ring inserts a taken `kid` or
/// changes a missing one (the whole change is then rolled back).
pub(crate) const KEY_CONFLICT: &str = "signing key";

/// A signing key, from [`KEY_COLUMNS`].
pub(crate) fn stored_key(row: &impl StoredRow) -> Result<StoredKey> {
    Ok(StoredKey {
        kid: row.text("kid")?,
        algorithm: row.text("algorithm")?,
        wrapped_private: row.bytes("wrapped_private")?,
        kek_id: row.text("kek_id")?,
        public_jwk: row.text("public_jwk")?,
        created_at: row.time("created_at")?,
        activates_at: row.time("activates_at")?,
        retired_at: row.optional_time("retired_at")?,
    })
}

/// The ring's version as stored: the one row of `key_ring`, which the migrations create, and
/// never negative (it starts at 0 and only grows).
pub(crate) fn key_ring_version(value: Option<i64>) -> Result<i64> {
    let version = value.ok_or_else(|| StoreError::Corrupt("the key_ring table is empty".into()))?;
    if version < 0 {
        return Err(StoreError::Corrupt(format!(
            "column version: negative key ring version {version}"
        )));
    }
    Ok(version)
}

/// The key ring, from the rows of `key_ring LEFT JOIN signing_keys` in insertion order: each
/// carries the ring's version as `ring_version` and a key's [`KEY_COLUMNS`], except the single
/// row of an empty ring, whose key columns are all NULL. One statement reads them, so the version
/// and the keys are one snapshot.
pub(crate) fn key_ring(rows: &[impl StoredRow]) -> Result<KeyRing> {
    let version = key_ring_version(
        rows.first()
            .map(|row| row.integer("ring_version"))
            .transpose()?,
    )?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        if row.optional_text("kid")?.is_some() {
            keys.push(stored_key(row)?);
        }
    }
    Ok(KeyRing { version, keys })
}

/// A time for the database: its integers are `i64`, so a time beyond `i64::MAX` seconds is
/// refused rather than wrapped (it would compare as the past).
pub(crate) fn db_time(seconds: u64) -> Result<i64> {
    i64::try_from(seconds).map_err(|_| {
        StoreError::Database(sqlx::Error::Encode(
            format!("time {seconds} is beyond the range the store can keep").into(),
        ))
    })
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`, and any other
/// error to [`StoreError::Database`].
pub(crate) fn conflict_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(error),
    }
}

/// Maps a foreign-key violation (a row naming a parent that does not exist) to
/// [`StoreError::Conflict`] naming the missing parent, and any other error to
/// [`StoreError::Database`].
pub(crate) fn missing_parent_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(error),
    }
}

/// The user revocation that ends every token issued to `user_id` before `now`.
pub(crate) fn user_revocation(user_id: &str, now: u64) -> Revocation {
    Revocation {
        kind: RevocationKind::User,
        subject: user_id.to_owned(),
        not_before: now,
        expires_at: 0,
    }
}

/// The revocation of every access token of `session_id`, made at `now`.
pub(crate) fn session_revocation(session_id: &str, now: u64) -> Revocation {
    Revocation {
        kind: RevocationKind::Session,
        subject: session_id.to_owned(),
        not_before: now,
        expires_at: 0,
    }
}

/// The one row of the `deployment` table, which the migrations create: its absence means the
/// database is not what this schema writes.
pub(crate) fn deployment_row<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| StoreError::Corrupt("the deployment table is empty".into()))
}

/// The deployment secret as stored: exactly 32 bytes.
pub(crate) fn deployment_secret(stored: Option<Vec<u8>>) -> Result<[u8; 32]> {
    let stored = deployment_row(stored)?;
    <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| {
        StoreError::Corrupt(format!(
            "the deployment secret has {} bytes, not 32",
            stored.len()
        ))
    })
}

/// What a rotation does with the presented token, from a row of its state: `token_used_at`,
/// `token_expires_at`, `user_disabled` and `credentials_current` (the session read apart).
pub(crate) fn rotation_decision(
    row: &impl StoredRow,
    session: &Session,
    now: u64,
) -> Result<crate::RotationDecision> {
    Ok(crate::decide_rotation(
        &crate::RotationState {
            token_used: row.optional_time("token_used_at")?.is_some(),
            token_expires_at: row.time("token_expires_at")?,
            session,
            user_disabled: row.flag("user_disabled")?,
            credentials_current: row.flag("credentials_current")?,
        },
        now,
    ))
}
