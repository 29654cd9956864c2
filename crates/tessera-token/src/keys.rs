//! Typed keys: each bound to exactly one algorithm, parsed once into ready objects.
//!
//! A [`SigningKey`] signs and carries its own [`VerifyingKey`]; a [`VerifyingKey`] verifies and can
//! be exported as a public [`Jwk`]. Signing and verifying never re-parse key material.

use crate::algorithm::{Algorithm, KeyFamily};
use crate::base64url;
use crate::ecdsa;
use crate::ed25519;
use crate::error::{Error, Result};
use crate::jwk::{thumbprint, Jwk};
use crate::secret::Secret;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, Ed25519KeyPair,
    KeyPair as _, ParsedPublicKey, RsaEncoding, RsaKeyPair, RsaParameters, RsaPublicKeyComponents,
};
use zeroize::Zeroizing;

/// Smallest RSA modulus Tessera accepts, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A key that verifies signatures for exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    algorithm: Algorithm,
    kid: String,
    signature_len: usize,
    inner: VerifyingInner,
    public_jwk: Option<Jwk>,
}

#[derive(Clone)]
enum VerifyingInner {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

/// A key that signs for exactly one algorithm.
pub struct SigningKey {
    inner: SigningInner,
    verifying: VerifyingKey,
}

enum SigningInner {
    Hmac(Box<hmac::Key>),
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.verifying.algorithm)
            .field("kid", &self.verifying.kid)
            .field("private", &"[REDACTED]")
            .finish()
    }
}

fn key_error(text: impl Into<String>) -> Error {
    Error::Key(text.into())
}

fn require_family(algorithm: Algorithm, allowed: &[KeyFamily], what: &str) -> Result<()> {
    if allowed.contains(&algorithm.family()) {
        Ok(())
    } else {
        Err(key_error(format!("{what} cannot be used with {algorithm}")))
    }
}

fn hmac_algorithm(algorithm: Algorithm) -> hmac::Algorithm {
    match algorithm {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

fn rsa_signing_encoding(algorithm: Algorithm) -> &'static dyn RsaEncoding {
    match algorithm {
        Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_SHA512,
        _ => &signature::RSA_PKCS1_SHA256,
    }
}

fn rsa_verification(algorithm: Algorithm) -> &'static RsaParameters {
    match algorithm {
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

/// Curve name, coordinate length, group order, and aws-lc-rs algorithms for an ECDSA JOSE
/// algorithm.
struct Curve {
    name: &'static str,
    coordinate_len: usize,
    /// The group order `n`, big-endian, as long as each half of a signature.
    order: &'static [u8],
    signing: &'static EcdsaSigningAlgorithm,
    verification: &'static EcdsaVerificationAlgorithm,
}

fn curve(algorithm: Algorithm) -> Curve {
    match algorithm {
        Algorithm::ES384 => Curve {
            name: "P-384",
            coordinate_len: 48,
            order: &ecdsa::P384_ORDER,
            signing: &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            verification: &signature::ECDSA_P384_SHA384_FIXED,
        },
        Algorithm::ES512 => Curve {
            name: "P-521",
            coordinate_len: 66,
            order: &ecdsa::P521_ORDER,
            signing: &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            verification: &signature::ECDSA_P521_SHA512_FIXED,
        },
        _ => Curve {
            name: "P-256",
            coordinate_len: 32,
            order: &ecdsa::P256_ORDER,
            signing: &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            verification: &signature::ECDSA_P256_SHA256_FIXED,
        },
    }
}

/// The longest fixed-width ECDSA signature: ES512, two halves of 66 bytes.
const MAX_ECDSA_SIGNATURE_LEN: usize = 2 * 66;

/// Small primes of the ROCA fingerprint (Nemec et al., CCS 2017, and the authors' `roca-detect`).
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// Whether an RSA modulus carries the ROCA fingerprint (CVE-2017-15361): keys from the flawed
/// Infineon generator have `n mod p` in the subgroup generated by 65537 for every small prime
/// `p` above, which a random modulus does with negligible probability. Such keys are factorable.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let residue = n
            .iter()
            .fold(0u32, |acc, &byte| (acc * 256 + u32::from(byte)) % p);
        // Walk the subgroup <65537> mod p; it is at most p - 1 elements long.
        let generator = 65_537 % p;
        let mut element = 1u32;
        loop {
            if element == residue {
                return true;
            }
            element = element * generator % p;
            if element == 1 {
                return false;
            }
        }
    })
}

