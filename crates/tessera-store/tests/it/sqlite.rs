//! The SQLite backend: the conformance suite on a fresh data directory per test, then what only
//! SQLite has (the file, its modes, WAL, migrations, durability, corrupted rows).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tempfile::TempDir;
use tessera_store::sqlite::{SqliteStore, DATABASE_FILE};
use tessera_store::{
    AccountStore, Client, ClientStore, KeyChange, KeyRing, KeyStore, NewUser, RefreshRecord,
    Revocation, RevocationKind, RevocationStore, RoleStore, Rotation, SessionStore, Store,
    StoreError, StoredKey,
};

use crate::conformance::{self, digest, NOW};

/// A temporary directory and the (not yet existing) data directory inside it.
fn data_dir() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let data = tmp.path().join("tessera-data");
    (tmp, data)
}

async fn fresh_store() -> (TempDir, SqliteStore) {
    let (tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.expect("open a fresh store");
    (tmp, store)
}

/// A plain connection to the database file, behind the store's back.
async fn raw_connection(data: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(data.join(DATABASE_FILE))
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("a raw connection")
}

async fn raw_execute(data: &Path, sql: &str) {
    let mut conn = raw_connection(data).await;
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    conn.close().await.expect("close the raw connection");
}

/// One `#[tokio::test]` per conformance function, each on its own fresh database.
macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (_tmp, store) = fresh_store().await;
                conformance::$name(&store).await;
            }
        )*
    };
}

