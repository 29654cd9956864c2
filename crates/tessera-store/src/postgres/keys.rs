//! The signing keys of stored-key mode ([`KeyStore`]) on this backend.

use async_trait::async_trait;

use super::PostgresStore;
use crate::{KeyChange, KeyRing, KeyStore, Result, StoreError};

#[async_trait]
impl KeyStore for PostgresStore {
    async fn key_ring(&self) -> Result<KeyRing> {
        Err(StoreError::Corrupt(
            "signing keys are not stored yet".into(),
        ))
    }

    async fn key_ring_version(&self) -> Result<i64> {
        Err(StoreError::Corrupt(
            "signing keys are not stored yet".into(),
        ))
    }

    async fn change_key_ring(
        &self,
        _expected_version: i64,
        _changes: &[KeyChange],
    ) -> Result<Option<i64>> {
        Err(StoreError::Corrupt(
            "signing keys are not stored yet".into(),
        ))
    }
}