/// Bits in a big-endian unsigned integer, ignoring leading zero bytes.
fn bit_length(big_endian: &[u8]) -> usize {
    let significant: &[u8] = match big_endian.iter().position(|&byte| byte != 0) {
        Some(first) => &big_endian[first..],
        None => &[],
    };
    match significant.first() {
        Some(&top) => (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

impl VerifyingKey {
    /// An HMAC verification key from a shared secret.
    ///
    /// # Errors
    /// [`Error::Key`] if `algorithm` is not HMAC or the secret is shorter than the hash output
    /// (RFC 7518 §3.2: 32, 48 or 64 bytes).
    pub fn from_hmac_secret(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        require_family(algorithm, &[KeyFamily::Hmac], "an HMAC secret")?;
        let min = algorithm.hash_len();
        if secret.len() < min {
            return Err(key_error(format!(
                "{algorithm} needs a secret of at least {min} bytes (RFC 7518 section 3.2), got {}",
                secret.len()
            )));
        }
        let encoded = Zeroizing::new(base64url::encode(secret));
        Ok(VerifyingKey {
            algorithm,
            kid: thumbprint(&[("k", encoded.as_str()), ("kty", "oct")]),
            signature_len: algorithm.hash_len(),
            inner: VerifyingInner::Hmac(Box::new(hmac::Key::new(
                hmac_algorithm(algorithm),
                secret,
            ))),
            public_jwk: None,
        })
    }

    /// A verification key from a JWK, bound to the JWK's `alg` (or to `algorithm` when the JWK
    /// has none).
    ///
    /// # Errors
    /// [`Error::Key`] when the JWK has no `alg` and none is given, when the two disagree, when its
    /// `use` is not `sig` or its `key_ops` lack `verify`, when it holds private asymmetric
    /// material, when its type or curve does not fit the algorithm, or when the key material is
    /// malformed or too small. [`Error::UnsupportedAlgorithm`] for an unknown `alg`.
    pub fn from_jwk(jwk: &Jwk, algorithm: Option<Algorithm>) -> Result<Self> {
        let algorithm = match (jwk.alg.as_deref(), algorithm) {
            (Some(named), given) => {
                let named: Algorithm = named.parse()?;
                if given.is_some_and(|given| given != named) {
                    return Err(key_error(
                        "the JWK's alg differs from the requested algorithm",
                    ));
                }
                named
            }
            (None, Some(given)) => given,
            (None, None) => {
                return Err(key_error(
                    "the JWK has no alg; name the algorithm it is for explicitly",
                ))
            }
        };
        if jwk
            .key_use
            .as_deref()
            .is_some_and(|key_use| key_use != "sig")
        {
            return Err(key_error("the JWK's use is not sig"));
        }
        if let Some(ops) = &jwk.key_ops {
            if !ops.iter().any(|op| op == "verify") {
                return Err(key_error("the JWK's key_ops do not include verify"));
            }
        }
        let member = |value: &Option<String>, name: &str| -> Result<Vec<u8>> {
            let text = value
                .as_deref()
                .ok_or_else(|| key_error(format!("the JWK has no `{name}`")))?;
            base64url::decode(text.as_bytes())
                .ok_or_else(|| key_error(format!("the JWK's `{name}` is not base64url")))
        };
        let family = algorithm.family();
        if family != KeyFamily::Hmac && jwk.d.is_some() {
            return Err(key_error(
                "the JWK holds private key material; a verification key must be public",
            ));
        }
        let mut key = match (jwk.kty.as_str(), family) {
            ("oct", KeyFamily::Hmac) => {
                let encoded = jwk
                    .k
                    .as_deref()
                    .ok_or_else(|| key_error("the JWK has no `k`"))?;
                let secret = Secret::new(
                    base64url::decode(encoded.as_bytes())
                        .ok_or_else(|| key_error("the JWK's `k` is not base64url"))?,
                );
                VerifyingKey::from_hmac_secret(algorithm, secret.expose())?
            }
            ("RSA", KeyFamily::Rsa | KeyFamily::RsaPss) => {
                let n = member(&jwk.n, "n")?;
                let e = member(&jwk.e, "e")?;
                VerifyingKey::from_rsa_components(algorithm, &n, &e)?
            }
            ("EC", KeyFamily::Ecdsa) => {
                let curve = curve(algorithm);
                if jwk.crv.as_deref() != Some(curve.name) {
                    return Err(key_error(format!(
                        "{algorithm} needs an EC key on {}",
                        curve.name
                    )));
                }
                let x = member(&jwk.x, "x")?;
                let y = member(&jwk.y, "y")?;
                if x.len() != curve.coordinate_len || y.len() != curve.coordinate_len {
                    return Err(key_error("the JWK's EC coordinates have the wrong length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * curve.coordinate_len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                VerifyingKey::from_ec_point(algorithm, &point)?
            }
            ("OKP", KeyFamily::Ed25519) => {
                if jwk.crv.as_deref() != Some("Ed25519") {
                    return Err(key_error(
                        "only the Ed25519 curve is supported for OKP keys",
                    ));
                }
                VerifyingKey::from_ed25519_public(algorithm, &member(&jwk.x, "x")?)?
            }
            (kty, _) => {
                return Err(key_error(format!(
                    "a JWK of kty `{}` cannot be used with {algorithm}",
                    kty.chars().take(16).collect::<String>()
                )))
            }
        };
        if let Some(kid) = &jwk.kid {
            key.kid.clone_from(kid);
            if let Some(public) = key.public_jwk.as_mut() {
                public.kid = Some(kid.clone());
            }
        }
        Ok(key)
    }

    /// An RSA verification key from its big-endian modulus and exponent.
    ///
    /// # Errors
    /// [`Error::Key`] for a non-RSA algorithm, a modulus under 2048 bits, a public exponent that
    /// is even or under 3, a modulus with the ROCA fingerprint (CVE-2017-15361), or rejected
    /// components.
    pub fn from_rsa_components(algorithm: Algorithm, n: &[u8], e: &[u8]) -> Result<Self> {
        require_family(
            algorithm,
            &[KeyFamily::Rsa, KeyFamily::RsaPss],
            "an RSA key",
        )?;
        let bits = bit_length(n);
        if bits < MIN_RSA_BITS {
            return Err(key_error(format!(
                "RSA keys must have at least {MIN_RSA_BITS} bits, this one has {bits}"
            )));
        }
        // RFC 8017 section 3.1: e is odd and at least 3. With e = 1 a "signature" is the padded
        // message itself, which anyone can compute; refuse such a key here rather than rely on
        // the verifier to reject every signature later.
        if bit_length(e) < 2 || e.last().is_none_or(|&low| low & 1 == 0) {
            return Err(key_error(
                "the RSA public exponent must be odd and at least 3 (RFC 8017 section 3.1)",
            ));
        }
        if has_roca_fingerprint(n) {
            return Err(key_error(
                "the RSA modulus has the ROCA fingerprint (CVE-2017-15361): it is factorable; \
                 generate a new key",
            ));
        }
        let parsed = RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(rsa_verification(algorithm))
            .map_err(|rejected| key_error(format!("RSA public key rejected: {rejected}")))?;
        let n_text = base64url::encode(&n[n.len() - bits.div_ceil(8)..]);
        let e_text = base64url::encode(&e[e.len() - bit_length(e).div_ceil(8)..]);
        let kid = thumbprint(&[("e", &e_text), ("kty", "RSA"), ("n", &n_text)]);
        Ok(VerifyingKey {
            algorithm,
            signature_len: bits.div_ceil(8),
            inner: VerifyingInner::Public(parsed),
            public_jwk: Some(Jwk {
                kty: "RSA".into(),
                kid: Some(kid.clone()),
                alg: Some(algorithm.name().into()),
                key_use: Some("sig".into()),
                n: Some(n_text),
                e: Some(e_text),
                ..Jwk::default()
            }),
            kid,
        })
    }

    /// An ECDSA verification key from an uncompressed SEC1 point (`04 || X || Y`).
    ///
    /// # Errors
    /// [`Error::Key`] for a non-ECDSA algorithm or a point that is not on the algorithm's curve.
    pub fn from_ec_point(algorithm: Algorithm, point: &[u8]) -> Result<Self> {
        require_family(algorithm, &[KeyFamily::Ecdsa], "an EC key")?;
        let curve = curve(algorithm);
        let len = curve.coordinate_len;
        if point.len() != 1 + 2 * len || point.first() != Some(&4) {
            return Err(key_error(format!(
                "{algorithm} needs an uncompressed point on {}",
                curve.name
            )));
        }
        let parsed = ParsedPublicKey::new(curve.verification, point)
            .map_err(|rejected| key_error(format!("EC public key rejected: {rejected}")))?;
        let x = base64url::encode(&point[1..=len]);
        let y = base64url::encode(&point[1 + len..]);
        let kid = thumbprint(&[("crv", curve.name), ("kty", "EC"), ("x", &x), ("y", &y)]);
        Ok(VerifyingKey {
            algorithm,
            signature_len: 2 * len,
            inner: VerifyingInner::Public(parsed),
            public_jwk: Some(Jwk {
                kty: "EC".into(),
                kid: Some(kid.clone()),
                alg: Some(algorithm.name().into()),
                key_use: Some("sig".into()),
                crv: Some(curve.name.into()),
                x: Some(x),
                y: Some(y),
                ..Jwk::default()
            }),
            kid,
        })
    }

    /// An Ed25519 verification key from its 32-byte public key (RFC 8032 section 5.1.2).
    ///
    /// Every Ed25519 key Tessera imports comes through here: a JWK's `x` and the public half of a
    /// PKCS#8 private key.
    ///
    /// # Errors
    /// [`Error::Key`] for a non-EdDSA algorithm, a key that is not 32 bytes, a key that is not
    /// the canonical encoding of a point (`y >= 2^255 - 19`, or `x = 0` with the sign bit set),
    /// or a point of small order.
    ///
    /// # Security
    /// A public key of small order (the identity or another of the 8 points of the 8-torsion
    /// subgroup) would verify signatures made without any private key: with the identity, one
    /// fixed signature verifies every token. Such keys are never generated, and are refused here.
    pub fn from_ed25519_public(algorithm: Algorithm, public: &[u8]) -> Result<Self> {
        require_family(algorithm, &[KeyFamily::Ed25519], "an Ed25519 key")?;
        let encoded: &[u8; 32] = public
            .try_into()
            .map_err(|_| key_error("an Ed25519 public key is 32 bytes"))?;
        ed25519::check_public_key(encoded).map_err(key_error)?;
        let parsed = ParsedPublicKey::new(&signature::ED25519, public)
            .map_err(|rejected| key_error(format!("Ed25519 public key rejected: {rejected}")))?;
        let x = base64url::encode(public);
        let kid = thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", &x)]);
        Ok(VerifyingKey {
            algorithm,
            signature_len: 64,
            inner: VerifyingInner::Public(parsed),
            public_jwk: Some(Jwk {
                kty: "OKP".into(),
                kid: Some(kid.clone()),
                alg: Some(algorithm.name().into()),
                key_use: Some("sig".into()),
                crv: Some("Ed25519".into()),
                x: Some(x),
                ..Jwk::default()
            }),
            kid,
        })
    }

    /// The one algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id: the RFC 7638 thumbprint, or the `kid` of the JWK it was read from.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The exact signature length this key's algorithm produces, in bytes.
    #[must_use]
    pub fn signature_len(&self) -> usize {
        self.signature_len
    }

    /// The public JWK (`kty`, `kid`, `alg`, `use: sig`, public parameters); `None` for HMAC keys,
    /// whose secret is never exported.
    #[must_use]
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public_jwk.as_ref()
    }

    /// Whether `signature` is an ECDSA signature with its S in the high half (`s > n/2`), the
    /// form Tessera never signs; always false for other algorithms. The length is checked first.
    pub(crate) fn is_high_s_ecdsa(&self, signature: &[u8]) -> bool {
        self.algorithm.family() == KeyFamily::Ecdsa
            && ecdsa::is_high_s(signature, curve(self.algorithm).order)
    }

    /// Checks `signature` over `message` in constant time (HMAC) or with the public key.
    ///
    /// The caller has already checked the algorithm and signature length.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        match &self.inner {
            VerifyingInner::Hmac(key) => hmac::verify(key, message, signature),
            VerifyingInner::Public(key) => key.verify_sig(message, signature),
        }
        .map_err(|_| Error::Signature)
    }
}

impl SigningKey {
    /// An HMAC signing key from a shared secret (used as raw bytes, like PyJWT does).
    ///
    /// # Errors
    /// [`Error::Key`] if `algorithm` is not HMAC or the secret is shorter than the hash output.
    pub fn from_hmac_secret(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        let verifying = VerifyingKey::from_hmac_secret(algorithm, secret)?;
        Ok(SigningKey {
            inner: SigningInner::Hmac(Box::new(hmac::Key::new(hmac_algorithm(algorithm), secret))),
            verifying,
        })
    }

    /// A signing key from a PEM-encoded PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// [`Error::Key`] if the text is not a single PKCS#8 PEM block, or as for
    /// [`SigningKey::from_pkcs8_der`].
    pub fn from_pkcs8_pem(algorithm: Algorithm, pem_text: &[u8]) -> Result<Self> {
        let block = pem::parse(pem_text).map_err(|_| {
            key_error("not a PEM private key (expected -----BEGIN PRIVATE KEY-----)")
        })?;
        if block.tag() != "PRIVATE KEY" {
            return Err(key_error(format!(
                "expected a PKCS#8 `PRIVATE KEY` PEM block, found `{}`; convert it with \
                 `openssl pkcs8 -topk8 -nocrypt`",
                block.tag().chars().take(32).collect::<String>()
            )));
        }
        let der = Zeroizing::new(block.into_contents());
        SigningKey::from_pkcs8_der(algorithm, &der)
    }

    /// A signing key from a DER-encoded PKCS#8 private key of the algorithm's family.
    ///
    /// # Errors
    /// [`Error::Key`] for an HMAC algorithm, a key of another type or curve, an RSA key under 2048
    /// bits, or malformed DER.
    pub fn from_pkcs8_der(algorithm: Algorithm, der: &[u8]) -> Result<Self> {
        let rejected = |what: &str, err: aws_lc_rs::error::KeyRejected| {
            key_error(format!(
                "not a usable {what} PKCS#8 key for {algorithm}: {err}"
            ))
        };
        match algorithm.family() {
            KeyFamily::Hmac => Err(key_error(format!(
                "{algorithm} takes a shared secret, not a private key"
            ))),
            KeyFamily::Rsa | KeyFamily::RsaPss => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|err| rejected("RSA", err))?;
                let public = pair.public_key();
                let verifying = VerifyingKey::from_rsa_components(
                    algorithm,
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                )?;
                Ok(SigningKey {
                    inner: SigningInner::Rsa(pair),
                    verifying,
                })
            }
            KeyFamily::Ecdsa => {
                let pair = EcdsaKeyPair::from_pkcs8(curve(algorithm).signing, der)
                    .map_err(|err| rejected(curve(algorithm).name, err))?;
                let verifying = VerifyingKey::from_ec_point(algorithm, pair.public_key().as_ref())?;
                Ok(SigningKey {
                    inner: SigningInner::Ecdsa(pair),
                    verifying,
                })
            }
            KeyFamily::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|err| rejected("Ed25519", err))?;
                let verifying =
                    VerifyingKey::from_ed25519_public(algorithm, pair.public_key().as_ref())?;
                Ok(SigningKey {
                    inner: SigningInner::Ed25519(pair),
                    verifying,
                })
            }
        }
    }

    /// Generates a new private key for an asymmetric algorithm and returns it with its PKCS#8 DER
    /// encoding (for saving). RSA keys are 2048 bits.
    ///
    /// # Errors
    /// [`Error::Key`] for HMAC algorithms (use [`generate_hmac_secret`]); [`Error::Crypto`] if
    /// generation fails.
    pub fn generate(algorithm: Algorithm) -> Result<(Self, Secret)> {
        let rng = SystemRandom::new();
        let der: Vec<u8> = match algorithm.family() {
            KeyFamily::Hmac => {
                return Err(key_error(format!(
                    "{algorithm} uses a shared secret; generate one with generate_hmac_secret"
                )))
            }
            KeyFamily::Rsa | KeyFamily::RsaPss => {
                let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| Error::Crypto)?;
                let der = pair.as_der().map_err(|_| Error::Crypto)?;
                der.as_ref().to_vec()
            }
            KeyFamily::Ecdsa => EcdsaKeyPair::generate_pkcs8(curve(algorithm).signing, &rng)
                .map_err(|_| Error::Crypto)?
                .as_ref()
                .to_vec(),
            KeyFamily::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| Error::Crypto)?
                .as_ref()
                .to_vec(),
        };
        let der = Secret::new(der);
        Ok((SigningKey::from_pkcs8_der(algorithm, der.expose())?, der))
    }

    /// The one algorithm this key signs with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.verifying.algorithm
    }

    /// The key id (RFC 7638 thumbprint).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.verifying.kid
    }

    /// The matching verification key.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// Signs `buffer[..signing_input_len]` and appends the base64url signature to `buffer`,
    /// without an intermediate allocation where the primitive allows it.
    pub(crate) fn sign_encoded_into(
        &self,
        signing_input_len: usize,
        buffer: &mut String,
    ) -> Result<()> {
        let message = &buffer.as_bytes()[..signing_input_len];
        match &self.inner {
            SigningInner::Hmac(key) => {
                let tag = hmac::sign(key, message);
                base64url::encode_into(tag.as_ref(), buffer);
            }
            SigningInner::Ecdsa(pair) => {
                let mut signature = [0; MAX_ECDSA_SIGNATURE_LEN];
                let len = self.sign_ecdsa_low_s(pair, message, &mut signature)?;
                base64url::encode_into(&signature[..len], buffer);
            }
            SigningInner::Ed25519(pair) => {
                let signature = pair.sign(message);
                base64url::encode_into(signature.as_ref(), buffer);
            }
            SigningInner::Rsa(_) => {
                let signature = self.sign(message)?;
                base64url::encode_into(&signature, buffer);
            }
        }
        Ok(())
    }

    /// Signs with an ECDSA key into `out` and returns the signature's length: aws-lc-rs signs in
    /// the fixed-width `R || S` form, then S is put in the low half (`s <= n/2`), the one
    /// encoding of the signature that Tessera's verifier accepts by default.
    fn sign_ecdsa_low_s(
        &self,
        pair: &EcdsaKeyPair,
        message: &[u8],
        out: &mut [u8; MAX_ECDSA_SIGNATURE_LEN],
    ) -> Result<usize> {
        let signature = pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| Error::Crypto)?;
        let signature = signature.as_ref();
        let out = out.get_mut(..signature.len()).ok_or(Error::Crypto)?;
        out.copy_from_slice(signature);
        ecdsa::normalize_to_low_s(out, curve(self.algorithm()).order);
        Ok(signature.len())
    }

    /// Signs `message` (a JWS signing input) and returns the raw signature bytes. ECDSA
    /// signatures have a low S (`s <= n/2`).
    ///
    /// # Errors
    /// [`Error::Crypto`] if the cryptographic library fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match &self.inner {
            SigningInner::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            SigningInner::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    rsa_signing_encoding(self.algorithm()),
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| Error::Crypto)?;
                Ok(signature)
            }
            SigningInner::Ecdsa(pair) => {
                let mut signature = [0; MAX_ECDSA_SIGNATURE_LEN];
                let len = self.sign_ecdsa_low_s(pair, message, &mut signature)?;
                Ok(signature[..len].to_vec())
            }
            SigningInner::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// Generates a random HMAC secret as long as the algorithm's hash output (32, 48 or 64 bytes).
