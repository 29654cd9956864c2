//! Throttling of the credential endpoints: a lockout per account and a request limit per client
//! address.
//!
//! - [`LoginThrottle`]: after `TESSERA_LOGIN_MAX_FAILURES` failed logins for one account within
//!   `TESSERA_LOGIN_LOCKOUT`, further logins for it are refused with 429 and `Retry-After` until
//!   the window passes, even with the right password. A success resets the count. Other accounts
//!   are unaffected.
//! - [`IpRateLimiter`]: at most `TESSERA_RATE_LIMIT_PER_IP` requests per minute from one client
//!   address (0 turns it off), counted separately for each group of endpoints
//!   ([`AddressScope`]): the credential endpoints (register, login, refresh, password change;
//!   the [`RateLimitedPeer`] extractor), the OAuth endpoints (revoke, introspect; [`OAuthPeer`])
//!   and readiness ([`OpsPeer`]). Each applies before the handler reads the body.
//! - [`KeyRateLimiter`]: requests per minute per account or client: password changes per user
//!   ([`PASSWORD_CHANGES_PER_MINUTE`]) and introspections per client (the per-address limit).
//!
//! Both count in fixed windows of the injected clock (`AppState::clock`), so tests step time
//! instead of sleeping. Without `REDIS_URL` they live in this process's memory, behind a mutex
//! that is never held across an `.await`; both tables are bounded: expired entries are swept once
//! per window, and a full table evicts the entries that matter least (see each type) instead of
//! growing or refusing everyone.
//!
//! With `REDIS_URL` ([`SharedCounters`]) the same windows are counted in Redis by atomic scripts,
//! so every instance sees every attempt: five failures spread over three instances lock the
//! account everywhere. If Redis cannot be reached, the credential endpoints answer 503 (fail
//! closed), or, with `TESSERA_REDIS_FALLBACK=database`, count in this process's memory until
//! Redis is back.

use aws_lc_rs::digest;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tessera_config::RedisFallback;
use tessera_store::redis::{LoginAttempt, RedisState};

use crate::error::ApiError;
use crate::state::AppState;

/// Counters kept in Redis, shared by every instance, and what to do while Redis fails.
#[derive(Debug, Clone)]
pub struct SharedCounters {
    /// The shared Redis.
    pub redis: RedisState,
    /// Refuse (503) or count locally while Redis cannot be reached.
    pub fallback: RedisFallback,
}

impl SharedCounters {
    /// What to do about a Redis failure: the 503 to answer (fail closed), or `None` to count
    /// locally instead (fallback, or a request that must work without Redis: `local`).
    fn on_failure(
        &self,
        err: &tessera_store::StoreError,
        what: &'static str,
        local: OnRedisFailure,
    ) -> Option<ApiError> {
        tracing::debug!(error = %err, what, "shared counter unavailable");
        match (self.fallback, local) {
            (_, OnRedisFailure::CountLocally) | (RedisFallback::Database, _) => None,
            (RedisFallback::Closed, OnRedisFailure::AsConfigured) => Some(ApiError::Unavailable(
                "the shared throttle counters (Redis) are unreachable; try again",
            )),
        }
    }
}

/// What a counter does when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisFailure {
    /// What `TESSERA_REDIS_FALLBACK` says: refuse (`closed`) or count locally (`database`).
    AsConfigured,
    /// Count in this process whatever the fallback: for requests that must work while Redis is
    /// down (a password change, which also revokes).
    CountLocally,
}

/// What [`LoginThrottle::attempt`] decided about one login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Counted (as a failure until it succeeds): this many attempts are now counted in the
    /// account's window. If it fails and the count equals the maximum, it locks the account.
    Counted(u32),
    /// The account is locked: the password must not be checked. Not counted.
    Locked {
        /// Seconds until the window ends (at least 1), for `Retry-After`.
        retry_after: u64,
    },
}

