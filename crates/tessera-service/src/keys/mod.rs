//! Signing keys kept in the store (stored-key mode): created once for the whole deployment,
//! rotated on a schedule or at once, retired by hand, and encrypted at rest.
//!
//! Every change is one versioned write of the key ring
//! ([`KeyStore::change_key_ring`](tessera_store::KeyStore::change_key_ring)): of instances racing
//! to make the first key, or to rotate on schedule, exactly one wins, and the others re-read and
//! find the work done. A key's state ([`KeyState`]) is derived from its stored times at read
//! time ([`ring_states`]), so every instance reading the ring agrees on what signs and what
//! verifies without any further coordination.
//!
//! - [`ensure_signing_key`]: at start, makes the first key if there is none that signs.
//! - [`load_active`]: the keys to sign and verify with now (parsed once per change).
//! - [`rotate`], [`retire`], [`rotate_if_due`], [`rewrap`]: the `tessera keys` commands and the
//!   server's automatic rotation.

pub mod kek;
pub mod lifecycle;

pub use kek::{load_kek, KekOrigin, KeyEncryptionKey};
pub use lifecycle::{ring_states, KeyState, KeyStatus, RingStates, JWKS_MAX_AGE, PUBLISH_LEAD};

use std::path::Path;
use std::sync::Arc;

use tessera_store::{KeyChange, KeyRing, Store, StoredKey};
use tessera_token::{Algorithm, Jwk, KeySet, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::ServiceError;

/// How often a versioned change is retried when other writers keep changing the ring first.
const MAX_ATTEMPTS: usize = 16;

/// The keys to sign and verify with at one version of the ring and one time.
#[derive(Debug, Clone)]
pub struct ActiveKeys {
    /// The ring version they were read at.
    pub version: i64,
    /// The signing key (the `current` one; none when it cannot be opened on this instance, see
    /// [`load_known`]: then nothing is signed) and every `next` and `previous` key: what
    /// verifies and is published.
    pub keys: KeySet,
    /// The states they were derived from (for logs, metrics and the next change time).
    pub states: RingStates,
}

/// What [`ensure_signing_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstKey {
    /// A key signs already (made by this or another process before).
    Present,
    /// This call made the signing key.
    Created {
        /// Its id.
        kid: String,
        /// Whether it was imported from the data directory's key file of earlier versions.
        imported: bool,
    },
}

/// What [`rotate`] and [`rotate_if_due`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key that signs from `activates_at`.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: String,
    /// When it signs.
    pub activates_at: u64,
    /// The key it replaces (now or then), if there was one.
    pub replaces: Option<String>,
    /// Whether it was an already scheduled `next` key activated early.
    pub was_scheduled: bool,
}

/// What [`retire`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// The retired key.
    pub kid: String,
    /// Its state before.
    pub was: KeyState,
    /// The key that signs from now on, when the retired key was the signing one.
    pub new_current: Option<String>,
}

fn wrong_kek(stored: &StoredKey, kek: &KeyEncryptionKey) -> ServiceError {
    ServiceError::KeyEncryption(format!(
        "stored signing key {} is sealed under key-encryption key {}, but the configured one is \
         {} (a wrong TESSERA_KEY_ENCRYPTION_KEY, or one rotated without `tessera keys rewrap`)",
        stored.kid,
        stored.kek_id,
        kek.id()
    ))
}

/// Refuses to change a ring whose keys in service are sealed under another key-encryption key
/// than `kek`: a key made under a wrong one would stop every instance signing.
fn check_kek(
    ring: &KeyRing,
    states: &RingStates,
    kek: &KeyEncryptionKey,
) -> Result<(), ServiceError> {
    for status in states.keys.iter().filter(|status| status.state.verifies()) {
        if let Some(stored) = ring.keys.iter().find(|key| key.kid == status.kid) {
            if stored.kek_id != kek.id() {
                return Err(wrong_kek(stored, kek));
            }
        }
    }
    Ok(())
}

