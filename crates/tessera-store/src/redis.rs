//! The Redis backend: state that many instances share and that may be lost.
//!
//! With `REDIS_URL` set, every `tessera serve` instance uses one Redis (or Valkey) for:
//!
//! - **Deny-list entries** (`{prefix}deny:{jti|sid|user}:{subject}`), each with a TTL equal to the
//!   remaining life of the tokens it denies, so Redis forgets them when they no longer matter.
//! - **Revocation hints** (channel `{prefix}revocations`): an instance that recorded a
//!   revocation in the database publishes a hint, and every instance that receives one reads the
//!   new revocations from the database at once ([`RedisState::subscribe`]). A hint carries no
//!   revocation: the database is the only source, so a message on the channel can make an
//!   instance read sooner, never deny or allow anything. The hot path never waits on Redis.
//! - **Throttle counters**: failed logins per account (`{prefix}login:{base64url SHA-256 of the username}`) and
//!   requests per client address (`{prefix}ip:{address}`), counted by Lua scripts so that each
//!   step is atomic whichever instance runs it.
//! - **A marker** (`{prefix}deny-list`) that says the deny-list entries in Redis are complete. If
//!   Redis is flushed or restarts empty, the marker is gone; the server notices, rebuilds the
//!   entries from the database ([`RedisState::rebuild_deny_list`]) and logs it.
//!
//! # Security
//! Redis is never the only copy of a revocation: the database's revocation record is written
//! first and is the truth; Redis is a fast, shared, forgettable copy. Nothing secret is stored in
//! Redis: deny-list entries name token ids, session ids and user ids, and account counters are
//! keyed by a SHA-256 of the username. The URL may carry a password and is kept out of `Debug`.
//!
//! Whoever can write to Redis is trusted only this far: a message on the channel is a hint
//! (bounded to [`MAX_HINT_BYTES`]; anything else is ignored) that costs one database read; the
//! counter scripts treat a value they did not write (negative, not a number, from the future) as
//! a lockout (accounts) or a fresh window (addresses), never as "no limit". Deleting keys resets
//! counters; that is the limit of what these checks can do, so keep Redis private to the
//! deployment (docs/deployment.md).
//!
//! The prefix is the caller's: the server uses `TESSERA_REDIS_PREFIX`, or by default
//! `tessera:<deployment id>:` ([`crate::Store::deployment_id`]).
//!
//! Every command has a deadline ([`COMMAND_TIMEOUT`]), so an unreachable Redis makes calls fail
//! quickly with [`StoreError::Redis`] instead of hanging a request.

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use ::redis::{AsyncCommands as _, Script};
use futures_util::StreamExt as _;
use std::time::Duration;

use crate::{Revocation, StoreError};

/// The longest any single Redis call may take before it fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Counts one login attempt for an account: `KEYS[1]` the account's key; `ARGV` now, the most
/// failures allowed, the lockout window (seconds). Returns `{1, count}` when the attempt is
/// counted, `{0, seconds until the window ends}` when the account is locked. The window starts
/// at the first attempt counted in it; the key's TTL only lets Redis forget it afterwards.
const LOGIN_ATTEMPT_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local lockout = tonumber(ARGV[3])
local first_raw = redis.call('HGET', KEYS[1], 'first')
local count_raw = redis.call('HGET', KEYS[1], 'count')
local first = tonumber(first_raw)
local count = tonumber(count_raw)
if first_raw == false and count_raw == false then
  first = now
  count = 0
elseif first == nil or count == nil or count < 0 or count ~= math.floor(count)
    or first ~= math.floor(first) or first > now then
  -- A value this script never writes: someone else wrote it. Fail closed: a full window locked.
  first = now
  count = max
  redis.call('HSET', KEYS[1], 'first', first, 'count', count)
  redis.call('EXPIRE', KEYS[1], lockout + 1)
elseif now >= first + lockout then
  first = now
  count = 0
end
if count >= max then
  return {0, first + lockout - now}
end
count = count + 1
redis.call('HSET', KEYS[1], 'first', first, 'count', count)
redis.call('EXPIRE', KEYS[1], first + lockout - now + 1)
return {1, count}
";

