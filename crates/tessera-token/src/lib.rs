//! # tessera-token: strict JWTs for access tokens
//!
//! The JOSE core of Tessera. It issues and verifies JSON Web Tokens with safe defaults and nothing
//! else: no I/O, no async, no network. Add this crate alone to verify Tessera tokens in your own
//! service.
//!
//! ## Features
//! - Algorithms HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA (Ed25519, also
//!   under its RFC 9864 name `Ed25519`). The cryptography is aws-lc-rs; this crate only frames it.
//! - Typed keys: a key is created for exactly one [`Algorithm`] and parsed once into a ready object.
//!   `none` cannot be expressed. A key of one family never verifies another family's algorithm.
//!   HMAC secrets shorter than the hash output and RSA keys under 2048 bits are refused, and so
//!   are Ed25519 public keys of small order or not canonically encoded (see
//!   [`VerifyingKey::from_ed25519_public`]): a small-order key would verify forged signatures.
//! - `kid` is the RFC 7638 thumbprint, stable across restarts and machines.
//! - A [`KeySet`] with one current signing key and verification-only keys for rotation; public JWK
//!   Set export and import.
//! - An injectable [`Clock`]; secrets that redact themselves in `Debug` and zeroize on drop.
//!
//! ## Non-features, on purpose
//! - No `none`, no keys taken from the token (`jwk`, `jku`, `x5u`, `x5c` are never read), no `crit`
//!   extensions, no unencoded payloads (`b64`), no JWE, no JSON serialization.
//!
//! ## Verification order
//! [`Verifier::verify_access_token`] checks, and stops at the first failure, reporting the step in
//! [`Error`]:
//! 1. size cap (8 KiB by default);
//! 2. exactly three segments;
//! 3. strict base64url in every segment (no padding, whitespace, `+`/`/`, non-canonical endings);
//! 4. the header: a JSON object without duplicate members, `alg` a string, no `crit`, no `b64`;
//! 5. `typ` is `at+jwt` or `application/at+jwt` (case-insensitive), so an ID token or another
//!    kind of JWT signed by the same key is not accepted as an access token;
//! 6. the key, by `kid`, from the configured key set only;
//! 7. `alg` equal to the key's algorithm (no algorithm confusion);
//! 8. the signature's form: its exact length for that algorithm and, for ECDSA, a low S (below);
//! 9. the signature, over the bytes received;
//! 10. only now the payload: UTF-8, a JSON object, no duplicate members, registered claims of the
//!     right JSON type, NumericDates as non-negative integers in range;
//! 11. `exp` (now must be before it), `nbf`, `iat` not in the future, each with leeway;
//! 12. `iss` exactly; 13. `aud` contains ours; 14. `sub` and `jti` present.
//!
//! ## One encoding per signature
//! An ECDSA signature `(r, s)` has a twin `(r, n - s)` that verifies under the same key, and
//! anyone can compute it from a token. Tessera signs only the low form (`s <= n/2`: aws-lc-rs
//! signs, then S is normalized), and [`Verifier`] refuses the high form with
//! [`Error::NonCanonicalSignature`], so a token Tessera issued has exactly one accepted encoding.
//! Other issuers' libraries (PyJWT, jose) sign either form; to judge their tokens, open the door
//! explicitly with [`Verifier::accepting_high_s_ecdsa`] (or, at the JWS layer,
//! [`verify_with_key_accepting_high_s_ecdsa`]). The `tessera` CLI does so for
//! `token verify --jwks FILE` only; the server and `token verify` with the configured keys never do.
//!
//! ## Getting started
//! ```
//! use std::sync::Arc;
//! use tessera_token::{AccessTokenRequest, Algorithm, KeySet, SigningKey, TokenIssuer, Verifier};
//!
//! let (key, _pkcs8) = SigningKey::generate(Algorithm::ES256)?;
//! let keys = Arc::new(KeySet::with_signing_key(key));
//! let signing = keys.signing_key().cloned().expect("the set was built with a signing key");
//! let issuer = TokenIssuer::new(signing, "https://auth.example", "api", 900);
//! let issued = issuer.issue(&AccessTokenRequest { subject: "user-1".into(), ..Default::default() })?;
//!
//! let verifier = Verifier::new(keys, "https://auth.example", "api");
//! let claims = verifier.verify_access_token(&issued.token)?;
//! assert_eq!(claims.sub, "user-1");
//! # Ok::<(), tessera_token::Error>(())
//! ```
#![forbid(unsafe_code)]

mod algorithm;
pub mod base64url;
mod claims;
mod clock;
mod ecdsa;
mod ed25519;
mod error;
mod issue;
mod json;
mod jwk;
mod jws;
mod keys;
mod keyset;
mod secret;
mod signer;
mod verify;

pub use algorithm::{Algorithm, KeyFamily};
pub use claims::{AccessClaims, Audience, MAX_NUMERIC_DATE, RESERVED_CLAIMS};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result};
pub use issue::{AccessTokenRequest, IssuedAccessToken, TokenIssuer, ACCESS_TOKEN_TYP};
pub use jwk::{Jwk, JwkSet};
pub use jws::{
    verify_with_key, verify_with_key_accepting_high_s_ecdsa, Header, VerifiedJws,
    DEFAULT_MAX_TOKEN_LEN,
};
pub use keys::{generate_hmac_secret, SigningKey, VerifyingKey, MIN_RSA_BITS};
pub use keyset::KeySet;
pub use secret::{Secret, SecretText};
pub use signer::Signer;
pub use verify::{Verifier, DEFAULT_LEEWAY};