impl From<Result<u32, u64>> for AttemptOutcome {
    fn from(local: Result<u32, u64>) -> Self {
        match local {
            Ok(count) => AttemptOutcome::Counted(count),
            Err(retry_after) => AttemptOutcome::Locked { retry_after },
        }
    }
}

/// What a rate limiter decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit.
    Allowed,
    /// Over the limit.
    Limited(RateLimited),
}

impl From<Result<(), RateLimited>> for RateDecision {
    fn from(local: Result<(), RateLimited>) -> Self {
        match local {
            Ok(()) => RateDecision::Allowed,
            Err(limited) => RateDecision::Limited(limited),
        }
    }
}

/// Password changes one user may make per minute: a few is all a person needs, and each costs
/// two argon2id hashes.
pub const PASSWORD_CHANGES_PER_MINUTE: u32 = 3;

/// Most accounts [`LoginThrottle`] tracks at once (about 60 bytes each).
pub const MAX_TRACKED_ACCOUNTS: usize = 100_000;

/// Most client addresses [`IpRateLimiter`] tracks at once (about 50 bytes each).
pub const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// The length of a per-address rate window, in seconds.
pub const RATE_WINDOW: u64 = 60;

/// How an account is known to the throttle: the SHA-256 of its username, ASCII-lowercased.
///
/// Lowercased because the store compares usernames ASCII case-insensitively, so `Alice` and
/// `alice` are one account. Hashed so that every entry has the same small size whatever the
/// client posts as a username, and so the table holds no usernames.
type AccountKey = [u8; 32];

fn account_key(username: &str) -> AccountKey {
    let digest = digest::digest(&digest::SHA256, username.to_ascii_lowercase().as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// The counted attempts for one account in its current window.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// When the window started: the first attempt counted in it.
    first: u64,
    /// Attempts counted in the window.
    count: u32,
}

/// A table of windows and when it is next swept for expired ones.
#[derive(Debug)]
struct Table<K, V> {
    entries: HashMap<K, V>,
    next_sweep: u64,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            entries: HashMap::new(),
            next_sweep: 0,
        }
    }
}

impl<K: Copy + Eq + Hash, V> Table<K, V> {
    /// Makes room for one new entry: once per `period` seconds, and whenever the table is full,
    /// forgets the entries `live` rejects; if it is still full, evicts down to seven eighths of
    /// `capacity`, lowest `rank` first. So a full table costs one scan per `capacity / 8` new
    /// entries, not one per request.
    fn make_room<R: Ord + Copy>(
        &mut self,
        now: u64,
        period: u64,
        capacity: usize,
        live: impl Fn(&V) -> bool,
        rank: impl Fn(&V) -> R,
    ) {
        if now >= self.next_sweep || self.entries.len() >= capacity {
            self.entries.retain(|_, value| live(value));
            self.next_sweep = now.saturating_add(period);
        }
        if self.entries.len() < capacity {
            return;
        }
        let excess = self.entries.len() - capacity / 8 * 7;
        let mut ranked: Vec<(R, K)> = self
            .entries
            .iter()
            .map(|(key, value)| (rank(value), *key))
            .collect();
        // `excess` is at least 1 (the table holds `capacity` or more entries and keeps 7/8 of
        // `capacity`) and at most `ranked.len()`, so the index is in bounds and this cannot panic.
        ranked.select_nth_unstable_by_key(excess - 1, |(rank, _)| *rank);
        for (_, key) in ranked.iter().take(excess) {
            self.entries.remove(key);
        }
    }
}

/// Locks a table. A poisoned mutex means a panic while holding it; every mutation is a single
/// insert, update, retain or remove, so the table is still consistent: keep serving from it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds until `end`, for `Retry-After`: at least 1 (so a client never retries at once) and at
/// most `window` (should the clock have stepped back).
fn seconds_until(end: u64, now: u64, window: u64) -> u64 {
    end.saturating_sub(now).clamp(1, window.max(1))
}

