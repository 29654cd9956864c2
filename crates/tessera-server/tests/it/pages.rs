//! The browser pages over HTTP (what the browser tests in tests/browser/ see in Chromium):
//! their strict CSP, caching (a revalidated page, year-long immutable assets, 304 on a matching
//! `ETag`), the redirects of `/` and `/account`, and that the API keeps its own CSP.

use crate::{TestApp, PASSWORD};
use reqwest::header::{HeaderMap, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG};
use reqwest::StatusCode;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> &str {
    headers
        .get(name)
        .map_or("", |value| value.to_str().unwrap())
}

/// The versioned asset paths a page names.
fn asset_paths(html: &str) -> std::collections::BTreeSet<String> {
    html.split("\"/assets/")
        .skip(1)
        .map(|rest| format!("/assets/{}", &rest[..rest.find('"').unwrap()]))
        .collect()
}

#[tokio::test]
async fn pages_are_html_under_a_strict_csp_and_revalidated_by_etag() {
    let app = TestApp::spawn().await;
    let client = no_redirects();
    for (path, labels) in [
        (
            "/sign-in",
            &["Username", "Password", "Sign in", "Create account"][..],
        ),
        (
            "/register",
            &["Username", "Password", "Create account", "Password rules"][..],
        ),
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(header(&headers, CONTENT_TYPE), "text/html; charset=utf-8");
        let csp = header(&headers, CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header(&headers, CACHE_CONTROL), "private, no-cache");
        assert_eq!(header(&headers, "x-frame-options"), "DENY");
        let etag = header(&headers, ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let html = response.text().await.unwrap();
        for label in labels {
            assert!(html.contains(label), "{path} lacks {label}");
        }
        assert!(!html.contains("{{"), "an unfilled placeholder in {path}");

        let again = client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header(again.headers(), ETAG), etag);
        assert!(again.text().await.unwrap().is_empty());
        let other = client
            .get(app.url(path))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK);

        // Its assets: cached for a year under a versioned name, 304 when revalidated.
        let assets = asset_paths(&html);
        assert_eq!(assets.len(), 3, "{assets:?}");
        for asset in assets {
            let response = client.get(app.url(&asset)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{asset}");
            assert_eq!(
                header(response.headers(), CACHE_CONTROL),
                "public, max-age=31536000, immutable"
            );
            let expected_type = if asset.ends_with(".css") {
                "text/css; charset=utf-8"
            } else if asset.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else {
                "image/svg+xml"
            };
            assert_eq!(header(response.headers(), CONTENT_TYPE), expected_type);
            let etag = header(response.headers(), ETAG).to_owned();
            // The name carries the content's version: the same digits as the entity tag.
            assert!(asset.contains(&etag[1..11]), "{asset} {etag}");
            let again = client
                .get(app.url(&asset))
                .header("if-none-match", format!("W/{etag}"))
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        }
    }
    // Another version of an asset, or any other name: 404 as JSON, under the API's CSP.
    for path in [
        "/assets/tessera.0000000000.js",
        "/assets/..%2Fopenapi.json",
        "/assets/x",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header(response.headers(), CONTENT_SECURITY_POLICY),
            "default-src 'none'; frame-ancestors 'none'"
        );
    }
    // The API keeps its own policy.
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        header(health.headers(), CONTENT_SECURITY_POLICY),
        "default-src 'none'; frame-ancestors 'none'"
    );
}

#[tokio::test]
async fn home_and_account_redirect_by_the_session_cookies_the_browser_holds() {
    let app = TestApp::spawn().await;
    let client = no_redirects();
    let location = |response: &reqwest::Response| header(response.headers(), "location").to_owned();

    let home = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/sign-in");
    let account = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(account.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&account), "/sign-in?next=/account");

    app.register("pagey", PASSWORD).await;
    let login = app
        .client
        .post(app.url("/auth/login"))
        .json(&serde_json::json!({"username": "pagey", "password": PASSWORD, "cookie_only": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let body: serde_json::Value = login.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let csrf_only = cookies
        .iter()
        .find(|cookie| cookie.starts_with("__Host-tessera-csrf="))
        .unwrap()
        .clone();
    // With the session's cookies (or only its CSRF cookie, once the access cookie has expired
    // and the page will renew it): `/` goes to the account, which is served.
    for cookie in [cookies.join("; "), csrf_only] {
        let home = client
            .get(app.url("/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(location(&home), "/account");
        let account = client
            .get(app.url("/account"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(account.status(), StatusCode::OK);
        assert_eq!(header(account.headers(), "vary"), "Cookie");
        let html = account.text().await.unwrap();
        for label in [
            "Sign out everywhere",
            "Change password",
            "Current password",
            "New password",
        ] {
            assert!(html.contains(label), "{label}");
        }
    }
    // HEAD is answered like GET, without a body.
    let head = client.head(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.text().await.unwrap().is_empty());
}
