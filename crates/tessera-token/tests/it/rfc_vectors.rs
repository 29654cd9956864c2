//! The example JWSs of RFC 7515 Appendix A, RFC 7520 section 4 and RFC 8037 Appendix A.
//!
//! Every example is verified at the JWS layer ([`verify_with_key`]) with a key built from the RFC's
//! JWK through [`VerifyingKey::from_jwk`], and its payload compared with the RFC's. Deterministic
//! algorithms (HMAC, RSASSA-PKCS1-v1_5, Ed25519) are also re-signed from the RFC's private key and
//! must give the RFC's signature byte for byte. ECDSA and RSASSA-PSS signatures are randomized, so
//! those examples are verified only. Every example also fails once one signature byte is flipped.
//!
//! Two ECDSA examples (RFC 7515 A.3, RFC 7520 4.3) were signed with a high S (`s > n/2`), which
//! plain ECDSA accepts but Tessera, which signs only low S, refuses by default as the malleable
//! form (issue 9, item 5). They are checked to be refused so, and to verify through
//! [`verify_with_key_accepting_high_s_ecdsa`], the door for other issuers' tokens.
//!
//! Not included, because Tessera implements only the compact serialization with all parameters in
//! the protected header (and rejects detached or JSON-serialized input by design):
//! - RFC 7515 A.6 and A.7 (general and flattened JSON serialization);
//! - RFC 7520 4.5 (detached content): its compact form has an empty payload segment; the test
//!   `rfc7520_4_5_detached_content_is_not_reattached` checks it is rejected, not accepted as an
//!   empty payload;
//! - RFC 7520 4.6 (`kid` in the unprotected header), 4.7 (no protected header) and 4.8 (multiple
//!   signatures): these have a JSON serialization only.
//!
//! The RSA private keys are checked in as PKCS#8 PEM under `tests/data/`, converted once from the
//! RFCs' JWKs by `tests/data/rfc_rsa_jwk_to_pkcs8.py`; the tests check that their public halves are
//! the RFCs' `n` and `e`. The Ed25519 PKCS#8 is assembled here from the RFC 8037 seed.

use tessera_token::base64url;
use tessera_token::{
    verify_with_key, verify_with_key_accepting_high_s_ecdsa, Algorithm, Error, Jwk, SigningKey,
    VerifiedJws, VerifyingKey, DEFAULT_MAX_TOKEN_LEN,
};

// ---------------------------------------------------------------------------------------------
// RFC 7515 Appendix A
// ---------------------------------------------------------------------------------------------

/// RFC 7515 A.1-A.3 payload: `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`.
const RFC7515_PAYLOAD: &[u8] =
    b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

/// The same payload, base64url-encoded as printed in RFC 7515 A.1.1.
const RFC7515_PAYLOAD_B64: &str = concat!(
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
);

/// RFC 7515 A.1.1: the HMAC key.
const RFC7515_A1_JWK: &str = r#"{"kty":"oct",
 "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;

/// RFC 7515 A.1.1: header `{"typ":"JWT",\r\n "alg":"HS256"}` (with CRLF, and no `kid`).
const RFC7515_A1_HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
const RFC7515_A1_SIGNATURE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// RFC 7515 A.2.1: the public half of the RSA key (the private half is in
/// `tests/data/rfc7515_a2_rsa_pkcs8.pem`).
const RFC7515_A2_JWK: &str = r#"{"kty":"RSA",
 "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
 "e":"AQAB"}"#;
const RFC7515_A2_PKCS8_PEM: &[u8] = include_bytes!("../data/rfc7515_a2_rsa_pkcs8.pem");
/// RFC 7515 A.2.1: header `{"alg":"RS256"}`.
const RFC7515_A2_HEADER_B64: &str = "eyJhbGciOiJSUzI1NiJ9";
const RFC7515_A2_SIGNATURE: &str = concat!(
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw"
);

