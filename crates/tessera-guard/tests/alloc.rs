//! The cache-hit path allocates nothing beyond the claims: `Guard::verify` on a remote JWK Set
//! already loaded makes exactly as many heap allocations as the token core's
//! `Verifier::verify_access_token` on the same keys and token (which builds the claims), and a
//! revocation check makes none. Counted by dhat's heap profiler (a safe global allocator), in a
//! test binary of its own.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use axum::routing::get;
use axum::Router;
use futures_util::FutureExt as _;
use std::sync::Arc;
use std::time::Duration;
use tessera_guard::{Guard, RevocationKind, RevocationSet};
use tessera_token::{AccessTokenRequest, Algorithm, KeySet, SigningKey, TokenIssuer, Verifier};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

#[test]
fn a_cache_hit_allocates_only_what_the_token_core_does_for_the_claims() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = Arc::new(SigningKey::generate(Algorithm::ES256).unwrap().0);
    let mut public = KeySet::new();
    public
        .add_verifying_key(key.verifying_key().clone())
        .unwrap();
    let jwks = public.to_jwks();
    let token = TokenIssuer::new(key, "https://auth.test", "api", 600)
        .issue(&AccessTokenRequest {
            subject: "u1".into(),
            session_id: Some("s1".into()),
            ..Default::default()
        })
        .unwrap()
        .token;
    let guard = runtime.block_on(async {
        let served = jwks.clone();
        let app = Router::new().route(
            "/jwks.json",
            get(move || async move { axum::Json(served.clone()) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let guard = Guard::builder()
            .issuer("https://auth.test")
            .audience("api")
            .jwks_url(url)
            .build()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), guard.ready())
            .await
            .unwrap();
        guard
    });
    let verifier = Verifier::new(
        Arc::new(KeySet::from_jwks(&jwks, None).unwrap()),
        "https://auth.test",
        "api",
    );
    let mut set = RevocationSet::new();
    set.apply(RevocationKind::Session, "s9", 0, u64::MAX);
    let claims = verifier.verify_access_token(&token).unwrap();

    let _profiler = dhat::Profiler::builder().testing().build();
    // Warm both paths (lazy statics, thread-locals), outside the runtime: a cache hit never
    // awaits, so one poll completes it.
    verifier.verify_access_token(&token).unwrap();
    guard.verify(&token).now_or_never().unwrap().unwrap();

    const ROUNDS: u64 = 100;
    let start = blocks();
    for _ in 0..ROUNDS {
        drop(verifier.verify_access_token(&token).unwrap());
    }
    let core = blocks() - start;
    let start = blocks();
    for _ in 0..ROUNDS {
        drop(guard.verify(&token).now_or_never().unwrap().unwrap());
    }
    let guarded = blocks() - start;
    let start = blocks();
    for _ in 0..ROUNDS {
        assert!(set.check(&claims).is_none());
    }
    let revocation = blocks() - start;
    eprintln!(
        "allocations per verification: token core {}, guard {}; per revocation check {}",
        core / ROUNDS,
        guarded / ROUNDS,
        revocation / ROUNDS
    );
    assert!(core > 0, "the claims themselves are allocated");
    assert_eq!(
        guarded, core,
        "the guard adds no allocation to the token core's"
    );
    assert_eq!(revocation, 0);
    drop(runtime);
}
