//! JSON Web Keys (RFC 7517) and thumbprints (RFC 7638).

use crate::base64url;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// One JSON Web Key, as exported for verification or read from a JWK Set.
///
/// Tessera exports only public parameters (`kty`, `kid`, `alg`, `use`, and `n`/`e`, `crv`/`x`/`y`).
/// When reading, the symmetric `k` member is accepted (for HMAC verification keys) and private
/// asymmetric members are noticed so that a private key is never taken for a public one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    pub kty: String,
    /// Key id; for keys Tessera makes, the RFC 7638 thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm this key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; Tessera writes `sig` and refuses anything else for verification.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Permitted operations; if present, must include `verify` for a verification key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Curve name for `EC` and `OKP` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// X coordinate (`EC`) or public key (`OKP`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Y coordinate (`EC`), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Symmetric key value (`oct`), base64url. Never exported by Tessera.
    #[serde(default, skip_serializing)]
    pub k: Option<Zeroizing<String>>,
    /// Private exponent / private scalar. Read only to refuse private keys where public ones belong.
    #[serde(default, skip_serializing)]
    pub d: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("use", &self.key_use)
            .field("crv", &self.crv)
            .field("k", &self.k.as_ref().map(|_| "[REDACTED]"))
            .field("d", &self.d.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// A JWK Set (RFC 7517 §5): `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// RFC 7638 thumbprint: base64url(SHA-256(canonical JSON of the required members)).
///
/// `members` must be the required members for the key type, already in lexicographic order, with
/// values that need no JSON escaping (base64url text and fixed names), which holds for every key
/// type RFC 7638 defines.
pub(crate) fn thumbprint(members: &[(&str, &str)]) -> String {
    let mut canonical = Zeroizing::new(String::with_capacity(512));
    canonical.push('{');
    for (index, (name, value)) in members.iter().enumerate() {
        if index > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":\"");
        canonical.push_str(value);
        canonical.push('"');
    }
    canonical.push('}');
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    base64url::encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_section_3_1_example() {
        // RFC 7638 §3.1: the thumbprint of the example RSA key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let thumb = thumbprint(&[("e", "AQAB"), ("kty", "RSA"), ("n", n)]);
        assert_eq!(thumb, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn debug_redacts_secret_members() {
        let jwk = Jwk {
            kty: "oct".into(),
            k: Some(Zeroizing::new("c2VjcmV0LXNlY3JldC1zZWNyZXQ".into())),
            ..Jwk::default()
        };
        let printed = format!("{jwk:?}");
        assert!(!printed.contains("c2VjcmV0"), "{printed}");
    }

    #[test]
    fn export_never_writes_private_members() {
        let jwk = Jwk {
            kty: "oct".into(),
            k: Some(Zeroizing::new("abc".into())),
            d: Some(Zeroizing::new("def".into())),
            ..Jwk::default()
        };
        let text = serde_json::to_string(&jwk).unwrap();
        assert_eq!(text, r#"{"kty":"oct"}"#);
    }
}