/// Failed logins per account, and the lockout that follows too many.
///
/// # Semantics
/// - **Fixed window.** An account's window starts at the first attempt counted for it and lasts
///   `lockout` seconds; when it has passed, the count is forgotten and the next attempt starts a
///   new window.
/// - **Counted before verifying.** [`LoginThrottle::attempt`] counts an attempt as a failure
///   before the password is checked, in the same critical section as the lockout check, and
///   [`LoginThrottle::record_success`] undoes it (a success resets the count). So concurrent
///   guesses cannot all slip past the check while the slow password hashes run: at most
///   `max_failures` attempts per window ever reach the password check. An attempt that fails
///   for another reason (the store is down) stays counted as a failure.
/// - **Locked** when `max_failures` attempts are counted in the window. Further attempts are
///   refused with the seconds until the window ends, whatever the password, and are **not**
///   counted, so the lockout ends when the window does and a client that keeps trying does not
///   extend it.
/// - **Unknown usernames** are counted exactly like real accounts, so the throttle is no oracle
///   for which accounts exist.
///
/// # Memory
/// At most `capacity` accounts ([`MAX_TRACKED_ACCOUNTS`]). Expired windows are swept once per
/// `lockout`. When the table is still full, the entries evicted first are those not locked
/// (probing noise that loses at most `max_failures - 1` counts), then the locked ones whose window
/// ends soonest. Evicting a locked account so costs an attacker `capacity / 8` locked fillers,
/// which is far more work than the guesses it frees.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: u32,
    lockout: u64,
    capacity: usize,
    table: Mutex<Table<AccountKey, Failures>>,
    shared: Option<SharedCounters>,
}

impl LoginThrottle {
    /// A throttle that locks an account after `max_failures` failures (at least 1) within
    /// `lockout` seconds.
    #[must_use]
    pub fn new(max_failures: u32, lockout: u64) -> Self {
        Self::with_capacity(max_failures, lockout, MAX_TRACKED_ACCOUNTS)
    }

    /// Like [`LoginThrottle::new`], tracking at most `capacity` accounts (at least 8).
    #[must_use]
    pub fn with_capacity(max_failures: u32, lockout: u64, capacity: usize) -> Self {
        LoginThrottle {
            max_failures: max_failures.max(1),
            lockout: lockout.max(1),
            capacity: capacity.max(8),
            table: Mutex::new(Table::default()),
            shared: None,
        }
    }

    /// Counts in Redis, shared by every instance, instead of in this process.
    #[must_use]
    pub fn with_shared(mut self, shared: SharedCounters) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Starts a login attempt for `username` at `now`: counts it as a failure until
    /// [`LoginThrottle::record_success`] says otherwise, and returns how many attempts are now
    /// counted in the account's window (so the caller knows when this one, if it fails, locks the
    /// account: when the count equals `max_failures`).
    ///
    /// [`AttemptOutcome::Locked`] if the account is locked; the attempt is then not counted and
    /// the password must not be checked.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] if the shared counters cannot be reached and the fallback is
    /// `closed`.
    pub async fn attempt(&self, username: &str, now: u64) -> Result<AttemptOutcome, ApiError> {
        self.attempt_with(username, now, OnRedisFailure::AsConfigured)
            .await
    }

    /// [`LoginThrottle::attempt`], choosing what a Redis failure does.
    ///
    /// # Errors
    /// As [`LoginThrottle::attempt`].
    pub async fn attempt_with(
        &self,
        username: &str,
        now: u64,
        on_failure: OnRedisFailure,
    ) -> Result<AttemptOutcome, ApiError> {
        if let Some(shared) = &self.shared {
            let account = tessera_token::base64url::encode(&account_key(username));
            match shared
                .redis
                .login_attempt(&account, now, self.max_failures, self.lockout)
                .await
            {
                Ok(LoginAttempt::Counted(count)) => return Ok(AttemptOutcome::Counted(count)),
                Ok(LoginAttempt::Locked(retry_after)) => {
                    return Ok(AttemptOutcome::Locked { retry_after })
                }
                Err(err) => {
                    if let Some(refusal) = shared.on_failure(&err, "login attempts", on_failure) {
                        return Err(refusal);
                    }
                }
            }
        }
        Ok(self.attempt_locally(username, now).into())
    }

