//! Verification against a real Tessera: keys discovered through its RFC 8414 metadata, its
//! tokens accepted with the user's id, and every way a token can be wrong refused with the same
//! 401; a scope route refused with 403 naming the scope, then passed once the user has the role.

use crate::{assert_invalid_token, call, ready, service, Tessera, AUDIENCE};
use axum::http::StatusCode;
use serde_json::json;
use tessera_guard::{Error, Guard};
use tessera_token::Clock as _;

fn guard_for(tessera: &Tessera, audience: &str) -> Guard {
    Guard::builder()
        .issuer(&tessera.issuer)
        .audience(audience)
        .discover_keys()
        .clock(tessera.clock.clone())
        .realm("api")
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_login_token_passes_with_the_user_id_and_bad_tokens_get_the_same_401() {
    let tessera = Tessera::start().await;
    let user = tessera.register("gina").await;
    let token = tessera.login("gina").await;
    let guard = guard_for(&tessera, AUDIENCE);
    ready(&guard).await;
    let app = service(&guard);

    let answer = call(&app, "/me", Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"user": user, "roles": []}));

    // No token: 401 without an error code (RFC 6750 §3.1).
    let missing = call(&app, "/me", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge.as_deref(), Some(r#"Bearer realm="api""#));
    assert_eq!(missing.body["error"], "invalid_token");

    // A tampered signature, a tampered payload, garbage: the same 401.
    let signature_at = token.rfind('.').unwrap() + 1;
    let mut tampered = token.clone().into_bytes();
    tampered[signature_at] = if tampered[signature_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_invalid_token(&call(&app, "/me", Some(&tampered)).await);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = tessera_token::base64url::encode(
        format!(
            r#"{{"sub":"someone-else","iss":"{}","aud":"api"}}"#,
            tessera.issuer
        )
        .as_bytes(),
    );
    assert_invalid_token(&call(&app, "/me", Some(&parts.join("."))).await);
    assert_invalid_token(&call(&app, "/me", Some("not-a-token")).await);
    assert!(matches!(
        guard.verify(&tampered).await,
        Err(Error::InvalidToken(tessera_token::Error::Signature))
    ));

    // Expired: both clocks past exp and the leeway; nothing sleeps.
    tessera.clock.advance(15 * 60 + 31);
    assert_invalid_token(&call(&app, "/me", Some(&token)).await);
    assert!(matches!(
        guard.verify(&token).await,
        Err(Error::InvalidToken(tessera_token::Error::Expired))
    ));
    tessera.clock.set(tessera.clock.now() - 15 * 60 - 31);
    assert_eq!(call(&app, "/me", Some(&token)).await.status, StatusCode::OK);

    // A guard for another audience refuses the same token.
    let other = guard_for(&tessera, "another-api");
    ready(&other).await;
    assert_invalid_token(&call(&service(&other), "/me", Some(&token)).await);
    assert!(matches!(
        other.verify(&token).await,
        Err(Error::InvalidToken(tessera_token::Error::Audience))
    ));
    let stats = guard.stats();
    assert!(
        stats.keys_loaded && !stats.keys_stale && stats.keys >= 1,
        "{stats:?}"
    );
    assert_eq!(stats.jwks_fetches, 1, "{stats:?}");
    tessera.stop().await;
}

#[tokio::test]
async fn a_scope_route_answers_403_naming_the_scope_until_the_role_grants_it() {
    let tessera = Tessera::start().await;
    tessera.register("hal").await;
    let token = tessera.login("hal").await;
    let guard = guard_for(&tessera, AUDIENCE);
    ready(&guard).await;
    let app = service(&guard);

    let refused = call(&app, "/posts", Some(&token)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.challenge.as_deref(),
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="posts:write""#)
    );
    assert_eq!(refused.body["error"], "insufficient_scope");
    assert_eq!(refused.body["scope"], "posts:write");
    // A bad token on the scope route is a 401, not a 403.
    assert_invalid_token(&call(&app, "/posts", Some("x.y.z")).await);

    tessera_service::roles::add(tessera.state.store.as_ref(), "hal", "admin")
        .await
        .unwrap();
    let with_role = tessera.login("hal").await;
    let passed = call(&app, "/posts", Some(&with_role)).await;
    assert_eq!(passed.status, StatusCode::OK, "{}", passed.body);
    let me = call(&app, "/me", Some(&with_role)).await;
    assert_eq!(me.body["roles"], json!(["admin"]));
    tessera.stop().await;
}
