//! Throttling: the per-account login lockout and the per-address limit on the credential
//! endpoints. Time moves with the injected clock.

use crate::{TestApp, PASSWORD};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const WRONG: &str = "not the password at all";

/// Three failures lock an account for 15 minutes; the per-address limit stays out of the way.
const LOCKOUT_VARS: [(&str, &str); 2] = [
    ("TESSERA_LOGIN_MAX_FAILURES", "3"),
    ("TESSERA_LOGIN_LOCKOUT", "15m"),
];

async fn login(app: &TestApp, username: &str, password: &str) -> Response {
    app.post_json(
        "/auth/login",
        &json!({"username": username, "password": password}),
    )
    .await
}

async fn fail_logins(app: &TestApp, username: &str, times: usize) {
    for n in 0..times {
        let response = login(app, username, WRONG).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "failure {n} for {username}"
        );
    }
}

/// Asserts a 429 with a positive `Retry-After` and the JSON error body; returns `Retry-After`.
async fn assert_too_many(response: Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("try again"));
    retry_after
}

#[tokio::test]
async fn failed_logins_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn_with(&LOCKOUT_VARS).await;
    app.register("alice", PASSWORD).await;
    fail_logins(&app, "alice", 3).await;
    let retry_after = assert_too_many(login(&app, "alice", PASSWORD).await).await;
    assert!(retry_after <= 15 * 60, "{retry_after}");
    // The account name is matched as the store matches it: case-insensitively.
    assert_too_many(login(&app, "ALICE", PASSWORD).await).await;
    app.stop().await;
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_lockout() {
    let app = std::sync::Arc::new(TestApp::spawn_with(&LOCKOUT_VARS).await);
    app.register("alice", PASSWORD).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let app = app.clone();
        tasks.spawn(async move { login(&app, "alice", WRONG).await.status() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (3, 9), "{statuses:?}");
}

#[tokio::test]
async fn a_locked_account_leaves_other_accounts_alone() {
    let app = TestApp::spawn_with(&LOCKOUT_VARS).await;
    app.register("alice", PASSWORD).await;
    app.register("bob", PASSWORD).await;
    fail_logins(&app, "alice", 3).await;
    assert_too_many(login(&app, "alice", PASSWORD).await).await;
    app.login_response("bob", PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_usernames_are_throttled_like_real_ones() {
    let app = TestApp::spawn_with(&LOCKOUT_VARS).await;
    app.register("alice", PASSWORD).await;
    let mut bodies = Vec::new();
    for username in ["alice", "nobody"] {
        for _ in 0..3 {
            let response = login(&app, username, WRONG).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            bodies.push(response.text().await.unwrap());
        }
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "{bodies:?}"
    );
    let known = login(&app, "alice", WRONG).await;
    let unknown = login(&app, "nobody", WRONG).await;
    assert_eq!(
        known.headers()["retry-after"],
        unknown.headers()["retry-after"]
    );
    assert_eq!(assert_too_many(known).await, assert_too_many(unknown).await);
    app.stop().await;
}

#[tokio::test]
async fn the_lockout_ends_when_the_window_passes() {
    let app = TestApp::spawn_with(&LOCKOUT_VARS).await;
    app.register("alice", PASSWORD).await;
    fail_logins(&app, "alice", 3).await;
    app.clock.advance(60);
    let retry_after = assert_too_many(login(&app, "alice", PASSWORD).await).await;
    assert_eq!(retry_after, 15 * 60 - 60, "counted from the first failure");
    // Trying while locked does not extend the lockout.
    app.clock.advance(retry_after - 1);
    assert_too_many(login(&app, "alice", PASSWORD).await).await;
    app.clock.advance(1);
    app.login_response("alice", PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let app = TestApp::spawn_with(&LOCKOUT_VARS).await;
    app.register("alice", PASSWORD).await;
    fail_logins(&app, "alice", 2).await;
    app.login_response("alice", PASSWORD).await;
    fail_logins(&app, "alice", 2).await;
    app.login_response("alice", PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn the_per_address_limit_covers_the_credential_endpoints_only() {
    let app = TestApp::spawn_with(&[("TESSERA_RATE_LIMIT_PER_IP", "5")]).await;
    app.register("alice", PASSWORD).await;
    app.login_response("alice", PASSWORD).await;
    fail_logins(&app, "alice", 1).await;
    let refresh = app.refresh("not a refresh token").await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    // A malformed body is counted too: the limit applies before the body is read.
    let malformed = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_too_many(login(&app, "alice", PASSWORD).await).await;
    assert_too_many(app.refresh("not a refresh token").await).await;
    let register = app
        .post_json(
            "/auth/register",
            &json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    let retry_after = assert_too_many(register).await;
    assert!(retry_after <= 60, "{retry_after}");
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.clock.advance(60);
    app.login_response("alice", PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn a_zero_per_address_limit_turns_it_off() {
    let app = TestApp::spawn_with(&[("TESSERA_RATE_LIMIT_PER_IP", "0")]).await;
    for _ in 0..50 {
        let response = app.refresh("not a refresh token").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    app.register("alice", PASSWORD).await;
    app.login_response("alice", PASSWORD).await;
    app.stop().await;
}
