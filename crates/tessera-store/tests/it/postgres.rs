//! The PostgreSQL backend: the conformance suite, each test on its own fresh database, then what
//! only PostgreSQL has (the pool, the migration lock, ASCII-only case folding, NUL characters,
//! the revocation sequence under concurrent writers, durability, corrupted rows).
//!
//! The server is named by `TESSERA_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`; `scripts/test.sh` starts PostgreSQL and sets it).
//! Each test creates its own database `tessera_test_<pid>_<time>_<n>` through that URL and drops
//! it when it ends, passed or failed. Without the variable these tests fail, so that a run without
//! PostgreSQL cannot pass by accident, unless `TESSERA_SKIP_POSTGRES=1` says to skip them. With
//! the variable set, an unreachable server fails them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tessera_store::postgres::PostgresStore;
use tessera_store::{
    AccountStore, Client, ClientStore, KeyChange, KeyRing, KeyStore, NewSession, NewUser,
    RefreshRecord, Revocation, RevocationKind, RevocationStore, RoleStore, SessionStore, Store,
    StoreError, StoredKey,
};
use tokio::task::JoinSet;

use crate::conformance::{self, digest, NOW};
use tessera_test_support::TestDatabase;

/// The pool size of the stores under test: small enough that 20 contenders queue for it.
const POOL: u32 = 8;

/// A database of its own for one test (`tessera_test_<pid>_<time>_<n>`, dropped when the value
/// is), and the ways a test reaches it.
struct Database(TestDatabase);

impl Database {
    /// A fresh, empty database; `None` (after saying so loudly) if PostgreSQL tests are
    /// explicitly skipped. Panics if `TESSERA_TEST_DATABASE_URL` is unset without the skip, or
    /// the server cannot be reached.
    fn fresh() -> Option<Self> {
        TestDatabase::fresh("a PostgreSQL backend test", "tessera_test").map(Database)
    }

    /// The URL of this database.
    fn url(&self) -> String {
        self.0.url()
    }

    /// A store on this database (migrating it if new).
    async fn connect(&self) -> PostgresStore {
        PostgresStore::connect(&self.url(), POOL)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.0.name()))
    }

    /// A plain connection to this database, behind the store's back.
    async fn raw(&self) -> PgConnection {
        PgConnection::connect(&self.url()).await.unwrap()
    }

    async fn execute(&self, sql: &str) {
        let mut conn = self.raw().await;
        sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
        conn.close().await.unwrap();
    }
}

/// One `#[tokio::test]` per conformance function, each on its own fresh database.
macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(db) = Database::fresh() else { return };
                let store = db.connect().await;
                conformance::$name(&store).await;
                store.close().await;
            }
        )*
    };
}

crate::for_each_conformance_test!(conformance_tests);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_in_one_pool_have_exactly_one_winner() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let stores: [Arc<dyn Store>; 1] = [Arc::new(store.clone())];
    conformance::concurrent_rotations_of_one_token_have_exactly_one_winner(&stores).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_many_tokens_are_each_decided_alone() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let stores: [Arc<dyn Store>; 1] = [Arc::new(store.clone())];
    conformance::concurrent_rotations_of_many_tokens_are_each_decided_alone(&stores).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_across_two_stores_have_exactly_one_winner() {
    // Two pools on one database: to PostgreSQL, two instances.
    let Some(db) = Database::fresh() else {
        return;
    };
    let (a, b) = (db.connect().await, db.connect().await);
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a.clone()), Arc::new(b.clone())];
    conformance::concurrent_rotations_of_one_token_have_exactly_one_winner(&stores).await;
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_ring_changes_in_one_pool_have_exactly_one_winner() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let stores: [Arc<dyn Store>; 1] = [Arc::new(store.clone())];
    conformance::concurrent_key_ring_changes_have_exactly_one_winner(&stores).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_ring_changes_across_three_stores_have_exactly_one_winner() {
    // Three pools on one database: to PostgreSQL, three instances.
    let Some(db) = Database::fresh() else {
        return;
    };
    let handles = [db.connect().await, db.connect().await, db.connect().await];
    let stores: Vec<Arc<dyn Store>> = handles
        .iter()
        .map(|store| Arc::new(store.clone()) as Arc<dyn Store>)
        .collect();
    conformance::concurrent_key_ring_changes_have_exactly_one_winner(&stores).await;
    for store in &handles {
        store.close().await;
    }
}