fn corrupt(kid: &str, what: &str) -> ServiceError {
    ServiceError::Store(tessera_store::StoreError::Corrupt(format!(
        "stored signing key {kid}: {what}"
    )))
}

fn algorithm_of(stored: &StoredKey) -> Result<Algorithm, ServiceError> {
    stored
        .algorithm
        .parse::<Algorithm>()
        .map_err(|_| corrupt(&stored.kid, "unknown algorithm"))
}

/// Seals a new private key for storage, signing from `activates_at`.
fn stored_key(
    kek: &KeyEncryptionKey,
    key: &SigningKey,
    private_der: &[u8],
    now: u64,
    activates_at: u64,
) -> Result<StoredKey, ServiceError> {
    let jwk = key
        .verifying_key()
        .public_jwk()
        .ok_or_else(|| ServiceError::Rule("stored keys are asymmetric".into()))?;
    let public_jwk = serde_json::to_string(jwk)
        .map_err(|err| ServiceError::KeyEncryption(format!("encoding a public key: {err}")))?;
    let algorithm = key.algorithm().name();
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        algorithm: algorithm.to_owned(),
        wrapped_private: kek.wrap(key.kid(), algorithm, private_der)?,
        kek_id: kek.id().to_owned(),
        public_jwk,
        created_at: now,
        activates_at,
        retired_at: None,
    })
}

/// A fresh key of `algorithm`, sealed, signing from `activates_at`.
fn generated_key(
    kek: &KeyEncryptionKey,
    algorithm: Algorithm,
    now: u64,
    activates_at: u64,
) -> Result<StoredKey, ServiceError> {
    if algorithm.family() == tessera_token::KeyFamily::Hmac {
        return Err(ServiceError::Rule(format!(
            "{algorithm} keys are shared secrets: stored keys are asymmetric (ES256, EdDSA, RS256, \
             ...); set JWT_SECRET_KEY to use {algorithm}"
        )));
    }
    let (key, der) = SigningKey::generate(algorithm)?;
    stored_key(kek, &key, der.expose(), now, activates_at)
}

/// The private key of a stored key, opened and checked against its `kid`.
///
/// # Errors
/// [`ServiceError::KeyEncryption`] if it is sealed under another key-encryption key or does not
/// open; [`ServiceError::Store`] (corrupt) if it opens to another key than its `kid` says.
pub fn open_signing_key(
    stored: &StoredKey,
    kek: &KeyEncryptionKey,
) -> Result<SigningKey, ServiceError> {
    if stored.kek_id != kek.id() {
        return Err(wrong_kek(stored, kek));
    }
    let der = kek.unwrap(&stored.kid, &stored.algorithm, &stored.wrapped_private)?;
    let key = SigningKey::from_pkcs8_der(algorithm_of(stored)?, &der)
        .map_err(|_| corrupt(&stored.kid, "not a private key of its algorithm"))?;
    if key.kid() != stored.kid {
        return Err(corrupt(&stored.kid, "the private key is another key"));
    }
    Ok(key)
}

fn public_key(stored: &StoredKey) -> Result<VerifyingKey, ServiceError> {
    if algorithm_of(stored)?.family() == tessera_token::KeyFamily::Hmac {
        return Err(corrupt(
            &stored.kid,
            "a stored key is never a shared secret",
        ));
    }
    let jwk: Jwk = serde_json::from_str(&stored.public_jwk)
        .map_err(|_| corrupt(&stored.kid, "the public key is not a JWK"))?;
    let key = VerifyingKey::from_jwk(&jwk, Some(algorithm_of(stored)?))
        .map_err(|_| corrupt(&stored.kid, "the public key is not usable"))?;
    if key.kid() != stored.kid {
        return Err(corrupt(&stored.kid, "the public key is another key"));
    }
    Ok(key)
}

