//! What every handler shares.

use std::sync::Arc;
use tessera_config::Config;
use tessera_password::PasswordHasher;
use tessera_store::Store;
use tessera_token::Clock;

use crate::denylist::DenyList;
use crate::metrics::Metrics;
use crate::profiles::ProfileCache;
use crate::signing::{SigningKeys, TokenSet};
use crate::throttle::{IpRateLimiter, KeyRateLimiter, LoginThrottle};

/// Shared application state: one `Arc`, so that axum's per-request clone of the state is one
/// atomic increment (fields are reached through `Deref`).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    /// Wraps the state for sharing.
    #[must_use]
    pub fn new(inner: AppStateInner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The keys in use: issuer, verifier and JWK Set, swapped whole when stored keys change
    /// (the deny-list is checked separately from the verifier).
    pub signing: Arc<SigningKeys>,
    /// Accounts, sessions, revocations, clients.
    pub store: Arc<dyn Store>,
    /// The revocation cache.
    pub deny_list: Arc<DenyList>,
    /// argon2id on the blocking pool, bounded.
    pub passwords: PasswordHasher,
    /// The clock every time decision uses.
    pub clock: Arc<dyn Clock>,
    /// Counters and the latency histogram for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Usernames and creation times, for `GET /auth/me`.
    pub profiles: Arc<ProfileCache>,
    /// Failed logins per account, and the lockout after too many.
    pub login_throttle: Arc<LoginThrottle>,
    /// Requests per client address on the credential endpoints.
    pub ip_limiter: Arc<IpRateLimiter>,
    /// Requests per client address on the OAuth endpoints (revoke, introspect).
    pub oauth_ip_limiter: Arc<IpRateLimiter>,
    /// Requests per client address on readiness.
    pub ops_ip_limiter: Arc<IpRateLimiter>,
    /// Password changes per user.
    pub password_change_limiter: Arc<KeyRateLimiter>,
    /// Introspections per client.
    pub introspection_limiter: Arc<KeyRateLimiter>,
    /// Revocation feed requests per client.
    pub feed_limiter: Arc<KeyRateLimiter>,
    /// Turns at reading the record for the feed ([`crate::routes::feed::CONCURRENT_READS`]).
    pub feed_reads: tokio::sync::Semaphore,
    /// Set when the server begins to stop: long polls answer at once.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// The key of the signed double-submit CSRF tokens, from the deployment's shared secret.
    pub csrf_key: aws_lc_rs::hmac::Key,
    /// Whether the store answers, as the background check last saw it (readiness and the
    /// `tessera_store_up` metric read it without waiting on the store).
    pub store_health: Arc<crate::health::StoreHealth>,
}

impl std::fmt::Debug for AppStateInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.backend())
            .field("keys", &self.signing.current().keys.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl AppStateInner {
    /// The keys in use now (issuer, verifier, JWK Set: one consistent set).
    #[must_use]
    pub fn tokens(&self) -> Arc<TokenSet> {
        self.signing.current()
    }

    /// Now, in seconds since the epoch, from the injected clock.
    #[must_use]
    pub fn now(&self) -> u64 {
        self.clock.now()
    }
}
