//! Redis for the tests: the server named by `TESSERA_TEST_REDIS_URL`, shared by every test, each
//! under a key prefix of its own.

use crate::service::Service;
use crate::{on_own_thread, unique_name};
use std::time::Duration;

/// `TESSERA_TEST_REDIS_URL`, skipped with `TESSERA_SKIP_REDIS=1`.
const REDIS: Service = Service {
    name: "Redis",
    url_var: "TESSERA_TEST_REDIS_URL",
    skip_var: "TESSERA_SKIP_REDIS",
    example: "redis://127.0.0.1:6379",
};

/// How long the server has to answer `PING`.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The URL of the test Redis server, after checking that it answers `PING`; `None` when Redis
/// tests are explicitly skipped (said loudly). `what` names the test in the messages ("a Redis
/// test"). Blocking; callable from async tests too.
///
/// # Panics
/// When `TESSERA_TEST_REDIS_URL` is unset without `TESSERA_SKIP_REDIS=1`, or set and the server
/// does not answer: the rule of the [crate docs](crate).
pub fn server_url(what: &str) -> Option<String> {
    let url = REDIS.url(what)?;
    let answered = on_own_thread(|| -> redis::RedisResult<String> {
        let mut connection =
            redis::Client::open(url.as_str())?.get_connection_with_timeout(ANSWER_WITHIN)?;
        redis::cmd("PING").query(&mut connection)
    });
    match answered {
        Ok(pong) if pong == "PONG" => Some(url),
        Ok(other) => REDIS.unreachable(format!("PING answered {other:?}")),
        Err(error) => REDIS.unreachable(error),
    }
}

/// A key prefix no other test or run uses, ending in `:` (`tessera-test_{pid}_{time}_{n}:`): a
/// test's keys are apart from every other test's on the shared server, and it can find (and
/// delete) all of its own with `KEYS {prefix}*`.
pub fn unique_key_prefix() -> String {
    format!("{}:", unique_name("tessera-test"))
}