crate::for_each_conformance_test!(conformance_tests);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_in_one_pool_have_exactly_one_winner() {
    let (_tmp, store) = fresh_store().await;
    let stores: [Arc<dyn Store>; 1] = [Arc::new(store)];
    conformance::concurrent_rotations_of_one_token_have_exactly_one_winner(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_many_tokens_in_one_store_are_each_decided_alone() {
    let (_tmp, store) = fresh_store().await;
    let stores: [Arc<dyn Store>; 1] = [Arc::new(store)];
    conformance::concurrent_rotations_of_many_tokens_are_each_decided_alone(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_many_tokens_across_two_stores_are_each_decided_alone() {
    let (_tmp, data) = data_dir();
    let a = SqliteStore::open(&data).await.unwrap();
    let b = SqliteStore::open(&data).await.unwrap();
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];
    conformance::concurrent_rotations_of_many_tokens_are_each_decided_alone(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_across_two_stores_on_one_file_have_exactly_one_winner() {
    // Two pools on one file: to SQLite, as good as two processes.
    let (_tmp, data) = data_dir();
    let a = SqliteStore::open(&data).await.unwrap();
    let b = SqliteStore::open(&data).await.unwrap();
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];
    conformance::concurrent_rotations_of_one_token_have_exactly_one_winner(&stores).await;
}

/// Tells a copy of this test binary that it is a contender: `<data dir>|<index>|<start, Unix ms>`.
const CONTENDER_ENV: &str = "TESSERA_STORE_TEST_CONTENDER";
const PROCESS_CONTENDERS: u8 = 8;

/// The body of one contender process in
/// [`concurrent_rotations_across_processes_have_exactly_one_winner`]; without its environment
/// variable (for example under `cargo test -- --ignored`) it does nothing.
#[tokio::test]
#[ignore = "run in child processes by concurrent_rotations_across_processes_have_exactly_one_winner"]
async fn rotation_contender_process() {
    let Ok(spec) = std::env::var(CONTENDER_ENV) else {
        return;
    };
    let [dir, index, start_ms] = spec.split('|').collect::<Vec<_>>()[..] else {
        panic!("bad {CONTENDER_ENV}: {spec:?}");
    };
    let index: u8 = index.parse().unwrap();
    let start = UNIX_EPOCH + Duration::from_millis(start_ms.parse().unwrap());
    let store = SqliteStore::open(Path::new(dir)).await.unwrap();
    let next = RefreshRecord {
        hash: digest(100 + index),
        session_id: "s-1".to_owned(),
        created_at: NOW + 60,
        expires_at: NOW + 3_600,
    };
    // Line the processes up so that they really contend (a wait for a start, not for expiry).
    if let Ok(wait) = start.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let outcome = match store
        .rotate_refresh_token(&digest(1), &next, NOW + 60)
        .await
    {
        Ok(Rotation::Rotated(_)) => "rotated",
        Ok(Rotation::Reused(_)) => "reused",
        Ok(Rotation::Invalid) => "invalid",
        Err(e) => panic!("contender {index}: {e}"),
    };
    println!("OUTCOME {index} {outcome}");
}

#[tokio::test]
async fn concurrent_rotations_across_processes_have_exactly_one_winner() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    conformance::add_session(&store, "u-alice", "s-1", NOW, digest(1)).await;

    let start = SystemTime::now() + Duration::from_millis(1_500);
    let start_ms = start.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let children: Vec<_> = (0..PROCESS_CONTENDERS)
        .map(|i| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "sqlite::rotation_contender_process"])
                .args(["--ignored", "--nocapture", "--test-threads=1"])
                .env(CONTENDER_ENV, format!("{}|{i}|{start_ms}", data.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outcomes = Vec::new();
    for child in children {
        // Blocking is fine here: the children are other processes.
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "contender failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            // libtest may print `test ... ` in front of it on the same line.
            .find_map(|l| l.split_once("OUTCOME ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no outcome from a contender: {stdout}"));
        let (index, outcome) = line.split_once(' ').unwrap();
        outcomes.push((index.parse::<u8>().unwrap(), outcome.to_owned()));
    }
    let winners: Vec<u8> = outcomes
        .iter()
        .filter(|(_, o)| o == "rotated")
        .map(|(i, _)| *i)
        .collect();
    let reused = outcomes.iter().filter(|(_, o)| o == "reused").count();
    assert_eq!(
        winners.len(),
        1,
        "exactly one process must win: {outcomes:?}"
    );
    assert_eq!(reused, usize::from(PROCESS_CONTENDERS) - 1, "{outcomes:?}");
    for i in 0..PROCESS_CONTENDERS {
        let stored = store
            .session_by_refresh_token(&digest(100 + i))
            .await
            .unwrap()
            .is_some();
        assert_eq!(stored, i == winners[0], "successor {i}");
    }
}

#[tokio::test]
async fn the_deployment_secret_is_shared_by_two_stores_on_the_same_file() {
    let (_tmp, data) = data_dir();
    let a = SqliteStore::open(&data).await.unwrap();
    let b = SqliteStore::open(&data).await.unwrap();
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];
    conformance::the_deployment_secret_is_made_once_and_shared(&stores).await;
}

#[tokio::test]
async fn revocations_recorded_by_one_store_are_seen_by_another_on_the_same_file() {
    let (_tmp, data) = data_dir();
    let a = SqliteStore::open(&data).await.unwrap();
    let b = SqliteStore::open(&data).await.unwrap();
    let stores: [Arc<dyn Store>; 2] = [Arc::new(a), Arc::new(b)];
    conformance::revocations_recorded_by_one_store_are_seen_by_another(&stores).await;
}

#[tokio::test]
async fn a_revocation_survives_closing_and_reopening_the_store() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
    let revocation = Revocation {
        kind: RevocationKind::User,
        subject: "u-alice".to_owned(),
        not_before: NOW,
        expires_at: NOW + 3_600,
    };
    store.add_revocation(&revocation).await.unwrap();
    store.close().await;
    assert!(
        store.ping().await.is_err(),
        "a closed store must not answer"
    );
    drop(store);

    let reopened = SqliteStore::open(&data).await.unwrap();
    let live = reopened.live_revocations(NOW).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].1, revocation);
    assert_eq!(reopened.revocations_since(0).await.unwrap(), live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_ring_changes_in_one_store_have_exactly_one_winner() {
    let (_tmp, store) = fresh_store().await;
    let stores: [Arc<dyn Store>; 1] = [Arc::new(store)];
    conformance::concurrent_key_ring_changes_have_exactly_one_winner(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_key_ring_changes_across_three_stores_on_one_file_have_exactly_one_winner() {
    // Three pools on one file: to SQLite, as good as three processes.
    let (_tmp, data) = data_dir();
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        stores.push(Arc::new(SqliteStore::open(&data).await.unwrap()));
    }
    conformance::concurrent_key_ring_changes_have_exactly_one_winner(&stores).await;
}

/// Keys written before a close are all there, whole and in order, after reopening, at the same
/// version, and the ring changes on from there.
#[tokio::test]
async fn signing_keys_survive_closing_and_reopening_the_store() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
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

    let reopened = SqliteStore::open(&data).await.unwrap();
    let after = reopened.key_ring().await.unwrap();
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
        reopened
            .change_key_ring(2, &[KeyChange::Insert(c.clone())])
            .await
            .unwrap(),
        Some(3)
    );
    assert_eq!(reopened.key_ring().await.unwrap().keys.last(), Some(&c));
}

/// Roles given before a close, and the revocation recorded when one was taken away, are there
/// after reopening.
#[tokio::test]
async fn roles_survive_closing_and_reopening_the_store() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
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

    let reopened = SqliteStore::open(&data).await.unwrap();
    assert_eq!(
        reopened.user_roles("u-alice").await.unwrap(),
        ["admin", "reader"]
    );
    assert_eq!(reopened.revocations_since(0).await.unwrap(), revocations);
    assert!(!reopened.add_user_role("u-alice", "admin").await.unwrap());
    assert!(reopened.add_user_role("u-alice", "writer").await.unwrap());
}

