//! The signature algorithms Tessera supports. There is deliberately no `none`.

use crate::error::Error;
use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 §3, RFC 8037, RFC 9864).
///
/// `none` cannot be expressed: parsing it fails like any other unknown name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1-SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA (RFC 8037), Ed25519 only.
    EdDSA,
    /// Ed25519 under its fully-specified name (RFC 9864).
    Ed25519,
}

/// The key type an algorithm needs. A key of one family never verifies another family's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// A shared HMAC secret (`kty: oct`).
    Hmac,
    /// An RSA key pair, used with PKCS#1 v1.5 padding.
    Rsa,
    /// An RSA key pair, used with PSS padding.
    RsaPss,
    /// An elliptic-curve key on the algorithm's curve.
    Ecdsa,
    /// An Ed25519 key (`kty: OKP`).
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 14] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ];

    /// The registered JOSE name, as it appears in a header's `alg`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// The key family this algorithm needs.
    #[must_use]
    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => KeyFamily::Rsa,
            Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 => KeyFamily::RsaPss,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => KeyFamily::Ecdsa,
            Algorithm::EdDSA | Algorithm::Ed25519 => KeyFamily::Ed25519,
        }
    }

    /// Whether a header naming `alg` may be verified by a key bound to `self`.
    ///
    /// This is byte-for-byte equality of the names, except that `EdDSA` and `Ed25519` name the
    /// same signature scheme on an Ed25519 key (RFC 9864 §2.2), so such a key accepts both.
    #[must_use]
    pub fn accepts_header_alg(self, alg: &str) -> bool {
        match self.family() {
            KeyFamily::Ed25519 => alg == "EdDSA" || alg == "Ed25519",
            _ => alg == self.name(),
        }
    }

    /// Output length of the hash behind the algorithm, in bytes; for HMAC this is also the
    /// minimum secret length (RFC 7518 §3.2) and the exact MAC length.
    #[must_use]
    pub fn hash_len(self) -> usize {
        match self {
            Algorithm::HS256
            | Algorithm::RS256
            | Algorithm::PS256
            | Algorithm::ES256
            | Algorithm::EdDSA
            | Algorithm::Ed25519 => 32,
            Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => 48,
            Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 | Algorithm::ES512 => 64,
        }
    }

    /// Whether this is a symmetric (HMAC) algorithm.
    #[must_use]
    pub fn is_symmetric(self) -> bool {
        self.family() == KeyFamily::Hmac
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses a JOSE algorithm name exactly (case-sensitive, as RFC 7515 requires).
    ///
    /// # Errors
    /// [`Error::UnsupportedAlgorithm`] for anything else, `none` included.
    fn from_str(name: &str) -> Result<Self, Error> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.name() == name)
            .ok_or_else(|| Error::UnsupportedAlgorithm(name.chars().take(32).collect()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
        }
    }

    #[test]
    fn none_and_near_misses_are_refused() {
        for name in [
            "none", "None", "NONE", "hs256", "HS256 ", "", "ES521", "RS1",
        ] {
            assert!(name.parse::<Algorithm>().is_err(), "{name}");
        }
    }

    #[test]
    fn header_alg_must_match_exactly() {
        assert!(Algorithm::RS256.accepts_header_alg("RS256"));
        assert!(!Algorithm::RS256.accepts_header_alg("PS256"));
        assert!(!Algorithm::RS256.accepts_header_alg("HS256"));
        assert!(!Algorithm::HS256.accepts_header_alg("hs256"));
        assert!(Algorithm::EdDSA.accepts_header_alg("Ed25519"));
        assert!(Algorithm::Ed25519.accepts_header_alg("EdDSA"));
        assert!(!Algorithm::EdDSA.accepts_header_alg("ES256"));
    }
}