#[tokio::test]
async fn the_deployment_secret_is_shared_by_two_stores_on_the_same_database() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let (a, b) = (db.connect().await, db.connect().await);
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a.clone()), Arc::new(b.clone())];
    conformance::the_deployment_secret_is_made_once_and_shared(&stores).await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn revocations_recorded_by_one_store_are_seen_by_another_on_the_same_database() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let (a, b) = (db.connect().await, db.connect().await);
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a.clone()), Arc::new(b.clone())];
    conformance::revocations_recorded_by_one_store_are_seen_by_another(&stores).await;
    a.close().await;
    b.close().await;
}

/// Writers on two pools record revocations concurrently while a reader polls
/// `revocations_since(last seen)`, as a server does: it must receive every revocation. With
/// numbers handed out in call order rather than commit order, a number taken early but committed
/// late would fall below `last seen` and never be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polling_revocations_since_never_misses_a_concurrently_recorded_revocation() {
    const WRITERS: usize = 6;
    const EACH: usize = 25;
    let Some(db) = Database::fresh() else {
        return;
    };
    let stores = [db.connect().await, db.connect().await];

    let mut writers = JoinSet::new();
    for w in 0..WRITERS {
        let store = stores[w % stores.len()].clone();
        writers.spawn(async move {
            for i in 0..EACH {
                store
                    .add_revocation(&Revocation {
                        kind: RevocationKind::Token,
                        subject: format!("j-{w}-{i}"),
                        not_before: 0,
                        expires_at: NOW + 3_600,
                    })
                    .await
                    .unwrap();
            }
        });
    }
    let reader = stores[1].clone();
    let mut last = 0;
    let mut seen = BTreeSet::new();
    let mut poll = |rows: Vec<(i64, Revocation)>, last: &mut i64| {
        for (seq, revocation) in rows {
            assert!(seq > *last, "seq {seq} after {last}");
            *last = seq;
            assert!(seen.insert(revocation.subject), "read twice");
        }
    };
    while !writers.is_empty() {
        poll(reader.revocations_since(last).await.unwrap(), &mut last);
        if let Some(joined) = writers.try_join_next() {
            joined.unwrap();
        }
    }
    poll(reader.revocations_since(last).await.unwrap(), &mut last);

    assert_eq!(
        seen.len(),
        WRITERS * EACH,
        "the poller missed revocations: it read {} of {}",
        seen.len(),
        WRITERS * EACH
    );
    assert_eq!(last, i64::try_from(WRITERS * EACH).unwrap(), "no gaps");
    for store in &stores {
        store.close().await;
    }
}

#[tokio::test]
async fn a_revocation_survives_closing_and_reconnecting() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let revocation = Revocation {
        kind: RevocationKind::User,
        subject: "u-alice".to_owned(),
        not_before: NOW,
        expires_at: NOW + 3_600,
    };
    store.add_revocation(&revocation).await.unwrap();
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    store.close().await;
    assert!(
        store.ping().await.is_err(),
        "a closed store must not answer"
    );
    drop(store);

    let reconnected = db.connect().await;
    let live = reconnected.live_revocations(NOW).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].1, revocation);
    assert_eq!(reconnected.revocations_since(0).await.unwrap(), live);
    let users = reconnected.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].username, "alice");
    reconnected.close().await;
}

