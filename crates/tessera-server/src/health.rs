//! Whether the store answers and the deny-list is current, as known to a background check: what
//! `/readyz` and the `tessera_store_up` metric read, so that neither waits on a database that
//! does not answer.
//!
//! [`watch_store`] pings the store every [`STORE_CHECK_INTERVAL`], each ping bounded by
//! [`STORE_CHECK_TIMEOUT`], and logs every change of state once: `event="store_lost"` with the
//! cause, `event="store_back"` with how long it was gone; `event="deny_list_stale"` when the
//! deny-list has not matched the store for longer than checks trust it, `event="deny_list_current"`
//! when it matches again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tessera_store::Store;

use crate::denylist::DenyList;

/// How often the store is checked.
pub const STORE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The longest a check waits for the store's answer.
pub const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The last known state of the store.
#[derive(Debug)]
pub struct StoreHealth {
    up: AtomicBool,
    /// When the store was lost, while it is.
    lost_at: Mutex<Option<Instant>>,
    /// When the deny-list went stale, while it is.
    stale_since: Mutex<Option<Instant>>,
}

impl Default for StoreHealth {
    /// Up: the store has just been opened.
    fn default() -> Self {
        StoreHealth {
            up: AtomicBool::new(true),
            lost_at: Mutex::new(None),
            stale_since: Mutex::new(None),
        }
    }
}

impl StoreHealth {
    /// Whether the store answered its last check.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Records a check's outcome (`Err` with its cause) and logs a change of state.
    pub fn record(&self, outcome: Result<(), String>) {
        let mut lost_at = self.lost_at.lock().unwrap_or_else(PoisonError::into_inner);
        match (outcome, lost_at.take()) {
            (Ok(()), None) => {}
            (Ok(()), Some(lost)) => {
                let down_s = lost.elapsed().as_secs_f64();
                tracing::info!(event = "store_back", down_s, "the store answers again");
            }
            (Err(cause), None) => {
                tracing::warn!(event = "store_lost", cause = %cause, "the store does not answer: requests that need it get 503 until it is back");
                *lost_at = Some(Instant::now());
            }
            (Err(_), Some(lost)) => *lost_at = Some(lost),
        }
        self.up.store(lost_at.is_none(), Ordering::Release);
    }

    /// Records whether the deny-list is current, and logs a change.
    pub fn record_deny_list(&self, fresh: bool) {
        let mut stale_since = self
            .stale_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match (fresh, stale_since.is_some()) {
            (true, true) => {
                let stale_s = stale_since
                    .take()
                    .map_or(0.0, |since| since.elapsed().as_secs_f64());
                tracing::info!(
                    event = "deny_list_current",
                    stale_s,
                    "the deny-list is current again"
                );
            }
            (false, false) => {
                tracing::warn!(event = "deny_list_stale", "the deny-list is stale: authenticated requests get 503 until it can be synchronised with the store");
                *stale_since = Some(Instant::now());
            }
            _ => {}
        }
    }
}

/// Checks the store and the deny-list's freshness every [`STORE_CHECK_INTERVAL`] until the task
/// is dropped.
pub async fn watch_store(
    store: Arc<dyn Store>,
    deny_list: Arc<DenyList>,
    health: Arc<StoreHealth>,
) {
    let mut ticker = tokio::time::interval(STORE_CHECK_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = match tokio::time::timeout(STORE_CHECK_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                STORE_CHECK_TIMEOUT.as_millis()
            )),
        };
        health.record(outcome);
        health.record_deny_list(deny_list.is_fresh());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_follows_the_checks() {
        let health = StoreHealth::default();
        assert!(health.is_up());
        health.record(Err("connection refused".into()));
        assert!(!health.is_up());
        health.record(Err("connection refused".into()));
        assert!(!health.is_up());
        health.record(Ok(()));
        assert!(health.is_up());
        health.record_deny_list(false);
        health.record_deny_list(false);
        health.record_deny_list(true);
        assert!(health.stale_since.lock().unwrap().is_none());
    }
}