/// Counts one request from a client address: `KEYS[1]` the address's key; `ARGV` now and the
/// window (seconds). Returns `{count in the window, seconds until it ends}`. Fixed windows that
/// start at the first request, as in the in-memory limiter.
const ADDRESS_HIT_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local start = tonumber(redis.call('HGET', KEYS[1], 'start'))
local counted = tonumber(redis.call('HGET', KEYS[1], 'count'))
local count
-- A value this script never writes (negative, not a whole number, a start in the future) starts
-- a fresh window, as if the key had expired: it can never make the limit go away.
if start == nil or counted == nil or counted < 0 or counted ~= math.floor(counted)
    or start ~= math.floor(start) or start > now or now >= start + window then
  start = now
  count = 1
  redis.call('HSET', KEYS[1], 'start', start, 'count', 1)
  redis.call('EXPIRE', KEYS[1], window + 1)
else
  count = redis.call('HINCRBY', KEYS[1], 'count', 1)
end
return {count, start + window - now}
";

/// The outcome of [`RedisState::login_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Counted; this many attempts are now counted in the account's window.
    Counted(u32),
    /// The account is locked for this many more seconds (at least 1); nothing was counted.
    Locked(u64),
}

/// What Redis says about its own persistence (for `tessera doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// RDB snapshot rules (`CONFIG GET save`); empty when snapshots are off.
    pub rdb_save: String,
    /// Whether the append-only file is on (`CONFIG GET appendonly`).
    pub aof_enabled: bool,
}

/// A hint on the revocation channel: something was revoked; read the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// When the publisher sent it, in milliseconds since the Unix epoch (its system clock; for
    /// the propagation metric only).
    pub published_at_ms: u64,
}

/// The longest message on the revocation channel that is read; longer ones are ignored.
pub const MAX_HINT_BYTES: usize = 64;

/// Milliseconds since the Unix epoch on the system clock (broadcast timestamps and TTLs compare
/// machines' real clocks, not a test's injected one).
#[must_use]
pub fn unix_time_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A connection to the shared Redis, with the key prefix of this deployment.
///
/// Cheap to share behind an `Arc`; commands are multiplexed over one connection that reconnects
/// on its own after an I/O error.
#[derive(Clone)]
pub struct RedisState {
    client: ::redis::Client,
    commands: ConnectionManager,
    prefix: String,
    login_attempt: Script,
    address_hit: Script,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Runs a Redis call under [`COMMAND_TIMEOUT`]. Redis errors carry the server's message and the
/// I/O error, never the URL or the values sent, so their text is safe to log.
async fn bounded<T>(
    call: impl std::future::Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
        Ok(result) => result.map_err(|err| StoreError::Redis(err.to_string())),
        Err(_) => Err(StoreError::Redis(format!(
            "no answer within {} ms",
            COMMAND_TIMEOUT.as_millis()
        ))),
    }
}

impl RedisState {
    /// Prepares a connection to `url` (`redis://[user:password@]host[:port][/db]`) for keys
    /// under `prefix`. Connects lazily: a Redis that is down now is not an error here; calls fail
    /// until it answers.
    ///
    /// # Errors
    /// [`StoreError::Redis`] if the URL is not a valid Redis URL.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url)
            .map_err(|_| StoreError::Redis("REDIS_URL is not a valid redis:// URL".into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|err| StoreError::Redis(err.to_string()))?;
        Ok(RedisState {
            client,
            commands,
            prefix: prefix.to_owned(),
            login_attempt: Script::new(LOGIN_ATTEMPT_SCRIPT),
            address_hit: Script::new(ADDRESS_HIT_SCRIPT),
        })
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The channel revocations are broadcast on.
    #[must_use]
    pub fn channel(&self) -> String {
        format!("{}revocations", self.prefix)
    }

    fn deny_key(&self, revocation: &Revocation) -> String {
        format!(
            "{}deny:{}:{}",
            self.prefix,
            revocation.kind.as_str(),
            revocation.subject
        )
    }

    fn marker_key(&self) -> String {
        format!("{}deny-list", self.prefix)
    }

    /// Checks that Redis answers.
    ///
    /// # Errors
    /// [`StoreError::Redis`] if it does not, within [`COMMAND_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.commands.clone();
        bounded(::redis::cmd("PING").query_async::<String>(&mut connection)).await?;
        Ok(())
    }

    /// Queues the deny-list entry for `revocation` on `pipe`, with a TTL of the denied tokens'
    /// remaining life from `now`; nothing if they have all expired. Returns whether it queued.
    fn queue_deny_entry(
        &self,
        pipe: &mut ::redis::Pipeline,
        revocation: &Revocation,
        now: u64,
    ) -> bool {
        match revocation
            .expires_at
            .checked_sub(now)
            .filter(|ttl| *ttl > 0)
        {
            Some(ttl) => {
                pipe.set_ex(self.deny_key(revocation), revocation.not_before, ttl)
                    .ignore();
                true
            }
            None => false,
        }
    }