/// A database of schema version 3 (before signing keys and roles) is migrated to an empty ring at
/// version 0 and users without roles, keeping what it held.
#[tokio::test]
async fn a_version_3_database_gets_an_empty_key_ring() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    store.close().await;
    raw_execute(
        &data,
        "DROP TABLE user_roles; DROP TABLE signing_keys; DROP TABLE key_ring; \
         PRAGMA user_version = 3;",
    )
    .await;

    let migrated = SqliteStore::open(&data).await.unwrap();
    assert_eq!(migrated.key_ring().await.unwrap(), KeyRing::default());
    assert_eq!(migrated.key_ring_version().await.unwrap(), 0);
    assert_eq!(migrated.list_users().await.unwrap().len(), 1);
    assert!(migrated.user_roles("u-alice").await.unwrap().is_empty());
    assert!(migrated.add_user_role("u-alice", "admin").await.unwrap());
    let inspection = SqliteStore::inspect(&data).await.unwrap().unwrap();
    assert_eq!(inspection.schema_version, 5);
    assert_eq!(inspection.schema_version_known, 5);
}

/// Key rows and a ring version the store cannot have written are `Corrupt`, not panics or
/// wrong answers.
#[tokio::test]
async fn corrupted_signing_keys_are_reported_as_corrupt() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
    store
        .change_key_ring(
            0,
            &[KeyChange::Insert(conformance::stored_key("kid-a", 1, NOW))],
        )
        .await
        .unwrap();

    raw_execute(&data, "UPDATE signing_keys SET activates_at = -1").await;
    let ring = store.key_ring().await;
    assert!(matches!(ring, Err(StoreError::Corrupt(_))), "got {ring:?}");

    raw_execute(
        &data,
        "UPDATE signing_keys SET activates_at = 1; UPDATE key_ring SET version = -3",
    )
    .await;
    let ring = store.key_ring().await;
    assert!(matches!(ring, Err(StoreError::Corrupt(_))), "got {ring:?}");
    let version = store.key_ring_version().await;
    assert!(
        matches!(version, Err(StoreError::Corrupt(_))),
        "got {version:?}"
    );

    raw_execute(&data, "DELETE FROM key_ring").await;
    let ring = store.key_ring().await;
    assert!(matches!(ring, Err(StoreError::Corrupt(_))), "got {ring:?}");
    let version = store.key_ring_version().await;
    assert!(
        matches!(version, Err(StoreError::Corrupt(_))),
        "got {version:?}"
    );
}

#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background_not_only_at_close() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
    let file = data.join(DATABASE_FILE);
    // Past the first round (which checkpoints the schema), so what follows is what we write.
    tokio::time::sleep(tessera_store::sqlite::CHECKPOINT_INTERVAL + Duration::from_millis(500))
        .await;
    let before = std::fs::metadata(&file).unwrap().len();
    // Fewer pages than SQLite's automatic threshold (1,000): without the background task they
    // would stay in the WAL until the store closes.
    for n in 0..300 {
        store
            .add_revocation(&Revocation {
                kind: RevocationKind::Token,
                subject: format!("jti-{n:04}-{}", "x".repeat(40)),
                not_before: 0,
                expires_at: NOW + 3_600,
            })
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&file).unwrap().len() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file did not grow within 5 s: no checkpoint ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.live_revocations(NOW).await.unwrap().len(), 300);
}

#[tokio::test]
async fn the_database_is_created_in_wal_mode_with_private_modes() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data.join("nested")).await.unwrap();
    store.close().await;
    let data = data.join("nested");

    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "data directory mode {dir_mode:o}");
    let file = data.join(DATABASE_FILE);
    let file_mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600, "database file mode {file_mode:o}");

    let mut conn = raw_connection(&data).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, 5, "the schema version after the migrations");
}

