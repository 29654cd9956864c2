//! The deny-list: revoked tokens, sessions and user epochs, answered in-process.
//!
//! The durable record is the store's revocations table ([`tessera_store::RevocationStore`]), and
//! it is the only source: this cache follows it and answers the hot path without I/O.
//! [`DenyList::revoke`] writes the store first, then the cache, so a revocation that was
//! acknowledged survives a restart; revocations the store records as part of a larger step (a
//! logout, a password change) are read back by [`DenyList::publish_recorded`]. A background task
//! ([`DenyList::sync`], every [`SYNC_INTERVAL`]) picks up revocations recorded by other processes
//! sharing the database (such as `tessera user disable`) and forgets expired entries.
//!
//! With Redis ([`SharedDenyList`]), the instance that recorded a revocation also stores it in Redis
//! with a TTL and publishes a hint; every instance that receives a hint reads the database at once
//! (`crate::shared`), so a revocation made on one instance is enforced by all of them within
//! milliseconds, and the periodic poll is only the backstop. A hint carries nothing to trust:
//! whoever can publish on the channel can make instances read sooner, nothing more. A hint that
//! could not be published (Redis down) goes out when Redis is back.
//!
//! Every token must also fit the deployment's longest access lifetime (`exp - iat` no longer than
//! the mark of [`tessera_store::RevocationStore::longest_access_ttl`]): revocations are kept that
//! long, so a longer-lived token (minted elsewhere with the same key) could outlive the
//! revocation that covers it, and is refused.
//!
//! Fail closed: if the cache has not been synchronised with the store for [`MAX_STALENESS`], or
//! it follows Redis and has lost its connection for longer than [`REDIS_GRACE`] (unless
//! `TESSERA_REDIS_FALLBACK=database`), the check cannot be trusted and [`DenyList::check`]
//! refuses. While the connection is down the database is polled every
//! [`FALLBACK_SYNC_INTERVAL`]. Revoking never waits for Redis ([`DenyList::check_to_revoke`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tessera_config::RedisFallback;
use tessera_store::redis::{Hint, RedisState};
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

/// How long a lost Redis subscription is bridged by polling the database every
/// [`FALLBACK_SYNC_INTERVAL`] before checks fail closed (`TESSERA_REDIS_FALLBACK=closed`): a
/// reconnection (Redis drops subscribers whose output buffer overflows, for instance) then costs
/// no refusals.
pub const REDIS_GRACE: Duration = Duration::from_secs(1);

/// The shortest time between two reads of the database asked for by hints: a flood of hints costs
/// at most one read per this interval.
pub const HINT_SPACING: Duration = Duration::from_millis(10);

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
    /// Since when the subscription has been down, if it is.
    lost_at: std::sync::Mutex<Option<Instant>>,
    /// The sequence number after which revocations were recorded that could not be published:
    /// they go out when Redis is back.
    unpublished_after: std::sync::Mutex<Option<i64>>,
}

impl SharedDenyList {
    /// A shared deny-list over `redis`, not yet connected.
    #[must_use]
    pub fn new(redis: RedisState, fallback: RedisFallback) -> Self {
        SharedDenyList {
            redis,
            fallback,
            connected: AtomicBool::new(false),
            lost_at: std::sync::Mutex::new(Some(Instant::now())),
            unpublished_after: std::sync::Mutex::new(None),
        }
    }

    /// Whether checks must fail closed: the subscription is down beyond [`REDIS_GRACE`] and the
    /// fallback is `closed`.
    fn refuses(&self) -> bool {
        self.fallback == RedisFallback::Closed
            && !self.connected.load(Ordering::Acquire)
            && lock(&self.lost_at).is_none_or(|lost| lost.elapsed() > REDIS_GRACE)
    }
}

/// Locks a mutex; a poisoned one still holds a consistent value (every write is one store).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    /// It claims a longer life (`exp - iat`, or no `iat`) than any access token this deployment
    /// issues, so no revocation would be kept long enough to cover it.
    Lifetime,
}