    /// [`LoginThrottle::attempt`] in this process's table.
    fn attempt_locally(&self, username: &str, now: u64) -> Result<u32, u64> {
        let key = account_key(username);
        let (max_failures, lockout) = (self.max_failures, self.lockout);
        let mut table = lock(&self.table);
        if let Some(failures) = table.entries.get_mut(&key) {
            let end = failures.first.saturating_add(lockout);
            if now < end {
                if failures.count >= max_failures {
                    return Err(seconds_until(end, now, lockout));
                }
                failures.count += 1;
                return Ok(failures.count);
            }
            *failures = Failures {
                first: now,
                count: 1,
            };
            return Ok(1);
        }
        table.make_room(
            now,
            lockout,
            self.capacity,
            |failures| now < failures.first.saturating_add(lockout),
            |failures| (failures.count >= max_failures, failures.first),
        );
        table.entries.insert(
            key,
            Failures {
                first: now,
                count: 1,
            },
        );
        Ok(1)
    }

    /// Records a successful login for `username`: its count is reset (in Redis too, when shared;
    /// a failure there is logged and otherwise ignored: the count then expires with its window).
    pub async fn record_success(&self, username: &str) {
        let key = self.forget_locally(username);
        if let Some(shared) = &self.shared {
            if let Err(err) = shared
                .redis
                .login_success(&tessera_token::base64url::encode(&key))
                .await
            {
                // Expected while Redis is down under the `database` fallback (its loss is logged
                // once, as `redis_lost`): the count then expires with its window.
                if shared.fallback == RedisFallback::Database {
                    tracing::debug!(error = %err, "could not reset the shared failed-login count");
                } else {
                    tracing::warn!(event = "login_count_not_reset", error = %err, "could not reset the shared failed-login count");
                }
            }
        }
    }

    /// Forgets `username`'s attempts in this process's table; returns its key.
    fn forget_locally(&self, username: &str) -> AccountKey {
        let key = account_key(username);
        lock(&self.table).entries.remove(&key);
        key
    }

    /// How many accounts are tracked (for metrics and tests).
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.table).entries.len()
    }

    /// Whether no account is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The requests counted for one client address in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the window started: the first request counted in it.
    start: u64,
    /// Requests counted in the window, refused ones included.
    count: u32,
}

/// Why [`IpRateLimiter::check`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Seconds until the address's window ends (at least 1), for `Retry-After`.
    pub retry_after: u64,
    /// Whether this is the first refusal in the window (log that one, not every one).
    pub first_refusal: bool,
}

/// Requests per key (a client address, an account) per [`RATE_WINDOW`]: the counting behind
/// [`IpRateLimiter`] and [`KeyRateLimiter`].
///
/// # Semantics
/// - **Fixed window.** A key's window starts at its first request and lasts [`RATE_WINDOW`]
///   seconds; a client can so make up to twice the limit across a window boundary, which is good
///   enough for a guard against floods and costs one small entry per key.
/// - **Every request counts**, refused ones included; refusals do not extend the window.
/// - A limit of 0 turns the limiter off.
///
/// # Memory
/// At most `capacity` keys; expired windows are swept once per window, and when the table is
/// still full the oldest windows are evicted first (those clients start a new window). It never
/// refuses a client for lack of room.
#[derive(Debug)]
struct WindowCounter<K> {
    limit: u32,
    capacity: usize,
    table: Mutex<Table<K, Window>>,
    shared: Option<SharedCounters>,
    /// The Redis key kind (`{prefix}{kind}:{key}`).
    kind: &'static str,
}

