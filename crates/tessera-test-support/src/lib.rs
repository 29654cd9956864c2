//! What Tessera's test suites share, written once: the test services and the rule for them, a
//! fresh PostgreSQL database per test, unique Redis key prefixes, the Python interpreter of the
//! independent peers, and a small HTTP client for a running `tessera serve`.
//!
//! A dev-dependency of the crates whose tests use it, never of the product: it is not published,
//! and nothing outside `tests/` may use it.
//!
//! # The services, and the rule that no test skips silently
//!
//! PostgreSQL and Redis are named by `TESSERA_TEST_DATABASE_URL` and `TESSERA_TEST_REDIS_URL`
//! (`scripts/test.sh` provisions both and sets them; `docs/testing.md` lists every variable).
//! [`postgres::server_url`] and [`redis::server_url`] read them, and for each:
//!
//! - set: the URL, once the server answered at it. Set but not answering: the test **fails**,
//!   saying so (a typo or a stopped service must not look like a pass);
//! - unset (or empty) with the skip switch (`TESSERA_SKIP_POSTGRES=1`, `TESSERA_SKIP_REDIS=1`):
//!   `None`, after a `!!! SKIPPED: ...` line written straight to stderr (not captured by the test
//!   harness), so the run says loudly what it did not test;
//! - unset without the skip switch: the test **fails**, naming the variable to set.
//!
//! # What each module is for
//!
//! - [`postgres`]: the server URL, and [`TestDatabase`], a database of a test's own, created
//!   through that URL and dropped (forcibly) when the value is dropped, passed or failed.
//! - [`redis`]: the server URL, and [`redis::unique_key_prefix`], a key prefix no other test or
//!   run uses.
//! - [`python`]: the interpreter with the Python peers (PyJWT, `openapi-spec-validator`,
//!   Schemathesis): `TESSERA_TEST_PYTHON`, else the repository's `.venv`; a missing interpreter
//!   or module fails the test, it never skips it.
//! - [`http`]: one HTTP/1.1 request to a server on 127.0.0.1, and the JSON of an answer, for tests
//!   that drive the real `tessera serve` process from plain threads.
//!
//! Beside them: [`unique_name`] (for databases and prefixes), [`json`] (a body or a command's
//! output as JSON), [`block_on`] (async code in a synchronous test) and [`repository`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed unwrap is a failed test, with its message"
)]

pub mod http;
pub mod postgres;
pub mod python;
pub mod redis;
mod service;

pub use postgres::TestDatabase;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name no other test, test binary or run uses: `{tag}_{pid}_{nanoseconds}_{counter}`. For
/// databases (`tag` must then be a lowercase SQL identifier) and key prefixes.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `text` (a response body, a command's output) as JSON, surrounding white space ignored.
///
/// # Panics
/// When `text` is not JSON, with the text in the message.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// The repository's root (two levels above this crate's directory).
pub fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs `future` to its end on a runtime of its own, for synchronous tests.
///
/// # Panics
/// Inside an async runtime (as any nested `block_on` does): async tests await instead.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Runs `work` on a thread of its own and waits for it, passing its panic on: lets a blocking
/// helper (one that calls [`block_on`]) serve synchronous and async tests alike.
fn on_own_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    #[test]
    fn unique_names_differ_within_one_process() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("t_{}_", std::process::id())), "{a}");
    }
}