/// Keys written before a close are all there, whole and in order, after reconnecting, at the
/// same version, and the ring changes on from there.
#[tokio::test]
async fn signing_keys_survive_closing_and_reconnecting() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let (a, b) = (
        conformance::stored_key("kid-a", 1, NOW),
        conformance::stored_key("kid-b", 2, NOW + 10),
    );
    store
        .change_key_ring(
            0,
            &[KeyChange::Insert(b.clone()), KeyChange::Insert(a.clone())],
        )
        .await
        .unwrap();
    store
        .change_key_ring(
            1,
            &[KeyChange::Retire {
                kid: "kid-b".to_owned(),
                at: NOW + 20,
            }],
        )
        .await
        .unwrap();
    let before = store.key_ring().await.unwrap();
    store.close().await;
    assert!(
        store.key_ring().await.is_err(),
        "a closed store must not answer"
    );
    drop(store);

    let reconnected = db.connect().await;
    let after = reconnected.key_ring().await.unwrap();
    assert_eq!(after, before);
    assert_eq!(
        after,
        KeyRing {
            version: 2,
            keys: vec![
                StoredKey {
                    retired_at: Some(NOW + 20),
                    ..b
                },
                a
            ]
        }
    );
    let c = conformance::stored_key("kid-c", 3, NOW + 30);
    assert_eq!(
        reconnected
            .change_key_ring(2, &[KeyChange::Insert(c.clone())])
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(reconnected.key_ring().await.unwrap().keys.last(), Some(&c));
    reconnected.close().await;
}

/// Roles given before a close, and the revocation recorded when one was taken away, are there
/// after reconnecting.
#[tokio::test]
async fn roles_survive_closing_and_reconnecting() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    for role in ["writer", "admin", "reader"] {
        assert!(
            store.add_user_role("u-alice", role).await.unwrap(),
            "{role}"
        );
    }
    assert!(store
        .remove_user_role("u-alice", "writer", NOW + 10)
        .await
        .unwrap());
    let revocations = store.revocations_since(0).await.unwrap();
    assert_eq!(revocations.len(), 1);
    store.close().await;
    assert!(
        store.user_roles("u-alice").await.is_err(),
        "a closed store must not answer"
    );
    drop(store);

    let reconnected = db.connect().await;
    assert_eq!(
        reconnected.user_roles("u-alice").await.unwrap(),
        ["admin", "reader"]
    );
    assert_eq!(reconnected.revocations_since(0).await.unwrap(), revocations);
    assert!(!reconnected.add_user_role("u-alice", "admin").await.unwrap());
    assert!(reconnected
        .add_user_role("u-alice", "writer")
        .await
        .unwrap());
    reconnected.close().await;
}

/// A database of schema version 3 (before signing keys and roles) is migrated to an empty ring at
/// version 0 and users without roles, keeping what it held.
#[tokio::test]
async fn a_version_3_database_gets_an_empty_key_ring() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    store.close().await;
    db.execute(
        "DROP TABLE user_roles; DROP TABLE signing_keys; DROP TABLE key_ring; \
         DELETE FROM tessera_schema_version WHERE version >= 4;",
    )
    .await;

    let migrated = db.connect().await;
    assert_eq!(migrated.key_ring().await.unwrap(), KeyRing::default());
    assert_eq!(migrated.key_ring_version().await.unwrap(), 0);
    assert_eq!(migrated.list_users().await.unwrap().len(), 1);
    assert!(migrated.user_roles("u-alice").await.unwrap().is_empty());
    assert!(migrated.add_user_role("u-alice", "admin").await.unwrap());
    migrated.close().await;
    let probe = PostgresStore::probe(&db.url()).await.unwrap();
    assert_eq!(probe.inspection.schema_version, 5);
    assert_eq!(probe.inspection.schema_version_known, 5);
}