impl<K: Copy + Eq + Hash> WindowCounter<K> {
    fn new(limit: u32, capacity: usize, kind: &'static str) -> Self {
        WindowCounter {
            limit,
            capacity: capacity.max(8),
            table: Mutex::new(Table::default()),
            shared: None,
            kind,
        }
    }

    async fn check(
        &self,
        key: K,
        redis_key: impl FnOnce() -> String,
        now: u64,
        on_failure: OnRedisFailure,
    ) -> Result<RateDecision, ApiError> {
        if self.limit == 0 {
            return Ok(RateDecision::Allowed);
        }
        if let Some(shared) = &self.shared {
            match shared
                .redis
                .window_hit(self.kind, &redis_key(), now, RATE_WINDOW)
                .await
            {
                Ok((count, retry_after)) => {
                    return Ok(if count > self.limit {
                        RateDecision::Limited(RateLimited {
                            retry_after,
                            first_refusal: count == self.limit.saturating_add(1),
                        })
                    } else {
                        RateDecision::Allowed
                    });
                }
                Err(err) => {
                    if let Some(refusal) = shared.on_failure(&err, self.kind, on_failure) {
                        return Err(refusal);
                    }
                }
            }
        }
        Ok(self.check_locally(key, now).into())
    }

    fn check_locally(&self, key: K, now: u64) -> Result<(), RateLimited> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut table = lock(&self.table);
        if let Some(window) = table.entries.get_mut(&key) {
            let end = window.start.saturating_add(RATE_WINDOW);
            if now < end {
                window.count = window.count.saturating_add(1);
                if window.count > self.limit {
                    return Err(RateLimited {
                        retry_after: seconds_until(end, now, RATE_WINDOW),
                        first_refusal: window.count == self.limit.saturating_add(1),
                    });
                }
                return Ok(());
            }
            *window = Window {
                start: now,
                count: 1,
            };
            return Ok(());
        }
        table.make_room(
            now,
            RATE_WINDOW,
            self.capacity,
            |window| now < window.start.saturating_add(RATE_WINDOW),
            |window| window.start,
        );
        table.entries.insert(
            key,
            Window {
                start: now,
                count: 1,
            },
        );
        Ok(())
    }

    fn len(&self) -> usize {
        lock(&self.table).entries.len()
    }
}

/// A group of endpoints whose requests one client address makes are counted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressScope {
    /// Register, login, refresh, password change (Redis keys `ip:`).
    Credentials,
    /// Token revocation and introspection (Redis keys `ip-oauth:`).
    OAuth,
    /// Readiness (Redis keys `ip-ops:`).
    Ops,
}

impl AddressScope {
    fn kind(self) -> &'static str {
        match self {
            AddressScope::Credentials => "ip",
            AddressScope::OAuth => "ip-oauth",
            AddressScope::Ops => "ip-ops",
        }
    }
}

/// Requests per client address per minute on one group of endpoints ([`AddressScope`]).
///
/// Counts in fixed windows (see the module documentation). IPv4 addresses (and IPv4-mapped IPv6 ones) count one by
/// one; an IPv6 address counts with its whole /64, since one host is routinely given a /64 and
/// could otherwise rotate through it. At most `capacity` addresses are tracked
/// ([`MAX_TRACKED_ADDRESSES`]).
///
/// # Security
/// The address is the TCP peer. Behind a reverse proxy every client has the proxy's address, so
/// the limit applies to all of them together.
#[derive(Debug)]
pub struct IpRateLimiter {
    counter: WindowCounter<IpAddr>,
}

impl IpRateLimiter {
    /// A limiter of the credential endpoints allowing `limit` requests per address per
    /// [`RATE_WINDOW`]; 0 allows everything.
    #[must_use]
    pub fn new(limit: u32) -> Self {
        Self::for_scope(limit, AddressScope::Credentials)
    }

