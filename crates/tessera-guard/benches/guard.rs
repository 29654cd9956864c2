//! tessera-guard against its peers, in-process (issue 11).
//!
//! `request/*`: one `GET /me` through an axum router, driven by `tower::ServiceExt::oneshot` on
//! a current-thread tokio runtime (no sockets), the same token every time, three peers:
//! - `bare`: the handler alone: it reads the `Authorization` header and answers a constant. No
//!   verification at all: the floor, what the framework costs.
//! - `jsonwebtoken`: the same handler with a hand-written check: `jsonwebtoken::decode_header`
//!   for `typ`, then `jsonwebtoken::decode` into a plain claims struct with a `Validation`
//!   pinning the algorithm and requiring `iss`, `aud`, `exp`, `sub` (the key parsed once).
//! - `guard`: `Guard::layer()` on the router and the `Claims` extractor in the handler. ES256:
//!   keys from a JWK Set served on loopback (`jwks_url`, so this is the cache-hit path of the
//!   remote set); HS256: `local_keys` (a secret is never in a JWK Set).
//! - `guard+feed`: the same with the revocation feed followed (a loopback feed that answers
//!   an empty page after each long poll's wait): the revocation check's cost on top.
//!
//! `revocations/*`: `RevocationSet::check` with 1,000,000 revoked `jti`s, 100,000 sessions and
//! 10,000 users (22-character ids, as Tessera makes them): `hit` (a revoked `jti`), `miss` (a
//! live token: three lookups), and `miss_empty`, the peer. The memory of the 1M token entries is
//! the process RSS (`VmRSS`) before and after inserting them, divided by the entries (printed).
//!
//! Run with `cargo bench -p tessera-guard --bench guard`; results in BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "benchmark code: a failed setup should abort the run"
)]

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use serde::Deserialize;
use serde_json::{json, Map};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tessera_guard::{Claims, ClientCredentials, FeedOptions, Guard, RevocationKind, RevocationSet};
use tessera_token::{
    AccessClaims, AccessTokenRequest, Algorithm, Audience, KeySet, SigningKey, TokenIssuer,
    Verifier,
};
use tower::ServiceExt as _;

const ISS: &str = "http://127.0.0.1";
const AUD: &str = "api";

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
    scope: String,
    roles: Vec<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A Tessera-shaped access token: `sid`, `scope`, `roles`.
fn token(key: Arc<SigningKey>) -> String {
    let mut extra = Map::new();
    extra.insert("scope".into(), json!("posts:read posts:write"));
    extra.insert("roles".into(), json!(["admin"]));
    TokenIssuer::new(key, ISS, AUD, 3600)
        .issue(&AccessTokenRequest {
            subject: "T_UyBv5yBzuoKgtAkayIrA".into(),
            session_id: Some("geKfbr69ZvSMHfasSxt_SQ".into()),
            extra,
            ..Default::default()
        })
        .unwrap()
        .token
}

fn bare() -> Router {
    Router::new().route(
        "/me",
        get(|headers: HeaderMap| async move {
            black_box(headers.get(header::AUTHORIZATION));
            "T_UyBv5yBzuoKgtAkayIrA".to_owned()
        }),
    )
}

fn with_jsonwebtoken(key: jsonwebtoken::DecodingKey, algorithm: jsonwebtoken::Algorithm) -> Router {
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    let checker = Arc::new((key, validation));
    Router::new().route(
        "/me",
        get(move |headers: HeaderMap| {
            let checker = checker.clone();
            async move {
                let token = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or(StatusCode::UNAUTHORIZED)?;
                let header =
                    jsonwebtoken::decode_header(token).map_err(|_| StatusCode::UNAUTHORIZED)?;
                if header.typ.as_deref() != Some("at+jwt") {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                let data = jsonwebtoken::decode::<JwtClaims>(token, &checker.0, &checker.1)
                    .map_err(|_| StatusCode::UNAUTHORIZED)?;
                Ok::<_, StatusCode>(data.claims.sub)
            }
        }),
    )
}

fn with_guard(guard: &Guard) -> Router {
    Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move { claims.sub.clone() }),
        )
        .layer(guard.layer())
}

