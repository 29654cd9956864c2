//! The deny-list: revoked tokens, sessions and user epochs, answered in-process.
//!
//! The durable record is the store's revocations table ([`tessera_store::RevocationStore`]); this
//! cache answers the hot path without I/O. [`DenyList::revoke`] writes the store first, then the
//! cache, so a revocation that was acknowledged survives a restart. A background task
//! ([`DenyList::sync`], every [`SYNC_INTERVAL`]) picks up revocations recorded by other processes
//! sharing the database (such as `tessera user disable`) and forgets expired entries.
//!
//! Fail closed: if the cache has not been synchronised with the store for [`MAX_STALENESS`], the
//! check cannot be trusted and [`DenyList::check`] refuses.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tessera_store::{Revocation, RevocationKind, Store};
use tessera_token::AccessClaims;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// How often the cache is synchronised with the store.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// How stale the cache may be before checks are refused.
pub const MAX_STALENESS: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Entries {
    /// `jti` -> expiry.
    tokens: HashMap<String, u64>,
    /// `sid` -> expiry.
    sessions: HashMap<String, u64>,
    /// user id -> (not_before, expiry): tokens with `iat < not_before` are denied.
    users: HashMap<String, (u64, u64)>,
    /// Highest store sequence number applied.
    cursor: i64,
    /// When the cache last matched the store.
    synced_at: Option<Instant>,
}

impl Entries {
    fn apply(&mut self, seq: i64, revocation: Revocation) {
        self.cursor = self.cursor.max(seq);
        let Revocation {
            kind,
            subject,
            not_before,
            expires_at,
        } = revocation;
        match kind {
            RevocationKind::Token => {
                let entry = self.tokens.entry(subject).or_insert(expires_at);
                *entry = (*entry).max(expires_at);
            }
            RevocationKind::Session => {
                let entry = self.sessions.entry(subject).or_insert(expires_at);
                *entry = (*entry).max(expires_at);
            }
            RevocationKind::User => {
                let entry = self
                    .users
                    .entry(subject)
                    .or_insert((not_before, expires_at));
                *entry = (entry.0.max(not_before), entry.1.max(expires_at));
            }
        }
    }

    fn forget_expired(&mut self, now: u64) {
        self.tokens.retain(|_, expires| *expires > now);
        self.sessions.retain(|_, expires| *expires > now);
        self.users.retain(|_, (_, expires)| *expires > now);
    }
}

/// Why a token is denied (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Its `jti` was revoked.
    Token,
    /// Its session was revoked (logout, reuse detection, session delete).
    Session,
    /// It was issued before its user's epoch (logout-all, disable).
    User,
}

/// The in-process deny-list over the durable revocation record.
pub struct DenyList {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    entries: RwLock<Entries>,
}

impl std::fmt::Debug for DenyList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenyList")
            .field("store", &self.store.backend())
            .field("entries", &self.len())
            .finish()
    }
}

impl DenyList {
    /// Loads every live revocation from the store.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] (or another store error) if the store cannot be read.
    pub async fn load(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        now: u64,
    ) -> Result<Self, ApiError> {
        let mut entries = Entries::default();
        for (seq, revocation) in store.live_revocations(now).await? {
            entries.apply(seq, revocation);
        }
        entries.synced_at = Some(Instant::now());
        Ok(DenyList {
            store,
            metrics,
            entries: RwLock::new(entries),
        })
    }

    /// Records a revocation: durably in the store, then in the cache.
    ///
    /// # Errors
    /// The store's error; then nothing was revoked and the caller must not say it was.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), ApiError> {
        self.store.add_revocation(&revocation).await?;
        self.metrics.revocation(match revocation.kind {
            RevocationKind::Token => "token",
            RevocationKind::Session => "session",
            RevocationKind::User => "user",
        });
        let mut entries = self.write();
        // The store assigned a sequence number we do not know; the next sync re-reads it, which
        // is harmless (applying is idempotent).
        entries.apply(0, revocation);
        Ok(())
    }

    /// Whether the token with these claims is denied.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the cache is too stale to be trusted (fail closed).
    pub fn check(&self, claims: &AccessClaims) -> Result<Option<Denial>, ApiError> {
        let entries = self.read();
        let fresh = entries
            .synced_at
            .is_some_and(|synced| synced.elapsed() <= MAX_STALENESS);
        if !fresh {
            return Err(ApiError::Unavailable(
                "revocation status cannot be checked right now; try again",
            ));
        }
        if entries.tokens.contains_key(&claims.jti) {
            return Ok(Some(Denial::Token));
        }
        if claims
            .sid
            .as_ref()
            .is_some_and(|sid| entries.sessions.contains_key(sid))
        {
            return Ok(Some(Denial::Session));
        }
        if let Some((not_before, _)) = entries.users.get(&claims.sub) {
            // A token without iat cannot prove it is newer than the epoch.
            if claims.iat.is_none_or(|iat| iat < *not_before) {
                return Ok(Some(Denial::User));
            }
        }
        Ok(None)
    }

    /// Applies revocations recorded since the last sync (by any process) and forgets expired
    /// entries.
    ///
    /// # Errors
    /// The store's error; the cache then ages towards [`MAX_STALENESS`].
    pub async fn sync(&self, now: u64) -> Result<usize, ApiError> {
        let cursor = self.read().cursor;
        let news = self.store.revocations_since(cursor).await?;
        let count = news.len();
        let mut entries = self.write();
        for (seq, revocation) in news {
            entries.apply(seq, revocation);
        }
        entries.forget_expired(now);
        entries.synced_at = Some(Instant::now());
        Ok(count)
    }

    /// Number of entries in the cache (for metrics).
    #[must_use]
    pub fn len(&self) -> usize {
        let entries = self.read();
        entries.tokens.len() + entries.sessions.len() + entries.users.len()
    }

    /// Whether the cache is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the cache was synchronised recently enough to be trusted (for readiness).
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        self.read()
            .synced_at
            .is_some_and(|synced| synced.elapsed() <= MAX_STALENESS)
    }

    // A poisoned lock means a panic while holding it; the maps are still consistent (every
    // mutation is a single insert or retain), so keep serving from them.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
