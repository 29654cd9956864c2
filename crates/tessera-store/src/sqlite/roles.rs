//! Users' roles ([`RoleStore`]) on this backend.
//!
//! Giving a role is one statement on the writer connection (like every single-statement write of
//! this backend): the primary key `(user_id, role)` makes a second grant a no-op, and the foreign
//! key on `users` (foreign keys are on) refuses a role for a user that does not exist. Taking one
//! away is a `BEGIN IMMEDIATE` transaction on the writer connection that deletes the row and, only
//! if there was one, records the user revocation with the same helper every other revocation of
//! this backend goes through ([`record_revocation`]), so it gets its sequence number and expiry
//! under the same write lock and is committed with the deletion or not at all.

use async_trait::async_trait;

use super::{record_revocation, SqliteStore};
use crate::rows::{self, missing_parent_as};
use crate::{Result, RoleStore};

#[async_trait]
impl RoleStore for SqliteStore {
    /// Sorted by SQLite's `BINARY` collation: byte order, the order of Rust's `str`.
    async fn user_roles(&self, user_id: &str) -> Result<Vec<String>> {
        let roles =
            sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(roles)
    }

    async fn add_user_role(&self, user_id: &str, role: &str) -> Result<bool> {
        let added = sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES (?, ?) \
             ON CONFLICT (user_id, role) DO NOTHING",
        )
        .bind(user_id)
        .bind(role)
        .execute(&self.writer)
        .await
        .map_err(missing_parent_as("user"))?
        .rows_affected();
        Ok(added > 0)
    }

    /// The deletion and the user revocation commit together, under the write lock taken before
    /// the deletion, or neither does.
    async fn remove_user_role(&self, user_id: &str, role: &str, not_before: u64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM user_roles WHERE user_id = ? AND role = ?")
            .bind(user_id)
            .bind(role)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            // Dropping the transaction rolls it back; nothing was written anyway.
            return Ok(false);
        }
        record_revocation(&mut tx, &rows::user_revocation(user_id, not_before)).await?;
        tx.commit().await?;
        Ok(true)
    }
}