/// RFC 7515 A.3.1: the EC P-256 key, private scalar `d` included as printed in the RFC.
const RFC7515_A3_PRIVATE_JWK: &str = r#"{"kty":"EC",
 "crv":"P-256",
 "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
 "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
 "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
/// RFC 7515 A.3.1: header `{"alg":"ES256"}`.
const RFC7515_A3_HEADER_B64: &str = "eyJhbGciOiJFUzI1NiJ9";
const RFC7515_A3_SIGNATURE: &str = concat!(
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8I",
    "SlSApmWQxfKTUJqPP3-Kg6NU1Q"
);

/// RFC 7515 A.4.1: the EC P-521 key, private scalar `d` included as printed in the RFC.
const RFC7515_A4_PRIVATE_JWK: &str = r#"{"kty":"EC",
 "crv":"P-521",
 "x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
 "y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
 "d":"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C"}"#;
/// RFC 7515 A.4.1: header `{"alg":"ES512"}` and payload `Payload`.
const RFC7515_A4_HEADER_B64: &str = "eyJhbGciOiJFUzUxMiJ9";
const RFC7515_A4_PAYLOAD_B64: &str = "UGF5bG9hZA";
const RFC7515_A4_SIGNATURE: &str = concat!(
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq",
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp",
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"
);

/// RFC 7515 A.5: an Unsecured JWS (`{"alg":"none"}`, empty signature).
const RFC7515_A5_HEADER_B64: &str = "eyJhbGciOiJub25lIn0";

// ---------------------------------------------------------------------------------------------
// RFC 7520 section 3 (keys) and section 4 (signatures)
// ---------------------------------------------------------------------------------------------

/// RFC 7520 section 4 payload (section 4 figure 7), with U+2019 apostrophes.
const RFC7520_PAYLOAD: &str = "It\u{2019}s a dangerous business, Frodo, going out your door. You \
     step onto the road, and if you don't keep your feet, there\u{2019}s no knowing where you \
     might be swept off to.";
const RFC7520_PAYLOAD_B64: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0",
    "aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG",
    "1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
);

/// RFC 7520 3.4 (figure 4): the public half of the RSA key (private half in
/// `tests/data/rfc7520_3_4_rsa_pkcs8.pem`). It has no `alg`: the caller names it.
const RFC7520_RSA_JWK: &str = r#"{"kty":"RSA",
 "kid":"bilbo.baggins@hobbiton.example",
 "use":"sig",
 "n":"n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw",
 "e":"AQAB"}"#;
const RFC7520_RSA_PKCS8_PEM: &[u8] = include_bytes!("../data/rfc7520_3_4_rsa_pkcs8.pem");

/// RFC 7520 3.2 (figure 2): the public half of the EC P-521 key; no `alg`.
const RFC7520_EC_JWK: &str = r#"{"kty":"EC",
 "kid":"bilbo.baggins@hobbiton.example",
 "use":"sig",
 "crv":"P-521",
 "x":"AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
 "y":"AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"}"#;

/// RFC 7520 3.5 (figure 5): the HMAC key, which does name its `alg`.
const RFC7520_HMAC_JWK: &str = r#"{"kty":"oct",
 "kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037",
 "use":"sig",
 "alg":"HS256",
 "k":"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}"#;

/// RFC 7520 4.1.2 (figure 9): `{"alg":"RS256","kid":"bilbo.baggins@hobbiton.example"}`.
const RFC7520_4_1_HEADER_B64: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
/// RFC 7520 4.1.2 (figure 11).
const RFC7520_4_1_SIGNATURE: &str = concat!(
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK",
    "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J",
    "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w",
    "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP",
    "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f",
    "cIe8u9ipH84ogoree7vjbU5y18kDquDg"
);

/// RFC 7520 4.2.2 (figure 16): `{"alg":"PS384","kid":"bilbo.baggins@hobbiton.example"}`.
const RFC7520_4_2_HEADER_B64: &str =
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
/// RFC 7520 4.2.2 (figure 18).
const RFC7520_4_2_SIGNATURE: &str = concat!(
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2I",
    "pN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXU",
    "vdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRX",
    "e8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT",
    "0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a",
    "6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw"
);

