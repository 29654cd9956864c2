//! Stored signing keys across instances: one first key however many start at once, rotation
//! under traffic without a failed request or an unknown `kid` for a client holding a cached
//! JWK Set, retirement felt everywhere within a second, the JWKS and RFC 8414 metadata in step
//! with what signs, automatic rotation, and keys that a database dump or a wrong key-encryption
//! key cannot open.
//!
//! The multi-instance tests run on PostgreSQL and Redis (`TESSERA_TEST_DATABASE_URL`,
//! `TESSERA_TEST_REDIS_URL`, set by `scripts/test.sh`; they fail without them unless the skip
//! variables say otherwise). Instances share one injected clock, so "after the publish lead" and
//! "after the old key's tokens expired" are steps of the clock, not sleeps; what is measured in
//! real time is how fast every instance notices a change.

use crate::{config_with, TestApp, PASSWORD, TEST_KEK};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_server::{App, AppOptions};
use tessera_service::keys::{self, KeyEncryptionKey, JWKS_MAX_AGE, PUBLISH_LEAD};
use tessera_store::{KeyChange, REVOCATION_MARGIN};
use tessera_test_support::TestDatabase;
use tessera_token::{Algorithm, Clock as _, FixedClock, SystemClock};

/// How soon every instance must use a change made anywhere.
const WITHIN: Duration = Duration::from_secs(1);

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&tessera_token::base64url::decode(header.as_bytes()).unwrap()).unwrap()
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().unwrap().to_owned()
}

