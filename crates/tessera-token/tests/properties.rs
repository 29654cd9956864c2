//! Property tests for the token core, for HS256, ES256 and EdDSA keys (and ES384/ES512 for 3).
//!
//! 1. Round trip: whatever the subject (any Unicode), session id, client id and custom claims
//!    (any non-reserved names; strings, integers, booleans, nested arrays and objects),
//!    `Verifier::verify_access_token(TokenIssuer::issue(..))` returns exactly the issued claims.
//! 2. Tamper evidence: any single-byte change anywhere in a valid token is refused. There is no
//!    "harmless" byte: base64url is decoded strictly (no padding, no whitespace, canonical final
//!    character), so a change in any segment changes the decoded bytes or fails decoding, and the
//!    signature covers the header and payload exactly as received.
//!
//! 3. ECDSA signatures are not malleable (issue 9, item 5): every ES256/ES384/ES512 token Tessera
//!    signs has a low S (s <= n/2), and the twin of any such token, the same signature with s
//!    replaced by n - s (which verifies under the same key, and which anyone can compute), is
//!    refused by the default verifier and accepted, with the same claims, by the one opened with
//!    `Verifier::accepting_high_s_ecdsa`.
//!
//! Keys are generated once per test binary (not per case); a `FixedClock` drives both issuer and
//! verifier so tokens never expire mid-run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use tessera_token::{
    AccessTokenRequest, Algorithm, Error, FixedClock, KeySet, SigningKey, TokenIssuer, Verifier,
    RESERVED_CLAIMS,
};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://auth.test";
const AUD: &str = "api";
/// Generated claims can exceed the default 8 KiB cap; the round trip is about content, not size.
const MAX_LEN: usize = 256 * 1024;
const CASES: u32 = 256;

struct Fixture {
    issuer: TokenIssuer,
    verifier: Verifier,
}

impl Fixture {
    fn new(key: SigningKey) -> Self {
        let keys = Arc::new(KeySet::with_signing_key(key));
        let signing = keys.signing_key().unwrap().clone();
        let clock = Arc::new(FixedClock::new(NOW));
        Fixture {
            issuer: TokenIssuer::new(signing, ISS, AUD, 900).with_clock(clock.clone()),
            verifier: Verifier::new(keys, ISS, AUD)
                .with_clock(clock)
                .with_max_token_len(MAX_LEN),
        }
    }
}

static HS256: LazyLock<Fixture> = LazyLock::new(|| {
    Fixture::new(SigningKey::from_hmac_secret(Algorithm::HS256, &[0x5a; 32]).unwrap())
});
static ES256: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new(SigningKey::generate(Algorithm::ES256).unwrap().0));
static ES384: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new(SigningKey::generate(Algorithm::ES384).unwrap().0));
static ES512: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new(SigningKey::generate(Algorithm::ES512).unwrap().0));
static EDDSA: LazyLock<Fixture> =
    LazyLock::new(|| Fixture::new(SigningKey::generate(Algorithm::EdDSA).unwrap().0));

/// A JSON value: strings, integers (both signs, beyond `i64`), booleans, and arrays and objects
/// nesting them. No floats: their text round trip is not what this test is about.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Custom claims: any names except the reserved ones.
fn custom_claims() -> impl Strategy<Value = Map<String, Value>> {
    let name = any::<String>().prop_filter("reserved claim name", |name| {
        !RESERVED_CLAIMS.contains(&name.as_str())
    });
    prop::collection::btree_map(name, json_value(), 0..6)
        .prop_map(|claims: BTreeMap<String, Value>| claims.into_iter().collect())
}

fn request() -> impl Strategy<Value = AccessTokenRequest> {
    (
        any::<String>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        custom_claims(),
    )
        .prop_map(
            |(subject, session_id, client_id, extra)| AccessTokenRequest {
                subject,
                session_id,
                client_id,
                ttl: None,
                extra,
            },
        )
}