#[tokio::test]
async fn the_schema_version_is_recorded_once() {
    let Some(db) = Database::fresh() else {
        return;
    };
    db.connect().await.close().await;
    db.connect().await.close().await;
    let mut conn = db.raw().await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM tessera_schema_version ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let mut starts = JoinSet::new();
    for _ in 0..6 {
        let url = db.url();
        starts.spawn(async move { PostgresStore::connect(&url, 2).await });
    }
    let mut stores = Vec::new();
    while let Some(joined) = starts.join_next().await {
        stores.push(joined.unwrap().expect("every instance starts"));
    }
    conformance::add_user(&stores[0], "u-alice", "alice", NOW).await;
    for store in &stores {
        assert!(store.user_by_username("ALICE").await.unwrap().is_some());
    }
    for store in &stores {
        store.close().await;
    }
    let mut conn = db.raw().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM tessera_schema_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, 5);
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM deployment")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1, "one deployment id, made once");
    assert_eq!(ids[0].len(), 32);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let Some(db) = Database::fresh() else {
        return;
    };
    db.connect().await.close().await;
    db.execute("INSERT INTO tessera_schema_version (version) VALUES (99)")
        .await;
    let refused = PostgresStore::connect(&db.url(), POOL).await;
    assert!(
        matches!(refused, Err(StoreError::Migration(_))),
        "expected a migration error, got {:?}",
        refused.err()
    );
}

#[tokio::test]
async fn a_pool_of_no_connections_is_refused() {
    let refused = PostgresStore::connect("postgres://postgres@127.0.0.1:1/tessera", 0).await;
    assert!(
        matches!(refused, Err(StoreError::Database(_))),
        "got {:?}",
        refused.err()
    );
}

#[tokio::test]
async fn usernames_fold_ascii_case_only() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    // `lower()` would fold É to é and make these one name; SQLite's NOCASE does not, nor do we.
    let upper = conformance::add_user(&store, "u-1", "Émile", NOW).await;
    let lower = conformance::add_user(&store, "u-2", "émile", NOW).await;
    assert_eq!(
        store.user_by_username("éMILE").await.unwrap(),
        Some(lower.clone())
    );
    assert_eq!(store.user_by_username("ÉMILE").await.unwrap(), Some(upper));
    let clash = store
        .create_user(&NewUser {
            id: "u-3".to_owned(),
            username: "ÉMILE".to_owned(),
            password_hash: "x".to_owned(),
            created_at: NOW,
        })
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("username"))),
        "got {clash:?}"
    );
    let (disabled, _) = store.disable_user("éMiLe", NOW).await.unwrap().unwrap();
    assert_eq!(disabled.id, lower.id);
    assert!(!store.user_by_id("u-1").await.unwrap().unwrap().disabled);
    store.close().await;
}