    /// A limiter of `scope` allowing `limit` requests per address per [`RATE_WINDOW`].
    #[must_use]
    pub fn for_scope(limit: u32, scope: AddressScope) -> Self {
        IpRateLimiter {
            counter: WindowCounter::new(limit, MAX_TRACKED_ADDRESSES, scope.kind()),
        }
    }

    /// Like [`IpRateLimiter::new`], tracking at most `capacity` addresses (at least 8).
    #[must_use]
    pub fn with_capacity(limit: u32, capacity: usize) -> Self {
        IpRateLimiter {
            counter: WindowCounter::new(limit, capacity, AddressScope::Credentials.kind()),
        }
    }

    /// Counts in Redis, shared by every instance, instead of in this process.
    #[must_use]
    pub fn with_shared(mut self, shared: SharedCounters) -> Self {
        self.counter.shared = Some(shared);
        self
    }

    /// Counts a request from `ip` at `now`; [`RateDecision::Limited`] says the address has made
    /// more than the limit in its window.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] if the shared counters cannot be reached and the fallback is
    /// `closed` (unless `on_failure` says to count locally).
    pub async fn check(
        &self,
        ip: IpAddr,
        now: u64,
        on_failure: OnRedisFailure,
    ) -> Result<RateDecision, ApiError> {
        let key = client_key(ip);
        self.counter
            .check(key, || key.to_string(), now, on_failure)
            .await
    }

    /// [`IpRateLimiter::check`] in this process's table.
    #[cfg(test)]
    fn check_locally(&self, ip: IpAddr, now: u64) -> Result<(), RateLimited> {
        self.counter.check_locally(client_key(ip), now)
    }

    /// How many addresses are tracked (for metrics and tests).
    #[must_use]
    pub fn len(&self) -> usize {
        self.counter.len()
    }

    /// Whether no address is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Requests per account or client per minute (password changes per user, introspections per
/// client), counted in fixed windows (see the module documentation), by the SHA-256 of the id (so every entry has the
/// same small size and Redis holds no ids).
#[derive(Debug)]
pub struct KeyRateLimiter {
    counter: WindowCounter<AccountKey>,
}

impl KeyRateLimiter {
    /// A limiter allowing `limit` requests per id per [`RATE_WINDOW`] (0 allows everything),
    /// with Redis keys of `kind`.
    #[must_use]
    pub fn new(limit: u32, kind: &'static str) -> Self {
        KeyRateLimiter {
            counter: WindowCounter::new(limit, MAX_TRACKED_ACCOUNTS, kind),
        }
    }

    /// Counts in Redis, shared by every instance, instead of in this process.
    #[must_use]
    pub fn with_shared(mut self, shared: SharedCounters) -> Self {
        self.counter.shared = Some(shared);
        self
    }

