//! The findings of the outside security review (issue 9) that one server shows: one test or
//! more per finding, named after it. Each failed on the code before its fix. The findings that
//! need two instances on PostgreSQL and Redis are in `crates/tessera/tests/it/review.rs`; the
//! token core's in `crates/tessera-token`.

use crate::cookies::{login_with_cookies, Jar};
use crate::{assert_invalid_token, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tessera_password::PasswordHasher;
use tessera_store::sqlite::SqliteStore;
use tessera_store::{Client, ClientStore as _, RevocationStore as _};
use tessera_token::FixedClock;

/// The claims of a token, read without verifying it (the test issued it).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&tessera_token::base64url::decode(payload.as_bytes()).unwrap()).unwrap()
}

/// Lets the server's deny-list sync run (every second) after the clock moved.
async fn let_the_sync_run() {
    tokio::time::sleep(Duration::from_millis(1_300)).await;
}

// ---------------------------------------------------------------------------------------------
// 1. Login CSRF through /auth/refresh

#[tokio::test]
async fn login_csrf_through_refresh_a_text_plain_body_gets_415_and_sets_no_cookie() {
    let app = TestApp::spawn().await;
    let (_, refresh) = app.user_with_session("attacker").await;
    // What `<form enctype="text/plain">` on another site sends: a JSON-looking body.
    let body = format!(r#"{{"refresh_token":"{refresh}","x":"="}}"#);
    let response = app
        .client
        .post(app.url("/auth/refresh"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 0);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request");
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{error}"
    );
    // The token was not rotated: it still works, once, with the right media type.
    let ok = app
        .client
        .post(app.url("/auth/refresh"))
        .header("content-type", "application/json; charset=utf-8")
        .body(format!(r#"{{"refresh_token":"{refresh}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn login_csrf_json_and_form_endpoints_accept_only_their_own_media_type() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("ursula").await;
    let credentials = json!({"username": "ursula", "password": PASSWORD}).to_string();
    for (path, content_type) in [
        ("/auth/login", "text/plain"),
        ("/auth/login", "application/x-www-form-urlencoded"),
        ("/auth/login", "application/merge-patch+json"),
        ("/auth/register", "multipart/form-data; boundary=x"),
        ("/auth/refresh", "text/plain;charset=UTF-8"),
    ] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", content_type)
            .body(credentials.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path} {content_type}"
        );
    }
    let password_change = app
        .client
        .post(app.url("/auth/password"))
        .bearer_auth(&access)
        .header("content-type", "text/plain")
        .body(r#"{"current_password":"a","new_password":"b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(password_change.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        for content_type in [Some("application/json"), Some("text/plain"), None] {
            let mut request = app.client.post(app.url(path)).body("token=abc");
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {content_type:?}"
            );
            let error: Value = response.json().await.unwrap();
            assert!(
                error["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("application/x-www-form-urlencoded"),
                "{error}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn login_csrf_an_empty_refresh_body_in_cookie_mode_stays_allowed() {
    let app = TestApp::spawn().await;
    let jar = login_with_cookies(&app, "vera").await;
    for content_type in [None, Some("text/plain")] {
        let jar = if content_type.is_some() {
            login_with_cookies_again(&app, "vera").await
        } else {
            Jar {
                access: jar.access.clone(),
                refresh: jar.refresh.clone(),
                csrf: jar.csrf.clone(),
            }
        };
        let mut request = app
            .client
            .post(app.url("/auth/refresh"))
            .header("cookie", jar.header())
            .header("x-csrf-token", &jar.csrf);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::OK,
            "{content_type:?}"
        );
    }
    app.stop().await;
}

/// Logs an existing user in again and returns the cookies.
async fn login_with_cookies_again(app: &TestApp, username: &str) -> Jar {
    let response = app.login_response(username, PASSWORD).await;
    let set: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    Jar {
        access: crate::cookies::cookie_value(&set, "__Host-tessera-access"),
        refresh: crate::cookies::cookie_value(&set, "__Secure-tessera-refresh"),
        csrf: crate::cookies::cookie_value(&set, "__Host-tessera-csrf"),
    }
}

#[tokio::test]
async fn login_csrf_a_tessera_cookie_sent_twice_is_refused_never_resolved_by_order() {
    let app = TestApp::spawn().await;
    let victim = login_with_cookies(&app, "wanda").await;
    let attacker = login_with_cookies(&app, "mallory").await;
    // A sibling subdomain planted a second refresh cookie (another Path): the browser sends
    // both, in an order the server must not trust.
    for cookies in [
        format!(
            "__Secure-tessera-refresh={}; __Secure-tessera-refresh={}; __Host-tessera-csrf={}",
            attacker.refresh, victim.refresh, victim.csrf
        ),
        format!(
            "__Secure-tessera-refresh={}; __Secure-tessera-refresh={}; __Host-tessera-csrf={}",
            victim.refresh, attacker.refresh, victim.csrf
        ),
    ] {
        let response = app
            .client
            .post(app.url("/auth/refresh"))
            .header("cookie", cookies)
            .header("x-csrf-token", &victim.csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers().get_all("set-cookie").iter().count(), 0);
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error_description"]
                .as_str()
                .unwrap()
                .contains("twice"),
            "{error}"
        );
    }
    // Two access cookies: refused too, on any endpoint that reads them.
    let me = app
        .client
        .get(app.url("/auth/me"))
        .header(
            "cookie",
            format!(
                "__Host-tessera-access={}; __Host-tessera-access={}",
                victim.access, attacker.access
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::BAD_REQUEST);
    // Neither refresh token was rotated.
    for refresh in [&victim.refresh, &attacker.refresh] {
        assert_eq!(app.refresh(refresh).await.status(), StatusCode::OK);
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Revoked tokens must not come back after the access lifetime is lowered

#[tokio::test]
async fn revoked_tokens_come_back_after_the_access_lifetime_is_lowered_no_more() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let clock = Arc::new(FixedClock::new(crate::now()));
    let long =
        TestApp::spawn_in_with(data.clone(), clock.clone(), &[("JWT_ACCESS_TTL", "1h")]).await;
    let (access, _) = long.user_with_session("ida").await;
    long.stop().await;

    // Restarted with a 20 s lifetime, then the 1 h token is logged out.
    let short = TestApp::spawn_in_with(data, clock.clone(), &[("JWT_ACCESS_TTL", "20s")]).await;
    assert_eq!(
        short.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        short.post_bearer("/auth/logout", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(short.get_bearer("/auth/me", &access).await, true).await;
    // The token lives an hour; its revocation must too, whatever the lifetime is now.
    for step in [61, 30 * 60, 28 * 60] {
        clock.advance(step);
        let_the_sync_run().await;
        assert_invalid_token(short.get_bearer("/auth/me", &access).await, true).await;
    }
    short.stop().await;
}

#[tokio::test]
async fn revoked_tokens_stay_refused_by_an_instance_with_a_longer_lifetime_than_the_revoker() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let clock = Arc::new(FixedClock::new(crate::now()));
    let long =
        TestApp::spawn_in_with(data.clone(), clock.clone(), &[("JWT_ACCESS_TTL", "1h")]).await;
    let short = TestApp::spawn_in_with(data, clock.clone(), &[("JWT_ACCESS_TTL", "20s")]).await;
    let (access, _) = long.user_with_session("jade").await;
    assert_eq!(
        short.post_bearer("/auth/logout", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    let_the_sync_run().await;
    assert_invalid_token(long.get_bearer("/auth/me", &access).await, true).await;
    clock.advance(5 * 60);
    let_the_sync_run().await;
    assert_invalid_token(long.get_bearer("/auth/me", &access).await, true).await;
    // The durable record agrees: kept past the token's own expiry.
    let store = SqliteStore::open(long.data.path()).await.unwrap();
    let exp = claims_of(&access)["exp"].as_u64().unwrap();
    let kept = store
        .live_revocations(0)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, revocation)| revocation.expires_at)
        .max()
        .unwrap();
    assert!(
        kept >= exp + 30,
        "kept until {kept}, the token lives until {exp}"
    );
    store.close().await;
    long.stop().await;
    short.stop().await;
}

#[tokio::test]
async fn tokens_living_longer_than_the_deployment_ever_issued_are_refused() {
    let app = TestApp::spawn_with(&[("JWT_ACCESS_TTL", "10m")]).await;
    let (access, _) = app.user_with_session("kira").await;
    let claims = claims_of(&access);
    // The same key, the same session, a day of life: what `tessera token mint --ttl 1d
    // --claim sid=...` would make. No revocation would be kept that long, so it is refused.
    let key = app.signing_key();
    let issuer = tessera_token::TokenIssuer::new(key, "http://tessera.test", "tessera-tests", 600)
        .with_clock(app.clock.clone());
    let minted = issuer
        .issue(&tessera_token::AccessTokenRequest {
            subject: claims["sub"].as_str().unwrap().to_owned(),
            session_id: Some(claims["sid"].as_str().unwrap().to_owned()),
            ttl: Some(86_400),
            ..Default::default()
        })
        .unwrap();
    assert_invalid_token(app.get_bearer("/auth/me", &minted.token).await, true).await;
    assert_eq!(
        app.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. An access token must not outlive its session, nor survive a password change

#[tokio::test]
async fn an_access_token_outlives_its_session_no_more_and_a_password_change_ends_it() {
    let app = TestApp::spawn_with(&[("JWT_REFRESH_TTL", "40s")]).await;
    app.register("lily", PASSWORD).await;
    let started = crate::now();
    let (_, refresh) = app.login("lily").await;
    let (other_access, _) = app.login("lily").await;
    app.clock.advance(34);
    let renewed: Value = app.refresh(&refresh).await.json().await.unwrap();
    let late_access = renewed["access_token"].as_str().unwrap();
    let exp = claims_of(late_access)["exp"].as_u64().unwrap();
    assert!(
        exp <= started + 40 + 1,
        "the access token lives until {exp}, past its session's end ({})",
        started + 40
    );
    assert!(renewed["expires_in"].as_u64().unwrap() <= 6);
    // The session is over at 40 s; at 43 s a password change from another session must end
    // every access token of the user's other sessions, whatever their refresh state.
    app.clock.advance(9);
    let changed = app
        .client
        .post(app.url("/auth/password"))
        .bearer_auth(&other_access)
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(app.get_bearer("/auth/me", late_access).await, true).await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Password hashing is a CPU lever for anyone with an account

async fn change_password(
    app: &TestApp,
    access: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/auth/password"))
        .bearer_auth(access)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_hashing_is_a_cpu_lever_a_new_password_equal_to_the_current_is_a_400() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("mira").await;
    let response = change_password(&app, &access, PASSWORD, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("differ"),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn password_hashing_is_a_cpu_lever_password_changes_are_limited_per_user() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("nell").await;
    let passwords = [
        PASSWORD,
        "first new passphrase",
        "second new passphrase",
        "third new passphrase",
        "fourth new passphrase",
    ];
    for pair in passwords.windows(2).take(3) {
        let response = change_password(&app, &access, pair[0], pair[1]).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let refused = change_password(&app, &access, passwords[3], passwords[4]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    app.clock.advance(60);
    let again = change_password(&app, &access, passwords[3], passwords[4]).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    app.stop().await;
}

#[tokio::test]
async fn password_hashing_is_a_cpu_lever_password_changes_count_against_the_per_address_limit() {
    let app = TestApp::spawn_with(&[("TESSERA_RATE_LIMIT_PER_IP", "3")]).await;
    // Register and login are the first two requests of this address.
    let (access, _) = app.user_with_session("opal").await;
    let first = change_password(&app, &access, PASSWORD, "first new passphrase").await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    let second = change_password(&app, &access, "first new passphrase", "second new one").await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn password_hashing_is_a_cpu_lever_a_saturated_hasher_answers_503_with_retry_after_at_once() {
    // One hash at a time, and no queue at all: any hash that would wait is refused.
    let passwords = PasswordHasher::with_params(8 * 1024, 2, 1, 1)
        .unwrap()
        .with_max_queued_work(Duration::ZERO);
    let app = Arc::new(
        TestApp::spawn_with_passwords(passwords, &[("TESSERA_RATE_LIMIT_PER_IP", "0")]).await,
    );
    app.register("pia", PASSWORD).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let app = app.clone();
        tasks.spawn(async move {
            app.post_json(
                "/auth/login",
                &json!({"username": "pia", "password": PASSWORD}),
            )
            .await
        });
    }
    let mut busy = 0;
    let mut ok = 0;
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                let retry_after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry_after >= 1);
                let error: Value = response.json().await.unwrap();
                assert_eq!(error["error"], "temporarily_unavailable");
            }
            // More concurrent logins of one account than the lockout allows are 429.
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no request was refused at once ({ok} logged in)");
    assert!(ok > 0, "no login got through");
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. The OAuth endpoints and readiness are limited

const CLIENT_ID: &str = "tsc_review-client";
const CLIENT_SECRET: &str = "tss_the-review-client-secret-0123456789";

async fn add_client(app: &TestApp) {
    let store = SqliteStore::open(app.data.path()).await.unwrap();
    store
        .create_client(&Client {
            client_id: CLIENT_ID.into(),
            name: "review".into(),
            secret_hash: tessera_service::credentials::digest_of(CLIENT_SECRET.as_bytes()),
            created_at: crate::now(),
        })
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn oauth_endpoints_and_readiness_are_limited_per_address_and_introspection_per_client() {
    let app = TestApp::spawn_with(&[("TESSERA_RATE_LIMIT_PER_IP", "2")]).await;
    add_client(&app).await;
    for path in ["/oauth/revoke", "/readyz"] {
        for attempt in 1..=3 {
            let request = if path == "/readyz" {
                app.client.get(app.url(path))
            } else {
                app.client.post(app.url(path)).form(&[("token", "unknown")])
            };
            let status = request.send().await.unwrap().status();
            if attempt <= 2 {
                assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{path} #{attempt}");
            } else {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path} #{attempt}");
            }
        }
    }
    // Introspection shares the OAuth group of this address (used up above)...
    let from_here = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(from_here.status(), StatusCode::TOO_MANY_REQUESTS);
    // ... and is counted per client too, whatever the address: from 127.0.0.2 and 127.0.0.3
    // (each with a fresh address count), the client's third introspection is refused.
    let mut statuses = Vec::new();
    for address in ["127.0.0.2", "127.0.0.3", "127.0.0.2"] {
        let client = reqwest::Client::builder()
            .local_address(address.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        let status = client
            .post(app.url("/oauth/introspect"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", "unknown")])
            .send()
            .await
            .unwrap()
            .status();
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // The credential endpoints have their own count.
    app.user_with_session("quinn").await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 10. The CSRF token is tied to the session

async fn logout_with(app: &TestApp, cookies: String, csrf: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/logout"))
        .header("cookie", cookies)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_csrf_token_is_tied_to_the_session() {
    let app = TestApp::spawn().await;
    let mine = login_with_cookies(&app, "rhea").await;
    let other = login_with_cookies_again(&app, "rhea").await;
    assert_ne!(mine.csrf, other.csrf, "each session has its own token");
    // A cookie and header the client made up agree with each other, and are refused.
    let made_up = format!(
        "__Host-tessera-access={}; __Host-tessera-csrf=abc",
        mine.access
    );
    assert_eq!(
        logout_with(&app, made_up, "abc").await,
        StatusCode::FORBIDDEN
    );
    // Another session's token (a valid one) is refused too.
    let borrowed = format!(
        "__Host-tessera-access={}; __Host-tessera-csrf={}",
        mine.access, other.csrf
    );
    assert_eq!(
        logout_with(&app, borrowed, &other.csrf).await,
        StatusCode::FORBIDDEN
    );
    // The same for refresh by cookie.
    let refresh = app
        .client
        .post(app.url("/auth/refresh"))
        .header(
            "cookie",
            format!(
                "__Secure-tessera-refresh={}; __Host-tessera-csrf={}",
                mine.refresh, other.csrf
            ),
        )
        .header("x-csrf-token", &other.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        logout_with(&app, mine.header(), &mine.csrf).await,
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 11. Register reveals usernames; the lockout counts only attempts that reached it

#[tokio::test]
async fn logins_refused_by_the_per_address_limit_do_not_count_towards_the_lockout() {
    let app = TestApp::spawn_with(&[
        ("TESSERA_RATE_LIMIT_PER_IP", "4"),
        ("TESSERA_LOGIN_MAX_FAILURES", "5"),
    ])
    .await;
    app.register("sage", PASSWORD).await;
    let wrong = json!({"username": "sage", "password": "not the password at all"});
    // After the registration, three failures reach the account; the seven after them are
    // refused by the address limit before the account is looked at.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.post_json("/auth/login", &wrong).await.status());
    }
    assert_eq!(
        &statuses[..3],
        [StatusCode::UNAUTHORIZED; 3],
        "{statuses:?}"
    );
    assert!(statuses[3..]
        .iter()
        .all(|status| *status == StatusCode::TOO_MANY_REQUESTS));
    // A new address window, the same lockout window: three failures were counted, not ten, so
    // the account (five allowed) is not locked.
    app.clock.advance(60);
    app.login_response("sage", PASSWORD).await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Found by the attacker's pass over the fixes

/// A session purged after its end still has an access token inside its leeway; logging out with
/// that token must end it even though the session row is gone.
#[tokio::test]
async fn a_logout_after_the_session_was_purged_still_ends_its_token() {
    let app = TestApp::spawn_with(&[("JWT_REFRESH_TTL", "40s"), ("JWT_LEEWAY", "300s")]).await;
    let (access, _) = app.user_with_session("tara").await;
    app.clock.advance(50);
    assert_eq!(
        app.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK,
        "past its session's end, inside the leeway"
    );
    // What a purge at the session's end would do.
    let store = SqliteStore::open(app.data.path()).await.unwrap();
    use tessera_store::SessionStore as _;
    assert_eq!(
        store
            .purge_expired_sessions(crate::now() + 50)
            .await
            .unwrap(),
        1
    );
    store.close().await;
    assert_eq!(
        app.post_bearer("/auth/logout", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(app.get_bearer("/auth/me", &access).await, true).await;
    app.stop().await;
}

/// Whole seconds: a token issued in the second of a logout-all is ambiguous. One with a session
/// is judged by its session (a login right after the logout-all works); one without a session
/// (minted with the key) is refused.
#[tokio::test]
async fn a_sessionless_token_from_the_second_of_a_logout_all_is_refused() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let (access, _) = app.user_with_session("uma").await;
    let sub = claims_of(&access)["sub"].as_str().unwrap().to_owned();
    let key = app.signing_key();
    let issuer = tessera_token::TokenIssuer::new(key, "http://tessera.test", "tessera-tests", 600)
        .with_clock(app.clock.clone());
    let minted = issuer
        .issue(&tessera_token::AccessTokenRequest {
            subject: sub,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        app.post_bearer("/auth/logout-all", &access).await.status(),
        StatusCode::NO_CONTENT
    );
    let introspected: Value = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", minted.token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], false, "{introspected}");
    // The same second, a new login: its token has a session, and works.
    let (fresh, _) = app.login("uma").await;
    assert_eq!(
        app.get_bearer("/auth/me", &fresh).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// A login refused because password hashing is saturated (503) is not a failed attempt: a
/// flood must not lock out the users who retry.
#[tokio::test]
async fn logins_refused_for_load_do_not_count_towards_the_lockout() {
    // One hash at a time, no queue, hashes slow enough to be caught in flight.
    let passwords = PasswordHasher::with_params(32 * 1024, 3, 1, 1)
        .unwrap()
        .with_max_queued_work(Duration::ZERO);
    let app = Arc::new(
        TestApp::spawn_with_passwords(
            passwords,
            &[
                ("TESSERA_RATE_LIMIT_PER_IP", "0"),
                ("TESSERA_LOGIN_MAX_FAILURES", "3"),
            ],
        )
        .await,
    );
    app.register("vida", PASSWORD).await;
    let mut refused = 0;
    for round in 0..20 {
        // Keep the one hashing turn busy with a registration, and log in meanwhile.
        let busy = {
            let app = app.clone();
            tokio::spawn(async move {
                app.post_json(
                    "/auth/register",
                    &json!({"username": format!("filler{round}"), "password": PASSWORD}),
                )
                .await
                .status()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let status = app
            .post_json(
                "/auth/login",
                &json!({"username": "vida", "password": PASSWORD}),
            )
            .await
            .status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            refused += 1;
        }
        busy.await.unwrap();
        if refused >= 4 {
            break;
        }
    }
    assert!(refused >= 4, "only {refused} logins were refused for load");
    // More refusals than the lockout allows failures: none of them counted.
    app.login_response("vida", PASSWORD).await;
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

/// Media types are compared without regard to case, for forms as for JSON.
#[tokio::test]
async fn form_media_types_are_compared_without_regard_to_case() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/oauth/revoke"))
        .header(
            "content-type",
            "APPLICATION/X-WWW-FORM-URLENCODED; Charset=UTF-8",
        )
        .body("token=unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

/// A Tessera cookie sent twice is refused on every request, also one authenticated by Bearer.
#[tokio::test]
async fn a_tessera_cookie_sent_twice_is_refused_even_beside_a_bearer_token() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("wren").await;
    let response = app
        .client
        .get(app.url("/auth/me"))
        .bearer_auth(&access)
        .header("cookie", "__Host-tessera-csrf=a; __Host-tessera-csrf=b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}