///
/// # Errors
/// [`Error::Key`] for a non-HMAC algorithm; [`Error::Crypto`] if the system random source fails.
pub fn generate_hmac_secret(algorithm: Algorithm) -> Result<Secret> {
    require_family(algorithm, &[KeyFamily::Hmac], "an HMAC secret")?;
    let mut bytes = vec![0u8; algorithm.hash_len()];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Crypto)?;
    Ok(Secret::new(bytes))
}

/// Bytes of randomness in a `jti` (128 bits).
pub(crate) const JTI_BYTES: usize = 16;

/// Random bytes for `jti`s, drawn from the system CSPRNG in blocks: one call to the generator
/// costs about as much as signing an HS256 token, so a block serves many tokens.
///
/// # Security
/// Only for public identifiers: the block sits in memory until used. The block is discarded when
/// the process id changes, so a forked child never repeats its parent's identifiers.
struct JtiPool {
    block: [u8; JTI_POOL_BYTES],
    used: usize,
    pid: u32,
}

const JTI_POOL_BYTES: usize = JTI_BYTES * 64;

thread_local! {
    static JTI_POOL: std::cell::RefCell<JtiPool> = const {
        std::cell::RefCell::new(JtiPool { block: [0; JTI_POOL_BYTES], used: JTI_POOL_BYTES, pid: 0 })
    };
}

