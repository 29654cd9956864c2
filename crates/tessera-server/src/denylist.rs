//! The deny-list: revoked tokens, sessions and user epochs, answered in-process.
//!
//! The durable record is the store's revocations table ([`tessera_store::RevocationStore`]); this
//! cache answers the hot path without I/O. [`DenyList::revoke`] writes the store first, then the
//! cache, so a revocation that was acknowledged survives a restart. A background task
//! ([`DenyList::sync`], every [`SYNC_INTERVAL`]) picks up revocations recorded by other processes
//! sharing the database (such as `tessera user disable`) and forgets expired entries.
//!
//! With Redis ([`SharedDenyList`]), a revocation is also stored in Redis with a TTL and broadcast;
//! every instance applies broadcasts as they arrive (`crate::shared`), so a revocation made on
//! one instance is enforced by all of them within milliseconds, and the database poll is only the
//! backstop.
//!
//! Fail closed: if the cache has not been synchronised with the store for [`MAX_STALENESS`], or
//! it follows Redis and has lost its connection (unless `TESSERA_REDIS_FALLBACK=database`, which
//! polls the database every [`FALLBACK_SYNC_INTERVAL`] instead), the check cannot be trusted and
//! [`DenyList::check`] refuses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tessera_config::RedisFallback;
use tessera_store::redis::{Broadcast, RedisState};
use tessera_store::{Revocation, RevocationKind, Store};
use tessera_token::AccessClaims;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// How often the cache is synchronised with the store.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// How often the cache is synchronised with the store while Redis, which normally brings
/// revocations at once, is unreachable and `TESSERA_REDIS_FALLBACK=database`.
pub const FALLBACK_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// How often, in seconds, entries whose tokens have all expired are dropped from the cache. It
/// takes a scan of every entry (milliseconds at a million), done under the read lock, so checks
/// go on meanwhile; an expired entry kept a minute longer only denies tokens that are expired
/// anyway.
pub const FORGET_INTERVAL: u64 = 60;

/// How stale the cache may be before checks are refused.
pub const MAX_STALENESS: Duration = Duration::from_secs(10);

/// The Redis side of the deny-list: where revocations are stored with a TTL and broadcast, and
/// whether this instance is currently receiving the broadcasts.
#[derive(Debug)]
pub struct SharedDenyList {
    /// The shared Redis.
    pub redis: RedisState,
    /// Refuse (503) or poll the database while Redis cannot be reached.
    pub fallback: RedisFallback,
    /// Whether the subscription to the broadcast is up (set by the task that follows it).
    connected: AtomicBool,
}

