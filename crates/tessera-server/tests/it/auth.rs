//! Accounts, login, rotation, reuse detection, logout, restart durability, expiry.

use crate::{assert_invalid_token, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn register_login_and_me() {
    let app = TestApp::spawn().await;
    let created = app.register("alice", PASSWORD).await;
    assert_eq!(created["username"], "alice");
    let id = created["id"].as_str().unwrap().to_owned();
    let response = app.login_response("alice", PASSWORD).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("tsr_"));
    let me: Value = app
        .get_bearer("/auth/me", body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], id.as_str());
    assert_eq!(me["username"], "alice");
    assert!(me["created_at"].as_u64().unwrap() > 1_600_000_000);
    app.stop().await;
}

#[tokio::test]
async fn registration_rules_and_conflicts() {
    let app = TestApp::spawn().await;
    for (username, password, needle) in [
        ("bob", "short", "8"),
        ("bob", "password", "common"),
        ("bob", "12345678", "common"),
        ("bob", &"x".repeat(1025), "1024"),
        ("b", PASSWORD, "username"),
        ("bad name", PASSWORD, "username"),
    ] {
        let response = app
            .post_json(
                "/auth/register",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{username}/{password}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        let text = body["error_description"].as_str().unwrap().to_lowercase();
        assert!(text.contains(needle), "{text} should mention {needle}");
    }
    app.register("bob", PASSWORD).await;
    let again = app
        .post_json(
            "/auth/register",
            &json!({"username": "BOB", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let missing = app
        .post_json("/auth/register", &json!({"username": "carol"}))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = TestApp::spawn().await;
    app.register("dave", PASSWORD).await;
    let wrong = app
        .post_json(
            "/auth/login",
            &json!({"username": "dave", "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post_json(
            "/auth/login",
            &json!({"username": "nobody", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        unknown.headers()["www-authenticate"]
    );
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("invalid_grant"));
    app.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let (access, first_refresh) = app.user_with_session("erin").await;
    let rotated = app.refresh(&first_refresh).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        app.get_bearer("/auth/me", &second_access).await.status(),
        StatusCode::OK
    );

    // Replaying the rotated-away token: 401, and the whole family dies at once.
    let replay = app.refresh(&first_refresh).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        app.refresh(&second_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_token(app.get_bearer("/auth/me", &second_access).await, true).await;
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;

    // Another login is a new session and works.
    let (fresh, _) = app.login("erin").await;
    assert_eq!(
        app.get_bearer("/auth/me", &fresh).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_with_one_token_yield_exactly_one_success() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let (_, refresh) = app.user_with_session("frank").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app = app.clone();
        let refresh = refresh.clone();
        tasks.spawn(async move { app.refresh(&refresh).await.status() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    let ok = statuses
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    let unauthorized = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((ok, unauthorized), (1, 19), "{statuses:?}");
}

#[tokio::test]
async fn garbage_and_unknown_refresh_tokens_are_401() {
    let app = TestApp::spawn().await;
    for token in [
        "",
        "tsr_",
        "not-a-token",
        &format!("tsr_{}", "A".repeat(43)),
        &"x".repeat(5000),
    ] {
        let response = app.refresh(token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:.20}");
    }
    let none = app.post_json("/auth/refresh", &json!({})).await;
    assert_eq!(none.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_session_at_once() {
    let app = TestApp::spawn().await;
    let (access, refresh) = app.user_with_session("gina").await;
    let (other_access, _) = app.login("gina").await;
    let response = app.post_bearer("/auth/logout", &access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<_> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cleared.iter().all(|cookie| cookie.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The other session is untouched.
    assert_eq!(
        app.get_bearer("/auth/me", &other_access).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user_only() {
    let app = TestApp::spawn().await;
    let (first, first_refresh) = app.user_with_session("hank").await;
    let (second, _) = app.login("hank").await;
    let (someone_else, _) = app.user_with_session("ivy").await;
    assert_eq!(
        app.post_bearer("/auth/logout-all", &second).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(app.get_bearer("/auth/me", &first).await, true).await;
    assert_invalid_token(app.get_bearer("/auth/me", &second).await, true).await;
    assert_eq!(
        app.refresh(&first_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_bearer("/auth/me", &someone_else).await.status(),
        StatusCode::OK
    );
    // Logging in again afterwards works (a new session, issued after the epoch).
    app.clock.advance(1);
    let (again, _) = app.login("hank").await;
    assert_eq!(
        app.get_bearer("/auth/me", &again).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn revocations_survive_a_restart_on_the_same_data_dir() {
    let app = TestApp::spawn().await;
    let (access, refresh) = app.user_with_session("jack").await;
    let (kept, _) = app.login("jack").await;
    assert_eq!(
        app.post_bearer("/auth/logout", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    let (data, clock) = (app.data.clone(), app.clock.clone());
    app.stop().await;

    let restarted = TestApp::spawn_in(data, clock).await;
    assert_invalid_token(restarted.get_bearer("/auth/me", &access).await, true).await;
    assert_eq!(
        restarted.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Same generated key after the restart: the other session's token still verifies.
    assert_eq!(
        restarted.get_bearer("/auth/me", &kept).await.status(),
        StatusCode::OK
    );
    restarted.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_by_the_injected_clock_and_refresh_still_works() {
    let app = TestApp::spawn().await;
    let (access, refresh) = app.user_with_session("kate").await;
    app.clock.advance(900 + 30 - 1);
    assert_eq!(
        app.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK
    );
    app.clock.advance(1);
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    let renewed: Value = app.refresh(&refresh).await.json().await.unwrap();
    let access = renewed["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/auth/me", access).await.status(),
        StatusCode::OK
    );
    // Past the refresh lifetime (7 days from login) the session is over.
    app.clock.advance(7 * 86_400);
    let late = app
        .refresh(renewed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_user_disabled_by_another_process_is_locked_out_within_seconds() {
    use tessera_store::sqlite::SqliteStore;
    use tessera_store::AccountStore as _;
    use tessera_token::Clock as _;

    let app = TestApp::spawn().await;
    let (access, refresh) = app.user_with_session("walt").await;
    // What `tessera user disable` does, through its own connection to the same database.
    let store = SqliteStore::open(app.data.path()).await.unwrap();
    store
        .disable_user("walt", app.clock.now())
        .await
        .unwrap()
        .unwrap();
    store.close().await;

    // The running server learns of it through its deny-list sync (every second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = app.get_bearer("/auth/me", &access).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app
        .post_json(
            "/auth/login",
            &json!({"username": "walt", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_revocation_recorded_by_another_process_reaches_the_server_within_seconds() {
    use tessera_store::sqlite::SqliteStore;
    use tessera_store::{Revocation, RevocationKind, RevocationStore as _};
    use tessera_token::Clock as _;

    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("xena").await;
    let sessions: Value = app
        .get_bearer("/auth/sessions", &access)
        .await
        .json()
        .await
        .unwrap();
    let sid = sessions[0]["id"].as_str().unwrap().to_owned();
    // Another instance sharing the database logs this session out: only the durable record
    // changes here; this server's cache must pick it up (GET /auth/sessions reads no user row,
    // so only the deny-list can refuse it).
    let store = SqliteStore::open(app.data.path()).await.unwrap();
    let now = app.clock.now();
    store
        .add_revocation(&Revocation {
            kind: RevocationKind::Session,
            subject: sid,
            not_before: 0,
            expires_at: now + 930,
        })
        .await
        .unwrap();
    store.close().await;
    let started = std::time::Instant::now();
    loop {
        let status = app.get_bearer("/auth/sessions", &access).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not revoked after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
}