/// 128 fresh random bits for a `jti`.
pub(crate) fn jti_bytes() -> Result<[u8; JTI_BYTES]> {
    JTI_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let pid = std::process::id();
        if pool.used + JTI_BYTES > JTI_POOL_BYTES || pool.pid != pid {
            SystemRandom::new()
                .fill(&mut pool.block)
                .map_err(|_| Error::Crypto)?;
            pool.used = 0;
            pool.pid = pid;
        }
        let start = pool.used;
        let mut bytes = [0u8; JTI_BYTES];
        bytes.copy_from_slice(&pool.block[start..start + JTI_BYTES]);
        // Erase what was handed out, so no identifier is ever given twice from the same block.
        pool.block[start..start + JTI_BYTES].fill(0);
        pool.used = start + JTI_BYTES;
        Ok(bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASYMMETRIC: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
        Algorithm::RS384,
    ];

    #[test]
    fn generated_keys_sign_and_verify_with_the_expected_length() {
        for algorithm in ASYMMETRIC {
            let (key, _der) = SigningKey::generate(algorithm).unwrap();
            let signature = key.sign(b"message").unwrap();
            assert_eq!(
                signature.len(),
                key.verifying_key().signature_len(),
                "{algorithm}"
            );
            key.verifying_key()
                .verify_signature(b"message", &signature)
                .unwrap();
            assert_eq!(
                key.verifying_key().verify_signature(b"messagf", &signature),
                Err(Error::Signature)
            );
        }
    }

    #[test]
    fn kid_is_stable_for_the_same_key() {
        for algorithm in [Algorithm::ES256, Algorithm::EdDSA] {
            let (key, der) = SigningKey::generate(algorithm).unwrap();
            let again = SigningKey::from_pkcs8_der(algorithm, der.expose()).unwrap();
            assert_eq!(key.kid(), again.kid());
            let jwk = key.verifying_key().public_jwk().unwrap();
            let imported = VerifyingKey::from_jwk(jwk, None).unwrap();
            assert_eq!(imported.kid(), key.kid());
        }
        let a = SigningKey::from_hmac_secret(Algorithm::HS256, &[7; 32]).unwrap();
        let b = SigningKey::from_hmac_secret(Algorithm::HS256, &[7; 32]).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 43);
    }

    #[test]
    fn short_hmac_secrets_are_refused() {
        for (algorithm, min) in [
            (Algorithm::HS256, 32),
            (Algorithm::HS384, 48),
            (Algorithm::HS512, 64),
        ] {
            let err = SigningKey::from_hmac_secret(algorithm, &vec![1; min - 1]).unwrap_err();
            assert!(
                matches!(err, Error::Key(ref text) if text.contains(&min.to_string())),
                "{err}"
            );
            SigningKey::from_hmac_secret(algorithm, &vec![1; min]).unwrap();
        }
    }

    #[test]
    fn a_key_cannot_serve_another_family() {
        let (_, der) = SigningKey::generate(Algorithm::ES256).unwrap();
        assert!(SigningKey::from_pkcs8_der(Algorithm::RS256, der.expose()).is_err());
        assert!(SigningKey::from_pkcs8_der(Algorithm::ES384, der.expose()).is_err());
        assert!(SigningKey::from_pkcs8_der(Algorithm::EdDSA, der.expose()).is_err());
        assert!(SigningKey::from_pkcs8_der(Algorithm::HS256, der.expose()).is_err());
        assert!(SigningKey::from_hmac_secret(Algorithm::RS256, &[0; 64]).is_err());
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused() {
        let n = [0xffu8; 128]; // 1024 bits
        let err = VerifyingKey::from_rsa_components(Algorithm::RS256, &n, &[1, 0, 1]).unwrap_err();
        assert!(err.to_string().contains("2048"), "{err}");
    }

    #[test]
    fn jti_bytes_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..(3 * JTI_POOL_BYTES / JTI_BYTES) {
            assert!(seen.insert(jti_bytes().unwrap()), "a jti repeated");
        }
    }

    #[test]
    fn roca_fingerprint_spares_generated_keys() {
        for _ in 0..3 {
            let (key, _) = SigningKey::generate(Algorithm::RS256).unwrap();
            let jwk = key.verifying_key().public_jwk().unwrap();
            let n = base64url::decode(jwk.n.as_deref().unwrap().as_bytes()).unwrap();
            assert!(!has_roca_fingerprint(&n));
        }
        // 65537^k itself is in the subgroup modulo every prime: the fingerprint must fire.
        let power: u128 = 65_537u128.pow(7);
        assert!(has_roca_fingerprint(&power.to_be_bytes()));
    }

    #[test]
    fn rsa_public_exponents_that_are_even_or_under_3_are_refused() {
        let n = [0xffu8; 256]; // 2048 bits
        for e in [&[][..], &[0], &[1], &[0, 1], &[2], &[1, 0, 0]] {
            let err = VerifyingKey::from_rsa_components(Algorithm::RS256, &n, e).unwrap_err();
            assert!(err.to_string().contains("exponent"), "{e:?}: {err}");
        }
    }

    #[test]
    fn jwk_import_is_bound_to_alg() {
        let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        let mut jwk = key.verifying_key().public_jwk().unwrap().clone();
        jwk.alg = None;
        assert!(
            VerifyingKey::from_jwk(&jwk, None).is_err(),
            "no alg, none given"
        );
        assert_eq!(
            VerifyingKey::from_jwk(&jwk, Some(Algorithm::ES256))
                .unwrap()
                .algorithm(),
            Algorithm::ES256
        );
        assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::RS256)).is_err());
        jwk.alg = Some("ES256".into());
        assert!(
            VerifyingKey::from_jwk(&jwk, Some(Algorithm::ES384)).is_err(),
            "conflict"
        );
        jwk.key_use = Some("enc".into());
        assert!(VerifyingKey::from_jwk(&jwk, None).is_err(), "use enc");
        jwk.key_use = None;
        jwk.key_ops = Some(vec!["encrypt".into()]);
        assert!(VerifyingKey::from_jwk(&jwk, None).is_err(), "key_ops");
        jwk.key_ops = None;
        jwk.d = Some(Zeroizing::new("AAAA".into()));
        assert!(
            VerifyingKey::from_jwk(&jwk, None).is_err(),
            "private material"
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key =
            SigningKey::from_hmac_secret(Algorithm::HS256, b"0123456789abcdef0123456789abcdef")
                .unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains("0123456789"), "{printed}");
    }
}
