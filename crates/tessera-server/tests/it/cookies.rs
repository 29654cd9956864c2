//! The browser flow: HttpOnly cookies and double-submit CSRF.

use crate::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

pub struct Jar {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

pub fn cookie_value(set_cookies: &[String], name: &str) -> String {
    let line = set_cookies
        .iter()
        .find(|line| line.starts_with(&format!("{name}=")))
        .unwrap();
    line[name.len() + 1..].split(';').next().unwrap().to_owned()
}

pub async fn login_with_cookies(app: &TestApp, username: &str) -> Jar {
    app.register(username, crate::PASSWORD).await;
    let response = app.login_response(username, crate::PASSWORD).await;
    let set: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let access_line = set
        .iter()
        .find(|l| l.starts_with("__Host-tessera-access="))
        .unwrap();
    for attribute in ["Path=/;", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(access_line.contains(attribute), "{access_line}");
    }
    let refresh_line = set
        .iter()
        .find(|l| l.starts_with("__Secure-tessera-refresh="))
        .unwrap();
    for attribute in ["Path=/auth", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(refresh_line.contains(attribute), "{refresh_line}");
    }
    let csrf_line = set
        .iter()
        .find(|l| l.starts_with("__Host-tessera-csrf="))
        .unwrap();
    assert!(
        !csrf_line.contains("HttpOnly"),
        "scripts must read the CSRF cookie"
    );
    Jar {
        access: cookie_value(&set, "__Host-tessera-access"),
        refresh: cookie_value(&set, "__Secure-tessera-refresh"),
        csrf: cookie_value(&set, "__Host-tessera-csrf"),
    }
}

impl Jar {
    pub fn header(&self) -> String {
        format!(
            "__Host-tessera-access={}; __Secure-tessera-refresh={}; __Host-tessera-csrf={}",
            self.access, self.refresh, self.csrf
        )
    }
}

#[tokio::test]
async fn cookie_authentication_needs_csrf_only_for_state_changes() {
    let app = TestApp::spawn().await;
    let jar = login_with_cookies(&app, "lena").await;
    let me = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "GET needs no CSRF header");

    let refused = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("X-CSRF-Token"),
        "{body}"
    );

    let wrong = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("x-csrf-token", "not-the-cookie")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().await.unwrap().contains("does not match"));

    let ok = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", jar.header())
        .header("x-csrf-token", &jar.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let after = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn refresh_by_cookie_requires_the_csrf_header() {
    let app = TestApp::spawn().await;
    let jar = login_with_cookies(&app, "mona").await;
    let refused = app
        .client
        .post(app.url("/auth/refresh"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("X-CSRF-Token"));
    let ok = app
        .client
        .post(app.url("/auth/refresh"))
        .header("cookie", jar.header())
        .header("x-csrf-token", &jar.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers().get_all("set-cookie").iter().count(), 3);
    app.stop().await;
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_header() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("nina").await;
    assert_eq!(
        app.post_bearer("/auth/logout", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `"cookie_only": true` on login and refresh: the cookies are set as always, and the body has
/// no token a page script could read (only `token_type` and `expires_in`); without it the answer
/// is today's, tokens included.
#[tokio::test]
async fn cookie_only_login_and_refresh_put_no_token_in_the_body() {
    let app = TestApp::spawn().await;
    app.register("cora", crate::PASSWORD).await;
    let login = app
        .post_json(
            "/auth/login",
            &serde_json::json!({"username": "cora", "password": crate::PASSWORD, "cookie_only": true}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let set = set_cookies(&login);
    let body: Value = login.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"token_type": "Bearer", "expires_in": 900}),
        "no token in the body"
    );
    let jar = Jar {
        access: cookie_value(&set, "__Host-tessera-access"),
        refresh: cookie_value(&set, "__Secure-tessera-refresh"),
        csrf: cookie_value(&set, "__Host-tessera-csrf"),
    };
    let me = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the cookies work");

    let refreshed = app
        .client
        .post(app.url("/auth/refresh"))
        .header("cookie", jar.header())
        .header("x-csrf-token", &jar.csrf)
        .header("content-type", "application/json")
        .body(r#"{"cookie_only": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let mut rotated = set_cookies(&refreshed);
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"token_type": "Bearer", "expires_in": 900})
    );
    let new_refresh = cookie_value(&rotated, "__Secure-tessera-refresh");
    assert_ne!(new_refresh, jar.refresh, "rotated, in the cookie");
    // A refresh by cookie never puts tokens in the body, whatever the body asks: a script on the
    // page (an XSS) cannot get the refresh token that way.
    for body in ["", "{}", r#"{"cookie_only": false}"#] {
        let current = Jar {
            access: cookie_value(&rotated, "__Host-tessera-access"),
            refresh: cookie_value(&rotated, "__Secure-tessera-refresh"),
            csrf: cookie_value(&rotated, "__Host-tessera-csrf"),
        };
        let by_cookie = app
            .client
            .post(app.url("/auth/refresh"))
            .header("cookie", current.header())
            .header("x-csrf-token", &current.csrf)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(by_cookie.status(), StatusCode::OK, "{body:?}");
        let cookies = set_cookies(&by_cookie);
        let answer: Value = by_cookie.json().await.unwrap();
        assert!(answer.get("refresh_token").is_none(), "{body:?}: {answer}");
        assert!(answer.get("access_token").is_none(), "{body:?}: {answer}");
        rotated = cookies;
    }

    // Without the member: today's answer, tokens in the body.
    let plain = app
        .post_json(
            "/auth/login",
            &serde_json::json!({"username": "cora", "password": crate::PASSWORD}),
        )
        .await;
    let body: Value = plain.json().await.unwrap();
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
    // Not a boolean: refused rather than guessed.
    let odd = app
        .post_json(
            "/auth/login",
            &serde_json::json!({"username": "cora", "password": crate::PASSWORD, "cookie_only": "yes"}),
        )
        .await;
    assert_eq!(odd.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}
