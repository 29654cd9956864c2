//! Users' roles ([`RoleStore`]) on this backend.
//!
//! Giving a role is one statement: the primary key `(user_id, role)` makes a second grant a
//! no-op, and the foreign key on `users` refuses a role for a user that does not exist. Taking one
//! away is one transaction that deletes the row and, only if there was one, records the user
//! revocation with the same helper every other revocation of this backend goes through
//! ([`record_revocation`]: the next number of `revocation_counter`, whose row lock is then held
//! to the commit, and the expiry the deployment's longest access lifetime demands), so the
//! deletion and the revocation commit together or not at all. The counter is the last lock taken,
//! as in every other revocation writer, so this cannot deadlock with them.

use async_trait::async_trait;

use super::{begin, record_revocation, storable, PostgresStore};
use crate::rows::{self, missing_parent_as};
use crate::{Result, RoleStore, StoreError};

#[async_trait]
impl RoleStore for PostgresStore {
    /// Sorted in byte order (`COLLATE "C"`), as SQLite sorts, whatever the database's collation.
    async fn user_roles(&self, user_id: &str) -> Result<Vec<String>> {
        if !storable(user_id) {
            return Ok(Vec::new());
        }
        let roles = sqlx::query_scalar(
            "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role COLLATE \"C\"",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(roles)
    }

    /// # Errors
    /// [`StoreError::Conflict`] (`"user"`) if there is no such user; [`StoreError::Database`] if
    /// `role` contains a NUL character (PostgreSQL cannot store it).
    async fn add_user_role(&self, user_id: &str, role: &str) -> Result<bool> {
        if !storable(user_id) {
            // No stored user has a NUL in its id.
            return Err(StoreError::Conflict("user"));
        }
        let added = sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) \
             ON CONFLICT (user_id, role) DO NOTHING",
        )
        .bind(user_id)
        .bind(role)
        .execute(&self.pool)
        .await
        .map_err(missing_parent_as("user"))?
        .rows_affected();
        Ok(added > 0)
    }

    /// The deletion and the user revocation commit together, or neither does.
    async fn remove_user_role(&self, user_id: &str, role: &str, not_before: u64) -> Result<bool> {
        if !storable(user_id) || !storable(role) {
            // No stored role row has a NUL in it: the user cannot have had this role.
            return Ok(false);
        }
        let mut tx = begin(&self.pool).await?;
        let removed = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
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
