//! The server on PostgreSQL (`DATABASE_URL`): the same flows as on SQLite, against a real
//! database of its own per test, created through `TESSERA_TEST_DATABASE_URL` (set by
//! `scripts/test.sh`). Without that variable these tests fail, unless `TESSERA_SKIP_POSTGRES=1`
//! says to skip them, loudly.

use crate::{assert_invalid_token, TestApp};
use reqwest::StatusCode;
use std::sync::Arc;
use tessera_test_support::TestDatabase;

/// A fresh database for one test (dropped when the value is), or `None` when PostgreSQL tests
/// are explicitly skipped.
fn fresh_database() -> Option<TestDatabase> {
    TestDatabase::fresh("a PostgreSQL server test", "tessera_server_test")
}

#[tokio::test]
async fn the_server_runs_on_postgresql_with_rotation_reuse_detection_and_durable_revocation() {
    let Some(db) = fresh_database() else {
        return;
    };
    let url = db.url();
    let vars = [("DATABASE_URL", url.as_str())];
    let app = TestApp::spawn_with(&vars).await;
    let ready: serde_json::Value = app.get_json("/readyz").await;
    assert_eq!(ready["store"], "ok");
    let (access, refresh) = app.user_with_session("pgalice").await;
    assert_eq!(
        app.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK
    );
    let rotated: serde_json::Value = app.refresh(&refresh).await.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "reuse"
    );
    assert_eq!(
        app.refresh(&second).await.status(),
        StatusCode::UNAUTHORIZED,
        "family revoked"
    );
    let (kept, _) = app.login("pgalice").await;
    let (logged_out, _) = app.login("pgalice").await;
    assert_eq!(
        app.post_bearer("/auth/logout", &logged_out).await.status(),
        StatusCode::NO_CONTENT
    );
    let (data, clock) = (app.data.clone(), app.clock.clone());
    app.stop().await;

    // A new instance on the same database: the revocations hold, the live session works.
    let restarted = TestApp::spawn_in_with(Arc::clone(&data), clock, &vars).await;
    assert_invalid_token(restarted.get_bearer("/auth/me", &logged_out).await, true).await;
    assert_invalid_token(restarted.get_bearer("/auth/me", &access).await, true).await;
    assert_eq!(
        restarted.get_bearer("/auth/me", &kept).await.status(),
        StatusCode::OK
    );
    restarted.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_on_postgresql_yield_exactly_one_success() {
    let Some(db) = fresh_database() else {
        return;
    };
    let app = Arc::new(TestApp::spawn_with(&[("DATABASE_URL", db.url().as_str())]).await);
    let (_, refresh) = app.user_with_session("pgbob").await;
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
    assert_eq!(ok, 1);
}
