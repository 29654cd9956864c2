//! The signer boundary: what issuing a token needs from a key, and nothing more.
//!
//! [`TokenIssuer`](crate::TokenIssuer) signs through a [`Signer`]: the key id and algorithm to put
//! in the header, the public key to publish, and "sign these bytes". [`SigningKey`] is the
//! in-process implementation (the private key in this process's memory). A signer backed by a
//! KMS or an HSM implements the same trait, keeping the private key outside the process; nothing
//! else in Tessera changes.
//!
//! ## Contract for implementations
//! - [`Signer::sign`] returns the raw JWS signature of exactly the bytes given (the ASCII signing
//!   input `BASE64URL(header) || '.' || BASE64URL(payload)`), in the JWS encoding of
//!   [`Signer::algorithm`]: for ECDSA the fixed-width `R || S` (not DER), with a low S
//!   (`s <= n/2`), since Tessera's verifiers refuse the high-S twin; for RSA the PKCS#1 v1.5 or
//!   PSS signature; for Ed25519 the 64-byte signature.
//! - It is called on the request path, concurrently, from async tasks: it must not block for
//!   long (a remote signer should keep its own timeouts short and fail with
//!   [`Error::Crypto`](crate::Error::Crypto) rather than hang).
//! - [`Signer::kid`] and [`Signer::algorithm`] never change for one signer value; a new key is a
//!   new signer.

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::error::Result;
use crate::jwk::Jwk;
use crate::keys::SigningKey;

/// Signs JWS signing inputs with one key (see the module documentation for the contract).
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The key id stamped in the header of what this signer signs.
    fn kid(&self) -> &str;

    /// The one algorithm this signer signs with.
    fn algorithm(&self) -> Algorithm;

    /// The public key as a JWK (with `kid`, `alg` and `use`), for the JWK Set; `None` for an HMAC
    /// secret, which is never published.
    fn public_jwk(&self) -> Option<&Jwk>;

    /// The largest signature this signer produces, in bytes (to size buffers).
    fn signature_len(&self) -> usize;

    /// Signs `signing_input` and returns the raw signature.
    ///
    /// # Errors
    /// [`Error::Crypto`](crate::Error::Crypto) if signing fails.
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>>;

    /// Signs `buffer[..signing_input_len]` and appends the base64url signature to `buffer`. The
    /// provided method calls [`Signer::sign`]; the in-process key overrides it to sign without
    /// an intermediate allocation.
    ///
    /// # Errors
    /// As [`Signer::sign`].
    fn sign_encoded_into(&self, signing_input_len: usize, buffer: &mut String) -> Result<()> {
        let signature = self.sign(&buffer.as_bytes()[..signing_input_len])?;
        base64url::encode_into(&signature, buffer);
        Ok(())
    }
}

impl Signer for SigningKey {
    fn kid(&self) -> &str {
        SigningKey::kid(self)
    }

    fn algorithm(&self) -> Algorithm {
        SigningKey::algorithm(self)
    }

    fn public_jwk(&self) -> Option<&Jwk> {
        self.verifying_key().public_jwk()
    }

    fn signature_len(&self) -> usize {
        self.verifying_key().signature_len()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>> {
        SigningKey::sign(self, signing_input)
    }

    fn sign_encoded_into(&self, signing_input_len: usize, buffer: &mut String) -> Result<()> {
        SigningKey::sign_encoded_into(self, signing_input_len, buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessTokenRequest, KeySet, TokenIssuer, Verifier};
    use std::sync::Arc;

    /// A signer that keeps its key elsewhere (here: behind another object), as a KMS signer
    /// would, and uses only the trait's provided encoding.
    #[derive(Debug)]
    struct Remote {
        key: SigningKey,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Signer for Remote {
        fn kid(&self) -> &str {
            self.key.kid()
        }
        fn algorithm(&self) -> Algorithm {
            self.key.algorithm()
        }
        fn public_jwk(&self) -> Option<&Jwk> {
            self.key.verifying_key().public_jwk()
        }
        fn signature_len(&self) -> usize {
            self.key.verifying_key().signature_len()
        }
        fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>> {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.key.sign(signing_input)
        }
    }

    #[test]
    fn an_issuer_signs_through_any_signer_and_the_tokens_verify() {
        for algorithm in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS256] {
            let (key, _) = SigningKey::generate(algorithm).unwrap();
            let verifying = key.verifying_key().clone();
            let remote = Arc::new(Remote {
                key,
                calls: std::sync::atomic::AtomicUsize::new(0),
            });
            let issuer = TokenIssuer::new(remote.clone(), "iss", "aud", 60);
            let issued = issuer
                .issue(&AccessTokenRequest {
                    subject: "u".into(),
                    ..AccessTokenRequest::default()
                })
                .unwrap();
            let mut keys = KeySet::new();
            keys.add_verifying_key(verifying).unwrap();
            let claims = Verifier::new(Arc::new(keys), "iss", "aud")
                .verify_access_token(&issued.token)
                .unwrap();
            assert_eq!(claims.sub, "u");
            assert_eq!(
                remote.calls.load(std::sync::atomic::Ordering::Relaxed),
                1,
                "{algorithm}"
            );
            assert_eq!(issuer.signer().kid(), remote.kid());
        }
    }
}
