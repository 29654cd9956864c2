//! Roles in access tokens: `roles` and the `scope` they grant (`TESSERA_ROLE_SCOPES`), a role
//! given in the next token, a role taken away ending the user's current tokens at once while the
//! session goes on.

use crate::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tessera_service::roles;
use tessera_token::Clock as _;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&tessera_token::base64url::decode(payload.as_bytes()).unwrap()).unwrap()
}

async fn refreshed(app: &TestApp, refresh: &str) -> (String, String) {
    let response = app.refresh(refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn roles_reach_the_next_token_and_a_role_taken_away_ends_the_current_ones() {
    let app = TestApp::spawn_with(&[(
        "TESSERA_ROLE_SCOPES",
        "admin=users:read users:write, editor=posts:write",
    )])
    .await;
    let (plain, refresh) = app.user_with_session("rhea").await;
    let claims = claims_of(&plain);
    assert!(
        claims.get("roles").is_none() && claims.get("scope").is_none(),
        "{claims}"
    );
    let me: Value = app
        .get_bearer("/auth/me", &plain)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!([]));

    let store = app.state.store.as_ref();
    for role in ["editor", "admin"] {
        let (_, _, added) = roles::add(store, "rhea", role).await.unwrap();
        assert!(added);
    }
    let (_, after, again) = roles::add(store, "RHEA", "admin").await.unwrap();
    assert!(!again, "giving a role twice changes nothing");
    assert_eq!(after, ["admin", "editor"]);
    assert!(roles::add(store, "nobody", "admin").await.is_err());
    assert!(roles::add(store, "rhea", "not a role").await.is_err());

    // The next token carries them, and the scopes they grant.
    let (powerful, refresh) = refreshed(&app, &refresh).await;
    let claims = claims_of(&powerful);
    assert_eq!(claims["roles"], json!(["admin", "editor"]));
    assert_eq!(claims["scope"], "posts:write users:read users:write");
    let me: Value = app
        .get_bearer("/auth/me", &powerful)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["admin", "editor"]));

    // Taking a role away ends every token the user holds, within a second.
    let removed_at = Instant::now();
    let (_, left, removed) = roles::remove(
        store,
        app.state.deny_list.as_ref(),
        "rhea",
        "admin",
        app.clock.now(),
    )
    .await
    .unwrap();
    assert!(removed);
    assert_eq!(left, ["editor"]);
    loop {
        if app.get_bearer("/auth/me", &powerful).await.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            removed_at.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.get_bearer("/auth/me", &plain).await.status(),
        StatusCode::UNAUTHORIZED,
        "every current token, not only those with the role"
    );
    // A refresh in the removal's second or the next still gets a refused token (it may have read
    // the roles before the removal); the session goes on, and from then on has the roles left.
    app.clock.advance(1);
    let (stale, refresh) = refreshed(&app, &refresh).await;
    assert_eq!(
        app.get_bearer("/auth/me", &stale).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance(1);
    let (trimmed, _) = refreshed(&app, &refresh).await;
    let claims = claims_of(&trimmed);
    assert_eq!(claims["roles"], json!(["editor"]));
    assert_eq!(claims["scope"], "posts:write");
    assert_eq!(
        app.get_bearer("/auth/me", &trimmed).await.status(),
        StatusCode::OK
    );
    // Taking away a role the user does not have revokes nothing.
    let (_, _, removed) = roles::remove(
        store,
        app.state.deny_list.as_ref(),
        "rhea",
        "admin",
        app.clock.now(),
    )
    .await
    .unwrap();
    assert!(!removed);
    assert_eq!(
        app.get_bearer("/auth/me", &trimmed).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}
