//! `TESSERA_REFRESH_GRACE`: a refresh whose answer was lost, or racing tabs, present the token
//! just rotated away again; within the window each gets a working pair in the same session;
//! after it, or for an older token, it is a replay that ends the session, branches included.

use crate::cookies::{cookie_value, login_with_cookies};
use crate::TestApp;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;

async fn refresh_ok(app: &TestApp, token: &str) -> (String, String) {
    let response = app.refresh(token).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "refresh with a token in grace"
    );
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn within_the_grace_window_the_previous_token_works_any_number_of_times() {
    let app = TestApp::spawn_with(&[("TESSERA_REFRESH_GRACE", "30s")]).await;
    let (_, first) = app.user_with_session("tabs").await;
    let (_, a) = refresh_ok(&app, &first).await;
    app.clock.advance(5);
    // Three more tabs (or retries) with the token just rotated away: each a working pair.
    let mut branches = Vec::new();
    for _ in 0..3 {
        let (access, refresh) = refresh_ok(&app, &first).await;
        assert_eq!(
            app.get_bearer("/auth/me", &access).await.status(),
            StatusCode::OK
        );
        branches.push(refresh);
    }
    let sessions: Value = app
        .get_bearer("/auth/sessions", &refresh_ok(&app, &first).await.0)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions.as_array().map_or(0, Vec::len),
        1,
        "one session: {sessions}"
    );
    // Every branch keeps working afterwards (no cookie left behind that would count as reuse).
    for branch in &branches {
        refresh_ok(&app, branch).await;
    }
    refresh_ok(&app, &a).await;
    // Now later tokens were used: the first is older than the immediate predecessor: a replay,
    // and the whole session ends, every branch with it.
    let replay = app.refresh(&first).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let (_, latest) = app.login("tabs").await;
    assert_eq!(
        app.refresh(&latest).await.status(),
        StatusCode::OK,
        "other sessions unharmed"
    );
    app.stop().await;
}

#[tokio::test]
async fn after_the_grace_window_the_previous_token_is_a_replay() {
    let app = TestApp::spawn_with(&[("TESSERA_REFRESH_GRACE", "30s")]).await;
    let (_, first) = app.user_with_session("late").await;
    let (access, second) = refresh_ok(&app, &first).await;
    app.clock.advance(31);
    assert_eq!(app.refresh(&first).await.status(), StatusCode::UNAUTHORIZED);
    // The session is ended: its live token and its access token too.
    assert_eq!(
        app.refresh(&second).await.status(),
        StatusCode::UNAUTHORIZED
    );
    crate::assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    app.stop().await;
}

/// Twenty concurrent refreshes with one token inside the window all succeed (one rotation, the
/// rest retries); with the default `0` the contract stays "exactly one".
#[tokio::test]
async fn concurrent_refreshes_all_succeed_within_the_window() {
    let app = Arc::new(TestApp::spawn_with(&[("TESSERA_REFRESH_GRACE", "10s")]).await);
    let (_, refresh) = app.user_with_session("racer").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, refresh) = (app.clone(), refresh.clone());
        tasks.spawn(async move { app.refresh(&refresh).await.status() });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        if status.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 20);
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

/// Cookie mode (racing tabs of one browser): a retried refresh sets cookies that keep working.
#[tokio::test]
async fn a_retried_cookie_refresh_sets_cookies_that_keep_working() {
    let app = TestApp::spawn_with(&[("TESSERA_REFRESH_GRACE", "30s")]).await;
    let jar = login_with_cookies(&app, "browser").await;
    let refresh_with = |refresh: String| {
        let app = &app;
        let csrf = jar.csrf.clone();
        let access = jar.access.clone();
        async move {
            app.client
                .post(app.url("/auth/refresh"))
                .header(
                    "cookie",
                    format!(
                        "__Host-tessera-access={access}; __Secure-tessera-refresh={refresh}; \
                         __Host-tessera-csrf={csrf}"
                    ),
                )
                .header("x-csrf-token", &csrf)
                .send()
                .await
                .unwrap()
        }
    };
    let set_cookies = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let tab_a = refresh_with(jar.refresh.clone()).await;
    assert_eq!(tab_a.status(), StatusCode::OK);
    let tab_b = refresh_with(jar.refresh.clone()).await;
    assert_eq!(
        tab_b.status(),
        StatusCode::OK,
        "the racing tab is not signed out"
    );
    let b_refresh = cookie_value(&set_cookies(&tab_b), "__Secure-tessera-refresh");
    let a_refresh = cookie_value(&set_cookies(&tab_a), "__Secure-tessera-refresh");
    // Whichever cookie the browser kept, it works.
    for kept in [b_refresh, a_refresh] {
        assert_eq!(refresh_with(kept).await.status(), StatusCode::OK);
    }
    app.stop().await;
}

/// With a grace window, a branch a thief got by presenting the previous token cannot be told from
/// the user's own token: a password change therefore ends the current session too (its cookies
/// cleared), and the thief's branch with it.
#[tokio::test]
async fn with_a_grace_window_a_password_change_ends_every_branch() {
    let app = TestApp::spawn_with(&[("TESSERA_REFRESH_GRACE", "30s")]).await;
    let (_, stolen) = app.user_with_session("victim").await;
    let (access, own) = refresh_ok(&app, &stolen).await;
    app.clock.advance(1);
    let (thief_access, thief_refresh) = refresh_ok(&app, &stolen).await;
    let changed = app
        .client
        .post(app.url("/auth/password"))
        .bearer_auth(&access)
        .json(&serde_json::json!({
            "current_password": crate::PASSWORD,
            "new_password": "a brand new passphrase 2026",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert!(
        changed
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|cookie| cookie.to_str().unwrap().contains("Max-Age=0")),
        "the current session's cookies are cleared"
    );
    assert_eq!(
        app.refresh(&thief_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    crate::assert_invalid_token(app.get_bearer("/auth/me", &thief_access).await, true).await;
    assert_eq!(app.refresh(&own).await.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
