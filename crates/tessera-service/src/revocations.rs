//! Who hears of a revocation, and the shared Redis.
//!
//! The store records every revocation, in the same transaction as the change it belongs to
//! ([`tessera_store::SessionStore::revoke_session`] and the others). A use case then tells a
//! [`RevocationListener`] that it did: the server's in-process deny-list reads the new entries
//! from the store and publishes a hint through Redis; the CLI publishes the hint alone. A
//! listener follows the durable record and never decides anything itself.

use async_trait::async_trait;
use tessera_config::Config;
use tessera_store::redis::RedisState;
use tessera_store::{Revocation, RevocationKind, Store, StoreError};

use crate::ServiceError;

/// Told after the store has recorded revocations.
#[async_trait]
pub trait RevocationListener: Send + Sync {
    /// Revocations were recorded at `now` (by the caller, in the store). The revocation stands
    /// whatever this answers.
    ///
    /// # Errors
    /// [`ServiceError::Unavailable`] or a store error if the listener could not follow (the
    /// server's deny-list could not read the store); the caller answers so, and a retry revokes
    /// again, harmlessly.
    async fn recorded(&self, now: u64) -> Result<(), ServiceError>;
}

/// A listener that does nothing: for a process with no cache to update and no Redis.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoListener;

#[async_trait]
impl RevocationListener for NoListener {
    async fn recorded(&self, _now: u64) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// Records the revocation of a session's access tokens that no longer has a row (purged long
/// after its end) and tells `listener`: a verified token naming it must not outlive a logout.
///
/// # Errors
/// The store's or the listener's error.
pub async fn deny_session(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    session_id: &str,
    now: u64,
) -> Result<(), ServiceError> {
    store
        .add_revocation(&Revocation {
            kind: RevocationKind::Session,
            subject: session_id.to_owned(),
            not_before: now,
            expires_at: 0,
        })
        .await?;
    listener.recorded(now).await
}

/// Denies one access token by its `jti` until it expires (RFC 7009 revocation of an access
/// token), and tells `listener`. The store keeps the entry past `exp` by its margin for leeway
/// and clock skew.
///
/// # Errors
/// The store's or the listener's error.
pub async fn deny_token(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    jti: &str,
    issued_at: u64,
    expires_at: u64,
    now: u64,
) -> Result<(), ServiceError> {
    store
        .add_revocation(&Revocation {
            kind: RevocationKind::Token,
            subject: jti.to_owned(),
            not_before: issued_at,
            expires_at: expires_at.saturating_add(tessera_store::REVOCATION_MARGIN),
        })
        .await?;
    listener.recorded(now).await
}

/// Prepares the connection to the shared Redis when `REDIS_URL` is set, with the key prefix of
/// `TESSERA_REDIS_PREFIX` or, by default, `tessera:<deployment id>:` from `store`.
///
/// # Errors
/// [`StoreError::Redis`] if the URL is not a valid Redis URL (an unreachable Redis is not an
/// error: calls fail until it answers); the store's error if the deployment id cannot be read.
pub async fn open_redis(
    config: &Config,
    store: &dyn Store,
) -> Result<Option<RedisState>, StoreError> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    let prefix = match &config.redis_prefix {
        Some(prefix) => prefix.clone(),
        None => format!("tessera:{}:", store.deployment_id().await?),
    };
    RedisState::new(url.expose(), &prefix).map(Some)
}