    /// Counts a request for `id` at `now`; [`RateDecision::Limited`] says it is over the limit.
    ///
    /// # Errors
    /// As [`IpRateLimiter::check`].
    pub async fn check(
        &self,
        id: &str,
        now: u64,
        on_failure: OnRedisFailure,
    ) -> Result<RateDecision, ApiError> {
        let key = digest::digest(&digest::SHA256, id.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_ref());
        self.counter
            .check(
                bytes,
                || tessera_token::base64url::encode(&bytes),
                now,
                on_failure,
            )
            .await
    }
}

/// The address a request is counted under: IPv4 as is (also when mapped into IPv6), IPv6 by /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Counts a request from the peer against `limiter` and refuses it past the limit.
async fn limit_peer(
    parts: &Parts,
    state: &AppState,
    limiter: &IpRateLimiter,
    on_failure: OnRedisFailure,
) -> Result<SocketAddr, ApiError> {
    let ConnectInfo(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
        .ok_or_else(|| ApiError::Internal("no client address (connect info)".into()))?;
    if let RateDecision::Limited(refusal) =
        limiter.check(peer.ip(), state.now(), on_failure).await?
    {
        state.metrics.rate_limited();
        if refusal.first_refusal {
            tracing::warn!(
                event = "rate_limited",
                ip = %peer.ip(),
                retry_after = refusal.retry_after,
                scope = limiter.counter.kind,
                "too many requests from one address"
            );
        }
        return Err(ApiError::TooManyRequests {
            retry_after: refusal.retry_after,
        });
    }
    Ok(peer)
}

/// The client's address on a credential endpoint, extracted only after the per-address limit
/// ([`IpRateLimiter`]) has counted the request and let it through.
///
/// Put it before the body extractor, so that the limit applies before the body is read and
/// counts malformed requests too.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitedPeer(pub SocketAddr);

impl FromRequestParts<AppState> for RateLimitedPeer {
    type Rejection = ApiError;

    /// # Errors
    /// [`ApiError::TooManyRequests`] past the limit; [`ApiError::Internal`] if the server was not
    /// started with connection info (a bug).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let limiter = state.ip_limiter.clone();
        limit_peer(parts, state, &limiter, OnRedisFailure::AsConfigured)
            .await
            .map(RateLimitedPeer)
    }
}

/// [`RateLimitedPeer`] for a request that must be served while Redis is unreachable (a password
/// change): the per-address count falls back to this process's memory.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitedPeerWithoutRedis(pub SocketAddr);

impl FromRequestParts<AppState> for RateLimitedPeerWithoutRedis {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let limiter = state.ip_limiter.clone();
        limit_peer(parts, state, &limiter, OnRedisFailure::CountLocally)
            .await
            .map(RateLimitedPeerWithoutRedis)
    }
}

/// The client's address on an OAuth endpoint (revoke, introspect), after the per-address limit
/// of that group. Revoking must work while Redis is down, so it counts locally then.
#[derive(Debug, Clone, Copy)]
pub struct OAuthPeer(pub SocketAddr);

impl FromRequestParts<AppState> for OAuthPeer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let limiter = state.oauth_ip_limiter.clone();
        limit_peer(parts, state, &limiter, OnRedisFailure::CountLocally)
            .await
            .map(OAuthPeer)
    }
}

/// The client's address on readiness, after the per-address limit of that group (counted locally
/// when Redis is down: readiness must answer then).
#[derive(Debug, Clone, Copy)]
pub struct OpsPeer(pub SocketAddr);