fn round_trip(fixture: &Fixture, request: AccessTokenRequest) -> Result<(), TestCaseError> {
    let issued = fixture.issuer.issue(&request).unwrap();
    let verified = fixture.verifier.verify_access_token(&issued.token).unwrap();
    prop_assert_eq!(&verified.sub, &request.subject);
    prop_assert_eq!(&verified.sid, &request.session_id);
    prop_assert_eq!(&verified.client_id, &request.client_id);
    prop_assert_eq!(&verified.extra, &request.extra);
    prop_assert_eq!(&verified.jti, &issued.jti);
    prop_assert_eq!(verified.iat, Some(issued.issued_at));
    prop_assert_eq!(verified.nbf, Some(issued.issued_at));
    prop_assert_eq!(verified.exp, issued.expires_at);
    Ok(())
}

/// A replacement byte: half the time ASCII (the token stays a `&str` as is), otherwise any byte.
fn replacement() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..0x80, any::<u8>()]
}

/// Replaces the byte at `index` (must differ from the original); a non-UTF-8 result is passed
/// through `from_utf8_lossy`, which turns the lone byte into U+FFFD: still a one-byte edit site.
fn tampered(token: &str, index: usize, byte: u8) -> String {
    let mut bytes = token.as_bytes().to_vec();
    assert_ne!(bytes[index], byte);
    bytes[index] = byte;
    String::from_utf8_lossy(&bytes).into_owned()
}

fn single_byte_change(
    fixture: &Fixture,
    subject: String,
    index: Index,
    byte: u8,
) -> Result<(), TestCaseError> {
    let issued = fixture
        .issuer
        .issue(&AccessTokenRequest {
            subject,
            ..Default::default()
        })
        .unwrap();
    prop_assert!(fixture.verifier.verify_access_token(&issued.token).is_ok());
    let index = index.index(issued.token.len());
    prop_assume!(issued.token.as_bytes()[index] != byte);
    let changed = tampered(&issued.token, index, byte);
    let result = fixture.verifier.verify_access_token(&changed);
    prop_assert!(
        result.is_err(),
        "byte {} changed to {:#04x} was accepted: {}",
        index,
        byte,
        changed
    );
    Ok(())
}

/// Every position, every ASCII replacement (and one non-ASCII byte), exhaustively, for one token.
fn every_ascii_change(fixture: &Fixture) {
    let issued = fixture
        .issuer
        .issue(&AccessTokenRequest {
            subject: "user-1".into(),
            session_id: Some("s-1".into()),
            client_id: Some("c-1".into()),
            ..Default::default()
        })
        .unwrap();
    let token = issued.token;
    fixture.verifier.verify_access_token(&token).unwrap();
    let mut tried = 0;
    for index in 0..token.len() {
        for byte in (0u8..0x80).chain([0xff]) {
            if token.as_bytes()[index] == byte {
                continue;
            }
            let changed = tampered(&token, index, byte);
            assert!(
                fixture.verifier.verify_access_token(&changed).is_err(),
                "byte {index} changed to {byte:#04x} was accepted: {changed}"
            );
            tried += 1;
        }
    }
    assert!(tried > 100 * token.len(), "{tried}");
}

/// The group orders n of the ECDSA curves, big-endian (SEC 2 v2, sections 2.4.2, 2.5.2 and
/// 2.6.2), written out here independently of the token core's constants.
const P256_ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_ORDER: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
                          581a0db248b0a77aecec196accc52973";
const P521_ORDER: &str = "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
                          fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";

