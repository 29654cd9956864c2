//! Building and running the server.

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use tessera_config::Config;
use tessera_password::PasswordHasher;
use tessera_store::Store;
use tessera_token::{Clock, SystemClock};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::cors::CorsPolicy;
use crate::denylist::{
    DenyList, SharedDenyList, FALLBACK_SYNC_INTERVAL, HINT_SPACING, SYNC_INTERVAL,
};
use crate::error::ApiError;
use crate::layers::{edge, Edge, MAX_BODY_BYTES};
use crate::metrics::Metrics;
use crate::routes;
use crate::serve::{serve, ConnectionLimits};
use crate::shared::{first_subscription, follow_revocations};
use crate::signing::{watch_keys, SigningKeys};
use crate::state::{AppState, AppStateInner};
use crate::throttle::{
    AddressScope, IpRateLimiter, KeyRateLimiter, LoginThrottle, SharedCounters,
    PASSWORD_CHANGES_PER_MINUTE,
};
use tessera_service::credentials::{csrf_key, random_key};
use tessera_service::open_store;
use tessera_service::revocations::open_redis;
use tessera_store::redis::RevocationFeed;

/// Argon2id hashes allowed in flight at once: enough to keep every core busy, no more, so a
/// login flood queues instead of exhausting memory (19 MiB each).
fn default_password_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The longest the server waits, at exit, for the store's connections to be returned.
const STORE_CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The durable record is purged of expired sessions and revocations this often.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes sessions and revocations whose tokens have all expired, so the database does not grow
/// without bound. Failures are logged and retried at the next round.
async fn purge_expired(store: &dyn Store, now: u64) {
    match store.purge_expired_revocations(now).await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "purged expired revocations"),
        Err(err) => tracing::warn!(error = %err, "purging expired revocations failed"),
    }
    // A session is kept until its last access token is past any verifier's leeway, so that
    // revoking it (logout, a password change) still records its deny-list entry until then.
    match store
        .purge_expired_sessions(now.saturating_sub(tessera_store::REVOCATION_MARGIN))
        .await
    {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "purged expired sessions"),
        Err(err) => tracing::warn!(error = %err, "purging expired sessions failed"),
    }
}

/// What tests (and embedders) may replace.
#[derive(Clone, Default)]
pub struct AppOptions {
    /// The clock; the system clock when `None`.
    pub clock: Option<Arc<dyn Clock>>,
    /// The password hasher; OWASP-minimum argon2id when `None`.
    pub passwords: Option<PasswordHasher>,
    /// The connection loop's timeouts.
    pub connections: ConnectionLimits,
}