/// The ring and its states now, with the deployment's longest access-token lifetime.
async fn read(store: &dyn Store, now: u64) -> Result<(KeyRing, RingStates), ServiceError> {
    let ring = store.key_ring().await?;
    let longest = store.longest_access_ttl().await?;
    let states = ring_states(&ring, now, longest);
    Ok((ring, states))
}

/// The key states now (for `tessera keys list`).
///
/// # Errors
/// The store's error.
pub async fn list(store: &dyn Store, now: u64) -> Result<RingStates, ServiceError> {
    Ok(read(store, now).await?.1)
}

/// Applies `decide`'s changes to the ring read now, retrying on a lost race; `decide` returns
/// `None` when there is nothing to do (another writer did it).
async fn change<T>(
    store: &dyn Store,
    now: u64,
    mut decide: impl FnMut(&KeyRing, &RingStates) -> Result<Option<(Vec<KeyChange>, T)>, ServiceError>,
) -> Result<Option<T>, ServiceError> {
    for _ in 0..MAX_ATTEMPTS {
        let (ring, states) = read(store, now).await?;
        let Some((changes, outcome)) = decide(&ring, &states)? else {
            return Ok(None);
        };
        if store
            .change_key_ring(ring.version, &changes)
            .await?
            .is_some()
        {
            return Ok(Some(outcome));
        }
    }
    Err(ServiceError::Unavailable(
        "the signing keys kept changing under this change; try again",
    ))
}

/// Makes sure a key signs: if none does (a new deployment), makes one of `algorithm` that signs
/// from now (importing `legacy_file`, the data directory's key of earlier versions, when the
/// store has no key at all and the file exists, so the tokens it signed stay valid), or activates
/// a scheduled one at once. Of several processes calling this at once, one makes the key.
///
/// # Errors
/// The store's error; [`ServiceError::KeyEncryption`] if sealing fails; an unreadable legacy file.
pub async fn ensure_signing_key(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    algorithm: Algorithm,
    legacy_file: Option<&Path>,
    now: u64,
) -> Result<FirstKey, ServiceError> {
    let made = change(store, now, |ring, states| {
        if states.current().is_some() {
            return Ok(None);
        }
        check_kek(ring, states, kek)?;
        if let Some(next) = states.next() {
            let kid = next.kid.clone();
            let changes = vec![KeyChange::Activate {
                kid: kid.clone(),
                at: now,
            }];
            return Ok(Some((
                changes,
                FirstKey::Created {
                    kid,
                    imported: false,
                },
            )));
        }
        let legacy = match legacy_file {
            Some(path) if ring.keys.is_empty() && path.exists() => {
                Some(legacy_key(path, algorithm)?)
            }
            _ => None,
        };
        let imported = legacy.is_some();
        let key = match legacy {
            Some((key, der)) => stored_key(kek, &key, &der, now, now)?,
            None => generated_key(kek, algorithm, now, now)?,
        };
        let kid = key.kid.clone();
        Ok(Some((
            vec![KeyChange::Insert(key)],
            FirstKey::Created { kid, imported },
        )))
    })
    .await?;
    if let (Some(FirstKey::Created { imported: true, .. }), Some(path)) = (&made, legacy_file) {
        // The key is stored sealed now: its plain-text copy goes, so that the only private key
        // at rest is the sealed one. A failure to delete is reported, not fatal.
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(event = "legacy_key_not_deleted", path = %path.display(), error = %err, "imported the key file into the store but could not delete it; delete it by hand");
        }
    }
    Ok(made.unwrap_or(FirstKey::Present))
}

