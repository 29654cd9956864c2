//! Introspection mode against a real Tessera: a live token passes, a revoked one is refused at
//! once (no cache) or after the positive cache; Tessera unreachable is a 503.

use crate::{call, ready, service, Tessera, AUDIENCE};
use axum::http::StatusCode;
use std::time::Duration;
use tessera_guard::{Error, Guard, IntrospectionOptions, Revoked, Unavailable};

#[tokio::test]
async fn introspection_accepts_live_tokens_and_refuses_a_revoked_one_at_once() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("asker").await;
    let user = tessera.register("max").await;
    let token = tessera.login("max").await;
    let uncached = Guard::builder()
        .issuer(&tessera.issuer)
        .audience(AUDIENCE)
        .discover_keys()
        .introspection(IntrospectionOptions::new(credentials.clone()).cache(Duration::ZERO, 0))
        .build()
        .unwrap();
    let cached = Guard::builder()
        .issuer(&tessera.issuer)
        .audience(AUDIENCE)
        .discover_keys()
        .introspection(IntrospectionOptions::new(credentials).cache(Duration::from_secs(60), 100))
        .build()
        .unwrap();
    ready(&uncached).await;
    ready(&cached).await;
    let app = service(&uncached);
    let answer = call(&app, "/me", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["user"], user.as_str());
    assert!(cached.verify(&token).await.is_ok());
    assert!(cached.verify(&token).await.is_ok());
    assert_eq!(cached.stats().introspections, 1);
    assert_eq!(cached.stats().introspection_cache_hits, 1);

    tessera.logout(&token).await;
    // At once: the very next request.
    let refused = call(&app, "/me", Some(&token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(matches!(
        uncached.verify(&token).await,
        Err(Error::Revoked(Revoked::Inactive))
    ));
    assert_eq!(uncached.stats().introspections, 3);
    // The positive cache keeps its answer for its period: the trade it makes.
    assert!(cached.verify(&token).await.is_ok());

    // A token that fails locally costs Tessera nothing.
    assert!(uncached.verify("a.b.c").await.is_err());
    assert_eq!(uncached.stats().introspections, 3);

    // Tessera gone: 503, not 200.
    let fresh = tessera.login("max").await;
    tessera.stop().await;
    assert!(matches!(
        uncached.verify(&fresh).await,
        Err(Error::Unavailable(Unavailable::Introspection))
    ));
    assert_eq!(
        call(&app, "/me", Some(&fresh)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
