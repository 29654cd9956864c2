//! Fuzzes JWK Set import: `KeySet::from_jwks`, and so `VerifyingKey::from_jwk` for every key
//! type, on JWK Sets parsed from arbitrary bytes. Two inputs per run:
//!
//! 1. **Raw**: the input parsed as a JWK Set (`{"keys": [...]}`), imported as it is and, when the
//!    JWKs have no `alg`, once more with each key bound to EdDSA.
//! 2. **Ed25519**: when the input has at least 32 bytes, its first 32 are the `x` of an Ed25519
//!    JWK, so the fuzzer searches the encodings of Ed25519 public keys directly (issue 9, item 6).
//!
//! Besides "never panics", whatever imports must satisfy the import invariants, each checked here
//! by an oracle written independently of the token core:
//! - the set holds exactly one key per JWK, each also importable alone, under the same `kid` and
//!   bound to the JWK's own `alg`;
//! - an exported public JWK re-imports as the same key (same `kid` and algorithm);
//! - Ed25519: the public key is 32 bytes, canonical (`y < 2^255 - 19`, no sign bit on `x = 0`)
//!   and never one of the 8 points of small order; and the forgery those keys allow (R = the
//!   identity, S = 0) does not verify;
//! - RSA: a modulus of at least 2048 bits and an odd public exponent of at least 3;
//! - EC: coordinates exactly as long as the curve's field elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_token::{
    base64url, verify_with_key, Algorithm, Jwk, JwkSet, KeySet, VerifyingKey, DEFAULT_MAX_TOKEN_LEN,
};

/// `p = 2^255 - 19`, big-endian.
const P_BIG_ENDIAN: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xed,
];

/// The canonical encodings of the 8 Ed25519 points of small order (RFC 8032 encoding, hex), as
/// printed by `crates/tessera-token/tests/data/ed25519_small_order.py`.
const SMALL_ORDER_ENCODINGS: [&str; 8] = [
    "0100000000000000000000000000000000000000000000000000000000000000", // identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
    "0000000000000000000000000000000000000000000000000000000000000000", // order 4
    "0000000000000000000000000000000000000000000000000000000000000080", // order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decoded(value: Option<&String>, what: &str) -> Vec<u8> {
    let text = value.unwrap_or_else(|| panic!("an imported key's JWK lacks `{what}`"));
    base64url::decode(text.as_bytes()).unwrap_or_else(|| panic!("`{what}` is not base64url"))
}

/// Bits in a big-endian unsigned integer.
fn bits(big_endian: &[u8]) -> usize {
    match big_endian.iter().position(|&byte| byte != 0) {
        None => 0,
        Some(first) => {
            (big_endian.len() - first) * 8 - big_endian[first].leading_zeros() as usize
        }
    }
}