fn legacy_key(
    path: &Path,
    algorithm: Algorithm,
) -> Result<(SigningKey, Zeroizing<Vec<u8>>), ServiceError> {
    let unreadable = |what: String| {
        ServiceError::KeyEncryption(format!("TESSERA_DATA_DIR: {}: {what}", path.display()))
    };
    let text = Zeroizing::new(std::fs::read(path).map_err(|err| unreadable(err.to_string()))?);
    let block = pem::parse(&text[..]).map_err(|_| unreadable("not a PEM private key".into()))?;
    let der = Zeroizing::new(block.into_contents());
    let key =
        SigningKey::from_pkcs8_der(algorithm, &der).map_err(|err| unreadable(err.to_string()))?;
    Ok((key, der))
}

/// The keys to sign and verify with now: the `current` key opened, and every `next` and
/// `previous` key authenticated by opening it too (its public key is derived from the private key
/// sealed under the key-encryption key, never taken from the stored JWK, so a row written into
/// the database without the key-encryption key verifies nothing). `in_use` is the key set in use,
/// if any: keys in it were authenticated when it was loaded and are shared rather than opened
/// again (a reload after a rotation opens only the new key).
///
/// # Errors
/// [`ServiceError::Unavailable`] if no key signs (see [`ensure_signing_key`]); a wrong
/// key-encryption key; a corrupt stored key; the store's error.
pub async fn load_active(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    now: u64,
    in_use: Option<&KeySet>,
) -> Result<ActiveKeys, ServiceError> {
    let (ring, states) = read(store, now).await?;
    let current = states
        .current()
        .and_then(|status| ring.keys.iter().find(|key| key.kid == status.kid))
        .ok_or(ServiceError::Unavailable("no stored signing key signs now"))?;
    let signing = match in_use.and_then(KeySet::signing_key) {
        Some(key) if key.kid() == current.kid && key.algorithm().name() == current.algorithm => {
            key.clone()
        }
        _ => Arc::new(open_signing_key(current, kek)?),
    };
    let mut keys = KeySet::with_shared_signing_key(signing);
    for status in &states.keys {
        if !status.state.verifies() || status.kid == current.kid {
            continue;
        }
        let Some(stored) = ring.keys.iter().find(|key| key.kid == status.kid) else {
            continue;
        };
        let known = in_use
            .and_then(|set| set.get(&stored.kid))
            .filter(|key| key.algorithm().name() == stored.algorithm);
        let key = match known {
            Some(key) => key.clone(),
            None => open_signing_key(stored, kek)?.verifying_key().clone(),
        };
        keys.add_verifying_key(key)?;
    }
    Ok(ActiveKeys {
        version: ring.version,
        keys,
        states,
    })
}

/// What can be known of the keys now without opening any (when [`load_active`] fails: a wrong
/// key-encryption key on this instance, a corrupt row, ...): of the keys in `in_use`, those that
/// still verify, and its signing key only if it is still the current one. A retired key is thus
/// dropped even by an instance that cannot open the new keys, and such an instance stops
/// signing rather than sign with a key that no longer should.
///
/// # Errors
/// The store's error.
pub async fn load_known(
    store: &dyn Store,
    now: u64,
    in_use: &KeySet,
) -> Result<ActiveKeys, ServiceError> {
    let (ring, states) = read(store, now).await?;
    let current = states.current().map(|status| status.kid.clone());
    let signing = in_use
        .signing_key()
        .filter(|key| current.as_deref() == Some(key.kid()))
        .cloned();
    let mut keys = match &signing {
        Some(key) => KeySet::with_shared_signing_key(key.clone()),
        None => KeySet::new(),
    };
    for status in states.keys.iter().filter(|status| status.state.verifies()) {
        if Some(status.kid.as_str()) == signing.as_ref().map(|key| key.kid()) {
            continue;
        }
        if let Some(key) = in_use.get(&status.kid) {
            keys.add_verifying_key(key.clone())?;
        }
    }
    Ok(ActiveKeys {
        version: ring.version,
        keys,
        states,
    })
}