#[tokio::test]
async fn lookups_by_text_with_a_nul_find_nothing_instead_of_failing() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    assert_eq!(store.user_by_username("alice\0").await.unwrap(), None);
    assert_eq!(store.user_by_id("u-alice\0").await.unwrap(), None);
    assert_eq!(
        store
            .change_password("u\0", 0, "x", "s-1", NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.disable_user("alice\0", NOW).await.unwrap(), None);
    assert_eq!(store.enable_user("alice\0").await.unwrap(), None);
    assert_eq!(store.session("s\0").await.unwrap(), None);
    assert!(store.live_sessions("u\0", NOW).await.unwrap().is_empty());
    assert_eq!(store.revoke_session("s\0", NOW).await.unwrap(), None);
    assert!(store
        .revoke_user_sessions("u\0", NOW)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.client("c\0").await.unwrap(), None);
    assert!(!store.delete_client("c\0").await.unwrap());
    assert!(!store.set_client_secret("c\0", &digest(1)).await.unwrap());
    assert!(store.user_roles("u\0").await.unwrap().is_empty());
    assert!(matches!(
        store.add_user_role("u\0", "admin").await,
        Err(StoreError::Conflict("user"))
    ));
    assert!(!store.remove_user_role("u\0", "admin", NOW).await.unwrap());
    assert!(!store
        .remove_user_role("u-alice", "admin\0", NOW)
        .await
        .unwrap());
    assert!(store.revocations_since(0).await.unwrap().is_empty());

    // A kept id with a NUL is no session, so it keeps nothing.
    store
        .create_session(
            &NewSession {
                id: "s-1".to_owned(),
                user_id: "u-alice".to_owned(),
                created_at: NOW,
                expires_at: NOW + 3_600,
                user_agent: None,
                ip: None,
                credential_epoch: 0,
            },
            &RefreshRecord {
                hash: digest(1),
                session_id: "s-1".to_owned(),
                created_at: NOW,
                expires_at: NOW + 3_600,
            },
        )
        .await
        .unwrap();
    let revoked = store
        .change_password("u-alice", 0, "x", "s-1\0", NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.len(), 1);

    // Storing one is an error, not a panic and not a silent truncation.
    let stored = store
        .create_user(&NewUser {
            id: "u-nul".to_owned(),
            username: "nul\0".to_owned(),
            password_hash: "x".to_owned(),
            created_at: NOW,
        })
        .await;
    assert!(
        matches!(stored, Err(StoreError::Database(_))),
        "got {stored:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn times_beyond_the_storable_range_are_refused_not_wrapped() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let refused = store
        .create_user(&NewUser {
            id: "u-far".to_owned(),
            username: "far".to_owned(),
            password_hash: "x".to_owned(),
            created_at: u64::MAX,
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::Database(_))),
        "got {refused:?}"
    );
    assert!(store.user_by_id("u-far").await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn corrupted_rows_are_reported_as_corrupt_not_panics() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    store
        .add_revocation(&Revocation {
            kind: RevocationKind::Token,
            subject: "j-1".to_owned(),
            not_before: 0,
            expires_at: NOW + 60,
        })
        .await
        .unwrap();
    store
        .create_client(&Client {
            client_id: "c-1".to_owned(),
            name: "c".to_owned(),
            secret_hash: digest(1),
            created_at: NOW,
        })
        .await
        .unwrap();

    db.execute(
        "UPDATE users SET created_at = -5; \
         UPDATE revocations SET kind = 'bogus'; \
         UPDATE clients SET secret_hash = '\\x0102'::bytea;",
    )
    .await;

    let user = store.user_by_id("u-alice").await;
    assert!(matches!(user, Err(StoreError::Corrupt(_))), "got {user:?}");
    let revocations = store.live_revocations(NOW).await;
    assert!(
        matches!(revocations, Err(StoreError::Corrupt(_))),
        "got {revocations:?}"
    );
    let client = store.client("c-1").await;
    assert!(
        matches!(client, Err(StoreError::Corrupt(_))),
        "got {client:?}"
    );
    store.close().await;
}

/// Key rows and a ring version the store cannot have written are `Corrupt`, not panics or
/// wrong answers.
#[tokio::test]
async fn corrupted_signing_keys_are_reported_as_corrupt() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    store
        .change_key_ring(
            0,
            &[KeyChange::Insert(conformance::stored_key("kid-a", 1, NOW))],
        )
        .await
        .unwrap();

    db.execute("UPDATE signing_keys SET activates_at = -1")
        .await;
    let ring = store.key_ring().await;
    assert!(matches!(ring, Err(StoreError::Corrupt(_))), "got {ring:?}");

    db.execute("UPDATE signing_keys SET activates_at = 1; UPDATE key_ring SET version = -3")
        .await;
    let ring = store.key_ring().await;
    assert!(matches!(ring, Err(StoreError::Corrupt(_))), "got {ring:?}");
    let version = store.key_ring_version().await;
    assert!(
        matches!(version, Err(StoreError::Corrupt(_))),
        "got {version:?}"
    );

    db.execute("DELETE FROM key_ring").await;
    let ring = store.key_ring().await;
    assert!(matches!(ring, Err(StoreError::Corrupt(_))), "got {ring:?}");
    let version = store.key_ring_version().await;
    assert!(
        matches!(version, Err(StoreError::Corrupt(_))),
        "got {version:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn the_backend_is_named_postgres() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    assert_eq!(store.backend(), "postgres");
    store.close().await;
}

/// Writes abandoned at any point (a client hanging up mid-request drops the future) must not
/// leave a pooled connection inside an open transaction holding row locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_writes_leave_no_transaction_open() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = Arc::new(db.connect().await);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..16u64 {
        let store = store.clone();
        tasks.spawn(async move {
            for round in 0..30u64 {
                let revocation = Revocation {
                    kind: RevocationKind::Token,
                    subject: format!("jti-{task}-{round}"),
                    not_before: 0,
                    expires_at: NOW + 60,
                };
                let micros = 1 + (task * 131 + round * 37) % 1500;
                let _ = tokio::time::timeout(
                    std::time::Duration::from_micros(micros),
                    store.add_revocation(&revocation),
                )
                .await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // A leaked transaction would hold the revocation counter's row lock: this would hang.
    let later = Revocation {
        kind: RevocationKind::Session,
        subject: "sid-after".to_owned(),
        not_before: 0,
        expires_at: NOW + 60,
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.add_revocation(&later),
    )
    .await
    .expect("a write after cancelled writes must not wait for a leaked lock")
    .unwrap();
    store.close().await;
}

#[tokio::test]
async fn probe_reads_the_server_clock_and_creates_nothing() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let probe = PostgresStore::probe(&db.url()).await.unwrap();
    assert_eq!(probe.inspection.schema_version, 0, "an empty database");
    assert_eq!(probe.inspection.deployment_id, None);
    assert!(probe.inspection.schema_version_known >= 3);
    let server_ms = u128::from(probe.clock_ms);
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // Same host in tests: the server's clock is ours, give or take a rounding.
    assert!(
        server_ms + 1_000 >= before && server_ms <= after + 1_000,
        "server clock {server_ms} outside [{before}, {after}]"
    );
    let mut conn = db.raw().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0, "a probe must not migrate or create anything");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn probe_of_an_unreachable_server_fails_fast() {
    // Nothing listens on port 1. Needs no PostgreSQL server, so it runs in every configuration.
    let started = Instant::now();
    let refused = PostgresStore::probe("postgres://postgres:hunter2@127.0.0.1:1/tessera").await;
    let err = refused.expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::Database(_)), "got {err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn probe_gives_up_on_a_silent_server_within_3_seconds() {
    // A listener that accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let result = PostgresStore::probe(&format!("postgres://postgres@127.0.0.1:{port}/x")).await;
    let elapsed = started.elapsed();
    silent.abort();
    assert!(
        matches!(result, Err(StoreError::Database(_))),
        "got {result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(2_900) && elapsed < Duration::from_secs(4),
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn connecting_to_an_unreachable_server_names_its_address_and_the_cause() {
    // Nothing listens on port 1. Needs no PostgreSQL server, so it runs in every configuration.
    let started = Instant::now();
    let err = PostgresStore::connect("postgres://postgres:hunter2@127.0.0.1:1/tessera", 2)
        .await
        .expect_err("nothing listens on port 1");
    let StoreError::Unreachable { address, cause } = &err else {
        panic!("got {err:?}");
    };
    assert_eq!(address, "127.0.0.1:1");
    assert!(cause.to_lowercase().contains("refused"), "{cause}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a refused connection is reported at once, not after the pool's timeout"
    );
}

#[tokio::test]
async fn probe_reports_the_schema_version_and_deployment_of_a_migrated_database() {
    let Some(db) = Database::fresh() else {
        return;
    };
    let store = db.connect().await;
    let deployment = store.deployment_id().await.unwrap();
    let stats = store.pool_stats();
    assert!(
        stats.in_use + stats.idle >= 1 && stats.max >= 1,
        "{stats:?}"
    );
    store.close().await;
    let probe = PostgresStore::probe(&db.url()).await.unwrap();
    assert_eq!(
        probe.inspection.schema_version,
        probe.inspection.schema_version_known
    );
    assert_eq!(probe.inspection.deployment_id, Some(deployment));
}
