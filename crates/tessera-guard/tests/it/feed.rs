//! The revocation feed, followed from a real Tessera: a logout refused within a second, a guard
//! started after the revocations still refusing them (catch-up from cursor 0), a Tessera restart
//! survived, and the fail-closed rule (503 once the feed is not current; `serve_stale` accepts).

use crate::{call, ready, service, until_status, Tessera, AUDIENCE};
use axum::http::StatusCode;
use std::time::{Duration, Instant};
use tessera_guard::{ClientCredentials, Error, FeedOptions, Guard, Revoked, Unavailable};

fn guard_with_feed(
    tessera: &Tessera,
    credentials: ClientCredentials,
    options: impl FnOnce(FeedOptions) -> FeedOptions,
) -> Guard {
    Guard::builder()
        .issuer(&tessera.issuer)
        .audience(AUDIENCE)
        .discover_keys()
        .clock(tessera.clock.clone())
        .revocation_feed(options(FeedOptions::new(credentials)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_logout_is_refused_within_a_second_through_the_feed() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("follower").await;
    tessera.register("ivy").await;
    let token = tessera.login("ivy").await;
    let guard = guard_with_feed(&tessera, credentials, |o| o);
    ready(&guard).await;
    let app = service(&guard);
    assert_eq!(call(&app, "/me", Some(&token)).await.status, StatusCode::OK);
    // The follower is now waiting in a long poll.
    tokio::time::sleep(Duration::from_millis(200)).await;

    tessera.logout(&token).await;
    let took = until_status(
        &app,
        "/me",
        &token,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(1),
    )
    .await;
    eprintln!("logout to the guard's first 401: {took:?}");
    assert!(matches!(
        guard.verify(&token).await,
        Err(Error::Revoked(Revoked::Session))
    ));
    // Another session of the same user is untouched.
    let other = tessera.login("ivy").await;
    assert_eq!(call(&app, "/me", Some(&other)).await.status, StatusCode::OK);
    assert!(guard.stats().feed_current);
    tessera.stop().await;
}

#[tokio::test]
async fn a_guard_started_after_the_revocations_still_refuses_those_tokens() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("latecomer").await;
    tessera.register("joan").await;
    let logged_out = tessera.login("joan").await;
    let everywhere = tessera.login("joan").await;
    let revoked = tessera.login("joan").await;
    tessera.logout(&logged_out).await;
    let response = tessera
        .client
        .post(tessera.url("/oauth/revoke"))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Logout everywhere: the user's epoch (every token issued before it).
    let response = tessera
        .client
        .post(tessera.url("/auth/logout-all"))
        .bearer_auth(&everywhere)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The next second: a fresh login is not covered by the epoch.
    tessera.clock.advance(1);
    let fresh = tessera.login("joan").await;

    let guard = guard_with_feed(&tessera, credentials, |o| o);
    ready(&guard).await;
    let app = service(&guard);
    for token in [&logged_out, &everywhere, &revoked] {
        let answer = call(&app, "/me", Some(token)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
    assert!(matches!(
        guard.verify(&logged_out).await,
        Err(Error::Revoked(_))
    ));
    assert_eq!(call(&app, "/me", Some(&fresh)).await.status, StatusCode::OK);
    assert!(guard.stats().revocations >= 3, "{:?}", guard.stats());
    tessera.stop().await;
}

/// A token that lives longer than Tessera's access lifetime (`tessera token mint --ttl 2h`)
/// outlives the revocation that covers it: Tessera forgets a user's epoch once every token of the
/// deployment's lifetime has expired, and refuses longer-lived tokens itself. So must the guard,
/// or a disabled user's long token comes back once the epoch is forgotten (at once for a guard
/// started then).
#[tokio::test]
async fn a_token_outliving_its_revocation_is_refused_as_tessera_refuses_it() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("long-lived").await;
    tessera.register("lou").await;
    let login = tessera.login("lou").await;
    let tokens = tessera.state.tokens();
    let sub = tokens.verifier.verify_access_token(&login).unwrap().sub;
    let minted = tokens
        .issuer()
        .unwrap()
        .issue(&tessera_token::AccessTokenRequest {
            subject: sub,
            ttl: Some(2 * 3600),
            ..Default::default()
        })
        .unwrap()
        .token;
    // Tessera's own verdict on it.
    let me = tessera
        .client
        .get(tessera.url("/auth/me"))
        .bearer_auth(&minted)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    // Logout everywhere: the user's epoch covers every token issued before it, minted included.
    tessera.clock.advance(1);
    let response = tessera
        .client
        .post(tessera.url("/auth/logout-all"))
        .bearer_auth(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Half an hour later, Tessera's record has forgotten the epoch (15 min lifetime + margin);
    // the minted token has 90 minutes left.
    tessera.clock.advance(1800);
    let guard = guard_with_feed(&tessera, credentials, |o| o);
    ready(&guard).await;
    assert!(matches!(
        guard.verify(&minted).await,
        Err(Error::Revoked(Revoked::Lifetime))
    ));
    let answer = call(&service(&guard), "/me", Some(&minted)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    // A token within the configured lifetime passes.
    let fresh = tessera.login("lou").await;
    assert!(guard.verify(&fresh).await.is_ok());
    let strict = guard_with_feed(&tessera, tessera.add_client("strict").await, |o| {
        o.max_token_lifetime(Duration::from_secs(600))
    });
    ready(&strict).await;
    assert!(matches!(
        strict.verify(&fresh).await,
        Err(Error::Revoked(Revoked::Lifetime))
    ));
    tessera.stop().await;
}

#[tokio::test]
async fn a_guard_keeps_following_the_feed_across_a_tessera_restart() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("restarts").await;
    tessera.register("kim").await;
    let before = tessera.login("kim").await;
    let guard = guard_with_feed(&tessera, credentials, |o| o);
    ready(&guard).await;
    let app = service(&guard);
    assert_eq!(
        call(&app, "/me", Some(&before)).await.status,
        StatusCode::OK
    );
    let cursor_before = guard.stats().feed_cursor;

    let (data, clock, port) = (tessera.data.clone(), tessera.clock.clone(), tessera.port);
    tessera.stop().await;
    let tessera = Tessera::start_in(data, clock, port).await;
    // The follower reconnects (backoff from 100 ms) and is current again well within the bound.
    let started = Instant::now();
    while guard.stats().feed_failures == 0 && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        call(&app, "/me", Some(&before)).await.status,
        StatusCode::OK
    );

    // A revocation made after the restart reaches the guard within a second.
    let after = tessera.login("kim").await;
    assert_eq!(call(&app, "/me", Some(&after)).await.status, StatusCode::OK);
    tessera.logout(&after).await;
    until_status(
        &app,
        "/me",
        &after,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        call(&app, "/me", Some(&before)).await.status,
        StatusCode::OK
    );
    let stats = guard.stats();
    assert!(stats.feed_cursor > cursor_before, "{stats:?}");
    assert_eq!(
        stats.feed_restarts, 0,
        "the cursor is still valid after a restart: {stats:?}"
    );
    assert!(stats.feed_current);
    tessera.stop().await;
}

#[tokio::test]
async fn an_unreachable_feed_fails_closed_after_the_bound_unless_serving_stale() {
    let tessera = Tessera::start().await;
    let credentials = tessera.add_client("blind").await;
    tessera.register("lou").await;
    let token = tessera.login("lou").await;
    let timing = |o: FeedOptions| o.timing(Duration::from_secs(1), Duration::from_secs(3));
    let strict = guard_with_feed(&tessera, credentials.clone(), timing);
    let lenient = guard_with_feed(&tessera, credentials, |o| timing(o).serve_stale(true));
    ready(&strict).await;
    ready(&lenient).await;
    let (strict_app, lenient_app) = (service(&strict), service(&lenient));
    assert_eq!(
        call(&strict_app, "/me", Some(&token)).await.status,
        StatusCode::OK
    );

    let stopped = Instant::now();
    let (data, clock, port) = (tessera.data.clone(), tessera.clock.clone(), tessera.port);
    tessera.stop().await;
    // Within the bound the keys and the revocations known so far still decide.
    assert_eq!(
        call(&strict_app, "/me", Some(&token)).await.status,
        StatusCode::OK
    );
    let took = until_status(
        &strict_app,
        "/me",
        &token,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(6),
    )
    .await;
    let since_stop = stopped.elapsed();
    assert!(
        since_stop >= Duration::from_secs(2),
        "503 too early: {since_stop:?} ({took:?})"
    );
    let answer = call(&strict_app, "/me", Some(&token)).await;
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert!(matches!(
        strict.verify(&token).await,
        Err(Error::Unavailable(Unavailable::FeedStale))
    ));
    assert!(!strict.is_ready());
    // Serving stale: accepted, and counted. (The lenient guard's last long poll may have been
    // answered up to `wait` after the strict one's: wait until it too is stale.)
    let waited = Instant::now();
    while lenient.stats().feed_current && waited.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!lenient.stats().feed_current, "{:?}", lenient.stats());
    assert_eq!(
        call(&lenient_app, "/me", Some(&token)).await.status,
        StatusCode::OK
    );
    assert!(lenient.stats().stale_feed_acceptances >= 1);
    // A bad token is still a 401 (never a 200) whatever the feed.
    assert_eq!(
        call(&lenient_app, "/me", Some("a.b.c")).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Tessera back: the strict guard is current again and accepts.
    let tessera = Tessera::start_in(data, clock, port).await;
    until_status(
        &strict_app,
        "/me",
        &token,
        StatusCode::OK,
        Duration::from_secs(8),
    )
    .await;
    tessera.stop().await;
}
