//! Fuzzes `Verifier::verify_access_token` and `jws::verify_with_key` with two inputs per run:
//!
//! 1. **Raw**: the input itself as a token (when it is UTF-8). This exercises the size cap,
//!    segment split, strict base64url and the header parser on arbitrary text.
//! 2. **Structured**: when the input holds at least one NUL byte, it is read as
//!    `header JSON \0 payload JSON [\0 signature]`; each part is base64url-encoded here, so the
//!    fuzzer reaches the JSON parsers behind base64 directly. An empty header stands for a valid
//!    HS256 access-token header with the right `kid`; a missing or empty signature part means
//!    "sign with the HS256 key", so payloads get past the signature and into the claims checks
//!    (the fuzzer could never forge a signature itself).
//!
//! Besides "never panics", it checks two invariants: whatever the access-token verifier accepts,
//! the JWS layer accepts with the same key; and a correctly HS256-signed token with the canonical
//! header always passes the JWS layer, whatever its payload bytes.
//!
//! Keys and clock are fixed, so a crash reproduces across runs and machines: the HS256 secret is a
//! constant, and the ES256 key is verification-only (a public point; no private key exists here).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tessera_token::{
    base64url, verify_with_key, Algorithm, FixedClock, KeySet, SigningKey, Verifier, VerifyingKey,
    ACCESS_TOKEN_TYP, DEFAULT_MAX_TOKEN_LEN,
};

/// 2027-01-15T08:00:00Z: tokens in the corpus can be valid or expired relative to it.
const NOW: u64 = 1_800_000_000;
const ISSUER: &str = "https://auth.fuzz";
const AUDIENCE: &str = "api";
const HS256_SECRET: [u8; 32] = *b"tessera-fuzz-hs256-secret-32byte";
/// An uncompressed P-256 public point (`04 || X || Y`), generated once; verification only.
const ES256_POINT: [u8; 65] = [
    0x04, 0xb9, 0x2c, 0x64, 0xcf, 0x89, 0x7b, 0x1d, 0x96, 0xb9, 0xa1, 0x94, 0x47, 0x05, 0x7f, 0xed,
    0x11, 0x2c, 0x75, 0xcf, 0x49, 0x80, 0x4a, 0xe4, 0xb1, 0x41, 0xab, 0xb8, 0x2b, 0x69, 0x25, 0x18,
    0x40, 0x1a, 0x94, 0x18, 0x2a, 0xaa, 0xa2, 0x6d, 0x8d, 0xb1, 0x33, 0x68, 0xc1, 0xee, 0x50, 0x2e,
    0x74, 0xb3, 0x35, 0x12, 0xa2, 0x9c, 0xf1, 0x7a, 0x89, 0x91, 0x40, 0xd0, 0x1d, 0xc8, 0x3f, 0x3f,
    0xce,
];

struct Target {
    verifier: Verifier,
    hs256: Arc<SigningKey>,
    es256: VerifyingKey,
    /// base64url of `{"alg":"HS256","typ":"at+jwt","kid":<the HS256 kid>}`.
    hs256_header_b64: String,
}

static TARGET: OnceLock<Target> = OnceLock::new();

fn target() -> &'static Target {
    TARGET.get_or_init(|| {
        let hs256 = SigningKey::from_hmac_secret(Algorithm::HS256, &HS256_SECRET)
            .expect("a 32-byte HS256 secret is accepted");
        let es256 = VerifyingKey::from_ec_point(Algorithm::ES256, &ES256_POINT)
            .expect("the ES256 point is on P-256");
        let header = format!(
            r#"{{"alg":"HS256","typ":"{ACCESS_TOKEN_TYP}","kid":"{}"}}"#,
            hs256.kid()
        );
        let mut keys = KeySet::with_signing_key(hs256);
        keys.add_verifying_key(es256.clone())
            .expect("distinct kids");
        let keys = Arc::new(keys);
        let hs256 = keys.signing_key().expect("signing key set").clone();
        Target {
            verifier: Verifier::new(keys, ISSUER, AUDIENCE)
                .with_clock(Arc::new(FixedClock::new(NOW))),
            hs256,
            es256,
            hs256_header_b64: base64url::encode(header.as_bytes()),
        }
    })
}

/// Runs every verifier on `token` and checks that the layers agree.
fn check(target: &Target, token: &str) {
    let access = target.verifier.verify_access_token(token);
    let hs256 = verify_with_key(token, target.hs256.verifying_key(), DEFAULT_MAX_TOKEN_LEN);
    let es256 = verify_with_key(token, &target.es256, DEFAULT_MAX_TOKEN_LEN);
    if access.is_ok() {
        assert!(
            hs256.is_ok() || es256.is_ok(),
            "the access-token verifier accepted what the JWS layer refuses with every key: \
             {token:?} -> {hs256:?} / {es256:?}"
        );
    }
    if let Ok(jws) = &es256 {
        // No private key exists for this point: an ES256 signature cannot verify.
        panic!("forged ES256 signature accepted: {token:?} -> {jws:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let target = target();

    // 1. Raw.
    if let Ok(text) = std::str::from_utf8(data) {
        check(target, text);
    }

    // 2. Structured: header \0 payload [\0 signature].
    let mut parts = data.splitn(3, |&byte| byte == 0);
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return;
    };
    let signature = parts.next().unwrap_or_default();
    let canonical_header = header.is_empty();
    let mut token = if canonical_header {
        target.hs256_header_b64.clone()
    } else {
        base64url::encode(header)
    };
    token.push('.');
    base64url::encode_into(payload, &mut token);
    let signed = signature.is_empty();
    let signature = if signed {
        target
            .hs256
            .sign(token.as_bytes())
            .expect("HMAC signing does not fail")
    } else {
        signature.to_vec()
    };
    token.push('.');
    base64url::encode_into(&signature, &mut token);
    check(target, &token);

    if canonical_header && signed && token.len() <= DEFAULT_MAX_TOKEN_LEN {
        let jws = verify_with_key(&token, target.hs256.verifying_key(), DEFAULT_MAX_TOKEN_LEN);
        match jws {
            Ok(jws) => assert_eq!(jws.payload, payload, "payload bytes changed"),
            Err(err) => panic!("a validly signed token with a good header was refused: {err}"),
        }
    }
});