#[tokio::test]
async fn reopening_a_migrated_database_keeps_its_data() {
    let (_tmp, data) = data_dir();
    let store = SqliteStore::open(&data).await.unwrap();
    conformance::add_user(&store, "u-alice", "alice", NOW).await;
    store.close().await;

    let reopened = SqliteStore::open(&data).await.unwrap();
    let users = reopened.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].username, "alice");
}

#[tokio::test]
async fn the_deployment_id_is_one_per_database_and_survives_reopening() {
    let (_tmp, data) = data_dir();
    let first = SqliteStore::open(&data).await.unwrap();
    let second = SqliteStore::open(&data).await.unwrap();
    let id = first.deployment_id().await.unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(
        second.deployment_id().await.unwrap(),
        id,
        "shared by every process"
    );
    first.close().await;
    second.close().await;
    let reopened = SqliteStore::open(&data).await.unwrap();
    assert_eq!(reopened.deployment_id().await.unwrap(), id);
    let (_other_tmp, other) = data_dir();
    let elsewhere = SqliteStore::open(&other).await.unwrap();
    assert_ne!(
        elsewhere.deployment_id().await.unwrap(),
        id,
        "another database, another id"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let (_tmp, data) = data_dir();
    SqliteStore::open(&data).await.unwrap().close().await;
    raw_execute(&data, "PRAGMA user_version = 99").await;

    let refused = SqliteStore::open(&data).await;
    assert!(
        matches!(refused, Err(StoreError::Migration(_))),
        "expected a migration error, got {:?}",
        refused.err()
    );
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_created_is_an_io_error() {
    let (tmp, _) = data_dir();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let refused = SqliteStore::open(&blocker.join("data")).await;
    assert!(
        matches!(refused, Err(StoreError::Io { .. })),
        "expected an I/O error, got {:?}",
        refused.err()
    );
}

#[tokio::test]
async fn times_beyond_the_storable_range_are_refused_not_wrapped() {
    let (_tmp, store) = fresh_store().await;
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
}

#[tokio::test]
async fn corrupted_rows_are_reported_as_corrupt_not_panics() {
    let (tmp, store) = fresh_store().await;
    let data = tmp.path().join("tessera-data");
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

    raw_execute(
        &data,
        "UPDATE users SET created_at = -5; \
         UPDATE revocations SET kind = 'bogus'; \
         UPDATE clients SET secret_hash = x'0102';",
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
}

/// Writes abandoned at any point (a client hanging up mid-request drops the future) must not
/// leave a pooled connection inside an open transaction holding the write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_writes_leave_no_transaction_open() {
    let (_tmp, store) = fresh_store().await;
    let store = Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..32u64 {
        let store = store.clone();
        tasks.spawn(async move {
            for round in 0..40u64 {
                let revocation = Revocation {
                    kind: RevocationKind::Token,
                    subject: format!("jti-{task}-{round}"),
                    not_before: 0,
                    expires_at: NOW + 60,
                };
                // Cancel after anything from a few microseconds to a few hundred, so that every
                // await point of the write is hit across the rounds.
                let micros = 1 + (task * 131 + round * 37) % 600;
                let _ = tokio::time::timeout(
                    Duration::from_micros(micros),
                    store.add_revocation(&revocation),
                )
                .await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // Every later write still goes through at once (a leaked transaction would make it wait for
    // the 5 s busy timeout and fail).
    let started = std::time::Instant::now();
    for round in 0..20 {
        store
            .add_revocation(&Revocation {
                kind: RevocationKind::Session,
                subject: format!("sid-{round}"),
                not_before: 0,
                expires_at: NOW + 60,
            })
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "writes waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn inspecting_reads_the_schema_and_changes_nothing() {
    let (_tmp, data) = data_dir();
    assert_eq!(SqliteStore::inspect(&data).await.unwrap(), None);
    assert!(
        !data.exists(),
        "inspecting must not create the data directory"
    );
    let store = SqliteStore::open(&data).await.unwrap();
    let deployment = store.deployment_id().await.unwrap();
    let stats = store.pool_stats();
    assert!(stats.max >= 2, "{stats:?}");
    assert!(stats.in_use + stats.idle <= stats.max, "{stats:?}");
    store.close().await;
    let modified = std::fs::metadata(data.join(DATABASE_FILE))
        .unwrap()
        .modified()
        .unwrap();
    let inspection = SqliteStore::inspect(&data).await.unwrap().unwrap();
    assert_eq!(inspection.schema_version, inspection.schema_version_known);
    assert!(inspection.schema_version >= 3);
    assert_eq!(inspection.deployment_id, Some(deployment));
    assert_eq!(
        std::fs::metadata(data.join(DATABASE_FILE))
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );
}
