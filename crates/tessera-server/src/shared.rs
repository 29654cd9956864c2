//! Following the shared state in Redis: the revocation broadcast and the deny-list's completeness.
//!
//! [`follow_revocations`] runs for the life of the server when `REDIS_URL` is set:
//!
//! 1. It subscribes to the revocation channel, then catches up from the database (so nothing
//!    revoked while it was not listening is missed: subscribe first, then read), and marks the
//!    deny-list connected.
//! 2. For every hint that arrives it has the deny-list read the database at once (coalesced:
//!    a flood of hints costs at most one read per [`crate::denylist::HINT_SPACING`]). A message
//!    that is not a hint is ignored; none is trusted beyond "read the database".
//! 3. Every [`HEALTH_INTERVAL`] it pings the subscription (a dead peer is otherwise noticed only
//!    when TCP gives up) and checks that Redis still holds the deny-list. If Redis was flushed or
//!    restarted empty, it logs so and rebuilds the entries from the database; the in-process
//!    cache never depended on them, so every revocation stays enforced throughout.
//! 4. When the connection is lost it marks the deny-list disconnected (the database is then
//!    polled every 100 ms; after [`crate::denylist::REDIS_GRACE`] checks fail closed, unless
//!    `TESSERA_REDIS_FALLBACK=database`) and reconnects with backoff ([`RECONNECT_MIN`] doubling
//!    to [`RECONNECT_MAX`]). Once reconnected it broadcasts what was revoked meanwhile.

use std::sync::Arc;
use std::time::Duration;
use tessera_store::redis::{unix_time_ms, RedisState, RevocationFeed};
use tessera_token::Clock;

use crate::denylist::DenyList;

/// How often the subscription is pinged and Redis's deny-list checked for completeness.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// The first wait before reconnecting to Redis.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);

/// The longest wait between reconnection attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Subscribes once, for the server's start: `None` (and a warning) if Redis cannot be reached
/// now; [`follow_revocations`] keeps trying.
pub async fn first_subscription(redis: &RedisState) -> Option<RevocationFeed> {
    match redis.subscribe().await {
        Ok(feed) => Some(feed),
        Err(err) => {
            tracing::warn!(event = "redis_lost", reason = "unreachable at start", error = %err, "lost the connection to Redis");
            None
        }
    }
}

/// Makes sure Redis holds the deny-list; rebuilds it from the database when it does not.
///
/// `seen_complete` remembers whether this process has seen Redis hold it: losing it afterwards
/// (a flush, an empty restart) is a warning; finding none at the first start is not.
async fn ensure_complete(
    redis: &RedisState,
    deny_list: &DenyList,
    clock: &dyn Clock,
    seen_complete: &mut bool,
) {
    match redis.deny_list_is_complete().await {
        Ok(true) => *seen_complete = true,
        Ok(false) => {
            let reason = if *seen_complete {
                tracing::warn!(
                    event = "redis_deny_list_lost",
                    "Redis lost Tessera's deny-list (flushed or restarted empty): rebuilding it from the database; every revocation stays enforced meanwhile"
                );
                "lost"
            } else {
                "first_start"
            };
            let now = clock.now();
            match deny_list.durable_revocations(now).await {
                Ok(revocations) => match redis.rebuild_deny_list(&revocations, now).await {
                    Ok(entries) => {
                        *seen_complete = true;
                        tracing::info!(
                            event = "deny_list_rebuilt",
                            reason,
                            entries,
                            "deny-list rebuilt in Redis from the database"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "rebuilding the deny-list in Redis failed; retrying");
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read revocations from the database to rebuild Redis; retrying");
                }
            }
        }
        Err(err) => tracing::debug!(error = %err, "deny-list completeness check failed"),
    }
}

/// Follows the revocation broadcast until the task is dropped; see the module docs.
pub async fn follow_revocations(
    deny_list: Arc<DenyList>,
    redis: RedisState,
    clock: Arc<dyn Clock>,
    mut feed: Option<RevocationFeed>,
) {
    let mut backoff = RECONNECT_MIN;
    // Without a first subscription, Redis was unreachable at start (and logged so).
    let mut lost_at = feed.is_none().then(std::time::Instant::now);
    let mut seen_complete = false;
    loop {
        let mut subscription = match feed.take() {
            Some(subscription) => subscription,
            None => match redis.subscribe().await {
                Ok(subscription) => subscription,
                Err(err) => {
                    tracing::debug!(error = %err, "cannot reach Redis; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                    continue;
                }
            },
        };
        // Subscribed: from here on no broadcast is missed. Catch up with what was revoked while
        // this instance was not listening.
        if let Err(err) = deny_list.sync(clock.now()).await {
            tracing::warn!(error = %err, "catching up with the database after connecting to Redis failed; the periodic sync retries");
        }
        deny_list.set_connected(true);
        match lost_at.take() {
            Some(lost) => {
                let down_s = lost.elapsed().as_secs_f64();
                tracing::info!(event = "redis_back", down_s, "reconnected to Redis");
            }
            None => tracing::info!("following revocations through Redis"),
        }
        deny_list.publish_pending().await;
        backoff = RECONNECT_MIN;
        ensure_complete(&redis, &deny_list, clock.as_ref(), &mut seen_complete).await;
        let mut health = tokio::time::interval(HEALTH_INTERVAL);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.tick().await;
        let lost = loop {
            tokio::select! {
                message = subscription.next() => match message {
                    Some(Ok(hint)) => deny_list.hint(hint, unix_time_ms()),
                    // Debug, not warn: whoever floods the channel must not flood the logs too.
                    Some(Err(err)) => tracing::debug!(error = %err, "ignored a message on the revocation channel"),
                    None => break "connection closed",
                },
                _ = health.tick() => {
                    if subscription.ping().await.is_err() {
                        break "no answer to ping";
                    }
                    ensure_complete(&redis, &deny_list, clock.as_ref(), &mut seen_complete).await;
                }
            }
        };
        deny_list.set_connected(false);
        lost_at = Some(std::time::Instant::now());
        // What follows is in the field: with the `database` fallback revocations are checked
        // against the database until Redis is back; otherwise authenticated requests are refused
        // (503) if it is not back within a second.
        let fallback = if deny_list.polls_fast() {
            "database"
        } else {
            "closed"
        };
        tracing::warn!(
            event = "redis_lost",
            reason = lost,
            fallback,
            "lost the connection to Redis"
        );
        tokio::time::sleep(backoff).await;
    }
}
