//! Signing and verifying a realistic access token (~300 bytes of claims) with HS256, RS256, ES256
//! and EdDSA, measured in one run against three baselines:
//!
//! - `floor_aws_lc_rs`: the bare aws-lc-rs primitive on the same signing-input bytes, keys parsed
//!   once outside the loop (`hmac::sign`/`verify`, `RsaKeyPair::sign`, `EcdsaKeyPair::sign`,
//!   `Ed25519KeyPair::sign`, `ParsedPublicKey::verify_sig`). Nothing can sign or verify faster.
//! - `parse_only`: the non-cryptographic work any implementation must do. Verify: split, decode the
//!   three base64url segments, parse header and payload into `serde_json::Value`. Sign:
//!   `serde_json::to_vec` of the claims and base64url-encode payload and signature after the
//!   (precomputed) encoded header.
//! - `jsonwebtoken`: the `jsonwebtoken` crate (aws-lc-rs backend) on the same token and claims, with
//!   keys built once outside the loop as a user would (`EncodingKey::from_secret` / `from_*_pem`,
//!   `DecodingKey::from_secret` / `from_*_components`) and a `Validation` requiring `exp`, `iss`,
//!   `aud` and `sub`, checking `nbf`, with Tessera's 30 s leeway.
//!
//! Tessera's numbers are `TokenIssuer::issue` (claims, fresh `jti`, serialization, base64,
//! signature) and `Verifier::verify_access_token` (every check of the documented order).
//!
//! Run with `cargo bench -p tessera-token --bench jws`; see `BENCHMARKS.md` for results.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "benchmark code: a failed setup should abort the run"
)]

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tessera_token::{
    generate_hmac_secret, AccessClaims, AccessTokenRequest, Algorithm, FixedClock, KeySet,
    SigningKey, TokenIssuer, Verifier, DEFAULT_LEEWAY,
};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

/// What `jsonwebtoken` users decode into: the same claims, as a plain struct (no `flatten`,
/// which would be slower for it).
#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "fields are decoded, not read")]
struct JwtClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
    sid: String,
    client_id: String,
    scope: String,
    roles: Vec<String>,
}

/// The raw aws-lc-rs signing primitive, key parsed once.
enum FloorSigner {
    Hmac(Box<hmac::Key>),
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// The raw aws-lc-rs verification primitive, key parsed once.
enum FloorVerifier {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

impl FloorSigner {
    fn sign(&self, message: &[u8], rng: &SystemRandom, out: &mut [u8]) -> usize {
        match self {
            FloorSigner::Hmac(key) => {
                let tag = hmac::sign(key, message);
                out[..tag.as_ref().len()].copy_from_slice(tag.as_ref());
                tag.as_ref().len()
            }
            FloorSigner::Rsa(pair) => {
                let len = pair.public_modulus_len();
                pair.sign(&signature::RSA_PKCS1_SHA256, rng, message, &mut out[..len])
                    .unwrap();
                len
            }
            FloorSigner::Ecdsa(pair) => {
                let sig = pair.sign(rng, message).unwrap();
                out[..sig.as_ref().len()].copy_from_slice(sig.as_ref());
                sig.as_ref().len()
            }
            FloorSigner::Ed25519(pair) => {
                let sig = pair.sign(message);
                out[..sig.as_ref().len()].copy_from_slice(sig.as_ref());
                sig.as_ref().len()
            }
        }
    }
}

impl FloorVerifier {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            FloorVerifier::Hmac(key) => hmac::verify(key, message, sig).is_ok(),
            FloorVerifier::Public(key) => key.verify_sig(message, sig).is_ok(),
        }
    }
}

struct Case {
    name: &'static str,
    issuer: TokenIssuer,
    /// The issuer's key (the breakdown measures its pieces).
    signing_key: Arc<SigningKey>,
    verifier: Verifier,
    request: AccessTokenRequest,
    token: String,
    claims: AccessClaims,
    /// `header_b64 "." payload_b64`: the bytes the signature covers.
    signing_input: Vec<u8>,
    header_b64: String,
    signature: Vec<u8>,
    floor_signer: FloorSigner,
    floor_verifier: FloorVerifier,
    jwt_header: jsonwebtoken::Header,
    jwt_encoding: jsonwebtoken::EncodingKey,
    jwt_decoding: jsonwebtoken::DecodingKey,
    jwt_validation: jsonwebtoken::Validation,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn request() -> AccessTokenRequest {
    let mut extra = Map::new();
    extra.insert(
        "scope".into(),
        json!("openid profile orders:read orders:write"),
    );
    extra.insert("roles".into(), json!(["admin", "billing", "support"]));
    AccessTokenRequest {
        subject: "user-8f14e45f".into(),
        session_id: Some("sess-7d2e9f41a6b3".into()),
        client_id: Some("web-dashboard".into()),
        ttl: None,
        extra,
    }
}

fn pkcs8_pem(der: &[u8]) -> Vec<u8> {
    pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec())).into_bytes()
}

