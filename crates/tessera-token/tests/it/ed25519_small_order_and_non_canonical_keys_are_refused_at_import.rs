//! Issue 9, item 6: Ed25519 public keys of small order, and non-canonical encodings, are refused
//! at import, on every path a key comes in by: `VerifyingKey::from_ed25519_public`, a JWK's `x`
//! (under both names of the algorithm), a JWK Set, and a PKCS#8 private key that carries the
//! point as its public key (the PEM path of `JWT_PRIVATE_KEY_FILE` and `JWT_PREVIOUS_KEY_FILES`).
//! Tessera has no import of bare public keys from PEM/DER (SPKI): JWKs are the only way in.
//!
//! One test per encoding. The small-order points were derived from the curve's definition and
//! checked (each decodes, lies on the curve, and 8 * P is the identity) by
//! `tests/data/ed25519_small_order.py`; the encodings are little-endian `y` with the sign of `x`
//! in the top bit (RFC 8032 section 5.1.2).

use tessera_token::{base64url, Algorithm, Error, Jwk, JwkSet, KeySet, SigningKey, VerifyingKey};

const SMALL_ORDER: &str = "a point of small order";
const Y_NOT_BELOW_P: &str = "its y is not below 2^255 - 19";
const X_ZERO_SIGNED: &str = "x = 0 with the sign bit set";

/// RFC 8037 A.1's private seed, the seed of the PKCS#8 documents built below.
const SEED_B64: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
/// RFC 8037 A.2's public key: the seed's own, and a key that imports.
const GENUINE_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn bytes(hex: &str) -> Vec<u8> {
    assert_eq!(hex.len(), 64);
    (0..64)
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

fn okp_jwk(x: &[u8], alg: &str) -> Jwk {
    serde_json::from_value(serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "alg": alg, "use": "sig", "x": base64url::encode(x),
    }))
    .unwrap()
}

/// PKCS#8 v2 (RFC 8410 section 7, OneAsymmetricKey) with a seed and, in `publicKey`, a public
/// key that need not be the seed's.
fn pkcs8_v2(seed: &[u8], public: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    const PUBLIC_KEY: [u8; 3] = [0x81, 0x21, 0x00];
    [&PREFIX[..], seed, &PUBLIC_KEY, public].concat()
}

fn assert_key_error(result: Result<impl std::fmt::Debug, Error>, expected: &str, path: &str) {
    match result {
        Err(Error::Key(text)) => assert!(text.contains(expected), "{path}: {text}"),
        other => panic!("{path}: expected a key error naming `{expected}`, got {other:?}"),
    }
}

/// The encoding is refused on every import path, with an error naming why.
fn assert_refused_at_import(hex: &str, expected: &str) {
    let x = bytes(hex);
    assert_key_error(
        VerifyingKey::from_ed25519_public(Algorithm::EdDSA, &x),
        expected,
        "raw",
    );
    for alg in ["EdDSA", "Ed25519"] {
        assert_key_error(
            VerifyingKey::from_jwk(&okp_jwk(&x, alg), None),
            expected,
            alg,
        );
    }
    // In a JWK Set beside a genuine key, the whole set is refused.
    let genuine = okp_jwk(&base64url::decode(GENUINE_X.as_bytes()).unwrap(), "EdDSA");
    let set = JwkSet {
        keys: vec![genuine, okp_jwk(&x, "EdDSA")],
    };
    assert_key_error(KeySet::from_jwks(&set, None), expected, "JWK Set");
    // A PKCS#8 private key whose publicKey member is this point is refused: aws-lc-rs derives the
    // public key from the seed and refuses a document that says otherwise (and what it derives
    // goes through the same check as every other Ed25519 key).
    let seed = base64url::decode(SEED_B64.as_bytes()).unwrap();
    assert!(matches!(
        SigningKey::from_pkcs8_der(Algorithm::EdDSA, &pkcs8_v2(&seed, &x)),
        Err(Error::Key(_))
    ));
}

#[test]
fn identity() {
    // y = 1, x = 0: the neutral element. With it, R = identity and S = 0 verify every message.
    assert_refused_at_import(
        "0100000000000000000000000000000000000000000000000000000000000000",
        SMALL_ORDER,
    );
}

#[test]
fn order_2() {
    // y = p - 1, x = 0.
    assert_refused_at_import(
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        SMALL_ORDER,
    );
}

#[test]
fn order_4_x_positive() {
    // y = 0, x = sqrt(-1) with the sign bit clear.
    assert_refused_at_import(
        "0000000000000000000000000000000000000000000000000000000000000000",
        SMALL_ORDER,
    );
}

#[test]
fn order_4_x_negative() {
    // y = 0, x = -sqrt(-1): the sign bit set.
    assert_refused_at_import(
        "0000000000000000000000000000000000000000000000000000000000000080",
        SMALL_ORDER,
    );
}

#[test]
fn order_8_first_y_x_positive() {
    assert_refused_at_import(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        SMALL_ORDER,
    );
}

#[test]
fn order_8_first_y_x_negative() {
    assert_refused_at_import(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        SMALL_ORDER,
    );
}

#[test]
fn order_8_second_y_x_positive() {
    assert_refused_at_import(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        SMALL_ORDER,
    );
}

#[test]
fn order_8_second_y_x_negative() {
    assert_refused_at_import(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        SMALL_ORDER,
    );
}

#[test]
fn non_canonical_y_equal_to_p() {
    // y = p reduces to 0 (order 4) in a lax decoder.
    assert_refused_at_import(
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        Y_NOT_BELOW_P,
    );
}

#[test]
fn non_canonical_y_equal_to_p_plus_1() {
    // y = p + 1 reduces to 1, the identity, in a lax decoder.
    assert_refused_at_import(
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        Y_NOT_BELOW_P,
    );
}

#[test]
fn non_canonical_y_equal_to_2_pow_255_minus_1() {
    // The largest 255-bit y, with each sign.
    assert_refused_at_import(
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        Y_NOT_BELOW_P,
    );
    assert_refused_at_import(
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Y_NOT_BELOW_P,
    );
}

#[test]
fn identity_with_the_sign_bit_set() {
    // x = 0 has no sign: a second encoding of the identity.
    assert_refused_at_import(
        "0100000000000000000000000000000000000000000000000000000000000080",
        X_ZERO_SIGNED,
    );
}

#[test]
fn order_2_with_the_sign_bit_set() {
    // x = 0 has no sign: a second encoding of the point of order 2.
    assert_refused_at_import(
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        X_ZERO_SIGNED,
    );
}

#[test]
fn genuine_keys_still_import_on_every_path() {
    let x = base64url::decode(GENUINE_X.as_bytes()).unwrap();
    VerifyingKey::from_ed25519_public(Algorithm::EdDSA, &x).unwrap();
    for alg in ["EdDSA", "Ed25519"] {
        VerifyingKey::from_jwk(&okp_jwk(&x, alg), None).unwrap();
    }
    let seed = base64url::decode(SEED_B64.as_bytes()).unwrap();
    let key = SigningKey::from_pkcs8_der(Algorithm::EdDSA, &pkcs8_v2(&seed, &x)).unwrap();
    assert_eq!(
        key.verifying_key().public_jwk().unwrap().x.as_deref(),
        Some(GENUINE_X)
    );
}
