//! The revocation feed, `GET /oauth/revocations`: client authentication, the snapshot at
//! `after=0`, the cursor, the long poll woken by a revocation (on this instance, and on another
//! through Redis), expired entries skipped, and a prompt answer when the server stops.

use crate::{TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_store::Client;
use tessera_test_support::TestDatabase;
use tessera_token::{Clock as _, FixedClock, SystemClock};

const CLIENT_ID: &str = "tsc_feed-follower";
const CLIENT_SECRET: &str = "tss_feed-follower-secret-0123456789";

async fn add_client(app: &TestApp) {
    app.state
        .store
        .create_client(&Client {
            client_id: CLIENT_ID.into(),
            name: "feed".into(),
            secret_hash: tessera_service::credentials::digest_of(CLIENT_SECRET.as_bytes()),
            created_at: crate::now(),
        })
        .await
        .unwrap();
}

/// `GET /oauth/revocations?QUERY` with the client's credentials: (status, body).
async fn feed(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(&format!("/oauth/revocations?{query}")))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap())
}

fn cursor_of(body: &Value) -> i64 {
    body["cursor"].as_i64().unwrap()
}

fn entries(body: &Value) -> Vec<Value> {
    body["revocations"].as_array().unwrap().clone()
}

fn sid_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&tessera_token::base64url::decode(payload.as_bytes()).unwrap())
            .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_feed_needs_client_credentials_and_a_cursor() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let url = app.url("/oauth/revocations?after=0&wait=0");
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let wrong = app
        .client
        .get(&url)
        .basic_auth(CLIENT_ID, Some("tss_wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    for query in ["wait=0", "after=-1&wait=0", "after=x", "after=0&wait=26"] {
        let (status, body) = feed(&app, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"], "invalid_request", "{query}");
    }
    // A cursor from the future (a restored database): start again, never a silent gap.
    let (status, body) = feed(&app, "after=9223372036854775807&wait=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("after=0"),
        "{body}"
    );
    // Nothing revoked yet, no wait: an empty answer at once.
    let (status, body) = feed(&app, "after=0&wait=0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(entries(&body).is_empty());
    assert_eq!(body["more"], false);
    app.stop().await;
}

/// A logout, a logout-all and a revoked access token appear with their kinds and values; the
/// snapshot at `after=0` has all three, and asking from its cursor has none of them again.
#[tokio::test]
async fn every_kind_of_revocation_is_in_the_feed_with_a_cursor_past_it() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let register = app.register("fed", PASSWORD).await;
    let user_id = register["id"].as_str().unwrap().to_owned();
    let (logged_out, _) = app.login("fed").await;
    assert_eq!(
        app.post_bearer("/auth/logout", &logged_out).await.status(),
        StatusCode::NO_CONTENT
    );
    let (revoked, _) = app.login("fed").await;
    let revoke = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let (everywhere, _) = app.login("fed").await;
    assert_eq!(
        app.post_bearer("/auth/logout-all", &everywhere)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let (status, body) = feed(&app, "after=0&wait=0").await;
    assert_eq!(status, StatusCode::OK);
    let listed = entries(&body);
    let now = app.clock.now();
    let find = |kind: &str| {
        listed
            .iter()
            .find(|entry| entry["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} entry in {listed:?}"))
            .clone()
    };
    let session = find("session");
    assert_eq!(session["value"], sid_of(&logged_out));
    let token = find("token");
    let jti = {
        let payload = revoked.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&tessera_token::base64url::decode(payload.as_bytes()).unwrap())
                .unwrap();
        claims["jti"].as_str().unwrap().to_owned()
    };
    assert_eq!(token["value"], jti);
    let user = find("user");
    assert_eq!(user["value"], user_id);
    assert!(user["not_before"].as_u64().unwrap() >= now - 1);
    for entry in &listed {
        assert!(entry["until"].as_u64().unwrap() > now, "{entry}");
    }
    let cursor = cursor_of(&body);
    assert!(cursor > 0);
    let (_, after) = feed(&app, &format!("after={cursor}&wait=0")).await;
    assert!(entries(&after).is_empty(), "{after}");
    assert_eq!(cursor_of(&after), cursor, "nothing newer: the same cursor");
    app.stop().await;
}

/// A follower waiting at its cursor is answered as soon as a revocation is recorded, not at the
/// end of its wait; one asking with `wait=1` and nothing new gets an empty answer after a second.
#[tokio::test]
async fn a_waiting_follower_is_answered_as_soon_as_a_revocation_is_recorded() {
    let app = Arc::new(TestApp::spawn().await);
    add_client(&app).await;
    app.register("polled", PASSWORD).await;
    let (status, body) = feed(&app, "after=0&wait=0").await;
    assert_eq!(status, StatusCode::OK);
    let cursor = cursor_of(&body);

    let started = Instant::now();
    let (_, idle) = feed(&app, &format!("after={cursor}&wait=1")).await;
    let waited = started.elapsed();
    assert!(entries(&idle).is_empty());
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    let (token, _) = app.login("polled").await;
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move {
            let (status, body) = feed(&app, &format!("after={cursor}")).await;
            (status, body, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the request waits while nothing is new"
    );
    let logged_out_at = Instant::now();
    assert_eq!(
        app.post_bearer("/auth/logout", &token).await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, body, answered_at) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let latency = answered_at.saturating_duration_since(logged_out_at);
    assert!(
        latency < Duration::from_millis(500),
        "answered {latency:?} after the logout"
    );
    let listed = entries(&body);
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["kind"], "session");
    assert_eq!(listed[0]["value"], sid_of(&token));
    assert!(cursor_of(&body) > cursor);
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

/// A long poll outlives the ordinary request timeout (10 s): held for its whole `wait`, then
/// answered 200 with nothing new, not cut off with a 503.
#[tokio::test]
async fn a_long_poll_outlives_the_request_timeout() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let started = Instant::now();
    let (status, body) = feed(&app, "after=0&wait=12").await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(entries(&body).is_empty());
    assert!(waited >= Duration::from_secs(12), "{waited:?}");
    app.stop().await;
}

/// Revocations whose tokens have all expired are not sent, but the cursor moves past them.
#[tokio::test]
async fn expired_revocations_are_skipped_and_the_cursor_moves_past_them() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    app.register("aged", PASSWORD).await;
    let (token, _) = app.login("aged").await;
    app.post_bearer("/auth/logout", &token).await;
    let (_, fresh) = feed(&app, "after=0&wait=0").await;
    assert_eq!(entries(&fresh).len(), 1);
    let until = entries(&fresh)[0]["until"].as_u64().unwrap();
    app.clock.set(until);
    let (_, aged) = feed(&app, "after=0&wait=0").await;
    assert!(entries(&aged).is_empty(), "{aged}");
    assert_eq!(cursor_of(&aged), cursor_of(&fresh));
    app.stop().await;
}

