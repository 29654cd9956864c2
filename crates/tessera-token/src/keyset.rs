//! A key set: keys by `kid`, one current signing key, and verification-only keys for rotation.

use crate::algorithm::Algorithm;
use crate::error::{Error, Result};
use crate::jwk::JwkSet;
use crate::keys::{SigningKey, VerifyingKey};
use std::collections::HashMap;
use std::sync::Arc;

/// Keys by `kid`: the current signing key (if any) and every key still accepted for verification.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    signing: Option<Arc<SigningKey>>,
    verifying: HashMap<String, VerifyingKey>,
    order: Vec<String>,
}

impl KeySet {
    /// An empty key set.
    #[must_use]
    pub fn new() -> Self {
        KeySet::default()
    }

    /// A key set whose current signing key is `key` (its public half verifies too).
    #[must_use]
    pub fn with_signing_key(key: SigningKey) -> Self {
        KeySet::with_shared_signing_key(Arc::new(key))
    }

    /// As [`KeySet::with_signing_key`], sharing a key already in use elsewhere (a new set of
    /// keys around the same signing key, without parsing it again).
    #[must_use]
    pub fn with_shared_signing_key(key: Arc<SigningKey>) -> Self {
        let mut set = KeySet::new();
        set.insert(key.verifying_key().clone());
        set.signing = Some(key);
        set
    }

    fn insert(&mut self, key: VerifyingKey) {
        self.order.push(key.kid().to_owned());
        self.verifying.insert(key.kid().to_owned(), key);
    }

    /// Adds a verification-only key (a previous signing key during rotation, or a peer's key).
    ///
    /// # Errors
    /// [`Error::Key`] if a key with the same `kid` is already present: an ambiguous `kid` could
    /// select the wrong key.
    pub fn add_verifying_key(&mut self, key: VerifyingKey) -> Result<()> {
        if self.verifying.contains_key(key.kid()) {
            return Err(Error::Key(format!(
                "duplicate kid `{}` in key set",
                key.kid()
            )));
        }
        self.insert(key);
        Ok(())
    }

    /// Builds a verification-only set from a JWK Set. Each key is bound to its JWK `alg`; a JWK
    /// without `alg` needs `algorithm`.
    ///
    /// # Errors
    /// The first key that [`VerifyingKey::from_jwk`] refuses, or a duplicate `kid`.
    pub fn from_jwks(jwks: &JwkSet, algorithm: Option<Algorithm>) -> Result<Self> {
        let mut set = KeySet::new();
        for jwk in &jwks.keys {
            set.add_verifying_key(VerifyingKey::from_jwk(jwk, algorithm)?)?;
        }
        Ok(set)
    }

    /// The current signing key, if this set can sign.
    #[must_use]
    pub fn signing_key(&self) -> Option<&Arc<SigningKey>> {
        self.signing.as_ref()
    }

    /// The verification key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.get(kid)
    }

    /// Number of verification keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.verifying.len()
    }

    /// Whether the set has no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.verifying.is_empty()
    }

    /// The public JWK Set of every asymmetric key, current first. HMAC keys are never exported.
    #[must_use]
    pub fn to_jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .order
                .iter()
                .filter_map(|kid| self.verifying.get(kid))
                .filter_map(|key| key.public_jwk().cloned())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_round_trip_and_rotation() {
        let (current, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let (previous, _) = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let mut set = KeySet::with_signing_key(current);
        set.add_verifying_key(previous.verifying_key().clone())
            .unwrap();
        let jwks = set.to_jwks();
        assert_eq!(jwks.keys.len(), 2);
        assert_eq!(jwks.keys[0].alg.as_deref(), Some("ES256"));
        let imported = KeySet::from_jwks(&jwks, None).unwrap();
        assert!(imported.get(previous.kid()).is_some());
        assert!(imported.signing_key().is_none());
        assert!(
            set.add_verifying_key(previous.verifying_key().clone())
                .is_err(),
            "duplicate kid"
        );
    }

    #[test]
    fn hmac_keys_are_never_exported() {
        let key = SigningKey::from_hmac_secret(Algorithm::HS256, &[9; 32]).unwrap();
        let set = KeySet::with_signing_key(key);
        assert!(set.to_jwks().keys.is_empty());
        assert_eq!(set.len(), 1);
    }
}