/// The in-process deny-list over the durable revocation record.
pub struct DenyList {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    entries: RwLock<Entries>,
    shared: Option<SharedDenyList>,
    /// The deployment's longest access-token lifetime, as last read from the store.
    longest_access_ttl: AtomicU64,
    /// Set by hints: the sync task reads the store at once.
    sync_wanted: tokio::sync::Notify,
    /// The highest revocation sequence number applied so far (for the revocation feed's long
    /// polls, which wake when it moves).
    newest: tokio::sync::watch::Sender<i64>,
}

/// The server's deny-list follows every revocation a use case records: it reads the new entries
/// from the store and publishes them through Redis.
#[async_trait::async_trait]
impl tessera_service::revocations::RevocationListener for DenyList {
    async fn recorded(&self, now: u64) -> Result<(), tessera_service::ServiceError> {
        self.publish_recorded(now).await.map_err(|err| match err {
            ApiError::Unavailable(text) => tessera_service::ServiceError::Unavailable(text),
            _ => tessera_service::ServiceError::Unavailable(
                "the revocation is recorded, but this instance could not read it back; try again",
            ),
        })
    }
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
        let longest = store.longest_access_ttl().await?;
        let newest = tokio::sync::watch::Sender::new(entries.cursor);
        Ok(DenyList {
            store,
            metrics,
            entries: RwLock::new(entries),
            shared: None,
            longest_access_ttl: AtomicU64::new(longest),
            sync_wanted: tokio::sync::Notify::new(),
            newest,
        })
    }

    /// Wakes the revocation feed's waiters if revocations newer than they saw were applied.
    fn announce(&self) {
        let cursor = self.read().cursor;
        self.newest.send_if_modified(|newest| {
            let moved = cursor > *newest;
            *newest = (*newest).max(cursor);
            moved
        });
    }

    /// A receiver that changes whenever a revocation newer than any before is applied (recorded
    /// by this instance, or read from the store or a Redis hint): the revocation feed waits on it.
    #[must_use]
    pub fn newest_revocation(&self) -> tokio::sync::watch::Receiver<i64> {
        self.newest.subscribe()
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
            {
                let mut lost_at = lock(&shared.lost_at);
                if connected {
                    *lost_at = None;
                } else if lost_at.is_none() {
                    *lost_at = Some(Instant::now());
                }
            }
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

    /// Whether Redis is down and the fallback is `database` (for readiness and logs).
    #[must_use]
    pub fn polls_fast(&self) -> bool {
        self.redis_disconnected()
            && self
                .shared
                .as_ref()
                .is_some_and(|shared| shared.fallback == RedisFallback::Database)
    }

    /// Whether the database should be polled every [`FALLBACK_SYNC_INTERVAL`]: Redis is
    /// configured and its subscription is down (whatever the fallback: in `closed` mode this
    /// bridges [`REDIS_GRACE`]).
    #[must_use]
    pub fn polls_database_fast(&self) -> bool {
        self.redis_disconnected()
    }

    /// Applies a revocation read from the durable record, with its sequence number (0 if unknown:
    /// the next sync reads it again, harmlessly). For followers of the record other than
    /// [`DenyList::sync`]; the cache itself never invents a revocation.
    pub fn apply(&self, seq: i64, revocation: Revocation) {
        self.write().apply(seq, revocation);
        self.announce();
    }

    /// A hint arrived (another instance recorded a revocation): the sync task reads the store now.
    pub fn hint(&self, hint: Hint, now_ms: u64) {
        self.metrics
            .revocation_propagated(now_ms.saturating_sub(hint.published_at_ms));
        self.sync_wanted.notify_one();
    }

    /// Completes when a hint asked for a sync (for the sync task).
    pub async fn sync_wanted(&self) {
        self.sync_wanted.notified().await;
    }

    /// Records a revocation: durably in the store, then in the cache, then (with Redis) stores
    /// it there and hints every instance.
    ///
    /// # Errors
    /// The store's error; then nothing was revoked and the caller must not say it was.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), ApiError> {
        let (seq, stored) = self.store.add_revocation(&revocation).await?;
        self.count(&stored);
        self.write().apply(seq, stored.clone());
        self.announce();
        self.publish(&[stored], seq.saturating_sub(1)).await;
        Ok(())
    }

    /// After the store recorded revocations as part of a larger step (a logout, a password
    /// change, a disable): reads them into the cache and publishes them (see [`DenyList::revoke`]).
    ///
    /// # Errors
    /// The store's error: the revocations are recorded durably (and other instances read them
    /// within [`SYNC_INTERVAL`]), but this cache may not have them yet; answer 503 so the
    /// client tries again (revoking twice is harmless).
    pub async fn publish_recorded(&self, now: u64) -> Result<(), ApiError> {
        let before = self.read().cursor;
        let news = self.sync_news(now).await?;
        for revocation in &news {
            self.count(revocation);
        }
        self.publish(&news, before).await;
        Ok(())
    }

    fn count(&self, revocation: &Revocation) {
        self.metrics.revocation(match revocation.kind {
            RevocationKind::Token => "token",
            RevocationKind::Session => "session",
            RevocationKind::User => "user",
        });
    }

    /// Publishes `revocations` (recorded after sequence number `after`) through Redis, if
    /// configured. A failure is logged and remembered: the hint goes out when Redis is back
    /// ([`DenyList::publish_pending`]). Never a reason to refuse the revocation.
    async fn publish(&self, revocations: &[Revocation], after: i64) {
        let Some(shared) = &self.shared else {
            return;
        };
        if let Err(err) = shared.redis.publish_revocations(revocations).await {
            // Recorded durably and enforced here; other instances read it from the database
            // within SYNC_INTERVAL, or refuse while they cannot reach Redis either.
            tracing::warn!(event = "revocation_not_broadcast", error = %err, "revocation recorded but not broadcast through Redis; other instances pick it up from the database, and the broadcast goes out when Redis is back");
            let mut pending = lock(&shared.unpublished_after);
            *pending = Some(pending.map_or(after, |earlier| earlier.min(after)));
        }
    }

    /// Publishes what could not be published while Redis was unreachable (called once the
    /// subscription is back).
    pub async fn publish_pending(&self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let Some(after) = *lock(&shared.unpublished_after) else {
            return;
        };
        let news = match self.store.revocations_since(after).await {
            Ok(news) => news,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the revocations to broadcast; retrying at the next reconnection");
                return;
            }
        };
        let revocations: Vec<Revocation> = news.into_iter().map(|(_, r)| r).collect();
        match shared.redis.publish_revocations(&revocations).await {
            Ok(()) => {
                let mut pending = lock(&shared.unpublished_after);
                if *pending == Some(after) {
                    *pending = None;
                }
                tracing::info!(
                    event = "revocations_rebroadcast",
                    revocations = revocations.len(),
                    "revocations recorded while Redis was unreachable are broadcast now"
                );
            }
            Err(err) => {
                tracing::warn!(error = %err, "broadcasting the revocations recorded while Redis was unreachable failed; retrying at the next reconnection");
            }
        }
    }

    /// Whether the token with these claims is denied.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the cache is too stale to be trusted (fail closed).
    pub fn check(&self, claims: &AccessClaims) -> Result<Option<Denial>, ApiError> {
        if self.shared.as_ref().is_some_and(SharedDenyList::refuses) {
            return Err(ApiError::Unavailable(
                "revocation status cannot be checked: the shared deny-list (Redis) is unreachable; try again",
            ));
        }
        self.check_against_store(claims)
    }

    /// Like [`DenyList::check`] for a request whose only effect is to revoke (or that changes
    /// credentials and revokes): Redis being unreachable is no reason to refuse it, since the
    /// revocation is recorded in the database and broadcast when Redis is back. While Redis is
    /// down, the cache is first brought up to date with the database, so the token is judged
    /// against every revocation recorded until now.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the cache cannot be brought up to date.
    pub async fn check_to_revoke(
        &self,
        claims: &AccessClaims,
        now: u64,
    ) -> Result<Option<Denial>, ApiError> {
        if self.redis_disconnected() {
            self.sync(now).await?;
        }
        self.check_against_store(claims)
    }

    /// The check itself, trusting the cache if it matched the store within [`MAX_STALENESS`].
    fn check_against_store(&self, claims: &AccessClaims) -> Result<Option<Denial>, ApiError> {
        let entries = self.read();
        let fresh = entries
            .synced_at
            .is_some_and(|synced| synced.elapsed() <= MAX_STALENESS);
        if !fresh {
            return Err(ApiError::Unavailable(
                "revocation status cannot be checked right now; try again",
            ));
        }
        let longest = self.longest_access_ttl.load(Ordering::Acquire);
        if claims
            .iat
            .is_none_or(|iat| claims.exp.saturating_sub(iat) > longest)
        {
            return Ok(Some(Denial::Lifetime));
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
            // A token without iat cannot prove it is newer than the epoch. Times are whole
            // seconds, so a token issued in the epoch's own second may be older or newer: one with
            // a session is judged by its session (revoked one by one with the epoch, so a login
            // right after a logout-all keeps working), one without (minted) is refused.
            let before =
                |iat: u64| iat < *not_before || (iat == *not_before && claims.sid.is_none());
            if claims.iat.is_none_or(before) {
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
        Ok(self.sync_news(now).await?.len())
    }

    /// [`DenyList::sync`], returning the revocations it applied; it also re-reads the
    /// deployment's longest access lifetime (a new instance may have raised it).
    async fn sync_news(&self, now: u64) -> Result<Vec<Revocation>, ApiError> {
        let cursor = self.read().cursor;
        let news = self.store.revocations_since(cursor).await?;
        let longest = self.store.longest_access_ttl().await?;
        self.longest_access_ttl.fetch_max(longest, Ordering::AcqRel);
        let mut applied = Vec::with_capacity(news.len());
        {
            let mut entries = self.write();
            for (seq, revocation) in news {
                entries.apply(seq, revocation.clone());
                applied.push(revocation);
            }
            entries.synced_at = Some(Instant::now());
        }
        self.announce();
        self.forget_expired(now);
        Ok(applied)
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

    /// Time since the cache last matched the store (`None`: never), for metrics.
    #[must_use]
    pub fn sync_age(&self) -> Option<std::time::Duration> {
        self.read().synced_at.map(|synced| synced.elapsed())
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

    async fn record(store: &Arc<dyn Store>, kind: RevocationKind, subject: &str, expires_at: u64) {
        store
            .add_revocation(&Revocation {
                kind,
                subject: subject.into(),
                not_before: 0,
                expires_at,
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn expired_entries_are_forgotten_at_most_every_forget_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let deny_list = DenyList::load(store.clone(), Arc::default(), 1_000)
            .await
            .unwrap();
        record(&store, RevocationKind::Token, "old", 1_100).await;
        record(&store, RevocationKind::Session, "sid", 1_200).await;
        record(&store, RevocationKind::User, "user", 9_000).await;
        deny_list.sync(1_150).await.unwrap();
        assert_eq!(deny_list.len(), 2, "the token entry expired at 1,100");
        // Expired at 1,200, but the last scan was at 1,150: kept until 1,210.
        deny_list.sync(1_205).await.unwrap();
        assert_eq!(deny_list.len(), 2);
        // An entry extended before the scan is kept.
        record(&store, RevocationKind::Session, "sid", 5_000).await;
        deny_list.sync(1_210).await.unwrap();
        assert_eq!(deny_list.len(), 2);
        deny_list.sync(9_000).await.unwrap();
        assert!(deny_list.is_empty());
    }
}