async fn jwks_kids(app: &TestApp) -> BTreeSet<String> {
    let jwks = app.get_json("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `done` every 20 ms until it holds; returns how long that took. Panics after 5 s.
async fn time_until<F, Fut>(what: &str, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs in on `app` and returns the access token, or the status if refused.
async fn try_login(app: &TestApp, username: &str) -> Result<String, StatusCode> {
    let response = app
        .post_json(
            "/auth/login",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let body: Value = response.json().await.unwrap();
    Ok(body["access_token"].as_str().unwrap().to_owned())
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get_bearer("/auth/me", token).await.status()
}

/// PostgreSQL and Redis for a multi-instance test, or `None` when explicitly skipped.
fn services(tag: &str) -> Option<(TestDatabase, String)> {
    let database = TestDatabase::fresh("a stored-keys test", tag)?;
    let redis = tessera_test_support::redis::server_url("a stored-keys test")?;
    Some((database, redis))
}

/// Starts `count` instances at once on one database and Redis, sharing `clock`.
async fn instances(count: usize, clock: &Arc<FixedClock>, vars: &[(&str, &str)]) -> Vec<TestApp> {
    let starts = (0..count).map(|_| {
        TestApp::spawn_in_with(Arc::new(tempfile::tempdir().unwrap()), clock.clone(), vars)
    });
    futures_util::future::join_all(starts).await
}

fn kek_of(app: &TestApp, vars: &[(&str, &str)]) -> KeyEncryptionKey {
    keys::load_kek(&config_with(app.data.path(), vars))
        .unwrap()
        .0
}

/// A client's cached JWK Set, as a careful resource server keeps it: keys fetched at a time, kept
/// for the JWKS `max-age`, fetched again only when a token names a `kid` it lacks and the copy
/// is that old.
struct CachedJwks {
    kids: BTreeSet<String>,
    fetched_at: u64,
    refetches: usize,
}

impl CachedJwks {
    async fn fetch(app: &TestApp, now: u64) -> CachedJwks {
        CachedJwks {
            kids: jwks_kids(app).await,
            fetched_at: now,
            refetches: 0,
        }
    }

    /// Whether the client can verify a token of `kid` at `now`: from its copy, or from a fresh
    /// one if the copy has reached `max-age`. An error says why not.
    async fn accepts(&mut self, kid: &str, app: &TestApp, now: u64) -> Result<(), String> {
        if self.kids.contains(kid) {
            return Ok(());
        }
        let age = now.saturating_sub(self.fetched_at);
        if age < JWKS_MAX_AGE {
            return Err(format!(
                "kid {kid} unknown to a JWK Set cached {age} s ago (max-age {JWKS_MAX_AGE})"
            ));
        }
        *self = CachedJwks {
            refetches: self.refetches + 1,
            ..CachedJwks::fetch(app, now).await
        };
        if self.kids.contains(kid) {
            Ok(())
        } else {
            Err(format!("kid {kid} missing from a fresh JWK Set"))
        }
    }
}

/// Two instances on PostgreSQL and Redis rotate while both serve logins and `/auth/me`: no
/// request fails, tokens from before and after verify on both, and a client holding a JWK Set
/// cached before the rotation never meets an unknown `kid` (it may only refetch once its copy
/// is `max-age` old). Both instances publish the `next` key within a second of the rotation and
/// sign with it within a second of its activation time.
#[tokio::test]
async fn two_instances_rotate_under_traffic_without_a_failure_or_an_unknown_kid() {
    let Some((database, redis)) = services("tessera_keys_rotate") else {
        return;
    };
    let url = database.url();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TESSERA_RATE_LIMIT_PER_IP", "0"),
    ];
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let apps = Arc::new(instances(2, &clock, &vars).await);
    let (a, b) = (&apps[0], &apps[1]);
    let ring = a.state.store.key_ring().await.unwrap();
    assert_eq!(ring.keys.len(), 1, "one first key for both instances");
    let first_kid = ring.keys[0].kid.clone();
    assert_eq!(jwks_kids(a).await, jwks_kids(b).await);

    a.register("rotor", PASSWORD).await;
    let before = try_login(a, "rotor").await.unwrap();
    assert_eq!(kid_of(&before), first_kid);
    let jwks_response = b
        .client
        .get(b.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        jwks_response.headers()["cache-control"],
        format!("public, max-age={JWKS_MAX_AGE}").as_str(),
        "the cache model below is the server's"
    );
    let cache = Arc::new(tokio::sync::Mutex::new(
        CachedJwks::fetch(b, clock.now()).await,
    ));

    // Traffic: log in on one instance, check the token against the cached JWK Set, use it and
    // the pre-rotation token on the other.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let traffic = {
        let (apps, clock, cache, stop, failures, seen, before) = (
            apps.clone(),
            clock.clone(),
            cache.clone(),
            stop.clone(),
            failures.clone(),
            seen.clone(),
            before.clone(),
        );
        tokio::spawn(async move {
            let mut round = 0usize;
            let mut requests = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let (issuing, other) = (&apps[round % 2], &apps[(round + 1) % 2]);
                round += 1;
                let token = match try_login(issuing, "rotor").await {
                    Ok(token) => token,
                    Err(status) => {
                        failures.lock().unwrap().push(format!("login: {status}"));
                        continue;
                    }
                };
                let kid = kid_of(&token);
                seen.lock().unwrap().insert(kid.clone());
                if let Err(why) = cache.lock().await.accepts(&kid, other, clock.now()).await {
                    failures.lock().unwrap().push(why);
                }
                for (name, token) in [("new", &token), ("pre-rotation", &before)] {
                    let status = me_status(other, token).await;
                    if status != StatusCode::OK {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("/auth/me with the {name} token: {status}"));
                    }
                }
                requests += 3;
            }
            requests
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let kek = kek_of(a, &vars);
    let rotation = keys::rotate(
        a.state.store.as_ref(),
        &kek,
        None,
        Algorithm::ES256,
        clock.now(),
        false,
    )
    .await
    .unwrap();
    let next_kid = rotation.kid.clone();
    assert_eq!(rotation.activates_at, clock.now() + PUBLISH_LEAD);
    let published = time_until("both instances publish the next key", || async {
        jwks_kids(a).await.contains(&next_kid) && jwks_kids(b).await.contains(&next_kid)
    })
    .await;
    assert!(published < WITHIN, "published after {published:?}");
    // Published, not signing: until the publish lead has passed, tokens keep the old kid, even
    // when the cached copy is nearly max-age old.
    clock.advance(JWKS_MAX_AGE - 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(kid_of(&try_login(a, "rotor").await.unwrap()), first_kid);
    assert_eq!(kid_of(&try_login(b, "rotor").await.unwrap()), first_kid);

    clock.set(rotation.activates_at);
    let switched = time_until("both instances sign with the next key", || async {
        let on_a = try_login(a, "rotor").await.map(|token| kid_of(&token));
        let on_b = try_login(b, "rotor").await.map(|token| kid_of(&token));
        on_a.as_deref() == Ok(next_kid.as_str()) && on_b.as_deref() == Ok(next_kid.as_str())
    })
    .await;
    assert!(switched < WITHIN, "switched after {switched:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let requests = traffic.await.unwrap();

    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures: {failures:?}",
        failures.len()
    );
    assert!(requests > 30, "only {requests} requests under rotation");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&first_kid) && seen.contains(&next_kid),
        "traffic saw {seen:?}"
    );
    assert_eq!(cache.lock().await.refetches, 1, "one refetch, at max-age");
    // Tokens of both keys verify on both instances.
    let after = try_login(b, "rotor").await.unwrap();
    for app in [a, b] {
        assert_eq!(me_status(app, &before).await, StatusCode::OK);
        assert_eq!(me_status(app, &after).await, StatusCode::OK);
    }
    // The metrics show the transition.
    let metrics = a
        .client
        .get(a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "tessera_signing_keys{state=\"current\"} 1",
        "tessera_signing_keys{state=\"previous\"} 1",
        "tessera_signing_keys{state=\"next\"} 0",
    ] {
        assert!(
            metrics.lines().any(|got| got == line),
            "{line} in\n{metrics}"
        );
    }
    let moved = |state: &str| {
        metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix(&format!(
                    "tessera_signing_key_transitions_total{{state=\"{state}\"}} "
                ))
            })
            .and_then(|count| count.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(moved("next") >= 1 && moved("current") >= 1 && moved("previous") >= 1);
    for app in Arc::try_unwrap(apps).ok().unwrap() {
        app.stop().await;
    }
}

/// Retiring a key (a compromise) makes its tokens fail on every instance within a second while
/// the others keep working; retiring the signing key makes a new one sign at once everywhere.
#[tokio::test]
async fn a_retired_key_fails_its_tokens_on_every_instance_within_a_second() {
    let Some((database, redis)) = services("tessera_keys_retire") else {
        return;
    };
    let url = database.url();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TESSERA_RATE_LIMIT_PER_IP", "0"),
    ];
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let apps = instances(2, &clock, &vars).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.register("victim", PASSWORD).await;
    let old = try_login(a, "victim").await.unwrap();
    let old_kid = kid_of(&old);
    let kek = kek_of(a, &vars);
    let store = a.state.store.clone();

    // An incident rotation: the new key signs at once on both.
    let rotation = keys::rotate(
        store.as_ref(),
        &kek,
        None,
        Algorithm::ES256,
        clock.now(),
        true,
    )
    .await
    .unwrap();
    let new_kid = rotation.kid;
    time_until("both sign with the new key", || async {
        kid_of(&try_login(a, "victim").await.unwrap()) == new_kid
            && kid_of(&try_login(b, "victim").await.unwrap()) == new_kid
    })
    .await;
    let new = try_login(b, "victim").await.unwrap();
    for app in [a, b] {
        assert_eq!(
            me_status(app, &old).await,
            StatusCode::OK,
            "previous verifies"
        );
    }

    let retired = keys::retire(
        store.as_ref(),
        &kek,
        &old_kid,
        Algorithm::ES256,
        clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(retired.was, keys::KeyState::Previous);
    assert_eq!(retired.new_current, None);
    let refused = time_until("the retired key's token fails on both", || async {
        me_status(a, &old).await == StatusCode::UNAUTHORIZED
            && me_status(b, &old).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused < WITHIN, "refused after {refused:?}");
    for app in [a, b] {
        assert_eq!(
            me_status(app, &new).await,
            StatusCode::OK,
            "others keep working"
        );
        assert!(
            !jwks_kids(app).await.contains(&old_kid),
            "gone from the JWKS"
        );
    }

    // The signing key itself: a new key signs at once, and its tokens fail everywhere.
    let retired = keys::retire(
        store.as_ref(),
        &kek,
        &new_kid,
        Algorithm::ES256,
        clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(retired.was, keys::KeyState::Current);
    let replacement = retired.new_current.unwrap();
    let replaced = time_until("the signing key's tokens fail on both", || async {
        me_status(a, &new).await == StatusCode::UNAUTHORIZED
            && me_status(b, &new).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(replaced < WITHIN, "refused after {replaced:?}");
    for (issuing, other) in [(a, b), (b, a)] {
        let token = try_login(issuing, "victim").await.unwrap();
        assert_eq!(kid_of(&token), replacement);
        assert_eq!(me_status(other, &token).await, StatusCode::OK);
    }
    for app in apps {
        app.stop().await;
    }
}

/// Instances starting at the same moment on an empty database make exactly one key between
/// them, and all of them publish and sign with it (several rounds, each on a fresh database).
#[tokio::test]
async fn instances_starting_at_once_on_an_empty_database_make_exactly_one_key() {
    for round in 0..3 {
        let Some((database, redis)) = services("tessera_keys_first") else {
            return;
        };
        let url = database.url();
        let vars = [
            ("DATABASE_URL", url.as_str()),
            ("REDIS_URL", redis.as_str()),
            ("TESSERA_RATE_LIMIT_PER_IP", "0"),
        ];
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let apps = instances(3, &clock, &vars).await;
        let ring = apps[0].state.store.key_ring().await.unwrap();
        assert_eq!(ring.keys.len(), 1, "round {round}: {:?}", ring.keys);
        assert_eq!(ring.version, 1, "round {round}: one change");
        let kid = ring.keys[0].kid.clone();
        apps[0].register("first", PASSWORD).await;
        for app in &apps {
            assert_eq!(jwks_kids(app).await, BTreeSet::from([kid.clone()]));
            let token = try_login(app, "first").await.unwrap();
            assert_eq!(kid_of(&token), kid, "round {round}");
        }
        for app in apps {
            app.stop().await;
        }
    }
}

/// A rotation to another algorithm is published (JWKS and RFC 8414 metadata together) before it
/// signs; once the old key's last token has expired, both drop it together.
#[tokio::test]
async fn the_jwks_and_the_metadata_follow_an_algorithm_change_together() {
    let app = TestApp::spawn().await;
    let algorithms = |metadata: &Value| -> Vec<String> {
        metadata["access_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect()
    };
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(algorithms(&metadata), ["ES256"]);
    let old_kid = app.signing_key().kid().to_owned();
    let kek = kek_of(&app, &[]);
    let rotation = keys::rotate(
        app.state.store.as_ref(),
        &kek,
        Some(Algorithm::EdDSA),
        Algorithm::ES256,
        app.clock.now(),
        false,
    )
    .await
    .unwrap();
    time_until("the EdDSA key is published", || async {
        jwks_kids(&app).await.contains(&rotation.kid)
    })
    .await;
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(algorithms(&metadata), ["ES256", "EdDSA"]);
    app.register("algo", PASSWORD).await;
    let es256 = app.login("algo").await.0;
    assert_eq!(header_of(&es256)["alg"], "ES256");

    app.clock.set(rotation.activates_at);
    time_until("EdDSA signs", || async {
        header_of(&app.login("algo").await.0)["alg"] == "EdDSA"
    })
    .await;
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(algorithms(&metadata), ["EdDSA", "ES256"], "signing first");
    assert_eq!(me_status(&app, &es256).await, StatusCode::OK);

    // The ES256 key's last token is past every verifier's leeway: it is retired everywhere.
    app.clock.advance(900 + REVOCATION_MARGIN);
    time_until("the ES256 key is retired", || async {
        !jwks_kids(&app).await.contains(&old_kid)
    })
    .await;
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(algorithms(&metadata), ["EdDSA"]);
    assert_eq!(
        jwks_kids(&app).await,
        BTreeSet::from([rotation.kid.clone()])
    );
    app.stop().await;
}

/// `TESSERA_KEY_ROTATION`: two instances schedule exactly one `next` key when the period (less
/// the publish lead) has passed, and sign with it when the period ends.
#[tokio::test]
async fn automatic_rotation_schedules_one_next_key_for_all_instances() {
    let Some((database, redis)) = services("tessera_keys_auto") else {
        return;
    };
    let url = database.url();
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("TESSERA_RATE_LIMIT_PER_IP", "0"),
        ("TESSERA_KEY_ROTATION", "1h"),
    ];
    let start = SystemClock.now();
    let clock = Arc::new(FixedClock::new(start));
    let apps = instances(2, &clock, &vars).await;
    let first = apps[0].state.store.key_ring().await.unwrap().keys[0].clone();
    clock.set(first.activates_at + 3600 - PUBLISH_LEAD - 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        apps[0].state.store.key_ring().await.unwrap().keys.len(),
        1,
        "not due yet"
    );
    clock.advance(1);
    time_until("a next key is scheduled", || async {
        apps[0].state.store.key_ring().await.unwrap().keys.len() == 2
    })
    .await;
    // Both instances saw it due; one scheduled it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ring = apps[0].state.store.key_ring().await.unwrap();
    assert_eq!(ring.keys.len(), 2, "{:?}", ring.keys);
    let next = ring.keys[1].clone();
    assert_eq!(next.activates_at, first.activates_at + 3600);
    for app in &apps {
        time_until("published everywhere", || async {
            jwks_kids(app).await.contains(&next.kid)
        })
        .await;
    }
    clock.set(next.activates_at);
    apps[0].register("auto", PASSWORD).await;
    for app in &apps {
        time_until("the next key signs", || async {
            kid_of(&try_login(app, "auto").await.unwrap()) == next.kid
        })
        .await;
    }
    for app in apps {
        app.stop().await;
    }
}

/// On PostgreSQL a start without a key-encryption key is refused naming the variable; a start
/// with another key-encryption key than the one the keys were sealed under, or with a stored
/// key altered, is refused with a clear error, never run with garbage keys.
#[tokio::test]
async fn a_missing_or_wrong_key_encryption_key_is_a_clear_start_error() {
    let Some(database) = TestDatabase::fresh("a stored-keys test", "tessera_keys_kek") else {
        return;
    };
    let url = database.url();
    let data = tempfile::tempdir().unwrap();
    let build = |vars: Vec<(&'static str, String)>| {
        let mut all = vec![
            ("TESSERA_DATA_DIR", data.path().to_str().unwrap().to_owned()),
            ("TESSERA_BIND", "127.0.0.1:0".to_owned()),
            ("DATABASE_URL", url.clone()),
        ];
        all.extend(vars);
        let config = tessera_config::Config::from_vars(&tessera_config::Vars::from_pairs(
            all.iter().map(|(name, value)| (*name, value.as_str())),
        ))
        .unwrap();
        App::build(config, AppOptions::default())
    };
    let refused = build(vec![]).await.unwrap_err().to_string();
    assert!(refused.contains("TESSERA_KEY_ENCRYPTION_KEY"), "{refused}");

    let started = build(vec![("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK.to_owned())])
        .await
        .unwrap();
    let store = started.state().store.clone();
    drop(started);
    let (other, other_text) = KeyEncryptionKey::generate().unwrap();
    let wrong = build(vec![("TESSERA_KEY_ENCRYPTION_KEY", other_text.to_string())])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("key-encryption key") && wrong.contains(other.id()),
        "{wrong}"
    );

    // The right key, a stored key altered behind Tessera's back: refused, not garbage.
    let ring = store.key_ring().await.unwrap();
    let mut altered = ring.keys[0].wrapped_private.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0x01;
    store
        .change_key_ring(
            ring.version,
            &[KeyChange::Rewrap {
                kid: ring.keys[0].kid.clone(),
                wrapped_private: altered,
                kek_id: ring.keys[0].kek_id.clone(),
            }],
        )
        .await
        .unwrap()
        .unwrap();
    let tampered = build(vec![("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK.to_owned())])
        .await
        .unwrap_err()
        .to_string();
    assert!(tampered.contains("does not open"), "{tampered}");
    store.close().await;
}

/// Every window of `needle` of `width` bytes that occurs in `haystack`.
fn shared_windows(haystack: &[u8], needle: &[u8], width: usize) -> usize {
    needle
        .windows(width)
        .filter(|window| haystack.windows(width).any(|found| found == *window))
        .count()
}

/// The database alone (its files on disk, as a backup or dump would copy them) holds no usable
/// private key: no 16-byte stretch of the key's PKCS#8 encoding, and not the key-encryption key.
#[tokio::test]
async fn the_database_files_hold_no_private_key_and_no_key_encryption_key() {
    let app = TestApp::spawn().await;
    let config = config_with(app.data.path(), &[]);
    let (kek, _) = keys::load_kek(&config).unwrap();
    let ring = app.state.store.key_ring().await.unwrap();
    let stored = &ring.keys[0];
    let private = kek
        .unwrap(&stored.kid, &stored.algorithm, &stored.wrapped_private)
        .unwrap();
    let kek_text = std::fs::read_to_string(app.data.path().join("key-encryption-key")).unwrap();
    let kek_bytes = tessera_token::base64url::decode(
        kek_text
            .trim()
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .as_bytes(),
    )
    .unwrap();
    let data = app.data.clone();
    app.stop().await;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("tessera.db") {
            files.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(files.len() > 4096, "the database files were read");
    assert!(
        files
            .windows(stored.wrapped_private.len())
            .any(|window| window == stored.wrapped_private.as_slice()),
        "the sealed key is in the files (the check looks in the right place)"
    );
    // The public point is stored only as base64url text, so no raw stretch of the PKCS#8
    // encoding (private scalar, public point or ASN.1 framing) has a reason to be there.
    assert_eq!(
        shared_windows(&files, &private, 16),
        0,
        "a private key stretch"
    );
    assert_eq!(
        shared_windows(&files, &kek_bytes, 8),
        0,
        "the key-encryption key"
    );
}

/// A row written into the database without the key-encryption key (an attacker's public key,
/// with the `kid` of its thumbprint and a copied `kek_id`) is neither published nor trusted:
/// public keys are derived from the sealed private keys, never read from the row.
#[tokio::test]
async fn a_key_row_written_without_the_key_encryption_key_verifies_nothing() {
    let app = TestApp::spawn().await;
    app.register("target", PASSWORD).await;
    let (genuine, _) = app.login("target").await;
    let payload = genuine.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&tessera_token::base64url::decode(payload.as_bytes()).unwrap())
            .unwrap();
    let sub = claims["sub"].as_str().unwrap().to_owned();
    let ring = app.state.store.key_ring().await.unwrap();
    let forger = Arc::new(
        tessera_token::SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .0,
    );
    let row = tessera_store::StoredKey {
        kid: forger.kid().to_owned(),
        algorithm: "ES256".into(),
        wrapped_private: vec![0; 60],
        kek_id: ring.keys[0].kek_id.clone(),
        public_jwk: serde_json::to_string(forger.verifying_key().public_jwk().unwrap()).unwrap(),
        created_at: app.clock.now(),
        activates_at: app.clock.now() + 10 * 365 * 86400,
        retired_at: None,
    };
    app.state
        .store
        .change_key_ring(ring.version, &[KeyChange::Insert(row)])
        .await
        .unwrap()
        .unwrap();
    let forged = tessera_token::TokenIssuer::new(
        forger.clone(),
        "http://tessera.test",
        "tessera-tests",
        600,
    )
    .with_clock(app.clock.clone())
    .issue(&tessera_token::AccessTokenRequest {
        subject: sub,
        ..tessera_token::AccessTokenRequest::default()
    })
    .unwrap()
    .token;
    // Give every instance time to take the change up, then check.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        !jwks_kids(&app).await.contains(forger.kid()),
        "not published"
    );
    assert_eq!(me_status(&app, &forged).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &genuine).await, StatusCode::OK);
    app.stop().await;
}

/// An instance that cannot open the new keys (the key-encryption key was rotated and it was not
/// restarted yet) still applies a retirement: the retired key's tokens fail, it leaves the JWKS,
/// and the instance stops signing (503) rather than sign with it.
#[tokio::test]
async fn an_instance_that_cannot_open_the_new_keys_still_drops_a_retired_key() {
    let app = TestApp::spawn().await;
    app.register("stale", PASSWORD).await;
    let (token, _) = app.login("stale").await;
    let old_kid = kid_of(&token);
    let old_kek = kek_of(&app, &[]);
    let (new_kek, _) = KeyEncryptionKey::generate().unwrap();
    let store = app.state.store.clone();
    keys::rewrap(store.as_ref(), &old_kek, &new_kek, app.clock.now())
        .await
        .unwrap();
    let retired = keys::retire(
        store.as_ref(),
        &new_kek,
        &old_kid,
        Algorithm::ES256,
        app.clock.now(),
    )
    .await
    .unwrap();
    let replacement = retired.new_current.unwrap();
    let refused = time_until("the retired key's token fails", || async {
        me_status(&app, &token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused < WITHIN, "refused after {refused:?}");
    let kids = jwks_kids(&app).await;
    assert!(!kids.contains(&old_kid), "{kids:?}");
    assert!(
        !kids.contains(&replacement),
        "not opened, not published: {kids:?}"
    );
    let login = app
        .post_json(
            "/auth/login",
            &json!({"username": "stale", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(login.headers().get("retry-after").is_some());
    app.stop().await;
}
