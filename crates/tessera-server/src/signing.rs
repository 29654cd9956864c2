//! The keys this instance signs and verifies with, replaced whole when they change.
//!
//! In static mode (`JWT_SECRET_KEY`, `JWT_PRIVATE_KEY_FILE`) the set is made once at start. In
//! stored mode the keys live in the store (see [`tessera_service::keys`]): the first start makes
//! the first key, and a background task re-reads the ring whenever its version moves (any
//! instance's or the CLI's change) or a scheduled time passes (an activation, the end of a
//! previous key), at most [`KEY_POLL_INTERVAL`] later, and swaps in a new [`TokenSet`]: the
//! issuer, the verifier, the JWK Set and the metadata's algorithms always come from one set, so
//! what is published always agrees with what signs. Keys are parsed once per change, never per
//! request.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tessera_config::{Config, KeySource};
use tessera_service::keys::{self, ActiveKeys, FirstKey, KeyEncryptionKey, KeyState, RingStates};
use tessera_store::Store;
use tessera_token::{Clock, KeySet, TokenIssuer, Verifier, VerifyingKey};

use crate::app::StartError;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// How often stored keys are checked for changes: a change made anywhere is in use on every
/// instance within this (plus one read).
pub const KEY_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// One consistent set of keys: what signs, what verifies, what is published.
#[derive(Debug)]
pub struct TokenSet {
    /// The signing key and every key that verifies (published as the JWK Set).
    pub keys: Arc<KeySet>,
    /// Issues access tokens with the signing key; `None` while this instance cannot open the
    /// current stored key (see [`TokenSet::issuer`]).
    issuer: Option<TokenIssuer>,
    /// Verifies access tokens against `keys`.
    pub verifier: Verifier,
    /// The algorithms of the keys that verify, for RFC 8414 metadata (signing key first).
    pub algorithms: Vec<&'static str>,
    /// The stored ring version this set was read at (`None` in static mode).
    pub version: Option<i64>,
    /// The stored keys' states when read (`None` in static mode).
    pub states: Option<RingStates>,
    /// Whether the last reload could not open the keys (this set keeps only what was known): the
    /// next tick tries again.
    pub degraded: bool,
}

impl TokenSet {
    /// The signing key, at start (where there always is one).
    fn signing_key(&self) -> Result<&Arc<tessera_token::SigningKey>, StartError> {
        self.keys
            .signing_key()
            .ok_or(StartError::Token(tessera_token::Error::Key(
                "no signing key".into(),
            )))
    }

    /// The issuer, or 503 while the current key cannot be opened on this instance (a wrong
    /// key-encryption key, a corrupt row): nothing is signed with a key that no longer should.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when there is no signing key.
    pub fn issuer(&self) -> Result<&TokenIssuer, ApiError> {
        self.issuer.as_ref().ok_or(ApiError::Unavailable(
            "this instance cannot open the current signing key; see its log",
        ))
    }
}

/// What a [`TokenSet`] is made with besides the keys.
#[derive(Debug)]
struct Template {
    issuer: String,
    audience: String,
    access_ttl: u64,
    leeway: u64,
    clock: Arc<dyn Clock>,
    /// `JWT_PREVIOUS_KEY_FILES`: verification only, in either mode.
    previous: Vec<VerifyingKey>,
}

impl Template {
    fn build(
        &self,
        keys: KeySet,
        version: Option<i64>,
        states: Option<RingStates>,
    ) -> Result<TokenSet, tessera_token::Error> {
        let mut keys = keys;
        for previous in &self.previous {
            if keys.get(previous.kid()).is_none() {
                keys.add_verifying_key(previous.clone())?;
            }
        }
        let signing = keys.signing_key().cloned();
        let mut algorithms: Vec<&'static str> =
            signing.iter().map(|key| key.algorithm().name()).collect();
        for jwk in keys.to_jwks().keys {
            if let Some(name) = jwk
                .alg
                .as_deref()
                .and_then(|name| name.parse::<tessera_token::Algorithm>().ok())
                .map(tessera_token::Algorithm::name)
            {
                if !algorithms.contains(&name) {
                    algorithms.push(name);
                }
            }
        }
        let keys = Arc::new(keys);
        let issuer = signing.map(|signing| {
            let signer: Arc<dyn tessera_token::Signer> = signing;
            TokenIssuer::new(signer, &self.issuer, &self.audience, self.access_ttl)
                .with_clock(self.clock.clone())
        });
        let verifier = Verifier::new(keys.clone(), &self.issuer, &self.audience)
            .with_leeway(self.leeway)
            .with_clock(self.clock.clone());
        Ok(TokenSet {
            keys,
            issuer,
            verifier,
            algorithms,
            version,
            states,
            degraded: false,
        })
    }
}