fn case(algorithm: Algorithm) -> Case {
    use jsonwebtoken::{Algorithm as JwtAlg, DecodingKey, EncodingKey};

    let (key, floor_signer, jwt_alg, jwt_encoding) = match algorithm {
        Algorithm::HS256 => {
            let secret = generate_hmac_secret(algorithm).unwrap();
            (
                SigningKey::from_hmac_secret(algorithm, secret.expose()).unwrap(),
                FloorSigner::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret.expose()))),
                JwtAlg::HS256,
                EncodingKey::from_secret(secret.expose()),
            )
        }
        Algorithm::RS256 => {
            let (key, der) = SigningKey::generate(algorithm).unwrap();
            (
                key,
                FloorSigner::Rsa(RsaKeyPair::from_pkcs8(der.expose()).unwrap()),
                JwtAlg::RS256,
                EncodingKey::from_rsa_pem(&pkcs8_pem(der.expose())).unwrap(),
            )
        }
        Algorithm::ES256 => {
            let (key, der) = SigningKey::generate(algorithm).unwrap();
            (
                key,
                FloorSigner::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        der.expose(),
                    )
                    .unwrap(),
                ),
                JwtAlg::ES256,
                EncodingKey::from_ec_pem(&pkcs8_pem(der.expose())).unwrap(),
            )
        }
        Algorithm::EdDSA => {
            let (key, der) = SigningKey::generate(algorithm).unwrap();
            (
                key,
                FloorSigner::Ed25519(Ed25519KeyPair::from_pkcs8(der.expose()).unwrap()),
                JwtAlg::EdDSA,
                EncodingKey::from_ed_pem(&pkcs8_pem(der.expose())).unwrap(),
            )
        }
        other => panic!("not benchmarked: {other}"),
    };

    let floor_verifier = match &floor_signer {
        FloorSigner::Hmac(key) => FloorVerifier::Hmac(key.clone()),
        FloorSigner::Rsa(pair) => FloorVerifier::Public(
            ParsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                pair.public_key().as_ref(),
            )
            .unwrap(),
        ),
        FloorSigner::Ecdsa(pair) => FloorVerifier::Public(
            ParsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                pair.public_key().as_ref(),
            )
            .unwrap(),
        ),
        FloorSigner::Ed25519(pair) => FloorVerifier::Public(
            ParsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref()).unwrap(),
        ),
    };

    let jwt_decoding = match (algorithm, key.verifying_key().public_jwk()) {
        // The same secret bytes the EncodingKey holds.
        (Algorithm::HS256, _) => {
            DecodingKey::from_secret(jwt_encoding.try_get_hmac_secret().unwrap())
        }
        (Algorithm::RS256, Some(jwk)) => {
            DecodingKey::from_rsa_components(jwk.n.as_deref().unwrap(), jwk.e.as_deref().unwrap())
                .unwrap()
        }
        (Algorithm::ES256, Some(jwk)) => {
            DecodingKey::from_ec_components(jwk.x.as_deref().unwrap(), jwk.y.as_deref().unwrap())
                .unwrap()
        }
        (Algorithm::EdDSA, Some(jwk)) => {
            DecodingKey::from_ed_components(jwk.x.as_deref().unwrap()).unwrap()
        }
        _ => panic!("no public JWK"),
    };

    let mut jwt_header = jsonwebtoken::Header::new(jwt_alg);
    jwt_header.typ = Some("at+jwt".into());
    jwt_header.kid = Some(key.kid().to_owned());

    let mut jwt_validation = jsonwebtoken::Validation::new(jwt_alg);
    jwt_validation.set_issuer(&[ISS]);
    jwt_validation.set_audience(&[AUD]);
    jwt_validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jwt_validation.validate_nbf = true;
    jwt_validation.leeway = DEFAULT_LEEWAY;

    // jsonwebtoken reads the system clock: issue "now" so the tokens are valid for both.
    let clock = Arc::new(FixedClock::new(now()));
    let keys = Arc::new(KeySet::with_signing_key(key));
    let signing = keys.signing_key().unwrap().clone();
    let issuer = TokenIssuer::new(signing.clone(), ISS, AUD, 3600).with_clock(clock.clone());
    let verifier = Verifier::new(keys, ISS, AUD).with_clock(clock);

    let request = request();
    let token = issuer.issue(&request).unwrap().token;
    let claims = verifier.verify_access_token(&token).unwrap();
    let (signing_input, signature_b64) = token.rsplit_once('.').unwrap();
    let header_b64 = signing_input.split_once('.').unwrap().0.to_owned();
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).unwrap();

    let case = Case {
        name: algorithm.name(),
        issuer,
        signing_key: signing,
        verifier,
        request,
        signing_input: signing_input.as_bytes().to_vec(),
        header_b64,
        signature,
        token: token.clone(),
        claims,
        floor_signer,
        floor_verifier,
        jwt_header,
        jwt_encoding,
        jwt_decoding,
        jwt_validation,
    };
    case.check();
    case
}

