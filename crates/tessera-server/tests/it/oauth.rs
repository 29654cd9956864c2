//! RFC 7009 revocation, RFC 7662 introspection, RFC 8414 metadata.

use crate::{assert_invalid_token, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use tessera_store::sqlite::SqliteStore;
use tessera_store::{Client, ClientStore as _};

const CLIENT_ID: &str = "tsc_test-client";
const CLIENT_SECRET: &str = "tss_the-client-secret-for-tests-0123456789";

async fn add_client(app: &TestApp) {
    let store = SqliteStore::open(app.data.path()).await.unwrap();
    store
        .create_client(&Client {
            client_id: CLIENT_ID.into(),
            name: "tests".into(),
            secret_hash: tessera_service::credentials::digest_of(CLIENT_SECRET.as_bytes()),
            created_at: crate::now(),
        })
        .await
        .unwrap();
    store.close().await;
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, token: &str) -> StatusCode {
    app.client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn introspection_needs_client_credentials_and_reports_live_tokens() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let (access, refresh) = app.user_with_session("tara").await;

    for credentials in [
        None,
        Some(("tsc_test-client", "wrong")),
        Some(("unknown", CLIENT_SECRET)),
    ] {
        let mut request = app
            .client
            .post(app.url("/oauth/introspect"))
            .form(&[("token", access.as_str())]);
        if let Some((id, secret)) = credentials {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{credentials:?}"
        );
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }

    let active = introspect(&app, &access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["username"], "tara");
    assert_eq!(active["token_type"], "Bearer");
    assert!(
        active["exp"].as_u64().is_some() && active["sid"].is_string() && active["jti"].is_string()
    );
    let refresh_active = introspect(&app, &refresh).await;
    assert_eq!(refresh_active["active"], true);
    assert_eq!(refresh_active["sub"], active["sub"]);

    for junk in [
        "junk",
        "a.b.c",
        &format!("{access}x"),
        "tsr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(
            introspect(&app, junk).await,
            serde_json::json!({"active": false}),
            "{junk}"
        );
    }
    // After logout, both are inactive.
    assert_eq!(
        app.post_bearer("/auth/logout", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(introspect(&app, &access).await["active"], false);
    assert_eq!(introspect(&app, &refresh).await["active"], false);
    app.stop().await;
}

#[tokio::test]
async fn revoking_an_access_token_stops_it_at_once_and_unknown_tokens_get_200() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let (access, refresh) = app.user_with_session("uma").await;
    assert_eq!(revoke(&app, "not-a-token").await, StatusCode::OK);
    assert_eq!(revoke(&app, &access).await, StatusCode::OK);
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    assert_eq!(introspect(&app, &access).await["active"], false);
    // Only that token: the session's refresh token still works and gives a working token.
    let renewed: Value = app.refresh(&refresh).await.json().await.unwrap();
    assert_eq!(
        app.get_bearer("/auth/me", renewed["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    let missing = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let app = TestApp::spawn().await;
    let (access, refresh) = app.user_with_session("vera").await;
    assert_eq!(revoke(&app, &refresh).await, StatusCode::OK);
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    app.stop().await;
}

#[tokio::test]
async fn metadata_names_the_endpoints_and_algorithms() {
    let app = TestApp::spawn().await;
    let metadata: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(metadata["issuer"], "http://tessera.test");
    assert_eq!(
        metadata["jwks_uri"],
        "http://tessera.test/.well-known/jwks.json"
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        "http://tessera.test/oauth/revoke"
    );
    assert_eq!(
        metadata["introspection_endpoint"],
        "http://tessera.test/oauth/introspect"
    );
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"][0],
        "ES256"
    );
    app.stop().await;
}