/// The invariants of one imported Ed25519 public key.
fn check_ed25519(key: &VerifyingKey, x: &[u8]) {
    assert_eq!(x.len(), 32, "Ed25519 key of {} bytes imported", x.len());
    let mut y_big_endian: Vec<u8> = x.iter().rev().copied().collect();
    let sign = y_big_endian[0] & 0x80 != 0;
    y_big_endian[0] &= 0x7f;
    assert!(
        y_big_endian.as_slice() < P_BIG_ENDIAN.as_slice(),
        "non-canonical Ed25519 key imported: {}",
        hex(x)
    );
    let mut one = [0u8; 32];
    one[31] = 1;
    let mut p_minus_one = P_BIG_ENDIAN;
    p_minus_one[31] -= 1;
    assert!(
        !(sign && (y_big_endian == one || y_big_endian == p_minus_one)),
        "Ed25519 key with x = 0 and the sign bit imported: {}",
        hex(x)
    );
    let mut masked = x.to_vec();
    masked[31] &= 0x7f;
    assert!(
        !SMALL_ORDER_ENCODINGS.contains(&hex(x).as_str())
            && !SMALL_ORDER_ENCODINGS.contains(&hex(&masked).as_str()),
        "small-order Ed25519 key imported: {}",
        hex(x)
    );
    // The forgery a small-order key allows: R = the identity, S = 0, over any message.
    let header = format!(r#"{{"alg":"{}"}}"#, key.algorithm().name());
    let mut signature = vec![0u8; 64];
    signature[0] = 1;
    let token = format!(
        "{}.{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(b"{\"sub\":\"admin\"}"),
        base64url::encode(&signature)
    );
    assert!(
        verify_with_key(&token, key, DEFAULT_MAX_TOKEN_LEN).is_err(),
        "the identity forgery verified under {}",
        hex(x)
    );
}

/// The invariants of one imported key, against the JWK it came from.
fn check_key(jwk: &Jwk, key: &VerifyingKey) {
    if let Some(alg) = jwk.alg.as_deref() {
        assert_eq!(
            key.algorithm(),
            alg.parse::<Algorithm>().expect("an imported JWK's alg parses"),
            "key bound to another algorithm than its JWK's"
        );
    }
    if let Some(kid) = jwk.kid.as_deref() {
        assert_eq!(key.kid(), kid, "key under another kid than its JWK's");
    }
    let Some(public) = key.public_jwk() else {
        assert!(key.algorithm().is_symmetric(), "an asymmetric key without a public JWK");
        return;
    };
    let again = VerifyingKey::from_jwk(public, None).expect("an exported JWK re-imports");
    assert_eq!(again.kid(), key.kid());
    assert_eq!(again.algorithm(), key.algorithm());
    match public.kty.as_str() {
        "OKP" => check_ed25519(key, &decoded(public.x.as_ref(), "x")),
        "RSA" => {
            let n = decoded(public.n.as_ref(), "n");
            let e = decoded(public.e.as_ref(), "e");
            assert!(bits(&n) >= 2048, "RSA key of {} bits imported", bits(&n));
            assert!(bits(&e) >= 2 && e.last().is_some_and(|low| low & 1 == 1), "RSA e");
        }
        "EC" => {
            let len = match public.crv.as_deref() {
                Some("P-256") => 32,
                Some("P-384") => 48,
                Some("P-521") => 66,
                other => panic!("EC key on curve {other:?} imported"),
            };
            assert_eq!(decoded(public.x.as_ref(), "x").len(), len);
            assert_eq!(decoded(public.y.as_ref(), "y").len(), len);
        }
        other => panic!("a public JWK of kty {other}"),
    }
}

/// Imports a set; if it imports, checks every key against its JWK.
fn import(jwks: &JwkSet, algorithm: Option<Algorithm>) {
    let Ok(set) = KeySet::from_jwks(jwks, algorithm) else {
        return;
    };
    assert_eq!(set.len(), jwks.keys.len(), "one key per JWK");
    for jwk in &jwks.keys {
        let key = VerifyingKey::from_jwk(jwk, algorithm)
            .expect("a JWK of an imported set imports alone");
        let in_set = set.get(key.kid()).expect("the key is in the set under its kid");
        assert_eq!(in_set.algorithm(), key.algorithm());
        check_key(jwk, in_set);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(jwks) = serde_json::from_slice::<JwkSet>(data) {
        import(&jwks, None);
        if jwks.keys.iter().all(|jwk| jwk.alg.is_none()) {
            import(&jwks, Some(Algorithm::EdDSA));
        }
    }
    if let Some(x) = data.get(..32) {
        for alg in ["EdDSA", "Ed25519"] {
            let jwk = Jwk {
                kty: "OKP".into(),
                alg: Some(alg.into()),
                crv: Some("Ed25519".into()),
                x: Some(base64url::encode(x)),
                ..Jwk::default()
            };
            import(&JwkSet { keys: vec![jwk] }, None);
        }
    }
});