impl Case {
    /// Every measured path must succeed on this case's data, or the numbers would mean nothing.
    fn check(&self) {
        assert_eq!(
            self.verifier.verify_access_token(&self.token),
            Ok(self.claims.clone())
        );
        assert!(self
            .floor_verifier
            .verify(&self.signing_input, &self.signature));
        let mut out = [0u8; 512];
        let len = self
            .floor_signer
            .sign(&self.signing_input, &SystemRandom::new(), &mut out);
        assert_eq!(len, self.signature.len());
        assert!(self.floor_verifier.verify(&self.signing_input, &out[..len]));
        let decoded: jsonwebtoken::TokenData<JwtClaims> =
            jsonwebtoken::decode(&self.token, &self.jwt_decoding, &self.jwt_validation).unwrap();
        assert_eq!(decoded.claims.jti, self.claims.jti);
        // jsonwebtoken signs ECDSA with S in either half: its tokens are another issuer's, which
        // Tessera judges through the door for high S.
        let theirs =
            jsonwebtoken::encode(&self.jwt_header, &self.claims, &self.jwt_encoding).unwrap();
        assert_eq!(
            self.verifier
                .clone()
                .accepting_high_s_ecdsa()
                .verify_access_token(&theirs),
            Ok(self.claims.clone())
        );
        let (header, payload) = parse_only_verify(&self.token);
        assert_eq!(header["alg"], self.name);
        assert_eq!(payload["jti"], self.claims.jti.as_str());
        let payload_len = serde_json::to_vec(&self.claims).unwrap().len();
        eprintln!(
            "{}: claims {payload_len} bytes, token {} bytes",
            self.name,
            self.token.len()
        );
    }
}

/// The minimal non-cryptographic work of verifying: split, base64url-decode three segments, parse
/// header and payload JSON.
fn parse_only_verify(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(segments.next().unwrap()).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(segments.next().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(segments.next().unwrap()).unwrap();
    black_box(signature);
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
    )
}