/// A long poll does not hold a shutdown: it is answered when the server begins to stop.
#[tokio::test]
async fn a_long_poll_is_answered_when_the_server_stops() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let request = app
        .client
        .get(app.url("/oauth/revocations?after=0"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send();
    let waiting = tokio::spawn(async move {
        let response = request.await.unwrap();
        (response.status(), Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    app.stop().await;
    let (status, answered) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        answered.saturating_duration_since(stopping) < Duration::from_secs(2),
        "held the shutdown"
    );
}

/// On two instances with Redis, a follower waiting on one hears of a logout on the other
/// within 200 ms (the broadcast wakes it; the answer is read from the database).
#[tokio::test]
async fn a_follower_on_one_instance_hears_of_a_logout_on_another_at_once() {
    let Some(database) = TestDatabase::fresh("a revocation feed test", "tessera_feed") else {
        return;
    };
    let Some(redis) = tessera_test_support::redis::server_url("a revocation feed test") else {
        return;
    };
    let url = database.url();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TESSERA_RATE_LIMIT_PER_IP", "0"),
    ];
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let spawn =
        || TestApp::spawn_in_with(Arc::new(tempfile::tempdir().unwrap()), clock.clone(), &vars);
    let (a, b) = tokio::join!(spawn(), spawn());
    let b = Arc::new(b);
    add_client(&a).await;
    a.register("spread", PASSWORD).await;
    let (_, snapshot) = feed(&b, "after=0&wait=0").await;
    let mut cursor = cursor_of(&snapshot);
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let (token, _) = a.login("spread").await;
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move {
                let (status, body) = feed(&b, &format!("after={cursor}")).await;
                (status, body, Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let logged_out_at = Instant::now();
        assert_eq!(
            a.post_bearer("/auth/logout", &token).await.status(),
            StatusCode::NO_CONTENT
        );
        let (status, body, answered_at) = waiting.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(
            entries(&body)
                .iter()
                .any(|entry| entry["value"] == sid_of(&token)),
            "{body}"
        );
        latencies.push(answered_at.saturating_duration_since(logged_out_at));
        cursor = cursor_of(&body);
    }
    latencies.sort();
    assert!(
        latencies[latencies.len() - 1] < Duration::from_millis(200),
        "{latencies:?}"
    );
    a.stop().await;
    Arc::try_unwrap(b).ok().unwrap().stop().await;
}