/// RFC 7520 4.3.2 (figure 23): `{"alg":"ES512","kid":"bilbo.baggins@hobbiton.example"}`.
const RFC7520_4_3_HEADER_B64: &str =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
/// RFC 7520 4.3.2 (figure 25).
const RFC7520_4_3_SIGNATURE: &str = concat!(
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb",
    "u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv",
    "AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2"
);

/// RFC 7520 4.4.2 (figure 30): `{"alg":"HS256","kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037"}`.
const RFC7520_4_4_HEADER_B64: &str =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9";
/// RFC 7520 4.4.2 (figure 32); 4.5 (detached content) has the same signature.
const RFC7520_4_4_SIGNATURE: &str = "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

// ---------------------------------------------------------------------------------------------
// RFC 8037 Appendix A (Ed25519)
// ---------------------------------------------------------------------------------------------

/// RFC 8037 A.2: the public key (A.1 adds the private seed `d`, below).
const RFC8037_PUBLIC_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519",
 "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
/// RFC 8037 A.1: the private key's `d`, the 32-byte Ed25519 seed.
const RFC8037_SEED_B64: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
/// RFC 8037 A.3: the RFC 7638 thumbprint of the key.
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
/// RFC 8037 A.4: header `{"alg":"EdDSA"}` and payload `Example of Ed25519 signing`.
const RFC8037_HEADER_B64: &str = "eyJhbGciOiJFZERTQSJ9";
const RFC8037_PAYLOAD_B64: &str = "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const RFC8037_SIGNATURE: &str = concat!(
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5B",
    "hVsPt9g7sVvpAr_MuM0KAg"
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn compact(header_b64: &str, payload_b64: &str, signature_b64: &str) -> String {
    format!("{header_b64}.{payload_b64}.{signature_b64}")
}

fn jwk(json: &str) -> Jwk {
    serde_json::from_str(json).expect("the RFC JWK parses")
}

fn b64(text: &str) -> Vec<u8> {
    base64url::decode(text.as_bytes()).expect("the RFC value is base64url")
}

/// The JWK without its private scalar: a verification key must be public.
fn public_part(json: &str) -> Jwk {
    Jwk {
        d: None,
        ..jwk(json)
    }
}

/// Verifies at the JWS layer and returns the result, failing the test on any error.
fn verify(token: &str, key: &VerifyingKey) -> VerifiedJws {
    verify_with_key(token, key, DEFAULT_MAX_TOKEN_LEN)
        .unwrap_or_else(|err| panic!("the RFC example must verify, got {err:?}"))
}

/// A high-S ECDSA example: refused by default as non-canonical, verified through the door for
/// other issuers' tokens (failing the test on any error there), whose result is returned.
fn verify_high_s(token: &str, key: &VerifyingKey) -> VerifiedJws {
    assert_eq!(
        verify_with_key(token, key, DEFAULT_MAX_TOKEN_LEN),
        Err(Error::NonCanonicalSignature),
        "the RFC example has a high S"
    );
    verify_with_key_accepting_high_s_ecdsa(token, key, DEFAULT_MAX_TOKEN_LEN)
        .unwrap_or_else(|err| panic!("the RFC example must verify through the door, got {err:?}"))
}

/// The same JWS with one signature byte flipped must fail the signature check.
fn assert_flipped_signature_is_refused(token: &str, key: &VerifyingKey) {
    assert_eq!(
        verify_with_key(&flipped(token), key, DEFAULT_MAX_TOKEN_LEN),
        Err(Error::Signature)
    );
}

/// As [`assert_flipped_signature_is_refused`], through the door for high-S signatures.
fn assert_flipped_high_s_signature_is_refused(token: &str, key: &VerifyingKey) {
    assert_eq!(
        verify_with_key_accepting_high_s_ecdsa(&flipped(token), key, DEFAULT_MAX_TOKEN_LEN),
        Err(Error::Signature)
    );
}

