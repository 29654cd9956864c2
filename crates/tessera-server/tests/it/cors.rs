//! Cross-origin browser apps: `TESSERA_CORS_ORIGINS` lets exact origins call `/auth/*` with
//! credentials; any other origin gets no CORS header; cross-site writes to the credential
//! endpoints are refused unless the origin is listed.

use crate::{TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

async fn preflight(app: &TestApp, origin: &str, path: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-csrf-token",
        )
        .send()
        .await
        .unwrap()
}

async fn cross_site_login(app: &TestApp, origin: &str, username: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/login"))
        .header("origin", origin)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_gets_credentialed_cors_and_others_get_nothing() {
    let app = TestApp::spawn_with(&[(
        "TESSERA_CORS_ORIGINS",
        &format!("{APP}, http://localhost:5173"),
    )])
    .await;
    app.register("corsy", PASSWORD).await;

    let allowed = preflight(&app, APP, "/auth/login").await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], APP);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in ["content-type", "authorization", "x-csrf-token"] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(headers.get_all("vary").iter().any(|v| v == "Origin"));

    let refused = preflight(&app, EVIL, "/auth/login").await;
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert!(refused
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    // The real request from the listed origin (a cross-site one, as a browser marks it).
    let login = cross_site_login(&app, APP, "corsy").await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["access-control-allow-origin"], APP);
    assert_eq!(login.headers()["access-control-allow-credentials"], "true");
    // Another origin: refused, and no CORS header to read the refusal with.
    let evil = cross_site_login(&app, EVIL, "corsy").await;
    assert_eq!(evil.status(), StatusCode::FORBIDDEN);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let body: Value = evil.json().await.unwrap();
    assert_eq!(body["error"], "cross_site_refused");
    // Non-auth endpoints never get CORS headers.
    let jwks = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert!(jwks.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

/// Without any origin listed, a page on another site cannot sign the browser in (login CSRF,
/// the `text/plain` form trick included), register, refresh or revoke; same-origin and
/// non-browser callers are unaffected.
#[tokio::test]
async fn cross_site_writes_to_the_credential_endpoints_are_refused() {
    let app = TestApp::spawn().await;
    app.register("victim", PASSWORD).await;
    assert_eq!(
        cross_site_login(&app, EVIL, "victim").await.status(),
        StatusCode::FORBIDDEN
    );
    let form_trick = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "text/plain")
        .body(format!(
            r#"{{"username":"victim","password":"{PASSWORD}","x":"="}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(form_trick.status(), StatusCode::FORBIDDEN);
    assert!(form_trick.headers().get("set-cookie").is_none());
    for path in [
        "/auth/register",
        "/auth/refresh",
        "/auth/logout",
        "/oauth/revoke",
    ] {
        let status = app
            .client
            .post(app.url(path))
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // Same origin, same site, or no Sec-Fetch-Site at all (not a browser): as before.
    for site in [Some("same-origin"), Some("same-site"), Some("none"), None] {
        let mut request = app
            .client
            .post(app.url("/auth/login"))
            .json(&json!({"username": "victim", "password": PASSWORD}));
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::OK,
            "{site:?}"
        );
    }
    // Reading is not a write: a cross-site GET is judged by its credentials as always.
    let me = app
        .client
        .get(app.url("/auth/me"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[test]
fn a_wildcard_origin_is_refused_at_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let refused = tessera_config::Config::from_vars(&tessera_config::Vars::from_pairs([
        ("TESSERA_DATA_DIR", dir.path().to_str().unwrap()),
        ("TESSERA_CORS_ORIGINS", "*"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(refused.contains("TESSERA_CORS_ORIGINS"), "{refused}");
}
