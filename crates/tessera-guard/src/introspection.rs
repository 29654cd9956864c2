//! Introspection mode (RFC 7662): Tessera is asked about every token, behind a short positive
//! cache.
//!
//! The token is verified locally first (the same keys and checks as in every mode), so nothing
//! that is not a well-formed, correctly signed access token for this audience costs Tessera a
//! call, and the claims handed to the handler are the token's own. Then `POST
//! /oauth/introspect` (client credentials) must answer `active: true` for the same `sub` and
//! `jti`, or the token is refused (401). A positive answer is cached by `jti` for
//! [`IntrospectionOptions::cache_ttl`], never beyond the token's `exp`; a negative one is never
//! cached, so a revocation is seen at once by every request that is not within the positive
//! window. If Tessera cannot be asked, the guard answers 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;
use tessera_token::{AccessClaims, Clock};

use crate::credentials::ClientCredentials;
use crate::error::{Error, Revoked, Unavailable};
use crate::fetch::{describe, read_capped};
use crate::metrics::Counters;

/// How the guard introspects tokens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntrospectionOptions {
    /// The client credentials introspection requires.
    pub credentials: ClientCredentials,
    /// The endpoint; by default the issuer's `/oauth/introspect`.
    pub url: Option<String>,
    /// How long a positive answer is reused (never beyond the token's `exp`). Default 2 s; zero
    /// disables the cache.
    pub cache_ttl: Duration,
    /// The most answers cached. Default 10,000.
    pub cache_capacity: usize,
    /// The whole request. Default 3 s.
    pub timeout: Duration,
}

impl IntrospectionOptions {
    /// The defaults, with these credentials.
    #[must_use]
    pub fn new(credentials: ClientCredentials) -> Self {
        IntrospectionOptions {
            credentials,
            url: None,
            cache_ttl: Duration::from_secs(2),
            cache_capacity: 10_000,
            timeout: Duration::from_secs(3),
        }
    }

    /// Sets [`IntrospectionOptions::url`].
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets [`IntrospectionOptions::cache_ttl`] and [`IntrospectionOptions::cache_capacity`].
    #[must_use]
    pub fn cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.cache_ttl = ttl;
        self.cache_capacity = capacity;
        self
    }

    /// Sets [`IntrospectionOptions::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

#[derive(Deserialize)]
struct Answer {
    active: bool,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    jti: Option<String>,
}

/// The introspection client and its cache.
#[derive(Debug)]
pub(crate) struct Introspection {
    url: Url,
    options: IntrospectionOptions,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// `jti` -> until when the positive answer is reused.
    cache: Mutex<HashMap<Box<str>, Instant>>,
}

impl Introspection {
    pub(crate) fn new(
        url: Url,
        options: IntrospectionOptions,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Introspection {
            url,
            options,
            client,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Instant>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks Tessera about `token` (whose claims verified locally), unless a fresh positive answer
    /// is cached.
    pub(crate) async fn check(
        &self,
        token: &str,
        claims: &AccessClaims,
        counters: &Counters,
    ) -> Result<(), Error> {
        let now = Instant::now();
        if self
            .cache()
            .get(claims.jti.as_str())
            .is_some_and(|until| now < *until)
        {
            Counters::bump(&counters.introspection_cache_hits);
            return Ok(());
        }
        Counters::bump(&counters.introspections);
        let answer = match self.ask(token).await {
            Ok(answer) => answer,
            Err(error) => {
                Counters::bump(&counters.introspection_failures);
                tracing::warn!(event = "introspection_failed", error = %error, "introspection failed; answering 503");
                return Err(Error::Unavailable(Unavailable::Introspection));
            }
        };
        let same_token = answer.sub.as_deref() == Some(claims.sub.as_str())
            && answer.jti.as_deref().is_none_or(|jti| jti == claims.jti);
        if !answer.active || !same_token {
            self.cache().remove(claims.jti.as_str());
            return Err(Error::Revoked(Revoked::Inactive));
        }
        self.remember(claims);
        Ok(())
    }

    fn remember(&self, claims: &AccessClaims) {
        let ttl = self.options.cache_ttl;
        if ttl.is_zero() || self.options.cache_capacity == 0 {
            return;
        }
        let left = Duration::from_secs(claims.exp.saturating_sub(self.clock.now()));
        let until = crate::keys::later(Instant::now(), ttl.min(left));
        let mut cache = self.cache();
        if cache.len() >= self.options.cache_capacity {
            let now = Instant::now();
            cache.retain(|_, until| *until > now);
            if cache.len() >= self.options.cache_capacity {
                return;
            }
        }
        cache.insert(claims.jti.as_str().into(), until);
    }

    async fn ask(&self, token: &str) -> Result<Answer, Error> {
        let response = self
            .options
            .credentials
            .apply(self.client.post(self.url.clone()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .timeout(self.options.timeout)
            .send()
            .await
            .map_err(|err| Error::fetch("introspection", describe(&err)))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(Error::fetch("introspection", format!("answered {status}")));
        }
        let body = read_capped(response, 64 * 1024, "introspection").await?;
        serde_json::from_slice(&body)
            .map_err(|err| Error::fetch("introspection", format!("not an RFC 7662 answer: {err}")))
    }
}