/// The public keys that verify now (`next`, `current`, `previous`), for `tessera jwks` and
/// `tessera token verify`. Keys sealed under `kek` are derived from their private keys (as the
/// server does); others (no key-encryption key at hand, or a key sealed under another one, as
/// between `tessera keys rewrap` and the switch to the new one) are taken from their stored
/// public JWKs, which a writer of the database could have altered: the servers never do that.
///
/// # Errors
/// A corrupt stored key; a key that does not open with `kek`; the store's error.
pub async fn published_keys(
    store: &dyn Store,
    kek: Option<&KeyEncryptionKey>,
    now: u64,
) -> Result<KeySet, ServiceError> {
    let (ring, states) = read(store, now).await?;
    let mut keys = KeySet::new();
    for status in states.keys.iter().filter(|status| status.state.verifies()) {
        if let Some(stored) = ring.keys.iter().find(|key| key.kid == status.kid) {
            let key = match kek {
                Some(kek) if stored.kek_id == kek.id() => {
                    open_signing_key(stored, kek)?.verifying_key().clone()
                }
                _ => public_key(stored)?,
            };
            keys.add_verifying_key(key)?;
        }
    }
    Ok(keys)
}

/// Rotates: with `immediately == false`, makes a `next` key of `algorithm` (or, if `None`,
/// `default_algorithm`) that signs after
/// [`PUBLISH_LEAD`] (published first, so cached JWK Sets have it before any token does); with
/// `immediately == true` (an incident), the `next` key already scheduled, or a new one, signs
/// from now (caches that fetched the JWKS before may miss it for up to [`JWKS_MAX_AGE`]); the
/// scheduled key is taken whatever its algorithm unless `algorithm` asks for another.
///
/// # Errors
/// [`ServiceError::Rule`] if a rotation is already scheduled (and `immediately` is false, or it
/// is of another algorithm than the one asked for); the store's error.
pub async fn rotate(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    algorithm: Option<Algorithm>,
    default_algorithm: Algorithm,
    now: u64,
    immediately: bool,
) -> Result<Rotation, ServiceError> {
    let done = change(store, now, |ring, states| {
        check_kek(ring, states, kek)?;
        let replaces = states.current().map(|key| key.kid.clone());
        if let Some(next) = states.next() {
            let same_algorithm = algorithm.is_none_or(|wanted| next.algorithm == wanted.name());
            if !immediately || !same_algorithm {
                return Err(ServiceError::Rule(format!(
                    "key {} ({}) is already scheduled to sign at {}: `tessera keys rotate --now` \
                     activates it at once, `tessera keys retire {}` cancels it",
                    next.kid,
                    next.algorithm,
                    next.activated.unwrap_or_default(),
                    next.kid
                )));
            }
            let rotation = Rotation {
                kid: next.kid.clone(),
                algorithm: next.algorithm.clone(),
                activates_at: now,
                replaces,
                was_scheduled: true,
            };
            let changes = vec![KeyChange::Activate {
                kid: next.kid.clone(),
                at: now,
            }];
            return Ok(Some((changes, rotation)));
        }
        let activates_at = if immediately { now } else { now + PUBLISH_LEAD };
        let key = generated_key(
            kek,
            algorithm.unwrap_or(default_algorithm),
            now,
            activates_at,
        )?;
        let rotation = Rotation {
            kid: key.kid.clone(),
            algorithm: key.algorithm.clone(),
            activates_at,
            replaces,
            was_scheduled: false,
        };
        Ok(Some((vec![KeyChange::Insert(key)], rotation)))
    })
    .await?;
    done.ok_or(ServiceError::Unavailable("the rotation was not applied"))
}