/// The minimal non-cryptographic work of signing: serialize the claims and assemble the compact
/// form around an already-encoded header (the signature bytes stand in for the real ones).
fn parse_only_sign(header_b64: &str, claims: &AccessClaims, signature: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).unwrap();
    let mut token = String::with_capacity(header_b64.len() + payload.len() * 2 + 400);
    token.push_str(header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

fn bench_algorithm(c: &mut Criterion, algorithm: Algorithm) {
    let case = case(algorithm);
    let rng = SystemRandom::new();

    let mut sign = c.benchmark_group(format!("sign/{}", case.name));
    sign.bench_function("tessera", |b| {
        // The request is borrowed, as jsonwebtoken borrows its claims; the token is dropped
        // inside the timed routine, like the other functions' outputs.
        b.iter(|| black_box(case.issuer.issue(black_box(&case.request)).unwrap()));
    });
    sign.bench_function("jsonwebtoken", |b| {
        b.iter(|| {
            jsonwebtoken::encode(
                &case.jwt_header,
                black_box(&case.claims),
                &case.jwt_encoding,
            )
            .unwrap()
        });
    });
    sign.bench_function("floor_aws_lc_rs", |b| {
        let mut out = [0u8; 512];
        b.iter(|| {
            case.floor_signer
                .sign(black_box(&case.signing_input), &rng, &mut out)
        });
    });
    sign.bench_function("parse_only", |b| {
        b.iter(|| parse_only_sign(&case.header_b64, black_box(&case.claims), &case.signature));
    });
    sign.finish();

    let mut verify = c.benchmark_group(format!("verify/{}", case.name));
    verify.bench_function("tessera", |b| {
        b.iter(|| {
            case.verifier
                .verify_access_token(black_box(&case.token))
                .unwrap()
        });
    });
    verify.bench_function("jsonwebtoken", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<JwtClaims>(
                black_box(&case.token),
                &case.jwt_decoding,
                &case.jwt_validation,
            )
            .unwrap()
        });
    });
    verify.bench_function("floor_aws_lc_rs", |b| {
        b.iter(|| {
            assert!(case
                .floor_verifier
                .verify(black_box(&case.signing_input), &case.signature));
        });
    });
    verify.bench_function("parse_only", |b| {
        b.iter(|| parse_only_verify(black_box(&case.token)));
    });
    verify.finish();
}

/// Where Tessera's HS256 time goes beyond floor + parse, piece by piece (the public pieces of
/// its path, and the primitives its private ones use). Only with `TESSERA_BENCH_BREAKDOWN=1`.
fn bench_breakdown(c: &mut Criterion) {
    let case = case(Algorithm::HS256);
    let key = case.signing_key.verifying_key().clone();
    let issued = case.issuer.issue(&case.request).unwrap();
    let mut segments = case.token.split('.');
    let header_b64 = segments.next().unwrap();
    let payload_b64 = segments.next().unwrap();
    let header = URL_SAFE_NO_PAD.decode(header_b64).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).unwrap();

    let mut group = c.benchmark_group("breakdown/HS256");
    // Sign side.
    group.bench_function("jti_rng_16_bytes_and_base64", |b| {
        b.iter(|| {
            let mut bytes = vec![0u8; 16];
            aws_lc_rs::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
            tessera_token::base64url::encode(&bytes)
        });
    });
    group.bench_function("claims_to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(&case.claims)).unwrap());
    });
    group.bench_function("signing_key_sign", |b| {
        b.iter(|| {
            case.signing_key
                .sign(black_box(&case.signing_input))
                .unwrap()
        });
    });
    group.bench_function("drop_issued_token", |b| {
        b.iter_batched(|| issued.clone(), drop, BatchSize::SmallInput);
    });
    // Verify side.
    group.bench_function("jws_verify_with_key", |b| {
        b.iter(|| tessera_token::verify_with_key(black_box(&case.token), &key, 8192).unwrap());
    });
    group.bench_function("header_parse", |b| {
        b.iter(|| tessera_token::Header::parse(black_box(&header)).unwrap());
    });
    group.bench_function("header_to_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&header)).unwrap());
    });
    group.bench_function("payload_to_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&payload)).unwrap());
    });
    group.bench_function("payload_str_to_value", |b| {
        b.iter(|| {
            let text = std::str::from_utf8(black_box(&payload)).unwrap();
            serde_json::from_str::<Value>(text).unwrap()
        });
    });
    group.bench_function("payload_base64_strict", |b| {
        b.iter(|| tessera_token::base64url::decode(black_box(payload_b64.as_bytes())).unwrap());
    });
    group.bench_function("payload_base64_url_safe_no_pad", |b| {
        b.iter(|| URL_SAFE_NO_PAD.decode(black_box(payload_b64)).unwrap());
    });
    group.bench_function("keyset_get", |b| {
        b.iter(|| {
            case.verifier
                .keys()
                .get(black_box(key.kid()))
                .unwrap()
                .algorithm()
        });
    });
    group.bench_function("drop_claims", |b| {
        b.iter_batched(|| case.claims.clone(), drop, BatchSize::SmallInput);
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    if std::env::var_os("TESSERA_BENCH_BREAKDOWN").is_some() {
        bench_breakdown(c);
        return;
    }
    for algorithm in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        bench_algorithm(c, algorithm);
    }
}

criterion_group! {
    name = jws;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(jws);