/// The JWS with one bit of its signature flipped, a third of the way in.
fn flipped(token: &str) -> String {
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("three segments");
    let mut signature = b64(signature_b64);
    let middle = signature.len() / 3;
    signature[middle] ^= 0x01;
    format!("{signing_input}.{}", base64url::encode(&signature))
}

/// `key.sign(signing input)` must reproduce the RFC's signature exactly.
fn assert_resigns_identically(token: &str, key: &SigningKey) {
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("three segments");
    let signature = key.sign(signing_input.as_bytes()).expect("signing works");
    assert_eq!(base64url::encode(&signature), signature_b64);
}

fn rsa_signing_key(algorithm: Algorithm, pem: &[u8], public_jwk: &str) -> SigningKey {
    let key = SigningKey::from_pkcs8_pem(algorithm, pem).expect("the checked-in PEM loads");
    let exported = key.verifying_key().public_jwk().expect("RSA keys export");
    let rfc = jwk(public_jwk);
    assert_eq!(exported.n, rfc.n, "the PEM is the RFC's key");
    assert_eq!(exported.e, rfc.e, "the PEM is the RFC's key");
    key
}

/// PKCS#8 v1 for an Ed25519 seed (RFC 8410 section 7): a fixed 16-byte prefix, then the seed.
fn ed25519_pkcs8(seed: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    assert_eq!(seed.len(), 32);
    [&PREFIX[..], seed].concat()
}

// ---------------------------------------------------------------------------------------------
// RFC 7515
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7515_a1_hs256_example_verifies() {
    let token = compact(
        RFC7515_A1_HEADER_B64,
        RFC7515_PAYLOAD_B64,
        RFC7515_A1_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&jwk(RFC7515_A1_JWK), Some(Algorithm::HS256)).unwrap();
    let verified = verify(&token, &key);
    assert_eq!(verified.payload, RFC7515_PAYLOAD);
    // The CRLF-formatted header parses; the JWS layer reads typ but does not judge it.
    assert_eq!(verified.header.alg, "HS256");
    assert_eq!(verified.header.typ.as_deref(), Some("JWT"));
    assert_eq!(verified.header.kid, None);
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc7515_a1_hs256_example_resigns_identically() {
    let token = compact(
        RFC7515_A1_HEADER_B64,
        RFC7515_PAYLOAD_B64,
        RFC7515_A1_SIGNATURE,
    );
    let secret = jwk(RFC7515_A1_JWK).k.expect("an oct JWK has k");
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &b64(&secret)).unwrap();
    assert_resigns_identically(&token, &key);
}