    /// Stores the deny-list entries of `revocations` (recorded in the database first), each with
    /// a TTL of the denied tokens' remaining life (nothing for those all expired), and publishes
    /// one hint, in one transaction. Times are this machine's system clock: Redis's TTLs and the
    /// other instances' clocks are real time too.
    ///
    /// # Errors
    /// [`StoreError::Redis`]; the revocations are then still in the database, and instances pick
    /// them up from there.
    pub async fn publish_revocations(&self, revocations: &[Revocation]) -> Result<(), StoreError> {
        let now_ms = unix_time_ms();
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for revocation in revocations {
            self.queue_deny_entry(&mut pipe, revocation, now_ms / 1000);
        }
        pipe.publish(self.channel(), encode(now_ms)).ignore();
        let mut connection = self.commands.clone();
        bounded(pipe.query_async::<()>(&mut connection)).await
    }

    /// Whether the deny-list entries in Redis are known complete (the marker is present). False
    /// after a `FLUSHALL`, or a restart of a Redis that keeps nothing on disk.
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn deny_list_is_complete(&self) -> Result<bool, StoreError> {
        let mut connection = self.commands.clone();
        bounded(connection.exists::<_, bool>(self.marker_key())).await
    }

    /// Writes every live revocation (from the database) back into Redis, then the marker.
    /// Idempotent: several instances may do it at once.
    ///
    /// # Errors
    /// [`StoreError::Redis`]; the marker is then not set, so the next check tries again.
    pub async fn rebuild_deny_list(
        &self,
        revocations: &[Revocation],
        now: u64,
    ) -> Result<usize, StoreError> {
        let mut written = 0;
        for chunk in revocations.chunks(1000) {
            let mut pipe = ::redis::pipe();
            for revocation in chunk {
                if self.queue_deny_entry(&mut pipe, revocation, now) {
                    written += 1;
                }
            }
            let mut connection = self.commands.clone();
            bounded(pipe.query_async::<()>(&mut connection)).await?;
        }
        let mut connection = self.commands.clone();
        bounded(connection.set::<_, _, ()>(self.marker_key(), now)).await?;
        Ok(written)
    }

    /// Counts a login attempt for the account `account` (an opaque, fixed-size key such as a
    /// base64url SHA-256) at `now`, locking it after `max_failures` within `lockout` seconds.
    ///
    /// # Errors
    /// [`StoreError::Redis`]; the caller decides whether to fail closed.
    pub async fn login_attempt(
        &self,
        account: &str,
        now: u64,
        max_failures: u32,
        lockout: u64,
    ) -> Result<LoginAttempt, StoreError> {
        let mut connection = self.commands.clone();
        let key = format!("{}login:{account}", self.prefix);
        let (counted, value): (i64, i64) = bounded(
            self.login_attempt
                .key(key)
                .arg(now)
                .arg(max_failures)
                .arg(lockout)
                .invoke_async(&mut connection),
        )
        .await?;
        Ok(if counted == 1 {
            LoginAttempt::Counted(u32::try_from(value).unwrap_or(u32::MAX))
        } else {
            LoginAttempt::Locked(u64::try_from(value).unwrap_or(1).clamp(1, lockout))
        })
    }

    /// Forgets the account's counted attempts (after a successful login).
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn login_success(&self, account: &str) -> Result<(), StoreError> {
        let mut connection = self.commands.clone();
        let key = format!("{}login:{account}", self.prefix);
        bounded(connection.del::<_, ()>(key)).await
    }