/// A loopback server: the JWK Set, and a revocation feed that holds each poll for its `wait`
/// and answers an empty page.
async fn loopback(keys: KeySet) -> String {
    let jwks = keys.to_jwks();
    let app = Router::new()
        .route(
            "/jwks.json",
            get(move || async move { axum::Json(jwks.clone()) }),
        )
        .route(
            "/oauth/revocations",
            get(|Query(query): Query<HashMap<String, String>>| async move {
                let wait = query.get("wait").and_then(|w| w.parse().ok()).unwrap_or(0);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                let cursor: i64 = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                axum::Json(json!({"revocations": [], "cursor": cursor, "more": false}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn request(token: &str) -> Request<Body> {
    Request::builder()
        .uri("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn request_benches(c: &mut Criterion) {
    // The measurements run on a current-thread runtime; the loopback servers and the guards'
    // background tasks (key refresh, feed follower) on a runtime of their own, so the feed stays
    // current between and during the measurements.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // ES256: the guard on a remote JWK Set (the cache-hit path).
    let key = Arc::new(SigningKey::generate(Algorithm::ES256).unwrap().0);
    let es_token = token(key.clone());
    let mut public = KeySet::new();
    public
        .add_verifying_key(key.verifying_key().clone())
        .unwrap();
    let es_jwks = public.to_jwks();
    let jwk = es_jwks.keys[0].clone();
    let (remote, feed_guard) = background.block_on(async {
        let base = loopback(public).await;
        let remote = Guard::builder()
            .issuer(ISS)
            .audience(AUD)
            .jwks_url(format!("{base}/jwks.json"))
            .build()
            .unwrap();
        let feed = Guard::builder()
            .issuer(ISS)
            .audience(AUD)
            .jwks_url(format!("{base}/jwks.json"))
            .revocation_feed(
                FeedOptions::new(ClientCredentials::new("tsc_bench", "tss_bench"))
                    .url(format!("{base}/oauth/revocations")),
            )
            .build()
            .unwrap();
        for guard in [&remote, &feed] {
            tokio::time::timeout(Duration::from_secs(5), guard.ready())
                .await
                .expect("the guard loads its keys and the feed");
        }
        (remote, feed)
    });
    let es_jwt = with_jsonwebtoken(
        jsonwebtoken::DecodingKey::from_ec_components(
            jwk.x.as_deref().unwrap(),
            jwk.y.as_deref().unwrap(),
        )
        .unwrap(),
        jsonwebtoken::Algorithm::ES256,
    );

    // HS256: local keys.
    let secret = [7u8; 32];
    let hs_key = Arc::new(SigningKey::from_hmac_secret(Algorithm::HS256, &secret).unwrap());
    let hs_token = token(hs_key.clone());
    let local = Guard::builder()
        .issuer(ISS)
        .audience(AUD)
        .local_keys(KeySet::with_shared_signing_key(hs_key))
        .build()
        .unwrap();
    let hs_jwt = with_jsonwebtoken(
        jsonwebtoken::DecodingKey::from_secret(&secret),
        jsonwebtoken::Algorithm::HS256,
    );

    let peers: [(&str, &str, Router); 7] = [
        ("es256/bare", &es_token, bare()),
        ("es256/jsonwebtoken", &es_token, es_jwt),
        ("es256/guard", &es_token, with_guard(&remote)),
        ("es256/guard+feed", &es_token, with_guard(&feed_guard)),
        ("hs256/bare", &hs_token, bare()),
        ("hs256/jsonwebtoken", &hs_token, hs_jwt),
        ("hs256/guard", &hs_token, with_guard(&local)),
    ];
    let mut group = c.benchmark_group("request");
    for (name, token, router) in &peers {
        // Each peer must accept the token, or it measures a refusal.
        let status = runtime
            .block_on(router.clone().oneshot(request(token)))
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK, "{name}");
        group.bench_function(*name, |b| {
            b.to_async(&runtime).iter(|| async {
                let response = router.clone().oneshot(request(token)).await.unwrap();
                black_box(response)
            });
        });
    }
    // The token core alone on the same tokens (no router): what verification itself costs, so
    // `guard - core` is what the layer, the extractor and the revocation check add.
    let es_core = Verifier::new(
        Arc::new(KeySet::from_jwks(&es_jwks, None).unwrap()),
        ISS,
        AUD,
    );
    let hs_core = Verifier::new(
        Arc::new(KeySet::with_signing_key(
            SigningKey::from_hmac_secret(Algorithm::HS256, &secret).unwrap(),
        )),
        ISS,
        AUD,
    );
    group.bench_function("es256/token-core", |b| {
        b.iter(|| black_box(es_core.verify_access_token(black_box(&es_token)).unwrap()));
    });
    group.bench_function("hs256/token-core", |b| {
        b.iter(|| black_box(hs_core.verify_access_token(black_box(&hs_token)).unwrap()));
    });
    group.finish();
    drop((remote, feed_guard, local));
    drop(background);
}

/// splitmix64 ids, 22 base64url characters like Tessera's.
struct Ids(u64);

impl Ids {
    fn id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        for half in bytes.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            half.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        tessera_token::base64url::encode(&bytes)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn claims(sub: String, jti: String, sid: String, now: u64) -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        sub,
        aud: Audience::One(AUD.into()),
        exp: now + 900,
        iat: Some(now),
        nbf: Some(now),
        jti,
        sid: Some(sid),
        client_id: None,
        extra: Map::new(),
    }
}

fn revocation_benches(c: &mut Criterion) {
    let now = now();
    let mut ids = Ids(11);
    let jtis: Vec<String> = (0..1_000_000).map(|_| ids.id()).collect();
    let mut set = RevocationSet::new();
    let before = rss_kib();
    for jti in &jtis {
        set.apply(RevocationKind::Token, jti, now, now + 960);
    }
    let after = rss_kib();
    eprintln!(
        "revocation set: 1,000,000 token entries, RSS +{} KiB = {:.1} bytes per entry",
        after - before,
        (after - before) as f64 * 1024.0 / 1_000_000.0
    );
    for _ in 0..100_000 {
        set.apply(RevocationKind::Session, &ids.id(), now, now + 960);
    }
    for _ in 0..10_000 {
        set.apply(RevocationKind::User, &ids.id(), now - 60, now + 960);
    }
    let hit = claims(ids.id(), jtis[123_457].clone(), ids.id(), now);
    let miss = claims(ids.id(), ids.id(), ids.id(), now);
    assert!(set.check(&hit).is_some() && set.check(&miss).is_none());
    let empty = RevocationSet::new();
    let mut group = c.benchmark_group("revocations");
    group.bench_function("hit_1.11m", |b| {
        b.iter(|| black_box(set.check(black_box(&hit))))
    });
    group.bench_function("miss_1.11m", |b| {
        b.iter(|| black_box(set.check(black_box(&miss))))
    });
    group.bench_function("miss_empty", |b| {
        b.iter(|| black_box(empty.check(black_box(&miss))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = request_benches, revocation_benches
}
criterion_main!(benches);
