//! rotation-tx: the refresh-token rotation transaction of tessera-store alone, no HTTP.
//!
//! `BEGIN IMMEDIATE; SELECT token JOIN session; UPDATE used_at; INSERT successor; UPDATE
//! last_used_at; COMMIT` on the real schema (crates/tessera-store/migrations/sqlite), WAL +
//! synchronous=NORMAL, as `SqliteStore::rotate_refresh_token` runs it:
//! - `sqlx-*`: through sqlx's SQLite driver, as the store does (every statement is a round trip to
//!   the connection's worker thread), one task, 64 tasks on a pool of 8, 64 tasks on a pool of 1;
//! - `rusqlite-*`: the same statements through rusqlite on the calling thread (one task), and one
//!   `spawn_blocking` per whole transaction from 64 tasks (one connection behind a mutex).
//!
//! Each variant runs for N seconds (default 5) on its own fresh database; prints rotations/s.
//! Not run by bench/run.sh; it is the evidence for the refresh proposal in BENCHMARKS.md:
//! `cargo run --release --manifest-path bench/bare-axum/Cargo.toml --bin rotation-tx -- 4`.
#![forbid(unsafe_code)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

const SCHEMA: &str = include_str!("../../../../crates/tessera-store/migrations/sqlite/0001_initial.sql");
const CHAINS: usize = 64;

fn h(session: usize, n: u64) -> Vec<u8> {
    let mut v = vec![0u8; 32];
    v[..8].copy_from_slice(&(session as u64).to_le_bytes());
    v[8..16].copy_from_slice(&n.to_le_bytes());
    v
}

fn setup(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch(SCHEMA).unwrap();
    c.execute("INSERT INTO users (id, username, password_hash, created_at) VALUES ('u1','bench','x',1)", []).unwrap();
    for s in 0..CHAINS {
        c.execute("INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at) VALUES (?1,'u1',1,1,4000000000)", [format!("s{s}")]).unwrap();
        c.execute("INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) VALUES (?1, ?2, 1, 4000000000)", rusqlite::params![h(s, 0), format!("s{s}")]).unwrap();
    }
}

const SEL: &str = "SELECT t.used_at AS token_used_at, t.expires_at AS token_expires_at, s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.user_agent, s.ip, s.revoked_at FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?";
const UPD: &str = "UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL";
const INS: &str = "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)";
const SES: &str = "UPDATE sessions SET last_used_at = ? WHERE id = ?";

async fn rotate_sqlx(pool: &sqlx::SqlitePool, s: usize, n: u64) {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let row = sqlx::query(SEL).bind(h(s, n)).fetch_optional(&mut *tx).await.unwrap().unwrap();
    let sid: String = row.get("id");
    let used: Option<i64> = row.get("token_used_at");
    assert!(used.is_none());
    let m = sqlx::query(UPD).bind(2i64).bind(h(s, n)).execute(&mut *tx).await.unwrap().rows_affected();
    assert_eq!(m, 1);
    sqlx::query(INS).bind(h(s, n + 1)).bind(&sid).bind(2i64).bind(4000000000i64).execute(&mut *tx).await.unwrap();
    sqlx::query(SES).bind(2i64).bind(&sid).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

fn rotate_rusqlite(c: &mut rusqlite::Connection, s: usize, n: u64) {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    let (sid, used): (String, Option<i64>) = tx.prepare_cached(SEL).unwrap().query_row([h(s, n)], |r| Ok((r.get(2)?, r.get(0)?))).unwrap();
    assert!(used.is_none());
    let m = tx.prepare_cached(UPD).unwrap().execute(rusqlite::params![2i64, h(s, n)]).unwrap();
    assert_eq!(m, 1);
    tx.prepare_cached(INS).unwrap().execute(rusqlite::params![h(s, n + 1), sid, 2i64, 4000000000i64]).unwrap();
    tx.prepare_cached(SES).unwrap().execute(rusqlite::params![2i64, sid]).unwrap();
    tx.commit().unwrap();
}

fn opts(path: &std::path::Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new().filename(path).journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal).foreign_keys(true).busy_timeout(Duration::from_secs(5))
}

#[tokio::main(worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args().nth(1).map_or(5, |a| a.parse().unwrap());
    let dir = std::env::temp_dir().join(format!("sqlbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    for variant in ["sqlx-seq", "sqlx-64tasks", "sqlx-64tasks-writer1", "rusqlite-seq", "rusqlite-64tasks-spawn_blocking"] {
        let path = dir.join(format!("{variant}.db"));
        setup(&path);
        let counter = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        match variant {
            "sqlx-seq" => {
                let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts(&path)).await.unwrap();
                let mut n = 0;
                while Instant::now() < deadline { rotate_sqlx(&pool, 0, n).await; n += 1; }
                counter.store(n, Ordering::Relaxed);
            }
            "sqlx-64tasks" | "sqlx-64tasks-writer1" => {
                let max = if variant.ends_with("writer1") { 1 } else { 8 };
                let pool = SqlitePoolOptions::new().max_connections(max).connect_with(opts(&path)).await.unwrap();
                let tasks: Vec<_> = (0..CHAINS).map(|s| {
                    let pool = pool.clone(); let counter = counter.clone();
                    tokio::spawn(async move { let mut n = 0; while Instant::now() < deadline { rotate_sqlx(&pool, s, n).await; n += 1; counter.fetch_add(1, Ordering::Relaxed); } })
                }).collect();
                for t in tasks { t.await.unwrap(); }
            }
            "rusqlite-seq" => {
                let mut c = rusqlite::Connection::open(&path).unwrap();
                c.pragma_update(None, "synchronous", "NORMAL").unwrap();
                c.pragma_update(None, "foreign_keys", "ON").unwrap();
                let mut n = 0;
                while Instant::now() < deadline { rotate_rusqlite(&mut c, 0, n); n += 1; }
                counter.store(n, Ordering::Relaxed);
            }
            _ => {
                let c = rusqlite::Connection::open(&path).unwrap();
                c.pragma_update(None, "synchronous", "NORMAL").unwrap();
                c.pragma_update(None, "foreign_keys", "ON").unwrap();
                let c = Arc::new(Mutex::new(c));
                let tasks: Vec<_> = (0..CHAINS).map(|s| {
                    let c = c.clone(); let counter = counter.clone();
                    tokio::spawn(async move { let mut n = 0; while Instant::now() < deadline {
                        let c = c.clone();
                        tokio::task::spawn_blocking(move || rotate_rusqlite(&mut c.lock().unwrap(), s, n)).await.unwrap();
                        n += 1; counter.fetch_add(1, Ordering::Relaxed); } })
                }).collect();
                for t in tasks { t.await.unwrap(); }
            }
        }
        let n = counter.load(Ordering::Relaxed) as f64;
        let el = started.elapsed().as_secs_f64();
        println!("{variant:32} {:>8.0} rotations/s  {:>7.1} us each", n / el, el / n * 1e6);
    }
    std::fs::remove_dir_all(&dir).ok();
}