impl std::fmt::Debug for AppOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOptions").finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The signing key could not be loaded or created.
    #[error(transparent)]
    Config(#[from] tessera_config::ConfigError),
    /// The stored signing keys could not be read, made or opened (a missing or wrong
    /// key-encryption key is named in the message).
    #[error("signing keys: {0}")]
    Keys(#[from] tessera_service::ServiceError),
    /// A key could not be used to sign or verify.
    #[error("signing keys: {0}")]
    Token(#[from] tessera_token::Error),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] tessera_store::StoreError),
    /// The PostgreSQL server of `DATABASE_URL` could not be reached (its `host:port` and the
    /// reason are in the message; never the password).
    #[error("DATABASE_URL: {0}")]
    Database(tessera_store::StoreError),
    /// The deny-list could not be loaded (or another start-up step failed in a way the server
    /// reports as an API error, such as the random source).
    #[error("deny-list: {0}")]
    DenyList(ApiError),
    /// The password hasher could not be prepared.
    #[error("password hashing: {0}")]
    Password(#[from] tessera_password::PasswordError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Binds a listen address, saying which one when it cannot.
async fn bind(address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            address: address.to_owned(),
            source,
        })
}

/// A built server, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// The separate listener for `GET /metrics` (`TESSERA_METRICS_BIND`), and its router.
    metrics_endpoint: Option<(TcpListener, Router)>,
    /// The revocation subscription opened at start, handed to the task that follows it.
    feed: Option<RevocationFeed>,
    /// The connection loop's timeouts.
    connections: ConnectionLimits,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("address", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Loads the key (generating it on first use), opens the store in the data directory,
    /// loads the deny-list, builds the router and binds `config.server.bind`.
    ///
    /// # Errors
    /// A [`StartError`] saying which part failed.
    pub async fn build(config: Config, options: AppOptions) -> Result<App, StartError> {
        if !matches!(config.key_source, tessera_config::KeySource::Stored { .. }) {
            // Static keys are checked before the store is opened, so a bad key file is the
            // first error a start reports.
            config.load_keys()?;
        }
        let store = open_store(&config).await.map_err(|err| match err {
            unreachable @ tessera_store::StoreError::Unreachable { .. } => {
                StartError::Database(unreachable)
            }
            other => StartError::Store(other),
        })?;
        tracing::info!(backend = store.backend(), "store opened");
        // Before any token is issued: revocations recorded from now on, by any process, are kept
        // at least as long as the tokens this instance issues live.
        let longest = store.raise_longest_access_ttl(config.access_ttl).await?;
        tracing::debug!(
            longest_access_ttl = longest,
            "revocations outlive the longest access lifetime issued"
        );
        let candidate = random_key().map_err(|err| StartError::DenyList(err.into()))?;
        let csrf_key = csrf_key(&Zeroizing::new(store.deployment_secret(&candidate).await?));
        let clock = options.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let signing = Arc::new(SigningKeys::start(&config, store.as_ref(), clock.clone()).await?);
        let metrics = Arc::new(Metrics::default());
        let redis = open_redis(&config, store.as_ref()).await?;
        let mut deny_list = DenyList::load(store.clone(), metrics.clone(), clock.now())
            .await
            .map_err(StartError::DenyList)?;
        let mut feed = None;
        if let Some(redis) = &redis {
            deny_list =
                deny_list.with_shared(SharedDenyList::new(redis.clone(), config.redis_fallback));
            feed = first_subscription(redis).await;
            // Subscribed before anything is served, so this instance misses no broadcast. It
            // catches up with the database and counts as connected from the first request; the
            // task that follows the broadcast does the same after every reconnection.
            deny_list.set_connected(false);
            if feed.is_some() {
                deny_list
                    .sync(clock.now())
                    .await
                    .map_err(StartError::DenyList)?;
                deny_list.set_connected(true);
                tracing::info!(prefix = %redis.prefix(), fallback = ?config.redis_fallback, "shared state in Redis");
            }
        }
        let deny_list = Arc::new(deny_list);
        let passwords = match options.passwords {
            Some(passwords) => passwords,
            None => PasswordHasher::new(default_password_concurrency())?,
        };
        tracing::info!(hashing = %passwords.params_description(), "password hashing ready");
        let listener = bind(&config.server.bind).await?;
        let metrics_listener = match &config.server.metrics_bind {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let mut login_throttle = LoginThrottle::new(
            config.server.login_max_failures,
            config.server.login_lockout,
        );
        let per_ip = config.server.rate_limit_per_ip;
        let mut ip_limiter = IpRateLimiter::new(per_ip);
        let mut oauth_ip_limiter = IpRateLimiter::for_scope(per_ip, AddressScope::OAuth);
        let mut ops_ip_limiter = IpRateLimiter::for_scope(per_ip, AddressScope::Ops);
        let mut password_change_limiter =
            KeyRateLimiter::new(PASSWORD_CHANGES_PER_MINUTE, "password-change");
        let mut introspection_limiter = KeyRateLimiter::new(per_ip, "introspection");
        let mut feed_limiter = KeyRateLimiter::new(per_ip, "revocation-feed");
        if let Some(redis) = &redis {
            let shared = SharedCounters {
                redis: redis.clone(),
                fallback: config.redis_fallback,
            };
            login_throttle = login_throttle.with_shared(shared.clone());
            ip_limiter = ip_limiter.with_shared(shared.clone());
            oauth_ip_limiter = oauth_ip_limiter.with_shared(shared.clone());
            ops_ip_limiter = ops_ip_limiter.with_shared(shared.clone());
            password_change_limiter = password_change_limiter.with_shared(shared.clone());
            introspection_limiter = introspection_limiter.with_shared(shared.clone());
            feed_limiter = feed_limiter.with_shared(shared);
        }
        let login_throttle = Arc::new(login_throttle);
        let ip_limiter = Arc::new(ip_limiter);
        let state = AppState::new(AppStateInner {
            config: Arc::new(config),
            signing,
            store,
            deny_list,
            passwords,
            clock,
            login_throttle,
            ip_limiter,
            oauth_ip_limiter: Arc::new(oauth_ip_limiter),
            ops_ip_limiter: Arc::new(ops_ip_limiter),
            password_change_limiter: Arc::new(password_change_limiter),
            introspection_limiter: Arc::new(introspection_limiter),
            feed_limiter: Arc::new(feed_limiter),
            feed_reads: tokio::sync::Semaphore::new(routes::feed::CONCURRENT_READS),
            stopping: tokio::sync::watch::Sender::new(false),
            csrf_key,
            store_health: Arc::default(),
            metrics: metrics.clone(),
            profiles: Arc::default(),
        });
        let edge_state = Edge {
            metrics: metrics.clone(),
            cors: Arc::new(CorsPolicy::new(state.config.server.cors_origins.clone())),
        };
        let router = routes::router(metrics_listener.is_some())
            .fallback(routes::ops::not_found)
            .method_not_allowed_fallback(routes::ops::method_not_allowed)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(middleware::from_fn_with_state(edge_state.clone(), edge))
            .with_state(state.clone());
        let metrics_endpoint = metrics_listener.map(|listener| {
            let router = routes::metrics_router()
                .fallback(routes::ops::not_found)
                .method_not_allowed_fallback(routes::ops::method_not_allowed)
                .layer(middleware::from_fn_with_state(edge_state, edge))
                .with_state(state.clone());
            (listener, router)
        });
        Ok(App {
            listener,
            router,
            metrics_endpoint,
            state,
            feed,
            connections: options.connections,
        })
    }

    /// The bound port (useful when binding port 0).
    ///
    /// # Errors
    /// If the socket has no local address.
    pub fn port(&self) -> std::io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// The port of the separate metrics listener, when `TESSERA_METRICS_BIND` is set.
    ///
    /// # Errors
    /// If the socket has no local address.
    pub fn metrics_port(&self) -> std::io::Result<Option<u16>> {
        self.metrics_endpoint
            .as_ref()
            .map(|(listener, _)| listener.local_addr().map(|address| address.port()))
            .transpose()
    }

    /// The shared state (tests use it to reach the store and clock).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets open connections finish the requests they
    /// are serving, for at most [`ConnectionLimits::shutdown_grace`].
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let deny_list = self.state.deny_list.clone();
        let clock = self.state.clock.clone();
        let store = self.state.store.clone();
        let sync = tokio::spawn(async move {
            // Ticks fast so that, while Redis is down with the `database` fallback, revocations
            // are polled every FALLBACK_SYNC_INTERVAL; otherwise one sync per SYNC_INTERVAL.
            let mut ticker = tokio::time::interval(FALLBACK_SYNC_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_sync = std::time::Instant::now();
            let mut last_purge = std::time::Instant::now();
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        if last_sync.elapsed() < SYNC_INTERVAL && !deny_list.polls_database_fast() {
                            continue;
                        }
                    }
                    () = deny_list.sync_wanted() => {
                        // A hint: read now, but no more often than HINT_SPACING.
                        let since = last_sync.elapsed();
                        if since < HINT_SPACING {
                            tokio::time::sleep(HINT_SPACING - since).await;
                        }
                    }
                }
                last_sync = std::time::Instant::now();
                match deny_list.sync(clock.now()).await {
                    Ok(_) => failing = false,
                    // Once per run of failures: the store's own loss and return, and the
                    // deny-list going stale, are logged by the health check.
                    Err(err) if !failing => {
                        failing = true;
                        tracing::warn!(event = "deny_list_sync_failed", error = %err, "deny-list sync failed; checks fail closed once it is stale");
                    }
                    Err(err) => tracing::debug!(error = %err, "deny-list sync failed again"),
                }
                if last_purge.elapsed() >= PURGE_INTERVAL {
                    last_purge = std::time::Instant::now();
                    purge_expired(store.as_ref(), clock.now()).await;
                }
            }
        });
        let keys = tokio::spawn(watch_keys(
            self.state.signing.clone(),
            self.state.store.clone(),
            self.state.clock.clone(),
            self.state.metrics.clone(),
        ));
        let watch = tokio::spawn(crate::health::watch_store(
            self.state.store.clone(),
            self.state.deny_list.clone(),
            self.state.store_health.clone(),
        ));
        let follow = self
            .state
            .deny_list
            .shared()
            .map(|shared| shared.redis.clone())
            .map(|redis| {
                tokio::spawn(follow_revocations(
                    self.state.deny_list.clone(),
                    redis,
                    self.state.clock.clone(),
                    self.feed,
                ))
            });
        if let Ok(address) = self.listener.local_addr() {
            tracing::info!(%address, "listening");
        }
        // One signal stops both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics_server = self.metrics_endpoint.map(|(listener, router)| {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, "serving /metrics");
            }
            let mut stopped = stopped.clone();
            let connections = self.connections;
            tokio::spawn(async move {
                let signal = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                serve(listener, router, connections, signal).await;
            })
        });
        let stopping = self.state.clone();
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
            // Long polls of the revocation feed answer now rather than hold the shutdown.
            stopping.stopping.send_replace(true);
        };
        serve(self.listener, self.router, self.connections, signal).await;
        if let Some(metrics_server) = metrics_server {
            let _ = metrics_server.await;
        }
        sync.abort();
        watch.abort();
        keys.abort();
        if let Some(follow) = follow {
            follow.abort();
        }
        // The store's connections are closed (SQLite checkpoints its log), so that nothing is
        // left to log after the caller's last line. A request still running past the grace
        // period may hold a connection: waiting for it is bounded.
        if tokio::time::timeout(STORE_CLOSE_TIMEOUT, self.state.store.close())
            .await
            .is_err()
        {
            tracing::warn!(
                event = "store_close_timeout",
                "connections to the store were still in use at exit"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_store::sqlite::SqliteStore;
    use tessera_store::{Revocation, RevocationKind, RevocationStore as _};

    #[tokio::test]
    async fn purging_drops_only_what_has_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        for (subject, expires_at) in [("old", 100), ("live", 10_000)] {
            store
                .add_revocation(&Revocation {
                    kind: RevocationKind::Token,
                    subject: subject.into(),
                    not_before: 0,
                    expires_at,
                })
                .await
                .unwrap();
        }
        purge_expired(&store, 5_000).await;
        let left: Vec<String> = store
            .live_revocations(0)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, revocation)| revocation.subject)
            .collect();
        assert_eq!(left, ["live"]);
    }

    /// A session is kept until its last access token is past any leeway
    /// (`REVOCATION_MARGIN` after its end), so that revoking it still works until then.
    #[tokio::test]
    async fn sessions_are_purged_only_a_margin_after_their_end() {
        use tessera_store::{AccountStore as _, NewSession, NewUser, RefreshRecord};
        use tessera_store::{SessionStore as _, TokenHash};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        store
            .create_user(&NewUser {
                id: "u-1".into(),
                username: "alice".into(),
                password_hash: "$argon2id$unused".into(),
                created_at: 0,
            })
            .await
            .unwrap();
        let ends = 1_000;
        store
            .create_session(
                &NewSession {
                    id: "s-1".into(),
                    user_id: "u-1".into(),
                    created_at: 0,
                    expires_at: ends,
                    user_agent: None,
                    ip: None,
                    credential_epoch: 0,
                },
                &RefreshRecord {
                    hash: TokenHash([1; 32]),
                    session_id: "s-1".into(),
                    created_at: 0,
                    expires_at: ends,
                },
            )
            .await
            .unwrap();
        purge_expired(&store, ends + tessera_store::REVOCATION_MARGIN).await;
        assert!(store.session("s-1").await.unwrap().is_some(), "kept");
        purge_expired(&store, ends + tessera_store::REVOCATION_MARGIN + 2).await;
        assert!(store.session("s-1").await.unwrap().is_none(), "purged");
    }
}