/// Stored mode's settings.
#[derive(Debug)]
struct StoredMode {
    kek: KeyEncryptionKey,
    /// `JWT_ALGORITHM`: of the first key and of automatic rotations.
    algorithm: tessera_token::Algorithm,
    /// `TESSERA_KEY_ROTATION`, in seconds.
    rotation: Option<u64>,
}

/// The keys in use, swapped whole on a change.
#[derive(Debug)]
pub struct SigningKeys {
    current: RwLock<Arc<TokenSet>>,
    template: Template,
    stored: Option<StoredMode>,
}

impl SigningKeys {
    /// The set in use now (one lock-free-in-practice read and a reference count).
    #[must_use]
    pub fn current(&self) -> Arc<TokenSet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the keys are kept in the store.
    #[must_use]
    pub fn is_stored(&self) -> bool {
        self.stored.is_some()
    }

    /// Loads the configured keys; in stored mode makes the first key if none signs yet (of
    /// several instances starting at once, one makes it; the key of earlier versions in the data
    /// directory is imported if present).
    pub(crate) async fn start(
        config: &Config,
        store: &dyn Store,
        clock: Arc<dyn Clock>,
    ) -> Result<SigningKeys, StartError> {
        let template = Template {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl: config.access_ttl,
            leeway: config.leeway,
            clock: clock.clone(),
            previous: config.load_previous_keys()?,
        };
        let KeySource::Stored { legacy_file } = &config.key_source else {
            let loaded = config.load_keys()?;
            let set = template.build(loaded.keys, None, None)?;
            let signing = set.signing_key()?;
            tracing::info!(event = "signing_key_loaded", mode = "static", algorithm = %signing.algorithm(), kid = %signing.kid(), verification_keys = set.keys.len(), "signing key loaded");
            return Ok(SigningKeys {
                current: RwLock::new(Arc::new(set)),
                template,
                stored: None,
            });
        };
        let (kek, origin) = keys::load_kek(config)?;
        if let keys::KekOrigin::Generated(path) = &origin {
            tracing::info!(event = "key_encryption_key_generated", path = %path.display(), kek = %kek.id(), "generated a key-encryption key for the stored signing keys");
        }
        let now = clock.now();
        let made = keys::ensure_signing_key(
            store,
            &kek,
            config.algorithm,
            Some(legacy_file.as_path()),
            now,
        )
        .await?;
        if let FirstKey::Created { kid, imported } = &made {
            if *imported {
                tracing::info!(event = "signing_key_imported", kid = %kid, path = %legacy_file.display(), "imported the data directory's signing key into the store");
            } else {
                tracing::info!(event = "signing_key_created", kid = %kid, algorithm = %config.algorithm, "created the first signing key");
            }
        }
        let active = keys::load_active(store, &kek, now, None).await?;
        let set = build_stored(&template, active)?;
        let signing = set.signing_key()?;
        tracing::info!(event = "signing_key_loaded", mode = "stored", algorithm = %signing.algorithm(), kid = %signing.kid(), verification_keys = set.keys.len(), kek = %kek.id(), "signing key loaded");
        Ok(SigningKeys {
            current: RwLock::new(Arc::new(set)),
            template,
            stored: Some(StoredMode {
                kek,
                algorithm: config.algorithm,
                rotation: config.key_rotation,
            }),
        })
    }