    /// Counts a request from the client address `address` at `now` in windows of `window`
    /// seconds; returns the count in the current window and the seconds until it ends (at least
    /// 1).
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn address_hit(
        &self,
        address: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StoreError> {
        self.window_hit("ip", address, now, window).await
    }

    /// Counts a request for the key `{prefix}{kind}:{subject}` at `now` in windows of `window`
    /// seconds (what [`RedisState::address_hit`] does for addresses, for any other kind of
    /// counter: per-address groups, per-account, per-client); returns the count in the current
    /// window and the seconds until it ends (at least 1).
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn window_hit(
        &self,
        kind: &str,
        subject: &str,
        now: u64,
        window: u64,
    ) -> Result<(u32, u64), StoreError> {
        let mut connection = self.commands.clone();
        let key = format!("{}{kind}:{subject}", self.prefix);
        let (count, remaining): (i64, i64) = bounded(
            self.address_hit
                .key(key)
                .arg(now)
                .arg(window)
                .invoke_async(&mut connection),
        )
        .await?;
        Ok((
            u32::try_from(count).unwrap_or(u32::MAX),
            u64::try_from(remaining).unwrap_or(1).clamp(1, window),
        ))
    }

    /// Reads the persistence settings (`CONFIG GET save`, `CONFIG GET appendonly`).
    ///
    /// # Errors
    /// [`StoreError::Redis`], also when `CONFIG` is disabled (managed services often do).
    pub async fn persistence(&self) -> Result<Persistence, StoreError> {
        let mut connection = self.commands.clone();
        let save: Vec<String> = bounded(
            ::redis::cmd("CONFIG")
                .arg("GET")
                .arg("save")
                .query_async(&mut connection),
        )
        .await?;
        let aof: Vec<String> = bounded(
            ::redis::cmd("CONFIG")
                .arg("GET")
                .arg("appendonly")
                .query_async(&mut connection),
        )
        .await?;
        Ok(Persistence {
            rdb_save: save.get(1).cloned().unwrap_or_default(),
            aof_enabled: aof.get(1).is_some_and(|value| value == "yes"),
        })
    }

    /// Redis's own clock (`TIME`), in milliseconds since the Unix epoch (for clock checks).
    ///
    /// # Errors
    /// [`StoreError::Redis`].
    pub async fn server_time_ms(&self) -> Result<u64, StoreError> {
        let mut connection = self.commands.clone();
        let (seconds, micros): (u64, u64) =
            bounded(::redis::cmd("TIME").query_async(&mut connection)).await?;
        Ok(seconds.saturating_mul(1000).saturating_add(micros / 1000))
    }

    /// Opens a dedicated connection subscribed to the revocation channel.
    ///
    /// # Errors
    /// [`StoreError::Redis`] if Redis cannot be reached or refuses the subscription.
    pub async fn subscribe(&self) -> Result<RevocationFeed, StoreError> {
        let pubsub = bounded(self.client.get_async_pubsub()).await?;
        let (mut sink, stream) = pubsub.split();
        bounded(sink.subscribe(self.channel())).await?;
        Ok(RevocationFeed { sink, stream })
    }
}

/// Revocations broadcast by every instance, as they arrive.
pub struct RevocationFeed {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed").finish_non_exhaustive()
    }
}

impl RevocationFeed {
    /// The next hint; `None` when the connection is gone. A message that is not a hint (longer
    /// than [`MAX_HINT_BYTES`], or not in the format) gives `Some(Err(..))` and is otherwise
    /// ignored.
    pub async fn next(&mut self) -> Option<Result<Hint, StoreError>> {
        let message = self.stream.next().await?;
        let payload = message.get_payload_bytes();
        Some(decode(payload).ok_or_else(|| {
            StoreError::Redis(format!(
                "ignored a message of {} bytes on the revocation channel: not a hint",
                payload.len()
            ))
        }))
    }

    /// Checks that the subscription connection still answers (a dead peer is otherwise only
    /// noticed when TCP gives up, minutes later).
    ///
    /// # Errors
    /// [`StoreError::Redis`] if it does not answer within [`COMMAND_TIMEOUT`].
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        bounded(self.sink.ping::<::redis::Value>()).await?;
        Ok(())
    }
}

/// `v2 PUBLISHED_MS`: a hint carries nothing to trust.
fn encode(now_ms: u64) -> String {
    format!("v2 {now_ms}")
}

fn decode(payload: &[u8]) -> Option<Hint> {
    if payload.len() > MAX_HINT_BYTES {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let published_at_ms = text.strip_prefix("v2 ")?.parse().ok()?;
    Some(Hint { published_at_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_round_trip_and_anything_else_is_refused() {
        let wire = encode(1234);
        assert_eq!(wire, "v2 1234");
        assert_eq!(
            decode(wire.as_bytes()),
            Some(Hint {
                published_at_ms: 1234
            })
        );
        let oversized = format!("v2 1{}", "0".repeat(MAX_HINT_BYTES));
        for garbage in [
            "",
            "v1 user 10 20 1234 user",
            "v2",
            "v2 ",
            "v2 -1",
            "v2 12 extra",
            oversized.as_str(),
        ] {
            assert_eq!(decode(garbage.as_bytes()), None, "{garbage:?}");
        }
    }
}