impl FromRequestParts<AppState> for OpsPeer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let limiter = state.ops_ip_limiter.clone();
        limit_peer(parts, state, &limiter, OnRedisFailure::CountLocally)
            .await
            .map(OpsPeer)
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
    use std::net::Ipv4Addr;

    const T0: u64 = 1_700_000_000;

    fn fail(throttle: &LoginThrottle, username: &str, now: u64, times: u32) {
        for _ in 0..times {
            throttle.attempt_locally(username, now).unwrap();
        }
    }

    #[test]
    fn locks_after_max_failures_until_the_window_from_the_first_failure_ends() {
        let throttle = LoginThrottle::new(3, 900);
        assert_eq!(throttle.attempt_locally("alice", T0), Ok(1));
        assert_eq!(throttle.attempt_locally("alice", T0 + 100), Ok(2));
        assert_eq!(throttle.attempt_locally("alice", T0 + 200), Ok(3));
        assert_eq!(throttle.attempt_locally("alice", T0 + 200), Err(700));
        assert_eq!(throttle.attempt_locally("alice", T0 + 899), Err(1));
        // Refused attempts are not counted and do not extend the lockout.
        assert_eq!(throttle.attempt_locally("alice", T0 + 900), Ok(1));
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let throttle = LoginThrottle::new(3, 900);
        fail(&throttle, "alice", T0, 2);
        assert_eq!(
            throttle.attempt_locally("alice", T0 + 900),
            Ok(1),
            "new window"
        );
        assert_eq!(throttle.attempt_locally("alice", T0 + 901), Ok(2));
    }

    #[test]
    fn usernames_are_case_insensitive_and_accounts_independent() {
        let throttle = LoginThrottle::new(2, 60);
        fail(&throttle, "Alice", T0, 1);
        fail(&throttle, "ALICE", T0, 1);
        assert!(throttle.attempt_locally("alice", T0).is_err());
        assert_eq!(throttle.attempt_locally("bob", T0), Ok(1));
    }

    #[test]
    fn a_success_resets_the_count() {
        let throttle = LoginThrottle::new(3, 900);
        fail(&throttle, "alice", T0, 2);
        assert_eq!(throttle.attempt_locally("alice", T0), Ok(3));
        throttle.forget_locally("alice");
        assert!(throttle.is_empty());
        fail(&throttle, "alice", T0, 2);
        assert_eq!(throttle.attempt_locally("alice", T0), Ok(3), "not locked");
    }

    #[test]
    fn account_table_stays_within_its_capacity() {
        let throttle = LoginThrottle::with_capacity(3, 900, 64);
        for n in 0..1_000 {
            throttle.attempt_locally(&format!("user{n}"), T0).unwrap();
            assert!(throttle.len() <= 64);
        }
    }

    #[test]
    fn a_full_account_table_evicts_unlocked_entries_before_locked_ones() {
        let throttle = LoginThrottle::with_capacity(2, 900, 16);
        fail(&throttle, "victim", T0, 2);
        for n in 0..100 {
            throttle
                .attempt_locally(&format!("probe{n}"), T0 + 1)
                .unwrap();
        }
        assert!(throttle.len() <= 16);
        assert!(
            throttle.attempt_locally("victim", T0 + 2).is_err(),
            "still locked"
        );
    }

    #[test]
    fn expired_accounts_are_swept() {
        let throttle = LoginThrottle::new(3, 60);
        for n in 0..100 {
            throttle.attempt_locally(&format!("user{n}"), T0).unwrap();
        }
        assert_eq!(throttle.len(), 100);
        throttle.attempt_locally("late", T0 + 60).unwrap();
        assert_eq!(throttle.len(), 1);
    }

    #[test]
    fn address_limit_per_fixed_minute() {
        let limiter = IpRateLimiter::new(3);
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for _ in 0..3 {
            limiter.check_locally(ip, T0 + 10).unwrap();
        }
        assert_eq!(
            limiter.check_locally(ip, T0 + 20),
            Err(RateLimited {
                retry_after: 50,
                first_refusal: true
            })
        );
        assert_eq!(
            limiter.check_locally(ip, T0 + 69),
            Err(RateLimited {
                retry_after: 1,
                first_refusal: false
            })
        );
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        limiter.check_locally(other, T0 + 20).unwrap();
        limiter.check_locally(ip, T0 + 70).unwrap();
    }

    #[test]
    fn a_zero_limit_allows_everything_and_tracks_nothing() {
        let limiter = IpRateLimiter::new(0);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..10_000 {
            limiter.check_locally(ip, T0).unwrap();
        }
        assert!(limiter.is_empty());
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let limiter = IpRateLimiter::new(1);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        limiter.check_locally(a, T0).unwrap();
        assert!(limiter.check_locally(b, T0).is_err(), "same /64");
        limiter.check_locally(c, T0).unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        limiter.check_locally(v4, T0).unwrap();
        assert!(limiter.check_locally(mapped, T0).is_err());
    }

    #[test]
    fn address_table_stays_within_its_capacity_and_keeps_counting() {
        let limiter = IpRateLimiter::with_capacity(2, 64);
        let busy = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        limiter.check_locally(busy, T0 + 5).unwrap();
        limiter.check_locally(busy, T0 + 5).unwrap();
        for n in 0..1_000u32 {
            limiter
                .check_locally(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)), T0 + 1)
                .unwrap();
            assert!(limiter.len() <= 64);
        }
        assert!(
            limiter.check_locally(busy, T0 + 6).is_err(),
            "newest windows kept"
        );
        limiter.check_locally(busy, T0 + 65).unwrap();
    }
}
