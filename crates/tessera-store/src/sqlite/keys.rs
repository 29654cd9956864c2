//! The signing keys of stored-key mode ([`KeyStore`]) on this backend.
//!
//! A change of the ring is one `BEGIN IMMEDIATE` transaction on the writer connection, like every
//! other write: it bumps the version only if it is still the one the caller read (`UPDATE ...
//! WHERE version = ?`), then applies the changes in order. Holding SQLite's write lock from its
//! start, it cannot interleave with another change, in this process or another sharing the file:
//! of concurrent changes from one version, the first to take the lock bumps it, and the others
//! then match no row and apply nothing.

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnection;

use super::SqliteStore;
use crate::rows::{self, conflict_as, db_time, KEY_COLUMNS, KEY_CONFLICT};
use crate::{KeyChange, KeyRing, KeyStore, Result, StoreError, StoredKey};

/// Inside a write transaction: applies one change. A `kid` that is taken (for an insert) or
/// missing (for anything else) is [`StoreError::Conflict`]; the caller then drops the
/// transaction, which rolls the whole change back.
async fn apply_change(conn: &mut SqliteConnection, change: &KeyChange) -> Result<()> {
    let changed = match change {
        KeyChange::Insert(key) => return insert_key(conn, key).await,
        KeyChange::Activate { kid, at } => {
            sqlx::query("UPDATE signing_keys SET activates_at = ? WHERE kid = ?")
                .bind(db_time(*at)?)
                .bind(kid)
                .execute(&mut *conn)
                .await?
        }
        KeyChange::Retire { kid, at } => {
            sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE kid = ?")
                .bind(db_time(*at)?)
                .bind(kid)
                .execute(&mut *conn)
                .await?
        }
        KeyChange::Rewrap {
            kid,
            wrapped_private,
            kek_id,
        } => {
            sqlx::query("UPDATE signing_keys SET wrapped_private = ?, kek_id = ? WHERE kid = ?")
                .bind(wrapped_private.as_slice())
                .bind(kek_id)
                .bind(kid)
                .execute(&mut *conn)
                .await?
        }
    };
    if changed.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(KEY_CONFLICT))
    }
}

/// Inside a write transaction: stores a new key after every key stored before it.
async fn insert_key(conn: &mut SqliteConnection, key: &StoredKey) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(key.wrapped_private.as_slice())
    .bind(&key.kek_id)
    .bind(&key.public_jwk)
    .bind(db_time(key.created_at)?)
    .bind(db_time(key.activates_at)?)
    .bind(key.retired_at.map(db_time).transpose()?)
    .execute(conn)
    .await
    .map_err(conflict_as(KEY_CONFLICT))?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    /// One statement, so one snapshot: the version and the keys as the same commit left them.
    async fn key_ring(&self) -> Result<KeyRing> {
        let ring = sqlx::query(&format!(
            "SELECT key_ring.version AS ring_version, {KEY_COLUMNS} \
             FROM key_ring LEFT JOIN signing_keys ON TRUE ORDER BY signing_keys.seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows::key_ring(&ring)
    }

    async fn key_ring_version(&self) -> Result<i64> {
        rows::key_ring_version(
            sqlx::query_scalar("SELECT version FROM key_ring")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// One `BEGIN IMMEDIATE` transaction on the writer connection; see the module documentation.
    async fn change_key_ring(
        &self,
        expected_version: i64,
        changes: &[KeyChange],
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE key_ring SET version = version + 1 WHERE version = ? RETURNING version",
        )
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(version) = version else {
            // Another writer changed the ring first. Dropping the transaction rolls it back;
            // nothing was written anyway.
            return Ok(None);
        };
        for change in changes {
            // On an error the transaction is dropped, which rolls every change back.
            apply_change(&mut tx, change).await?;
        }
        tx.commit().await?;
        Ok(Some(version))
    }
}
