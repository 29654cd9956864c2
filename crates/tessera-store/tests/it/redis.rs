//! The Redis state: throttle scripts counted across connections (as across instances), deny-list
//! entries with TTLs, the revocation broadcast, and the completeness marker after a flush.
//!
//! The server is named by `TESSERA_TEST_REDIS_URL` (for example `redis://127.0.0.1:6379`;
//! `scripts/test.sh` starts Redis and sets it). Each test uses its own key prefix, so tests share
//! the server without seeing each other's keys, and deletes its keys when it ends. Without the
//! variable these tests fail, unless `TESSERA_SKIP_REDIS=1` says to skip them; with it set, an
//! unreachable server fails them.

use std::time::Duration;
use tessera_store::redis::{LoginAttempt, RedisState};
use tessera_store::{Revocation, RevocationKind};
use tessera_test_support::redis as test_redis;

const NOW: u64 = 1_900_000_000;

/// Two connections with one prefix (two instances), and the prefix's keys deleted at the end.
struct Shared {
    a: RedisState,
    b: RedisState,
    admin: redis::Client,
    prefix: String,
}

impl Shared {
    async fn new() -> Option<Shared> {
        let url = test_redis::server_url("a Redis test")?;
        let prefix = test_redis::unique_key_prefix();
        let shared = Shared {
            a: RedisState::new(&url, &prefix).unwrap(),
            b: RedisState::new(&url, &prefix).unwrap(),
            admin: redis::Client::open(url.as_str()).unwrap(),
            prefix,
        };
        shared.a.ping().await.unwrap_or_else(|err| {
            panic!("TESSERA_TEST_REDIS_URL is set but Redis does not answer: {err}")
        });
        Some(shared)
    }

    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        self.admin.get_multiplexed_async_connection().await.unwrap()
    }

    async fn keys(&self) -> Vec<String> {
        let mut connection = self.admin().await;
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut connection)
            .await
            .unwrap();
        keys.sort();
        keys
    }

    async fn ttl(&self, key: &str) -> i64 {
        let mut connection = self.admin().await;
        redis::cmd("TTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap()
    }

    async fn delete_all(&self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let mut connection = self.admin().await;
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut connection)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn failed_logins_counted_on_two_connections_lock_the_account_on_both() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let account = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    for (n, state) in [&shared.a, &shared.b, &shared.a].into_iter().enumerate() {
        assert_eq!(
            state
                .login_attempt(account, NOW + 10, 3, 900)
                .await
                .unwrap(),
            LoginAttempt::Counted(u32::try_from(n + 1).unwrap())
        );
    }
    // Locked on both, for the rest of the window that started at the first attempt.
    assert_eq!(
        shared
            .b
            .login_attempt(account, NOW + 100, 3, 900)
            .await
            .unwrap(),
        LoginAttempt::Locked(810)
    );
    assert_eq!(
        shared
            .a
            .login_attempt(account, NOW + 909, 3, 900)
            .await
            .unwrap(),
        LoginAttempt::Locked(1)
    );
    // The window passes: a new one starts.
    assert_eq!(
        shared
            .a
            .login_attempt(account, NOW + 910, 3, 900)
            .await
            .unwrap(),
        LoginAttempt::Counted(1)
    );
    // A success forgets the count; other accounts never shared it.
    shared.b.login_success(account).await.unwrap();
    assert_eq!(
        shared
            .a
            .login_attempt(account, NOW + 911, 3, 900)
            .await
            .unwrap(),
        LoginAttempt::Counted(1)
    );
    assert_eq!(
        shared
            .a
            .login_attempt("other", NOW + 911, 3, 900)
            .await
            .unwrap(),
        LoginAttempt::Counted(1)
    );
    // Redis forgets the counter after the window (real seconds).
    let ttl = shared
        .ttl(&format!("{}login:{account}", shared.prefix))
        .await;
    assert!((1..=901).contains(&ttl), "ttl {ttl}");
    shared.delete_all().await;
}

#[tokio::test]
async fn concurrent_attempts_on_two_connections_never_exceed_the_limit() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40 {
        let state = if n % 2 == 0 {
            shared.a.clone()
        } else {
            shared.b.clone()
        };
        tasks.spawn(async move { state.login_attempt("acct", NOW, 5, 900).await.unwrap() });
    }
    let mut counted = 0;
    while let Some(outcome) = tasks.join_next().await {
        if matches!(outcome.unwrap(), LoginAttempt::Counted(_)) {
            counted += 1;
        }
    }
    assert_eq!(counted, 5, "exactly the limit is let through");
    shared.delete_all().await;
}

#[tokio::test]
async fn address_hits_share_one_fixed_window() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    assert_eq!(
        shared.a.address_hit("10.0.0.1", NOW, 60).await.unwrap(),
        (1, 60)
    );
    assert_eq!(
        shared
            .b
            .address_hit("10.0.0.1", NOW + 15, 60)
            .await
            .unwrap(),
        (2, 45)
    );
    assert_eq!(
        shared
            .a
            .address_hit("10.0.0.2", NOW + 15, 60)
            .await
            .unwrap(),
        (1, 60)
    );
    assert_eq!(
        shared
            .b
            .address_hit("10.0.0.1", NOW + 60, 60)
            .await
            .unwrap(),
        (1, 60),
        "a new window"
    );
    shared.delete_all().await;
}

