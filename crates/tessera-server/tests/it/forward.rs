//! `GET /auth/forward`, as reverse proxies ask it: 200 for a live token (Bearer or cookie), 401
//! otherwise; the user in headers only when `TESSERA_FORWARD_USER_HEADERS` asks for it.

use crate::cookies::login_with_cookies;
use crate::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn forward_auth_says_yes_only_to_live_tokens_and_names_the_user_when_asked() {
    let quiet = TestApp::spawn().await;
    let (access, _) = quiet.user_with_session("fwd").await;
    let yes = quiet.get_bearer("/auth/forward", &access).await;
    assert_eq!(yes.status(), StatusCode::OK);
    assert_eq!(yes.headers()["cache-control"], "no-store");
    assert!(
        yes.headers().get("x-tessera-user-id").is_none(),
        "off by default"
    );
    let anonymous = quiet
        .client
        .get(quiet.url("/auth/forward"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        quiet
            .get_bearer("/auth/forward", "not.a.token")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    quiet.post_bearer("/auth/logout", &access).await;
    assert_eq!(
        quiet.get_bearer("/auth/forward", &access).await.status(),
        StatusCode::UNAUTHORIZED,
        "revocation is checked"
    );
    quiet.stop().await;

    let app = TestApp::spawn_with(&[("TESSERA_FORWARD_USER_HEADERS", "true")]).await;
    let registered = app.register("named", crate::PASSWORD).await;
    let (access, _) = app.login("named").await;
    let yes = app.get_bearer("/auth/forward", &access).await;
    assert_eq!(yes.status(), StatusCode::OK);
    assert_eq!(
        yes.headers()["x-tessera-user-id"],
        registered["id"].as_str().unwrap()
    );
    assert_eq!(yes.headers()["x-tessera-username"], "named");
    assert_eq!(yes.headers()["x-tessera-roles"], "");
    // The access cookie works as well (a browser behind the proxy).
    let jar = login_with_cookies(&app, "browser").await;
    let by_cookie = app
        .client
        .get(app.url("/auth/forward"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
    assert_eq!(by_cookie.headers()["x-tessera-username"], "browser");
    app.stop().await;
}

/// A proxy that names the guarded request's method: a state-changing request authenticated by
/// the access cookie needs the session's CSRF token; reads and Bearer tokens do not.
#[tokio::test]
async fn forward_auth_checks_the_csrf_token_of_cookie_writes_when_told_the_method() {
    let app = TestApp::spawn().await;
    let jar = login_with_cookies(&app, "writer").await;
    let ask = |method: &'static str, csrf: Option<String>| {
        let request = app
            .client
            .get(app.url("/auth/forward"))
            .header("cookie", jar.header())
            .header("x-forwarded-method", method);
        async move {
            match csrf {
                Some(token) => request.header("x-csrf-token", token),
                None => request,
            }
            .send()
            .await
            .unwrap()
            .status()
        }
    };
    assert_eq!(ask("GET", None).await, StatusCode::OK);
    assert_eq!(ask("POST", None).await, StatusCode::FORBIDDEN);
    assert_eq!(
        ask("DELETE", Some("forged".into())).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(ask("POST", Some(jar.csrf.clone())).await, StatusCode::OK);
    let (access, _) = app.user_with_session("api-client").await;
    let bearer = app
        .client
        .get(app.url("/auth/forward"))
        .bearer_auth(&access)
        .header("x-forwarded-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bearer.status(),
        StatusCode::OK,
        "a Bearer token needs no CSRF header"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_redirect_a_browser_navigation_without_a_live_token_goes_to_the_sign_in_page() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("navigator").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = |query: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let mut request = client.get(app.url(&format!("/auth/forward{query}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let navigation: &[(&str, &str)] = &[
        ("sec-fetch-mode", "navigate"),
        ("accept", "text/html,application/xhtml+xml"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/reports/2026?q=a b&x=1"),
    ];
    let redirected = ask("?redirect=true", navigation).await.unwrap();
    assert_eq!(redirected.status(), StatusCode::FOUND);
    assert_eq!(
        redirected.headers()["location"],
        "/sign-in?next=/reports/2026%3Fq%3Da%20b%26x%3D1"
    );
    assert_eq!(redirected.headers()["cache-control"], "no-store");
    // Without a path of the site to return to: the sign-in page alone.
    let elsewhere = ask(
        "?redirect=true",
        &[
            ("sec-fetch-mode", "navigate"),
            ("x-forwarded-uri", "//evil.example/"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(elsewhere.headers()["location"], "/sign-in");
    // An older browser without Sec-Fetch-Mode: a GET accepting HTML is a navigation.
    let older = ask("?redirect=true", &[("accept", "text/html")])
        .await
        .unwrap();
    assert_eq!(older.status(), StatusCode::FOUND);

    // Not asked for (nginx's auth_request cannot pass a redirect on), a script's call, a POST
    // being guarded, an API client: 401 as always.
    for (query, headers) in [
        ("", navigation),
        (
            "?redirect=true",
            &[("sec-fetch-mode", "cors"), ("accept", "text/html")][..],
        ),
        (
            "?redirect=true",
            &[
                ("sec-fetch-mode", "navigate"),
                ("x-forwarded-method", "POST"),
            ][..],
        ),
        ("?redirect=true", &[("accept", "application/json")][..]),
    ] {
        let answer = ask(query, headers).await.unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::UNAUTHORIZED,
            "{query} {headers:?}"
        );
    }
    // A live token is let through, whatever is asked.
    let live = client
        .get(app.url("/auth/forward?redirect=true"))
        .header("authorization", format!("Bearer {access}"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    app.stop().await;
}
