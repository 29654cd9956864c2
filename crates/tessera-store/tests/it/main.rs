//! Integration tests for the storage backends, through the public API only.
//!
//! - [`conformance`]: the behaviour every backend owes the [`tessera_store::Store`] traits, as
//!   plain `pub async fn`s taking a `&dyn Store` (or several `Arc<dyn Store>`s opened on the same
//!   database, for the cross-process guarantees). A backend's test module calls each of them on a
//!   fresh database.
//! - [`sqlite`]: runs the conformance suite on [`tessera_store::sqlite::SqliteStore`], each test
//!   in its own temporary data directory, plus what only SQLite has: the file and its modes, WAL,
//!   migrations, durability across close and reopen, and rows corrupted behind the store's back.
//! - [`postgres`]: runs the same conformance suite on [`tessera_store::postgres::PostgresStore`],
//!   each test on its own fresh database on the server named by `TESSERA_TEST_DATABASE_URL`
//!   (these tests fail without it, unless `TESSERA_SKIP_POSTGRES=1`), plus the pool, the
//!   migration lock, ASCII-only case folding, the revocation sequence under concurrent writers,
//!   durability across close and reconnect, and corrupted rows.
//! - [`redis`]: the shared Redis state (throttle scripts, deny-list entries and TTLs, the
//!   revocation broadcast, the completeness marker), each test under its own key prefix on the
//!   server named by `TESSERA_TEST_REDIS_URL` (failing without it, unless `TESSERA_SKIP_REDIS=1`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod conformance;
mod postgres;
mod redis;
mod sqlite;
