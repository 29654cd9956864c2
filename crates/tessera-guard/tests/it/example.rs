//! `examples/axum_service.rs` as written (its configuration from variables and its router),
//! against a real Tessera, as `crates/tessera/tests/it/examples.rs` runs the Python and Node
//! ones: log in -> 200 with the user's id; a tampered, expired or other-audience token -> 401;
//! the admin route -> 403 without the role, 200 with it; after a logout -> 401 within a second.

#[allow(dead_code, reason = "the example's own main is not run here")]
#[path = "../../examples/axum_service.rs"]
mod axum_service;

use crate::{assert_invalid_token, call, until_status, Tessera};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::time::Duration;
use tessera_token::{AccessTokenRequest, Clock as _, TokenIssuer};

#[tokio::test]
async fn the_rust_example_accepts_live_tokens_only_and_hears_of_a_logout_within_a_second() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("rust-example").await;
    let secret = "tss_rust-example-secret-0123456789abcdef".to_owned();
    let vars: HashMap<&str, String> = HashMap::from([
        ("TESSERA_URL", format!("{}/", tessera.issuer)),
        ("TESSERA_AUDIENCE", crate::AUDIENCE.to_owned()),
        ("TESSERA_CLIENT_ID", credentials.id().to_owned()),
        ("TESSERA_CLIENT_SECRET", secret),
    ]);
    let guard = axum_service::guard_from_env(|name| vars.get(name).cloned())
        .unwrap()
        .clock(tessera.clock.clone())
        .build()
        .unwrap();
    assert!(
        axum_service::guard_from_env(|_| None).is_err(),
        "TESSERA_URL is required"
    );
    let app = axum_service::router(&guard);
    let user = tessera.register("rusty").await;
    let token = tessera.login("rusty").await;

    // The first call waits for the keys and the feed's first answer (503 until then).
    until_status(&app, "/me", &token, StatusCode::OK, Duration::from_secs(5)).await;
    let me = call(&app, "/me", Some(&token)).await;
    assert_eq!(me.body["user"], user.as_str());

    // Tampered, expired, another audience: 401.
    let signature_at = token.rfind('.').unwrap() + 1;
    let mut tampered = token.clone().into_bytes();
    tampered[signature_at] = if tampered[signature_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    assert_invalid_token(&call(&app, "/me", Some(&String::from_utf8(tampered).unwrap())).await);
    let key = tessera.state.tokens().keys.signing_key().unwrap().clone();
    let mint = |audience: &str, ttl: u64| {
        TokenIssuer::new(key.clone(), &tessera.issuer, audience, ttl)
            .with_clock(tessera.clock.clone())
            .issue(&AccessTokenRequest {
                subject: user.clone(),
                ttl: Some(ttl),
                ..Default::default()
            })
            .unwrap()
            .token
    };
    assert_eq!(
        call(&app, "/me", Some(&mint(crate::AUDIENCE, 60)))
            .await
            .status,
        StatusCode::OK,
        "the same key and audience: accepted"
    );
    assert_invalid_token(&call(&app, "/me", Some(&mint("another-api", 60))).await);
    let short = mint(crate::AUDIENCE, 1);
    tessera.clock.advance(32);
    assert_invalid_token(&call(&app, "/me", Some(&short)).await);
    tessera.clock.set(tessera.clock.now() - 32);

    // The admin route: 403 naming the role without it, 200 with it (in the next token).
    let refused = call(&app, "/admin", Some(&token)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.challenge.as_deref(),
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="admin""#)
    );
    tessera_service::roles::add(tessera.state.store.as_ref(), "rusty", "admin")
        .await
        .unwrap();
    let with_role = tessera.login("rusty").await;
    assert_eq!(
        call(&app, "/admin", Some(&with_role)).await.status,
        StatusCode::OK
    );

    // Logout: refused within a second, through the feed.
    tessera.logout(&with_role).await;
    let took = until_status(
        &app,
        "/me",
        &with_role,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(1),
    )
    .await;
    eprintln!("the example's first 401 after the logout: {took:?}");
    assert_invalid_token(&call(&app, "/me", Some(&with_role)).await);
    assert_eq!(call(&app, "/me", Some(&token)).await.status, StatusCode::OK);
    tessera.stop().await;
}