fn order_of(algorithm: Algorithm) -> Vec<u8> {
    let hex = match algorithm {
        Algorithm::ES256 => P256_ORDER,
        Algorithm::ES384 => P384_ORDER,
        Algorithm::ES512 => P521_ORDER,
        other => panic!("{other} is not ECDSA"),
    };
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

/// `n - s` for big-endian numbers of equal length, `s < n`: schoolbook subtraction with borrow.
fn order_minus(order: &[u8], s: &[u8]) -> Vec<u8> {
    let mut difference = vec![0; order.len()];
    let mut borrow = 0i16;
    for at in (0..order.len()).rev() {
        let mut digit = i16::from(order[at]) - i16::from(s[at]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        difference[at] = u8::try_from(digit).unwrap();
    }
    assert_eq!(borrow, 0, "s < n");
    difference
}

/// Whether `s > n / 2`, that is `s > n - s` (n is odd, so the two are never equal).
fn is_high_s(order: &[u8], s: &[u8]) -> bool {
    s > order_minus(order, s).as_slice()
}

/// The S half of a token's R || S signature.
fn signature_of(token: &str) -> Vec<u8> {
    let signature = token.rsplit_once('.').unwrap().1;
    tessera_token::base64url::decode(signature.as_bytes()).unwrap()
}

/// The token with its signature (r, s) replaced by (r, n - s).
fn ecdsa_twin(token: &str, order: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    let mut signature = signature_of(token);
    let half = signature.len() / 2;
    let twin_s = order_minus(order, &signature[half..]);
    signature[half..].copy_from_slice(&twin_s);
    format!("{input}.{}", tessera_token::base64url::encode(&signature))
}

fn ecdsa_signatures_are_not_malleable(
    fixture: &Fixture,
    algorithm: Algorithm,
    subject: String,
) -> Result<(), TestCaseError> {
    let order = order_of(algorithm);
    let issued = fixture
        .issuer
        .issue(&AccessTokenRequest {
            subject,
            ..Default::default()
        })
        .unwrap();
    let signature = signature_of(&issued.token);
    prop_assert_eq!(signature.len(), 2 * order.len());
    prop_assert!(
        !is_high_s(&order, &signature[order.len()..]),
        "{} signed a high S: {}",
        algorithm,
        issued.token
    );
    let claims = fixture.verifier.verify_access_token(&issued.token).unwrap();
    let twin = ecdsa_twin(&issued.token, &order);
    prop_assert_ne!(&twin, &issued.token);
    prop_assert_eq!(
        fixture.verifier.verify_access_token(&twin),
        Err(Error::NonCanonicalSignature)
    );
    let opened = fixture.verifier.clone().accepting_high_s_ecdsa();
    prop_assert_eq!(opened.verify_access_token(&twin), Ok(claims.clone()));
    prop_assert_eq!(opened.verify_access_token(&issued.token), Ok(claims));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn es256_signatures_are_low_s_and_their_high_s_twin_is_refused(subject in any::<String>()) {
        ecdsa_signatures_are_not_malleable(&ES256, Algorithm::ES256, subject)?;
    }

    #[test]
    fn es384_signatures_are_low_s_and_their_high_s_twin_is_refused(subject in any::<String>()) {
        ecdsa_signatures_are_not_malleable(&ES384, Algorithm::ES384, subject)?;
    }

    #[test]
    fn es512_signatures_are_low_s_and_their_high_s_twin_is_refused(subject in any::<String>()) {
        ecdsa_signatures_are_not_malleable(&ES512, Algorithm::ES512, subject)?;
    }

    #[test]
    fn hs256_round_trip(request in request()) {
        round_trip(&HS256, request)?;
    }

    #[test]
    fn es256_round_trip(request in request()) {
        round_trip(&ES256, request)?;
    }

    #[test]
    fn eddsa_round_trip(request in request()) {
        round_trip(&EDDSA, request)?;
    }

    #[test]
    fn hs256_single_byte_change_is_rejected(
        subject in any::<String>(), index in any::<Index>(), byte in replacement()
    ) {
        single_byte_change(&HS256, subject, index, byte)?;
    }

    #[test]
    fn es256_single_byte_change_is_rejected(
        subject in any::<String>(), index in any::<Index>(), byte in replacement()
    ) {
        single_byte_change(&ES256, subject, index, byte)?;
    }

    #[test]
    fn eddsa_single_byte_change_is_rejected(
        subject in any::<String>(), index in any::<Index>(), byte in replacement()
    ) {
        single_byte_change(&EDDSA, subject, index, byte)?;
    }
}

#[test]
fn hs256_every_ascii_change_is_rejected() {
    every_ascii_change(&HS256);
}

#[test]
fn es256_every_ascii_change_is_rejected() {
    every_ascii_change(&ES256);
}

#[test]
fn eddsa_every_ascii_change_is_rejected() {
    every_ascii_change(&EDDSA);
}