/// Automatic rotation (`TESSERA_KEY_ROTATION`): when the signing key has signed for `period`
/// (less the publish lead) and nothing is scheduled, schedules a `next` key of `algorithm` to
/// sign when the period ends (or after the publish lead, if later). Of several instances calling
/// this at once, one schedules; the others find it scheduled and return `None`.
///
/// # Errors
/// The store's error.
pub async fn rotate_if_due(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    algorithm: Algorithm,
    period: u64,
    now: u64,
) -> Result<Option<Rotation>, ServiceError> {
    change(store, now, |ring, states| {
        let Some(current) = states.current() else {
            return Ok(None);
        };
        check_kek(ring, states, kek)?;
        let due = current.activated.unwrap_or(now).saturating_add(period);
        if states.next().is_some() || due > now.saturating_add(PUBLISH_LEAD) {
            return Ok(None);
        }
        let activates_at = due.max(now + PUBLISH_LEAD);
        let key = generated_key(kek, algorithm, now, activates_at)?;
        let rotation = Rotation {
            kid: key.kid.clone(),
            algorithm: key.algorithm.clone(),
            activates_at,
            replaces: Some(current.kid.clone()),
            was_scheduled: false,
        };
        Ok(Some((vec![KeyChange::Insert(key)], rotation)))
    })
    .await
}

/// Retires `kid` at once (a compromised key): it stops verifying on every instance, and the
/// tokens it signed fail. If it was the signing key, the scheduled `next` key (or a new key of
/// `algorithm`) signs from now; a `next` key retired is a cancelled rotation.
///
/// # Errors
/// [`ServiceError::NotFound`] for an unknown `kid`; [`ServiceError::Rule`] if it is retired
/// already; the store's error.
pub async fn retire(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    kid: &str,
    algorithm: Algorithm,
    now: u64,
) -> Result<Retirement, ServiceError> {
    let done = change(store, now, |ring, states| {
        let Some(was) = states.state_of(kid) else {
            return Err(ServiceError::NotFound("signing key"));
        };
        check_kek(ring, states, kek)?;
        let mut changes = vec![KeyChange::Retire {
            kid: kid.to_owned(),
            at: now,
        }];
        let mut new_current = None;
        match was {
            KeyState::Retired => {
                return Err(ServiceError::Rule(format!("key {kid} is retired already")))
            }
            KeyState::Current => match states.next() {
                Some(next) => {
                    changes.push(KeyChange::Activate {
                        kid: next.kid.clone(),
                        at: now,
                    });
                    new_current = Some(next.kid.clone());
                }
                None => {
                    let key = generated_key(kek, algorithm, now, now)?;
                    new_current = Some(key.kid.clone());
                    changes.push(KeyChange::Insert(key));
                }
            },
            KeyState::Next | KeyState::Previous => {}
        }
        let retirement = Retirement {
            kid: kid.to_owned(),
            was,
            new_current,
        };
        Ok(Some((changes, retirement)))
    })
    .await?;
    done.ok_or(ServiceError::Unavailable("the retirement was not applied"))
}

/// Re-seals every stored key under `new` (rotating the key-encryption key): keys under `old` are
/// opened and sealed again, keys already under `new` are left. Returns how many were re-sealed.
///
/// # Errors
/// [`ServiceError::KeyEncryption`] if a key is sealed under neither (nothing is changed); the
/// store's error.
pub async fn rewrap(
    store: &dyn Store,
    old: &KeyEncryptionKey,
    new: &KeyEncryptionKey,
    now: u64,
) -> Result<usize, ServiceError> {
    let done = change(store, now, |ring, _| {
        let mut changes = Vec::new();
        for stored in &ring.keys {
            if stored.kek_id == new.id() {
                continue;
            }
            if stored.kek_id != old.id() {
                return Err(wrong_kek(stored, old));
            }
            let der = old.unwrap(&stored.kid, &stored.algorithm, &stored.wrapped_private)?;
            changes.push(KeyChange::Rewrap {
                kid: stored.kid.clone(),
                wrapped_private: new.wrap(&stored.kid, &stored.algorithm, &der)?,
                kek_id: new.id().to_owned(),
            });
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let count = changes.len();
        Ok(Some((changes, count)))
    })
    .await?;
    Ok(done.unwrap_or(0))
}
