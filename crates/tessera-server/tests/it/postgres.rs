//! The server on PostgreSQL (`DATABASE_URL`): the same flows as on SQLite, against a real
//! database of its own per test, created through `TESSERA_TEST_DATABASE_URL` (set by
//! `scripts/test.sh`). Without that variable these tests fail, unless `TESSERA_SKIP_POSTGRES=1`
//! says to skip them, loudly.

use crate::{assert_invalid_token, TestApp};
use reqwest::StatusCode;
use sqlx::Connection as _;
use std::sync::Arc;

/// A fresh database for one test, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Option<Database> {
        let Ok(admin_url) = std::env::var("TESSERA_TEST_DATABASE_URL") else {
            if std::env::var("TESSERA_SKIP_POSTGRES").as_deref() == Ok("1") {
                eprintln!("!!! SKIPPED: PostgreSQL server tests (TESSERA_SKIP_POSTGRES=1)");
                return None;
            }
            panic!(
                "set TESSERA_TEST_DATABASE_URL (scripts/test.sh does) or TESSERA_SKIP_POSTGRES=1"
            );
        };
        let name = format!(
            "tessera_server_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL must be reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(Database {
            admin_url,
            name,
            url,
        })
    }

    async fn drop_now(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

#[tokio::test]
async fn the_server_runs_on_postgresql_with_rotation_reuse_detection_and_durable_revocation() {
    let Some(db) = Database::create().await else {
        return;
    };
    let vars = [("DATABASE_URL", db.url.as_str())];
    let app = TestApp::spawn_with(&vars).await;
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    db.drop_now().await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_on_postgresql_yield_exactly_one_success() {
    let Some(db) = Database::create().await else {
        return;
    };
    let app = Arc::new(TestApp::spawn_with(&[("DATABASE_URL", db.url.as_str())]).await);
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
    db.drop_now().await;
}