    /// Re-reads the stored keys if the ring changed or a scheduled time has passed; rotates
    /// first if automatic rotation is due. Returns whether the set was replaced.
    async fn refresh(
        &self,
        store: &dyn Store,
        now: u64,
        metrics: &Metrics,
    ) -> Result<bool, tessera_service::ServiceError> {
        let Some(stored) = &self.stored else {
            return Ok(false);
        };
        let before = self.current();
        if let (Some(period), Some(states)) = (stored.rotation, &before.states) {
            if rotation_due(states, period, now) {
                // A failure here must not keep the reload below from running (it drops retired
                // keys even when nothing can be opened); the reload reports a lasting cause.
                match keys::rotate_if_due(store, &stored.kek, stored.algorithm, period, now).await {
                    Ok(Some(rotation)) => {
                        tracing::info!(event = "signing_key_scheduled", kid = %rotation.kid, algorithm = %rotation.algorithm, activates_at = rotation.activates_at, replaces = rotation.replaces.as_deref().unwrap_or(""), reason = "automatic", "scheduled the next signing key");
                    }
                    Ok(None) => {}
                    Err(err) => tracing::debug!(error = %err, "automatic rotation failed"),
                }
            }
        }
        let version = store.key_ring_version().await?;
        let boundary_passed = before
            .states
            .as_ref()
            .and_then(|states| states.next_change_at)
            .is_some_and(|at| now >= at);
        if Some(version) == before.version && !boundary_passed && !before.degraded {
            return Ok(false);
        }
        let set = match keys::load_active(store, &stored.kek, now, Some(&before.keys)).await {
            Ok(active) => build_stored(&self.template, active)?,
            Err(err) => {
                // What can be known without opening keys still applies: retired keys stop
                // verifying, and a key that is no longer current stops signing.
                let known = keys::load_known(store, now, &before.keys).await?;
                let mut set = build_stored(&self.template, known)?;
                set.degraded = true;
                log_transitions(before.states.as_ref(), set.states.as_ref(), metrics);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
                return Err(err);
            }
        };
        log_transitions(before.states.as_ref(), set.states.as_ref(), metrics);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(true)
    }
}

fn build_stored(template: &Template, active: ActiveKeys) -> Result<TokenSet, tessera_token::Error> {
    template.build(active.keys, Some(active.version), Some(active.states))
}

/// Whether automatic rotation may be due (checked against the store before acting).
fn rotation_due(states: &RingStates, period: u64, now: u64) -> bool {
    states.next().is_none()
        && states.current().is_some_and(|current| {
            current.activated.unwrap_or(now).saturating_add(period)
                <= now.saturating_add(keys::PUBLISH_LEAD)
        })
}

/// Logs (and counts) every key whose state changed between two reads.
fn log_transitions(before: Option<&RingStates>, after: Option<&RingStates>, metrics: &Metrics) {
    let Some(after) = after else { return };
    for key in &after.keys {
        let was = before.and_then(|states| states.state_of(&key.kid));
        if was == Some(key.state) {
            continue;
        }
        metrics.signing_key_transition(key.state);
        let from = was.map_or("absent", KeyState::name);
        if key.state == KeyState::Retired && key.retired_by_hand {
            tracing::warn!(event = "signing_key_retired", kid = %key.kid, from, "signing key retired by hand: tokens it signed no longer verify");
        } else {
            tracing::info!(event = "signing_key_state", kid = %key.kid, algorithm = %key.algorithm, from, to = key.state.name(), "signing key changed state");
        }
    }
}

/// Follows the stored keys (stored mode only): every [`KEY_POLL_INTERVAL`], reads the ring's
/// version and reloads on a change or when a scheduled time passes. A failed read keeps the
/// keys in use (logged once per run of failures; the store's own loss is logged by the health
/// check).
pub(crate) async fn watch_keys(
    keys: Arc<SigningKeys>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) {
    if !keys.is_stored() {
        return;
    }
    let mut ticker = tokio::time::interval(KEY_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        match keys.refresh(store.as_ref(), clock.now(), &metrics).await {
            Ok(_) => failing = false,
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(event = "signing_keys_unavailable", error = %err, "reading the stored signing keys failed; the keys in use stay until it succeeds");
            }
            Err(err) => {
                tracing::debug!(error = %err, "reading the stored signing keys failed again")
            }
        }
    }
}