#[tokio::test]
async fn published_revocations_are_stored_with_their_remaining_life_and_hinted_to_subscribers() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    // Publishing uses the system clock (Redis TTLs are real time).
    let now = tessera_store::redis::unix_time_ms() / 1000;
    let mut feed = shared.b.subscribe().await.unwrap();
    let live = Revocation {
        kind: RevocationKind::Session,
        subject: "sid-123".into(),
        not_before: 0,
        expires_at: now + 600,
    };
    // An already expired entry is not stored.
    let expired = Revocation {
        kind: RevocationKind::Token,
        subject: "old".into(),
        not_before: 0,
        expires_at: now - 1,
    };
    shared
        .a
        .publish_revocations(&[live, expired])
        .await
        .unwrap();
    let hint = tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .expect("a hint within 5 s")
        .unwrap()
        .unwrap();
    let lag = tessera_store::redis::unix_time_ms().saturating_sub(hint.published_at_ms);
    assert!(lag < 5_000, "published {lag} ms ago");
    let key = format!("{}deny:sid:sid-123", shared.prefix);
    assert_eq!(shared.keys().await, std::slice::from_ref(&key));
    let ttl = shared.ttl(&key).await;
    assert!((598..=600).contains(&ttl), "ttl {ttl}");
    feed.ping().await.unwrap();
    shared.delete_all().await;
}

/// Item 16 of the security review: whoever can publish on the channel gets a database read at
/// most. A message that is not a hint (a forged revocation, an oversized payload) is refused
/// unread, and the subscription goes on.
#[tokio::test]
async fn redis_is_trusted_too_much_forged_and_oversized_messages_are_ignored() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let mut feed = shared.b.subscribe().await.unwrap();
    let channel = shared.a.channel();
    let mut admin = shared.admin().await;
    let forged = format!("v1 user {} {} 0 victim", u64::MAX / 2, u64::MAX / 2);
    let oversized = "v2 1".repeat(100_000);
    for message in [forged.as_str(), oversized.as_str(), "v2 not-a-number"] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(message)
            .query_async(&mut admin)
            .await
            .unwrap();
        let received = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .unwrap()
            .unwrap();
        assert!(received.is_err(), "accepted {:.40}", message);
    }
    shared.a.publish_revocations(&[]).await.unwrap();
    let hint = tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .unwrap()
        .unwrap();
    assert!(hint.is_ok(), "the subscription still delivers hints");
    shared.delete_all().await;
}

/// Item 16 of the security review: a counter someone else wrote (negative, not a number, from
/// the future) never turns a limit off. An account counter fails closed (locked for a window);
/// an address counter starts a fresh window.
#[tokio::test]
async fn redis_is_trusted_too_much_forged_counters_never_lift_a_limit() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let mut admin = shared.admin().await;
    let login_key = format!("{}login:acct", shared.prefix);
    for (first, count) in [
        (NOW.to_string(), "-1000000".to_owned()),
        (NOW.to_string(), "many".to_owned()),
        ((NOW + 10_000).to_string(), "0".to_owned()),
        (NOW.to_string(), "1.5".to_owned()),
    ] {
        let _: () = redis::cmd("HSET")
            .arg(&login_key)
            .arg("first")
            .arg(&first)
            .arg("count")
            .arg(&count)
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(
            shared
                .a
                .login_attempt("acct", NOW + 1, 5, 900)
                .await
                .unwrap(),
            LoginAttempt::Locked(900),
            "first={first} count={count}"
        );
        let _: () = redis::cmd("DEL")
            .arg(&login_key)
            .query_async(&mut admin)
            .await
            .unwrap();
    }
    let ip_key = format!("{}ip:10.0.0.9", shared.prefix);
    let _: () = redis::cmd("HSET")
        .arg(&ip_key)
        .arg("start")
        .arg(NOW)
        .arg("count")
        .arg(-1_000_000)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        shared.a.address_hit("10.0.0.9", NOW + 1, 60).await.unwrap(),
        (1, 60),
        "a fresh window, counted from here"
    );
    assert_eq!(
        shared
            .a
            .address_hit("10.0.0.9", NOW + 2, 60)
            .await
            .unwrap()
            .0,
        2
    );
    shared.delete_all().await;
}

#[tokio::test]
async fn the_marker_says_whether_the_deny_list_must_be_rebuilt() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    assert!(
        !shared.a.deny_list_is_complete().await.unwrap(),
        "empty Redis"
    );
    let revocations = [
        Revocation {
            kind: RevocationKind::User,
            subject: "user-1".into(),
            not_before: NOW - 5,
            expires_at: NOW + 900,
        },
        Revocation {
            kind: RevocationKind::Token,
            subject: "gone".into(),
            not_before: 0,
            expires_at: NOW,
        },
    ];
    assert_eq!(
        shared.a.rebuild_deny_list(&revocations, NOW).await.unwrap(),
        1,
        "only the live entry"
    );
    assert!(shared.b.deny_list_is_complete().await.unwrap());
    assert_eq!(
        shared.keys().await,
        [
            format!("{}deny-list", shared.prefix),
            format!("{}deny:user:user-1", shared.prefix)
        ]
    );
    // What a FLUSHALL does to this deployment's keys.
    shared.delete_all().await;
    assert!(!shared.b.deny_list_is_complete().await.unwrap());
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_with_a_redis_error() {
    // Port 1 on loopback: nothing listens there.
    let state = RedisState::new("redis://127.0.0.1:1", "x:").unwrap();
    let started = std::time::Instant::now();
    let err = state.ping().await.unwrap_err();
    assert!(
        matches!(err, tessera_store::StoreError::Redis(_)),
        "{err:?}"
    );
    assert!(
        state.login_attempt("a", NOW, 5, 900).await.is_err(),
        "counters fail, never pretend"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(RedisState::new("http://nope", "x:").is_err());
}