impl SharedDenyList {
    /// A shared deny-list over `redis`, not yet connected.
    #[must_use]
    pub fn new(redis: RedisState, fallback: RedisFallback) -> Self {
        SharedDenyList {
            redis,
            fallback,
            connected: AtomicBool::new(false),
        }
    }
}

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
    /// When expired entries were last dropped (clock seconds).
    forgotten_at: u64,
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

    /// The entries whose tokens have all expired at `now`.
    fn expired(&self, now: u64) -> Vec<(RevocationKind, String)> {
        let tokens = self
            .tokens
            .iter()
            .filter(|(_, expires)| **expires <= now)
            .map(|(jti, _)| (RevocationKind::Token, jti.clone()));
        let sessions = self
            .sessions
            .iter()
            .filter(|(_, expires)| **expires <= now)
            .map(|(sid, _)| (RevocationKind::Session, sid.clone()));
        let users = self
            .users
            .iter()
            .filter(|(_, (_, expires))| *expires <= now)
            .map(|(user, _)| (RevocationKind::User, user.clone()));
        tokens.chain(sessions).chain(users).collect()
    }

    /// Drops the given entries if they are still expired at `now` (one may have been extended
    /// since they were listed).
    fn forget(&mut self, expired: Vec<(RevocationKind, String)>, now: u64) {
        for (kind, subject) in expired {
            let still_expired = match kind {
                RevocationKind::Token => self.tokens.get(&subject).is_some_and(|e| *e <= now),
                RevocationKind::Session => self.sessions.get(&subject).is_some_and(|e| *e <= now),
                RevocationKind::User => self.users.get(&subject).is_some_and(|(_, e)| *e <= now),
            };
            if still_expired {
                match kind {
                    RevocationKind::Token => self.tokens.remove(&subject).map(drop),
                    RevocationKind::Session => self.sessions.remove(&subject).map(drop),
                    RevocationKind::User => self.users.remove(&subject).map(drop),
                };
            }
        }
        self.forgotten_at = now;
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
    shared: Option<SharedDenyList>,
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
            shared: None,
        })
    }

    /// Follows (and publishes to) the shared deny-list in Redis.
    #[must_use]
    pub fn with_shared(mut self, shared: SharedDenyList) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The Redis side, if any.
    #[must_use]
    pub fn shared(&self) -> Option<&SharedDenyList> {
        self.shared.as_ref()
    }

    /// The durable store behind the cache.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Records whether the broadcast subscription is up.
    pub fn set_connected(&self, connected: bool) {
        if let Some(shared) = &self.shared {
            shared.connected.store(connected, Ordering::Release);
            self.metrics.redis_connected(connected);
        }
    }

    /// Whether Redis is configured but its broadcast is not being received.
    #[must_use]
    pub fn redis_disconnected(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| !shared.connected.load(Ordering::Acquire))
    }

    /// Whether the database should be polled every [`FALLBACK_SYNC_INTERVAL`]: Redis is down and
    /// the fallback is `database`.
    #[must_use]
    pub fn polls_fast(&self) -> bool {
        self.redis_disconnected()
            && self
                .shared
                .as_ref()
                .is_some_and(|shared| shared.fallback == RedisFallback::Database)
    }

    /// Applies a revocation broadcast by an instance (this one included: applying is idempotent).
    pub fn apply_broadcast(&self, broadcast: Broadcast, now_ms: u64) {
        self.metrics
            .revocation_propagated(now_ms.saturating_sub(broadcast.published_at_ms));
        self.write().apply(0, broadcast.revocation);
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
        // The store assigned a sequence number we do not know; the next sync re-reads it, which
        // is harmless (applying is idempotent).
        self.write().apply(0, revocation.clone());
        if let Some(shared) = &self.shared {
            if let Err(err) = shared.redis.publish_revocation(&revocation).await {
                // Recorded durably and enforced here; other instances read it from the database
                // within SYNC_INTERVAL, or refuse while they cannot reach Redis either.
                tracing::warn!(error = %err, "revocation recorded but not broadcast through Redis; other instances pick it up from the database");
            }
        }
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
        if let Some(shared) = &self.shared {
            if shared.fallback == RedisFallback::Closed && !shared.connected.load(Ordering::Acquire)
            {
                return Err(ApiError::Unavailable(
                    "revocation status cannot be checked: the shared deny-list (Redis) is unreachable; try again",
                ));
            }
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

    /// Applies revocations recorded since the last sync (by any process), and forgets expired
    /// entries every [`FORGET_INTERVAL`].
    ///
    /// # Errors
    /// The store's error; the cache then ages towards [`MAX_STALENESS`].
    pub async fn sync(&self, now: u64) -> Result<usize, ApiError> {
        let cursor = self.read().cursor;
        let news = self.store.revocations_since(cursor).await?;
        let count = news.len();
        {
            let mut entries = self.write();
            for (seq, revocation) in news {
                entries.apply(seq, revocation);
            }
            entries.synced_at = Some(Instant::now());
        }
        self.forget_expired(now);
        Ok(count)
    }

    /// Drops the entries whose tokens have all expired, at most every [`FORGET_INTERVAL`]: found
    /// under the read lock (checks continue), removed under the write lock (only those).
    fn forget_expired(&self, now: u64) {
        let expired = {
            let entries = self.read();
            if now < entries.forgotten_at.saturating_add(FORGET_INTERVAL) {
                return;
            }
            entries.expired(now)
        };
        self.write().forget(expired, now);
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

    /// Every live revocation in the durable store (to rebuild Redis from).
    ///
    /// # Errors
    /// The store's error.
    pub async fn durable_revocations(&self, now: u64) -> Result<Vec<Revocation>, ApiError> {
        Ok(self
            .store
            .live_revocations(now)
            .await?
            .into_iter()
            .map(|(_, revocation)| revocation)
            .collect())
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]
mod tests {
    use super::*;
    use tessera_store::sqlite::SqliteStore;

    fn broadcast(kind: RevocationKind, subject: &str, expires_at: u64) -> Broadcast {
        Broadcast {
            revocation: Revocation {
                kind,
                subject: subject.into(),
                not_before: 0,
                expires_at,
            },
            published_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn expired_entries_are_forgotten_at_most_every_forget_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let deny_list = DenyList::load(store, Arc::default(), 1_000).await.unwrap();
        deny_list.apply_broadcast(broadcast(RevocationKind::Token, "old", 1_100), 0);
        deny_list.apply_broadcast(broadcast(RevocationKind::Session, "sid", 1_200), 0);
        deny_list.apply_broadcast(broadcast(RevocationKind::User, "user", 9_000), 0);
        deny_list.sync(1_150).await.unwrap();
        assert_eq!(deny_list.len(), 2, "the token entry expired at 1,100");
        // Expired at 1,200, but the last scan was at 1,150: kept until 1,210.
        deny_list.sync(1_205).await.unwrap();
        assert_eq!(deny_list.len(), 2);
        // An entry extended before the scan is kept.
        deny_list.apply_broadcast(broadcast(RevocationKind::Session, "sid", 5_000), 0);
        deny_list.sync(1_210).await.unwrap();
        assert_eq!(deny_list.len(), 2);
        deny_list.sync(9_000).await.unwrap();
        assert!(deny_list.is_empty());
    }
}
