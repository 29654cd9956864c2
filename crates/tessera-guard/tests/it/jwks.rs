//! The remote JWK Set rules, against small local JWK Set servers that count their fetches:
//! single flight and cooldown for unknown `kid`s, `max-age` within bounds, the size cap, the
//! https rule, the last good keys kept while refetches fail (then 503), and 503 before any key.

use crate::{call, service};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_guard::{Error, Guard, JwksOptions, Unavailable};
use tessera_token::{AccessTokenRequest, Algorithm, KeySet, SigningKey, TokenIssuer};

const ISSUER: &str = "https://auth.test";

/// What the JWK Set server answers, changeable while it runs.
struct Served {
    keys: Mutex<KeySet>,
    padding: Mutex<usize>,
    endless: Mutex<bool>,
    status: AtomicU16,
    cache_control: Mutex<String>,
    delay: Mutex<Duration>,
    fetches: AtomicUsize,
}

struct JwksServer {
    url: String,
    served: Arc<Served>,
}

impl JwksServer {
    async fn start(keys: &[&SigningKey]) -> JwksServer {
        let mut set = KeySet::new();
        for key in keys {
            set.add_verifying_key(key.verifying_key().clone()).unwrap();
        }
        let served = Arc::new(Served {
            keys: Mutex::new(set),
            padding: Mutex::new(0),
            endless: Mutex::new(false),
            status: AtomicU16::new(200),
            cache_control: Mutex::new("public, max-age=300".into()),
            delay: Mutex::new(Duration::ZERO),
            fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jwks.json", get(answer))
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer { url, served }
    }

    fn fetches(&self) -> usize {
        self.served.fetches.load(Ordering::SeqCst)
    }

    fn add(&self, key: &SigningKey) {
        self.served
            .keys
            .lock()
            .unwrap()
            .add_verifying_key(key.verifying_key().clone())
            .unwrap();
    }
}

async fn answer(State(served): State<Arc<Served>>) -> Response {
    served.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *served.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let status = StatusCode::from_u16(served.status.load(Ordering::SeqCst)).unwrap();
    let cache_control = served.cache_control.lock().unwrap().clone();
    if *served.endless.lock().unwrap() {
        // A body without Content-Length that never ends: only a reader that stops at its cap
        // gets past it.
        let chunk = Bytes::from(vec![b' '; 4096]);
        let stream = futures_util::stream::iter(std::iter::repeat_with(move || {
            Ok::<_, std::io::Error>(chunk.clone())
        }));
        return (status, Body::from_stream(stream)).into_response();
    }
    let mut jwks = serde_json::to_value(served.keys.lock().unwrap().to_jwks()).unwrap();
    let padding = *served.padding.lock().unwrap();
    if padding > 0 {
        jwks["padding"] = "x".repeat(padding).into();
    }
    (
        status,
        [
            (header::CACHE_CONTROL, cache_control),
            (header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        jwks.to_string(),
    )
        .into_response()
}

fn key() -> Arc<SigningKey> {
    Arc::new(SigningKey::generate(Algorithm::ES256).unwrap().0)
}

fn token(key: &Arc<SigningKey>) -> String {
    TokenIssuer::new(key.clone(), ISSUER, "api", 600)
        .issue(&AccessTokenRequest {
            subject: "u1".into(),
            ..Default::default()
        })
        .unwrap()
        .token
}

fn guard(server: &JwksServer, options: JwksOptions) -> Guard {
    Guard::builder()
        .issuer(ISSUER)
        .audience("api")
        .jwks_url(&server.url)
        .jwks_options(options)
        .build()
        .unwrap()
}

async fn loaded(guard: &Guard) {
    tokio::time::timeout(Duration::from_secs(5), guard.ready())
        .await
        .unwrap_or_else(|_| panic!("not ready: {:?}", guard.stats()));
}

/// N requests with forged `kid`s at once: one refetch between them all (the single flight), and
/// none at all within the cooldown.
#[tokio::test]
async fn forged_kids_cause_one_refetch_shared_by_concurrent_requests_and_none_in_the_cooldown() {
    let signer = key();
    let forged: Vec<String> = (0..20).map(|_| token(&key())).collect();

    // No cooldown: the single flight alone.
    let server = JwksServer::start(&[&signer]).await;
    let guard = guard(&server, JwksOptions::default().cooldown(Duration::ZERO));
    loaded(&guard).await;
    assert_eq!(server.fetches(), 1);
    *server.served.delay.lock().unwrap() = Duration::from_millis(300);
    let attempts = forged.iter().map(|forged| {
        let guard = guard.clone();
        let forged = forged.clone();
        tokio::spawn(async move { guard.verify(&forged).await })
    });
    for attempt in attempts.collect::<Vec<_>>() {
        assert!(matches!(
            attempt.await.unwrap(),
            Err(Error::InvalidToken(tessera_token::Error::UnknownKey))
        ));
    }
    assert_eq!(
        server.fetches(),
        2,
        "20 concurrent forged kids: one refetch"
    );
    assert_eq!(guard.stats().jwks_unknown_kid_refetches, 1);

    // The default cooldown (30 s) after the first fetch: no refetch at all.
    let server = JwksServer::start(&[&signer]).await;
    let guard = self::guard(&server, JwksOptions::default());
    loaded(&guard).await;
    let app = service(&guard);
    for forged in &forged {
        assert_eq!(
            call(&app, "/me", Some(forged)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        server.fetches(),
        1,
        "forged kids within the cooldown fetch nothing"
    );
    assert_eq!(guard.stats().jwks_cooldown_skips, 20);
    assert_eq!(
        call(&app, "/me", Some(&token(&signer))).await.status,
        StatusCode::OK
    );
}

/// A key published after the set was fetched (a rotation) is found by one refetch once the
/// cooldown has passed.
#[tokio::test]
async fn a_new_key_is_found_by_a_refetch_once_the_cooldown_has_passed() {
    let (first, second) = (key(), key());
    let server = JwksServer::start(&[&first]).await;
    let guard = guard(
        &server,
        JwksOptions::default().cooldown(Duration::from_millis(400)),
    );
    loaded(&guard).await;
    server.add(&second);
    let rotated = token(&second);
    assert!(guard.verify(&rotated).await.is_err(), "within the cooldown");
    assert_eq!(server.fetches(), 1);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let claims = guard.verify(&rotated).await.unwrap();
    assert_eq!(claims.sub, "u1");
    assert_eq!(server.fetches(), 2);
    assert!(guard.verify(&token(&first)).await.is_ok());
}

#[tokio::test]
async fn max_age_is_honoured_within_the_configured_bounds() {
    let signer = key();
    // max-age=1 below a 3 s minimum: fresh for 3 s, refreshed at 80 % (2.4 s).
    let short = JwksServer::start(&[&signer]).await;
    *short.served.cache_control.lock().unwrap() = "max-age=1".into();
    let floor = guard(
        &short,
        JwksOptions::default().cache_bounds(Duration::from_secs(3), Duration::from_secs(600)),
    );
    // max-age=3600 above a 1 s maximum: refreshed every 0.8 s.
    let long = JwksServer::start(&[&signer]).await;
    *long.served.cache_control.lock().unwrap() = "public, max-age=3600".into();
    let ceiling = guard(
        &long,
        JwksOptions::default().cache_bounds(Duration::ZERO, Duration::from_secs(1)),
    );
    // max-age=1 within the bounds: refreshed every 0.8 s.
    let honoured = JwksServer::start(&[&signer]).await;
    *honoured.served.cache_control.lock().unwrap() = "max-age=1".into();
    let within = guard(
        &honoured,
        JwksOptions::default().cache_bounds(Duration::ZERO, Duration::from_secs(60)),
    );
    loaded(&floor).await;
    loaded(&ceiling).await;
    loaded(&within).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(short.fetches(), 1, "the minimum holds a short max-age");
    assert!(
        long.fetches() >= 2,
        "the maximum cuts a long max-age: {}",
        long.fetches()
    );
    assert!(
        honoured.fetches() >= 2,
        "max-age within the bounds: {}",
        honoured.fetches()
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        short.fetches(),
        2,
        "refreshed before the 3 s minimum ran out"
    );
    // Every refresh happened in the background: no request saw a stale or missing set.
    for guard in [&floor, &ceiling, &within] {
        assert_eq!(guard.stats().stale_key_verifications, 0);
        assert!(guard.verify(&token(&signer)).await.is_ok());
    }
}

/// A zero `min_cache` (allowed) and a `no-store` set: refreshed at most twice a second, not in a
/// loop as fast as the server answers.
#[tokio::test]
async fn a_no_store_set_with_no_minimum_is_not_fetched_in_a_loop() {
    let signer = key();
    let server = JwksServer::start(&[&signer]).await;
    *server.served.cache_control.lock().unwrap() = "no-store".into();
    let guard = guard(
        &server,
        JwksOptions::default().cache_bounds(Duration::ZERO, Duration::from_secs(60)),
    );
    loaded(&guard).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let fetches = server.fetches();
    assert!((2..=4).contains(&fetches), "{fetches} fetches in 1.2 s");
    assert!(guard.verify(&token(&signer)).await.is_ok());
}

/// `Duration::MAX` for "as long as can be" (the grace, the cache ceiling) and a set that says
/// `max-age` of 2^64 - 1 seconds: the keys load, no deadline arithmetic panics.
#[tokio::test]
async fn unbounded_durations_do_not_panic_the_key_task() {
    let signer = key();
    let server = JwksServer::start(&[&signer]).await;
    *server.served.cache_control.lock().unwrap() = format!("max-age={}", u64::MAX);
    let guard = guard(
        &server,
        JwksOptions::default()
            .cache_bounds(Duration::from_secs(30), Duration::MAX)
            .stale_grace(Duration::MAX),
    );
    loaded(&guard).await;
    assert!(guard.verify(&token(&signer)).await.is_ok());
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn an_answer_over_the_size_cap_is_refused_as_it_arrives() {
    let signer = key();
    let server = JwksServer::start(&[&signer]).await;
    *server.served.padding.lock().unwrap() = 70 * 1024;
    let capped = guard(&server, JwksOptions::default());
    let generous = guard(&server, JwksOptions::default().max_size(256 * 1024));
    loaded(&generous).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!capped.stats().keys_loaded);
    assert!(capped.stats().jwks_fetch_failures >= 1);
    assert!(matches!(
        capped.verify(&token(&signer)).await,
        Err(Error::Unavailable(Unavailable::KeysNotLoaded))
    ));

    // A body without a length that never ends is cut at the cap, not read forever.
    let endless = JwksServer::start(&[&signer]).await;
    *endless.served.endless.lock().unwrap() = true;
    let guard = guard(
        &endless,
        JwksOptions::default().timeout(Duration::from_secs(30)),
    );
    let started = std::time::Instant::now();
    while guard.stats().jwks_fetch_failures == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            guard.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!guard.stats().keys_loaded);
}

#[tokio::test]
async fn https_is_required_except_to_loopback_hosts() {
    let refused = |builder: tessera_guard::GuardBuilder| match builder.build() {
        Err(Error::Config(text)) => assert!(text.contains("https"), "{text}"),
        other => panic!("{other:?}"),
    };
    let base = || {
        Guard::builder()
            .issuer("http://auth.example.com")
            .audience("api")
    };
    refused(base().jwks_url("http://auth.example.com/.well-known/jwks.json"));
    refused(base().jwks_url("http://10.0.0.7/jwks.json"));
    refused(base().discover_keys());
    refused(
        Guard::builder()
            .issuer("https://auth.example.com")
            .audience("api")
            .jwks_url("https://auth.example.com/jwks.json")
            .revocation_feed(
                tessera_guard::FeedOptions::new(tessera_guard::ClientCredentials::new("a", "b"))
                    .url("http://auth.example.com/oauth/revocations"),
            ),
    );
    for allowed in [
        "https://auth.example.com/jwks.json",
        "http://127.0.0.1:1/jwks.json",
        "http://localhost:1/jwks.json",
        "http://[::1]:1/jwks.json",
    ] {
        assert!(base().jwks_url(allowed).build().is_ok(), "{allowed}");
    }
}

/// Refetches failing: the last good keys verify on (counted, and past their lifetime), then the
/// guard answers 503 once the grace is over, and recovers when the JWK Set answers again.
#[tokio::test]
async fn the_last_good_keys_serve_while_refetches_fail_then_503_after_the_grace() {
    let signer = key();
    let server = JwksServer::start(&[&signer]).await;
    let guard = guard(
        &server,
        JwksOptions::default()
            .cache_bounds(Duration::ZERO, Duration::from_secs(1))
            .stale_grace(Duration::from_secs(2)),
    );
    loaded(&guard).await;
    let app = service(&guard);
    let good = token(&signer);
    server.served.status.store(500, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(call(&app, "/me", Some(&good)).await.status, StatusCode::OK);
    let stats = guard.stats();
    assert!(
        stats.keys_stale && stats.jwks_fetch_failures >= 1,
        "{stats:?}"
    );
    assert!(stats.stale_key_verifications >= 1, "{stats:?}");

    crate::until_status(
        &app,
        "/me",
        &good,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(3),
    )
    .await;
    assert!(matches!(
        guard.verify(&good).await,
        Err(Error::Unavailable(Unavailable::KeysExpired))
    ));
    let refused = call(&app, "/me", Some(&good)).await;
    assert_eq!(refused.body["error"], "temporarily_unavailable");

    server.served.status.store(200, Ordering::SeqCst);
    crate::until_status(&app, "/me", &good, StatusCode::OK, Duration::from_secs(6)).await;
}

#[tokio::test]
async fn before_any_key_is_loaded_the_guard_answers_503_with_retry_after() {
    let port = crate::free_port();
    let guard = Guard::builder()
        .issuer(ISSUER)
        .audience("api")
        .jwks_url(format!("http://127.0.0.1:{port}/jwks.json"))
        .build()
        .unwrap();
    let app = service(&guard);
    let answer = call(&app, "/me", Some(&token(&key()))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert!(!guard.is_ready());
    // Without a token it is still a 401: nothing to decide.
    assert_eq!(
        call(&app, "/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
