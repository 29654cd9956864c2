//! The user's own sessions and password.

use crate::{assert_invalid_token, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_marked_and_can_be_deleted() {
    let app = TestApp::spawn().await;
    let (first, first_refresh) = app.user_with_session("quinn").await;
    let second_body: Value = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", "test-agent/1.0")
        .json(&json!({"username": "quinn", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = second_body["access_token"].as_str().unwrap();
    let listed: Value = app
        .get_bearer("/auth/sessions", second)
        .await
        .json()
        .await
        .unwrap();
    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "test-agent/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for field in ["id", "created_at", "last_used_at"] {
        assert!(!current[0][field].is_null(), "{field}");
    }
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let deleted = app
        .client
        .delete(app.url(&format!("/auth/sessions/{other_id}")))
        .bearer_auth(second)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(app.get_bearer("/auth/me", &first).await, true).await;
    assert_eq!(
        app.refresh(&first_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_bearer("/auth/me", second).await.status(),
        StatusCode::OK
    );
    let listed: Value = app
        .get_bearer("/auth/sessions", second)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Someone else's session, or an unknown id: 404, and nothing is revoked.
    let (stranger, _) = app.user_with_session("rita").await;
    let not_yours = app
        .client
        .delete(app.url(&format!(
            "/auth/sessions/{}",
            current[0]["id"].as_str().unwrap()
        )))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(not_yours.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_bearer("/auth/me", second).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn changing_the_password_revokes_the_other_sessions_only() {
    let app = TestApp::spawn().await;
    let (current, _) = app.user_with_session("sam").await;
    let (other, other_refresh) = app.login("sam").await;
    let change = |current_password: &str, new_password: &str| {
        app.client
            .post(app.url("/auth/password"))
            .bearer_auth(&current)
            .json(&json!({"current_password": current_password, "new_password": new_password}))
            .send()
    };
    let wrong = change("not my password", "a brand new passphrase")
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("current_password"));
    let weak = change(PASSWORD, "password").await.unwrap();
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_bearer("/auth/me", &other).await.status(),
        StatusCode::OK,
        "failed changes revoke nothing"
    );

    let ok = change(PASSWORD, "a brand new passphrase").await.unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(app.get_bearer("/auth/me", &other).await, true).await;
    assert_eq!(
        app.refresh(&other_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_bearer("/auth/me", &current).await.status(),
        StatusCode::OK
    );
    let old = app
        .post_json(
            "/auth/login",
            &json!({"username": "sam", "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = app
        .post_json(
            "/auth/login",
            &json!({"username": "sam", "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(new.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn wrong_current_password_guesses_count_towards_the_account_lockout() {
    let app = TestApp::spawn_with(&[("TESSERA_LOGIN_MAX_FAILURES", "3")]).await;
    let (access, _) = app.user_with_session("wendy").await;
    let guess = |password: &'static str| {
        app.client
            .post(app.url("/auth/password"))
            .bearer_auth(&access)
            .json(&json!({"current_password": password, "new_password": "another long passphrase"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            guess("wrong guess").await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
    }
    let locked = guess(PASSWORD).await.unwrap();
    assert_eq!(
        locked.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password"
    );
    assert!(
        locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let login = app
        .post_json(
            "/auth/login",
            &json!({"username": "wendy", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        login.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the same lockout as logins"
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_the_current_session_clears_the_cookies_and_user_data_is_not_cached() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("xavi").await;
    for path in ["/auth/me", "/auth/sessions"] {
        let response = app.get_bearer(path, &access).await;
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    let listed: Value = app
        .get_bearer("/auth/sessions", &access)
        .await
        .json()
        .await
        .unwrap();
    let id = listed[0]["id"].as_str().unwrap();
    let deleted = app
        .client
        .delete(app.url(&format!("/auth/sessions/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<_> = deleted
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cleared.len(), 3);
    assert!(
        cleared.iter().all(|cookie| cookie.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    app.stop().await;
}
