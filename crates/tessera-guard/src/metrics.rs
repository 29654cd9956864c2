//! The guard's counters: plain atomics, read through [`crate::Guard::stats`], so a service can
//! export them to whatever metrics library it uses.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters bumped by the guard (relaxed: they are statistics, not synchronisation).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused_invalid: AtomicU64,
    pub(crate) refused_revoked: AtomicU64,
    pub(crate) refused_unavailable: AtomicU64,
    pub(crate) jwks_fetches: AtomicU64,
    pub(crate) jwks_fetch_failures: AtomicU64,
    pub(crate) jwks_unknown_kid_refetches: AtomicU64,
    pub(crate) jwks_cooldown_skips: AtomicU64,
    pub(crate) stale_key_verifications: AtomicU64,
    pub(crate) feed_answers: AtomicU64,
    pub(crate) feed_failures: AtomicU64,
    pub(crate) feed_restarts: AtomicU64,
    pub(crate) stale_feed_acceptances: AtomicU64,
    pub(crate) introspections: AtomicU64,
    pub(crate) introspection_cache_hits: AtomicU64,
    pub(crate) introspection_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A snapshot of the guard's state and counters (monotonic since it was built).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardStats {
    /// Tokens accepted.
    pub accepted: u64,
    /// Tokens refused as missing or invalid (401).
    pub refused_invalid: u64,
    /// Tokens refused as revoked (401).
    pub refused_revoked: u64,
    /// Requests refused because the guard could not decide (503).
    pub refused_unavailable: u64,
    /// Whether a key set is loaded and usable.
    pub keys_loaded: bool,
    /// Whether the key set in use is past its lifetime (refreshes failing; within the grace).
    pub keys_stale: bool,
    /// Keys in the set in use.
    pub keys: usize,
    /// JWK Set (and metadata) fetches started.
    pub jwks_fetches: u64,
    /// Of those, failed.
    pub jwks_fetch_failures: u64,
    /// Fetches caused by a token with an unknown `kid`.
    pub jwks_unknown_kid_refetches: u64,
    /// Unknown `kid`s that caused no fetch because of the cooldown.
    pub jwks_cooldown_skips: u64,
    /// Tokens verified with a set past its lifetime (the last good keys, refreshes failing).
    pub stale_key_verifications: u64,
    /// Whether the revocation feed is current (always false without a feed).
    pub feed_current: bool,
    /// The feed cursor reached.
    pub feed_cursor: i64,
    /// Entries in the revocation set.
    pub revocations: usize,
    /// Feed answers applied.
    pub feed_answers: u64,
    /// Feed requests that failed.
    pub feed_failures: u64,
    /// Times the feed refused the cursor and the guard started again from 0.
    pub feed_restarts: u64,
    /// Tokens accepted while the feed was stale, with serving stale configured.
    pub stale_feed_acceptances: u64,
    /// Introspection requests sent.
    pub introspections: u64,
    /// Introspection answers taken from the positive cache.
    pub introspection_cache_hits: u64,
    /// Introspection requests that failed (503).
    pub introspection_failures: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> GuardStats {
        GuardStats {
            accepted: read(&self.accepted),
            refused_invalid: read(&self.refused_invalid),
            refused_revoked: read(&self.refused_revoked),
            refused_unavailable: read(&self.refused_unavailable),
            jwks_fetches: read(&self.jwks_fetches),
            jwks_fetch_failures: read(&self.jwks_fetch_failures),
            jwks_unknown_kid_refetches: read(&self.jwks_unknown_kid_refetches),
            jwks_cooldown_skips: read(&self.jwks_cooldown_skips),
            stale_key_verifications: read(&self.stale_key_verifications),
            feed_answers: read(&self.feed_answers),
            feed_failures: read(&self.feed_failures),
            feed_restarts: read(&self.feed_restarts),
            stale_feed_acceptances: read(&self.stale_feed_acceptances),
            introspections: read(&self.introspections),
            introspection_cache_hits: read(&self.introspection_cache_hits),
            introspection_failures: read(&self.introspection_failures),
            ..GuardStats::default()
        }
    }
}
