//! The keys tokens are verified with: local, or a remote JWK Set cached with care.
//!
//! The current key set lives in an [`ArcSwapOption`] as one immutable [`KeySnapshot`] (a ready
//! [`Verifier`] around its [`KeySet`]), so a verification loads it without a lock or an
//! allocation, and a refresh replaces it whole. For a remote set:
//!
//! - a background task fetches it at start and again at 80 % of its lifetime, which is the
//!   answer's `Cache-Control: max-age` clamped to [`JwksOptions::min_cache`] ..
//!   [`JwksOptions::max_cache`] ([`JwksOptions::default_cache`] without one), so in steady
//!   state no request waits on the network;
//! - a token whose `kid` is unknown makes its request wait for one refetch, shared by every
//!   request that needs one at the time (single flight), and only if no fetch started within
//!   [`JwksOptions::cooldown`]: forged `kid`s cannot make the guard hammer the JWK Set;
//! - a failed refresh keeps the last good set, for [`JwksOptions::stale_grace`] past its
//!   lifetime, with a warning and a counter; after that the guard answers 503;
//! - every fetch has a timeout and a size cap, and `https` is required except to loopback hosts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::Url;
use serde::Deserialize;
use tessera_token::{AccessClaims, Clock, JwkSet, KeySet, Verifier, VerifyingKey};

use crate::error::{Error, Unavailable};
use crate::fetch::{check_url, describe, max_age, read_capped};
use crate::metrics::Counters;

/// How the remote JWK Set is cached and fetched. The defaults follow jose's
/// `createRemoteJWKSet` where it has one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksOptions {
    /// The shortest time a fetched set is trusted as fresh, whatever its `max-age` says
    /// (`no-store` included). Default 30 s.
    pub min_cache: Duration,
    /// The longest, whatever its `max-age` says. Default 10 minutes (jose's `cacheMaxAge`).
    pub max_cache: Duration,
    /// The lifetime of a set whose answer has no `max-age`. Default 5 minutes.
    pub default_cache: Duration,
    /// After a fetch starts, how long a token with an unknown `kid` may not cause another.
    /// Default 30 s (jose's `cooldownDuration`).
    pub cooldown: Duration,
    /// The whole fetch (connection, headers, body). Default 5 s (jose's `timeoutDuration`).
    pub timeout: Duration,
    /// The largest answer read, in bytes; a larger one is refused as it arrives. Default 64 KiB.
    pub max_size: usize,
    /// How long past its lifetime the last good set keeps verifying while every refetch fails.
    /// Default 10 minutes; then the guard answers 503.
    pub stale_grace: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            min_cache: Duration::from_secs(30),
            max_cache: Duration::from_secs(600),
            default_cache: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_size: 64 * 1024,
            stale_grace: Duration::from_secs(600),
        }
    }
}