#[test]
fn rfc7515_a2_rs256_example_verifies() {
    let token = compact(
        RFC7515_A2_HEADER_B64,
        RFC7515_PAYLOAD_B64,
        RFC7515_A2_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&jwk(RFC7515_A2_JWK), Some(Algorithm::RS256)).unwrap();
    assert_eq!(verify(&token, &key).payload, RFC7515_PAYLOAD);
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc7515_a2_rs256_example_resigns_identically() {
    let token = compact(
        RFC7515_A2_HEADER_B64,
        RFC7515_PAYLOAD_B64,
        RFC7515_A2_SIGNATURE,
    );
    let key = rsa_signing_key(Algorithm::RS256, RFC7515_A2_PKCS8_PEM, RFC7515_A2_JWK);
    assert_resigns_identically(&token, &key);
}

#[test]
fn rfc7515_a3_es256_example_verifies() {
    // The RFC's signature has a high `s`; plain ECDSA (and JWS) accepts both `s` and `n - s`.
    // Tessera refuses the high form by default and verifies it through the door for other issuers.
    let token = compact(
        RFC7515_A3_HEADER_B64,
        RFC7515_PAYLOAD_B64,
        RFC7515_A3_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&public_part(RFC7515_A3_PRIVATE_JWK), Some(Algorithm::ES256))
        .unwrap();
    assert_eq!(verify_high_s(&token, &key).payload, RFC7515_PAYLOAD);
    assert_flipped_high_s_signature_is_refused(&token, &key);
}

#[test]
fn rfc7515_a3_private_jwk_is_refused_as_a_verification_key() {
    let err =
        VerifyingKey::from_jwk(&jwk(RFC7515_A3_PRIVATE_JWK), Some(Algorithm::ES256)).unwrap_err();
    assert!(
        matches!(err, Error::Key(ref text) if text.contains("private")),
        "{err}"
    );
}

#[test]
fn rfc7515_a4_es512_example_verifies() {
    let token = compact(
        RFC7515_A4_HEADER_B64,
        RFC7515_A4_PAYLOAD_B64,
        RFC7515_A4_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&public_part(RFC7515_A4_PRIVATE_JWK), Some(Algorithm::ES512))
        .unwrap();
    assert_eq!(verify(&token, &key).payload, b"Payload");
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc7515_a5_unsecured_jws_is_refused() {
    let token = format!("{RFC7515_A5_HEADER_B64}.{RFC7515_PAYLOAD_B64}.");
    assert!(
        "none".parse::<Algorithm>().is_err(),
        "none is not an algorithm"
    );
    let key = VerifyingKey::from_jwk(&jwk(RFC7515_A1_JWK), Some(Algorithm::HS256)).unwrap();
    assert_eq!(
        verify_with_key(&token, &key, DEFAULT_MAX_TOKEN_LEN),
        Err(Error::AlgorithmMismatch)
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 7520
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7520_4_1_rs256_example_verifies() {
    let token = compact(
        RFC7520_4_1_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_1_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&jwk(RFC7520_RSA_JWK), Some(Algorithm::RS256)).unwrap();
    let verified = verify(&token, &key);
    assert_eq!(verified.payload, RFC7520_PAYLOAD.as_bytes());
    assert_eq!(
        verified.header.kid.as_deref(),
        Some("bilbo.baggins@hobbiton.example")
    );
    assert_eq!(key.kid(), "bilbo.baggins@hobbiton.example");
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc7520_4_1_rs256_example_resigns_identically() {
    let token = compact(
        RFC7520_4_1_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_1_SIGNATURE,
    );
    let key = rsa_signing_key(Algorithm::RS256, RFC7520_RSA_PKCS8_PEM, RFC7520_RSA_JWK);
    assert_resigns_identically(&token, &key);
}

#[test]
fn rfc7520_4_2_ps384_example_verifies() {
    let token = compact(
        RFC7520_4_2_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_2_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&jwk(RFC7520_RSA_JWK), Some(Algorithm::PS384)).unwrap();
    assert_eq!(verify(&token, &key).payload, RFC7520_PAYLOAD.as_bytes());
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc7520_4_2_ps384_example_is_refused_by_the_same_key_bound_to_another_algorithm() {
    let token = compact(
        RFC7520_4_2_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_2_SIGNATURE,
    );
    for algorithm in [Algorithm::RS384, Algorithm::PS256, Algorithm::PS512] {
        let key = VerifyingKey::from_jwk(&jwk(RFC7520_RSA_JWK), Some(algorithm)).unwrap();
        assert_eq!(
            verify_with_key(&token, &key, DEFAULT_MAX_TOKEN_LEN),
            Err(Error::AlgorithmMismatch),
            "{algorithm}"
        );
    }
}

#[test]
fn rfc7520_4_3_es512_example_verifies() {
    let token = compact(
        RFC7520_4_3_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_3_SIGNATURE,
    );
    let key = VerifyingKey::from_jwk(&jwk(RFC7520_EC_JWK), Some(Algorithm::ES512)).unwrap();
    // A high `s`, as in RFC 7515 A.3: refused by default, verified through the door.
    assert_eq!(
        verify_high_s(&token, &key).payload,
        RFC7520_PAYLOAD.as_bytes()
    );
    assert_flipped_high_s_signature_is_refused(&token, &key);
}

#[test]
fn rfc7520_4_4_hs256_example_verifies() {
    let token = compact(
        RFC7520_4_4_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_4_SIGNATURE,
    );
    // This JWK names its algorithm, so none is passed.
    let key = VerifyingKey::from_jwk(&jwk(RFC7520_HMAC_JWK), None).unwrap();
    assert_eq!(key.algorithm(), Algorithm::HS256);
    assert_eq!(verify(&token, &key).payload, RFC7520_PAYLOAD.as_bytes());
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc7520_4_4_hs256_example_resigns_identically() {
    let token = compact(
        RFC7520_4_4_HEADER_B64,
        RFC7520_PAYLOAD_B64,
        RFC7520_4_4_SIGNATURE,
    );
    let secret = jwk(RFC7520_HMAC_JWK).k.expect("an oct JWK has k");
    let key = SigningKey::from_hmac_secret(Algorithm::HS256, &b64(&secret)).unwrap();
    assert_resigns_identically(&token, &key);
}

#[test]
fn rfc7520_4_5_detached_content_is_not_reattached() {
    // RFC 7520 4.5.3 (figure 34): the 4.4 JWS with its payload segment left empty. Tessera has no
    // detached-content mode, so this is a JWS over the empty payload, and its signature fails.
    let token = compact(RFC7520_4_4_HEADER_B64, "", RFC7520_4_4_SIGNATURE);
    let key = VerifyingKey::from_jwk(&jwk(RFC7520_HMAC_JWK), None).unwrap();
    assert_eq!(
        verify_with_key(&token, &key, DEFAULT_MAX_TOKEN_LEN),
        Err(Error::Signature)
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 8037
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc8037_a4_ed25519_example_verifies() {
    // A.5 is the validation of the JWS produced in A.4.
    let token = compact(RFC8037_HEADER_B64, RFC8037_PAYLOAD_B64, RFC8037_SIGNATURE);
    let key = VerifyingKey::from_jwk(&jwk(RFC8037_PUBLIC_JWK), Some(Algorithm::EdDSA)).unwrap();
    assert_eq!(verify(&token, &key).payload, b"Example of Ed25519 signing");
    assert_flipped_signature_is_refused(&token, &key);
}

#[test]
fn rfc8037_a4_ed25519_example_verifies_with_a_key_bound_to_the_rfc9864_name() {
    // RFC 9864 section 2.2: `Ed25519` and `EdDSA` name the same scheme on an Ed25519 key.
    let token = compact(RFC8037_HEADER_B64, RFC8037_PAYLOAD_B64, RFC8037_SIGNATURE);
    let key = VerifyingKey::from_jwk(&jwk(RFC8037_PUBLIC_JWK), Some(Algorithm::Ed25519)).unwrap();
    assert_eq!(verify(&token, &key).payload, b"Example of Ed25519 signing");
}

#[test]
fn rfc8037_a4_ed25519_example_resigns_identically() {
    let token = compact(RFC8037_HEADER_B64, RFC8037_PAYLOAD_B64, RFC8037_SIGNATURE);
    let key = SigningKey::from_pkcs8_der(Algorithm::EdDSA, &ed25519_pkcs8(&b64(RFC8037_SEED_B64)))
        .unwrap();
    // The seed's public key is the RFC's `x`.
    let exported = key
        .verifying_key()
        .public_jwk()
        .expect("Ed25519 keys export");
    assert_eq!(exported.x, jwk(RFC8037_PUBLIC_JWK).x);
    assert_resigns_identically(&token, &key);
}

#[test]
fn rfc8037_a3_thumbprint_is_the_kid() {
    let key = VerifyingKey::from_jwk(&jwk(RFC8037_PUBLIC_JWK), Some(Algorithm::EdDSA)).unwrap();
    assert_eq!(key.kid(), RFC8037_THUMBPRINT);
}
