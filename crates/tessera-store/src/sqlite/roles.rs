//! Users' roles ([`RoleStore`]) on this backend.

use async_trait::async_trait;

use super::SqliteStore;
use crate::{Result, RoleStore, StoreError};

#[async_trait]
impl RoleStore for SqliteStore {
    async fn user_roles(&self, _user_id: &str) -> Result<Vec<String>> {
        Err(StoreError::Corrupt("roles are not stored yet".into()))
    }

    async fn add_user_role(&self, _user_id: &str, _role: &str) -> Result<bool> {
        Err(StoreError::Corrupt("roles are not stored yet".into()))
    }

    async fn remove_user_role(
        &self,
        _user_id: &str,
        _role: &str,
        _not_before: u64,
    ) -> Result<bool> {
        Err(StoreError::Corrupt("roles are not stored yet".into()))
    }
}