impl JwksOptions {
    /// Sets [`JwksOptions::min_cache`] and [`JwksOptions::max_cache`].
    #[must_use]
    pub fn cache_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_cache = min;
        self.max_cache = max;
        self
    }

    /// Sets [`JwksOptions::default_cache`].
    #[must_use]
    pub fn default_cache(mut self, lifetime: Duration) -> Self {
        self.default_cache = lifetime;
        self
    }

    /// Sets [`JwksOptions::cooldown`].
    #[must_use]
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets [`JwksOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`JwksOptions::max_size`].
    #[must_use]
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Sets [`JwksOptions::stale_grace`].
    #[must_use]
    pub fn stale_grace(mut self, grace: Duration) -> Self {
        self.stale_grace = grace;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.min_cache > self.max_cache {
            return Err(Error::config("JWK Set cache: min_cache is above max_cache"));
        }
        if self.timeout.is_zero() || self.max_size == 0 {
            return Err(Error::config(
                "JWK Set fetch: the timeout and the size cap must not be zero",
            ));
        }
        Ok(())
    }

    /// The lifetime of a set whose answer said `max_age` (seconds), within the bounds.
    fn lifetime(&self, max_age: Option<u64>) -> Duration {
        max_age
            .map_or(self.default_cache, Duration::from_secs)
            .clamp(self.min_cache, self.max_cache)
    }
}

/// What a verifier is built from, each time a new key set arrives.
#[derive(Debug, Clone)]
pub(crate) struct VerifierTemplate {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) leeway: u64,
    pub(crate) clock: Arc<dyn Clock>,
}

impl VerifierTemplate {
    fn verifier(&self, keys: KeySet) -> Verifier {
        Verifier::new(Arc::new(keys), &self.issuer, &self.audience)
            .with_leeway(self.leeway)
            .with_clock(self.clock.clone())
    }
}

/// One immutable key set, ready to verify.
#[derive(Debug)]
struct KeySnapshot {
    verifier: Verifier,
    /// Bumped by every successful fetch: a request that saw generation N and found no key knows
    /// whether someone fetched since.
    generation: u64,
    /// Local keys: `None` (forever). Remote: until when the set is fresh; the background task
    /// refreshes it before.
    fresh_until: Option<Instant>,
    /// When the background task refreshes it.
    refresh_at: Option<Instant>,
    /// Past this, the set is not used at all (fail closed).
    usable_until: Option<Instant>,
}

/// Where a remote set is found.
#[derive(Debug)]
pub(crate) enum RemoteSource {
    /// A JWK Set URL.
    Jwks(Url),
    /// The issuer's RFC 8414 metadata, whose `jwks_uri` is the set.
    Discover {
        /// `/.well-known/oauth-authorization-server` of the issuer.
        metadata: Url,
    },
}

#[derive(Debug)]
struct Remote {
    source: RemoteSource,
    /// The set's URL once known (at once for [`RemoteSource::Jwks`], after discovery otherwise).
    jwks_url: Mutex<Option<Url>>,
    client: reqwest::Client,
    options: JwksOptions,
    /// Held while fetching: the single flight. Holds when the last fetch started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

/// The key cache.
#[derive(Debug)]
pub(crate) struct Keys {
    current: ArcSwapOption<KeySnapshot>,
    remote: Option<Remote>,
    template: VerifierTemplate,
    generation: AtomicU64,
}

/// A verification that found no key for the token, and which generation of keys it used.
enum Attempt {
    UnknownKey(u64),
    Refused(Error),
}

impl Keys {
    /// A cache of fixed local keys.
    pub(crate) fn local(keys: KeySet, template: VerifierTemplate) -> Self {
        let snapshot = KeySnapshot {
            verifier: template.verifier(keys),
            generation: 1,
            fresh_until: None,
            refresh_at: None,
            usable_until: None,
        };
        Keys {
            current: ArcSwapOption::from_pointee(snapshot),
            remote: None,
            template,
            generation: AtomicU64::new(1),
        }
    }

    /// A cache of a remote set, empty until the background task ([`Keys::follow`]) loads it.
    pub(crate) fn remote(
        source: RemoteSource,
        client: reqwest::Client,
        options: JwksOptions,
        template: VerifierTemplate,
    ) -> Self {
        let jwks_url = match &source {
            RemoteSource::Jwks(url) => Some(url.clone()),
            RemoteSource::Discover { .. } => None,
        };
        Keys {
            current: ArcSwapOption::empty(),
            remote: Some(Remote {
                source,
                jwks_url: Mutex::new(jwks_url),
                client,
                options,
                fetching: tokio::sync::Mutex::new(None),
            }),
            template,
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Whether a key set is loaded and usable now.
    pub(crate) fn is_loaded(&self) -> bool {
        self.current
            .load()
            .as_ref()
            .is_some_and(|s| s.usable_until.is_none_or(|until| Instant::now() < until))
    }

    /// Whether the set in use is past its lifetime (refreshes failing).
    pub(crate) fn is_stale(&self) -> bool {
        self.current
            .load()
            .as_ref()
            .is_some_and(|s| s.fresh_until.is_some_and(|fresh| Instant::now() >= fresh))
    }

    /// The number of keys in use.
    pub(crate) fn len(&self) -> usize {
        self.current
            .load()
            .as_ref()
            .map_or(0, |s| s.verifier.keys().len())
    }

    /// Verifies `token` with the keys in use; an unknown `kid` with a remote set waits for the
    /// single-flight refetch (subject to the cooldown) and tries once more.
    pub(crate) async fn verify(
        &self,
        token: &str,
        counters: &Counters,
    ) -> Result<AccessClaims, Error> {
        let seen = match self.try_verify(token, counters) {
            Ok(claims) => return Ok(claims),
            Err(Attempt::Refused(error)) => return Err(error),
            Err(Attempt::UnknownKey(generation)) => generation,
        };
        if self.remote.is_none() || !self.refetch_for_unknown_kid(seen, counters).await {
            return Err(Error::InvalidToken(tessera_token::Error::UnknownKey));
        }
        match self.try_verify(token, counters) {
            Ok(claims) => Ok(claims),
            Err(Attempt::Refused(error)) => Err(error),
            Err(Attempt::UnknownKey(_)) => {
                Err(Error::InvalidToken(tessera_token::Error::UnknownKey))
            }
        }
    }

    /// The hot path: one lock-free load of the key set, then the token core's verification.
    fn try_verify(&self, token: &str, counters: &Counters) -> Result<AccessClaims, Attempt> {
        let current = self.current.load();
        let Some(snapshot) = current.as_ref() else {
            return Err(Attempt::Refused(Error::Unavailable(
                Unavailable::KeysNotLoaded,
            )));
        };
        if let Some(fresh_until) = snapshot.fresh_until {
            let now = Instant::now();
            if now >= fresh_until {
                if snapshot.usable_until.is_some_and(|until| now >= until) {
                    return Err(Attempt::Refused(Error::Unavailable(
                        Unavailable::KeysExpired,
                    )));
                }
                Counters::bump(&counters.stale_key_verifications);
            }
        }
        match snapshot.verifier.verify_access_token(token) {
            Ok(claims) => Ok(claims),
            Err(tessera_token::Error::UnknownKey) => Err(Attempt::UnknownKey(snapshot.generation)),
            Err(error) => Err(Attempt::Refused(Error::InvalidToken(error))),
        }
    }

    /// One refetch for a token whose `kid` generation `seen` did not have. True if the keys
    /// changed since `seen` (fetched now or by someone else meanwhile): worth trying again.
    async fn refetch_for_unknown_kid(&self, seen: u64, counters: &Counters) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let mut last_fetch = remote.fetching.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return true;
        }
        if last_fetch.is_some_and(|started| started.elapsed() < remote.options.cooldown) {
            Counters::bump(&counters.jwks_cooldown_skips);
            return false;
        }
        *last_fetch = Some(Instant::now());
        Counters::bump(&counters.jwks_unknown_kid_refetches);
        match self.fetch(remote, counters).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(event = "jwks_refetch_failed", error = %error, "refetching the JWK Set for an unknown kid failed; keeping the keys in use");
                false
            }
        }
    }

    /// The background task of a remote set: loads it, then refreshes it before it expires,
    /// retrying failures with backoff (1 s doubling to 16 s) while the last good set serves.
    pub(crate) async fn follow(self: Arc<Self>, counters: Arc<Counters>, changed: impl Fn()) {
        let Some(remote) = &self.remote else {
            return;
        };
        let mut failures: u32 = 0;
        let mut retry_at: Option<Instant> = None;
        loop {
            let due = retry_at.unwrap_or_else(|| {
                self.current
                    .load()
                    .as_ref()
                    .and_then(|s| s.refresh_at)
                    .unwrap_or_else(Instant::now)
            });
            if Instant::now() < due {
                tokio::time::sleep_until(due.into()).await;
                if retry_at.is_none() {
                    // An unknown kid may have refreshed the set meanwhile: look again.
                    continue;
                }
            }
            retry_at = None;
            let result = {
                let mut last_fetch = remote.fetching.lock().await;
                *last_fetch = Some(Instant::now());
                self.fetch(remote, &counters).await
            };
            match result {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let backoff = Duration::from_secs(1 << failures.min(5).saturating_sub(1));
                    retry_at = Some(Instant::now() + backoff);
                    let current = self.current.load();
                    match current.as_ref() {
                        None => {
                            tracing::warn!(event = "jwks_load_failed", error = %error, retry_in_s = backoff.as_secs(), "cannot load the JWK Set; refusing tokens (503) until it loads")
                        }
                        Some(snapshot) => {
                            let left = snapshot
                                .usable_until
                                .map(|until| until.saturating_duration_since(Instant::now()));
                            tracing::warn!(event = "jwks_refresh_failed", error = %error, retry_in_s = backoff.as_secs(), serving_last_good_for_s = left.map(|l| l.as_secs()), "refreshing the JWK Set failed; still verifying with the last good keys");
                        }
                    }
                }
            }
            changed();
        }
    }

    /// Fetches the set (discovering its URL first if need be) and puts it in use.
    async fn fetch(&self, remote: &Remote, counters: &Counters) -> Result<(), Error> {
        Counters::bump(&counters.jwks_fetches);
        let result = self.fetch_inner(remote).await;
        if result.is_err() {
            Counters::bump(&counters.jwks_fetch_failures);
        }
        result
    }

    async fn fetch_inner(&self, remote: &Remote) -> Result<(), Error> {
        let known = remote
            .jwks_url
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let url = match (known, &remote.source) {
            (Some(url), _) => url,
            (None, RemoteSource::Discover { metadata }) => {
                let url = self.discover(remote, metadata).await?;
                *remote
                    .jwks_url
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.clone());
                url
            }
            (None, RemoteSource::Jwks(url)) => url.clone(),
        };
        let options = &remote.options;
        let response = remote
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(options.timeout)
            .send()
            .await
            .map_err(|err| Error::fetch("JWK Set", describe(&err)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(Error::fetch(
                "JWK Set",
                format!("answered {}", response.status()),
            ));
        }
        let lifetime = options.lifetime(max_age(response.headers()));
        let body = tokio::time::timeout(
            options.timeout,
            read_capped(response, options.max_size, "JWK Set"),
        )
        .await
        .map_err(|_| Error::fetch("JWK Set", "timed out reading the answer"))??;
        let jwks: JwkSet = serde_json::from_slice(&body)
            .map_err(|err| Error::fetch("JWK Set", format!("not a JWK Set: {err}")))?;
        let keys = usable_keys(&jwks)?;
        let fetched = Instant::now();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        // Never sooner than half a second: a zero `min_cache` and a `no-store` answer must not
        // make the background task fetch in a loop.
        let refresh_in = lifetime.mul_f64(0.8).max(MIN_REFRESH_INTERVAL);
        self.current.store(Some(Arc::new(KeySnapshot {
            verifier: self.template.verifier(keys),
            generation,
            fresh_until: Some(later(fetched, lifetime)),
            refresh_at: Some(later(fetched, refresh_in)),
            usable_until: Some(later(later(fetched, lifetime), options.stale_grace)),
        })));
        tracing::debug!(
            event = "jwks_loaded",
            lifetime_s = lifetime.as_secs(),
            "JWK Set loaded"
        );
        Ok(())
    }

    /// RFC 8414 discovery: the metadata's `issuer` must be exactly the expected issuer (§3.3),
    /// and its `jwks_uri` must pass the same URL rule as every other.
    async fn discover(&self, remote: &Remote, metadata: &Url) -> Result<Url, Error> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            jwks_uri: String,
        }
        let response = remote
            .client
            .get(metadata.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(remote.options.timeout)
            .send()
            .await
            .map_err(|err| Error::fetch("metadata", describe(&err)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(Error::fetch(
                "metadata",
                format!("answered {}", response.status()),
            ));
        }
        let body = tokio::time::timeout(
            remote.options.timeout,
            read_capped(response, remote.options.max_size, "metadata"),
        )
        .await
        .map_err(|_| Error::fetch("metadata", "timed out reading the answer"))??;
        let found: Metadata = serde_json::from_slice(&body)
            .map_err(|err| Error::fetch("metadata", format!("not RFC 8414 metadata: {err}")))?;
        if found.issuer != self.template.issuer {
            return Err(Error::fetch(
                "metadata",
                format!(
                    "names the issuer `{}`, not the expected `{}`",
                    found.issuer, self.template.issuer
                ),
            ));
        }
        let url = Url::parse(&found.jwks_uri)
            .map_err(|err| Error::fetch("metadata", format!("jwks_uri: {err}")))?;
        check_url(&url, "jwks_uri").map_err(|err| Error::fetch("metadata", err))?;
        Ok(url)
    }
}

/// The shortest time from a fetch of the set to the background refresh that follows it.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(500);

/// `start + duration`, saturating where an `Instant` cannot go (a `Duration::MAX` in the options
/// means "as long as can be", not a panic in the background task).
pub(crate) fn later(start: Instant, duration: Duration) -> Instant {
    start
        .checked_add(duration)
        .or_else(|| start.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(start)
}

/// The verification keys of a fetched set: each asymmetric key bound to its `alg`; keys that
/// cannot be used (no `alg`, a private or symmetric key, a curve or size the token core refuses,
/// `use` other than `sig`) are skipped, and a `kid` found twice is dropped (an ambiguous `kid`
/// could select the wrong key).
fn usable_keys(jwks: &JwkSet) -> Result<KeySet, Error> {
    let mut by_kid: HashMap<String, VerifyingKey> = HashMap::new();
    let mut ambiguous = HashSet::new();
    for jwk in &jwks.keys {
        if jwk.kty == "oct" || jwk.k.is_some() {
            continue;
        }
        let Ok(key) = VerifyingKey::from_jwk(jwk, None) else {
            tracing::debug!(kid = ?jwk.kid, "skipping a JWK the token core cannot use");
            continue;
        };
        let kid = key.kid().to_owned();
        if by_kid.insert(kid.clone(), key).is_some() {
            ambiguous.insert(kid);
        }
    }
    let mut set = KeySet::new();
    for (kid, key) in by_kid {
        if !ambiguous.contains(&kid) {
            set.add_verifying_key(key)
                .map_err(|err| Error::fetch("JWK Set", err))?;
        }
    }
    if set.is_empty() {
        return Err(Error::fetch("JWK Set", "no usable verification key"));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key confusion through the JWK Set: only public signature keys bound to an algorithm of
    /// their own type are used, and a `kid` two keys claim selects neither.
    #[test]
    fn only_unambiguous_public_signature_keys_are_used() {
        #![allow(clippy::unwrap_used, reason = "test code")]
        use serde_json::{json, Value};
        use tessera_token::{Algorithm, SigningKey};
        let public = |alg: Algorithm, kid: &str| -> Value {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let mut set = KeySet::new();
            set.add_verifying_key(key.verifying_key().clone()).unwrap();
            let mut jwk = serde_json::to_value(set.to_jwks()).unwrap()["keys"][0].clone();
            jwk["kid"] = kid.into();
            jwk
        };
        let with = |mut jwk: Value, name: &str, value: Value| {
            if value.is_null() {
                jwk.as_object_mut().unwrap().remove(name);
            } else {
                jwk[name] = value;
            }
            jwk
        };
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ";
        let jwks = json!({"keys": [
            public(Algorithm::ES256, "good"),
            {"kty": "oct", "alg": "HS256", "kid": "oct", "k": secret},
            {"kty": "RSA", "alg": "HS256", "kid": "k-on-rsa", "k": secret},
            {"kty": "EC", "alg": "HS256", "kid": "hs-on-ec"},
            with(public(Algorithm::ES256, "alg-hs"), "alg", json!("HS256")),
            with(public(Algorithm::ES256, "alg-rs"), "alg", json!("RS256")),
            with(public(Algorithm::ES256, "alg-none"), "alg", json!("none")),
            with(public(Algorithm::ES256, "no-alg"), "alg", Value::Null),
            with(public(Algorithm::ES256, "enc"), "use", json!("enc")),
            with(public(Algorithm::ES256, "ops"), "key_ops", json!(["encrypt"])),
            with(public(Algorithm::ES256, "private"), "d", json!(secret)),
            public(Algorithm::ES256, "twice"),
            public(Algorithm::ES256, "twice"),
        ]});
        let jwks: JwkSet = serde_json::from_value(jwks).unwrap();
        let set = usable_keys(&jwks).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("good").is_some());
        let none: JwkSet = serde_json::from_value(json!({"keys": [
            {"kty": "oct", "alg": "HS256", "kid": "oct", "k": secret},
        ]}))
        .unwrap();
        assert!(
            usable_keys(&none).is_err(),
            "no usable key: the last good set stays"
        );
    }

    #[test]
    fn later_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(later(now, Duration::MAX) > now + Duration::from_secs(365 * 86_400));
    }
}
