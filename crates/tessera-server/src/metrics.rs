//! Prometheus metrics, rendered in the text exposition format (version 0.0.4).
//!
//! Counters are plain atomics and the latency histogram has fixed buckets, so recording is a
//! few relaxed atomic adds and never blocks a request.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use tessera_store::PoolStats;

/// The most distinct key ids counted by `tessera_token_verifications_total`. Only keys that
/// verified a token are counted, so the label set is bounded by the key set; this is a second
/// bound, against a key set that grows without end.
const MAX_COUNTED_KIDS: usize = 64;

/// Upper bounds of the request-latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The reasons a presented access token can be refused, as [`tessera_token::Error::reason`]
/// labels plus `revoked` (denied by the deny-list) and `malformed_header`.
pub const VERIFICATION_FAILURE_REASONS: [&str; 20] = [
    "too_large",
    "segments",
    "base64",
    "header",
    "typ",
    "unknown_kid",
    "alg_mismatch",
    "signature_length",
    "non_canonical_signature",
    "signature",
    "payload",
    "claim_type",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "issuer",
    "audience",
    "missing_claim",
    "revoked",
    "malformed_header",
];

/// Upper bounds of the revocation-propagation buckets, in seconds.
const PROPAGATION_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Kinds of revocation, as labels.
pub const REVOCATION_KINDS: [&str; 3] = ["token", "session", "user"];

/// HTTP status classes, as labels.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    logins_ok: AtomicU64,
    logins_failed: AtomicU64,
    logins_throttled: AtomicU64,
    rate_limited: AtomicU64,
    refreshes: AtomicU64,
    reuse_detections: AtomicU64,
    revocations: [AtomicU64; REVOCATION_KINDS.len()],
    verification_failures: [AtomicU64; VERIFICATION_FAILURE_REASONS.len()],
    responses: [AtomicU64; STATUS_CLASSES.len()],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// 0: no Redis configured; 1: configured, disconnected; 2: connected.
    redis_state: AtomicU64,
    propagation_buckets: [AtomicU64; PROPAGATION_BUCKETS.len()],
    propagation_count: AtomicU64,
    propagation_sum_millis: AtomicU64,
    /// Stored signing keys that entered each state (next, current, previous, retired).
    key_transitions: [AtomicU64; 4],
    /// Successful verifications per key id, in the order the keys were first used.
    verifications: RwLock<Vec<(Box<str>, AtomicU64)>>,
}

/// What `/metrics` reads at scrape time from the rest of the server (gauges of state that
/// [`Metrics`] does not own).
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Entries in the in-process deny-list.
    pub deny_list_entries: usize,
    /// Time since the deny-list last matched the store (`None`: never).
    pub deny_list_sync_age: Option<Duration>,
    /// Whether the store answered its last background check.
    pub store_up: bool,
    /// The store's connection pool.
    pub pool: PoolStats,
    /// Stored signing keys by state: next, current, previous (`None` in static mode).
    pub signing_keys: Option<[usize; 3]>,
}

/// What happened at a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Credentials accepted.
    Ok,
    /// Credentials refused.
    Failed,
    /// Refused without checking: the account is locked out.
    Throttled,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Counts a stored signing key entering `state`.
    pub fn signing_key_transition(&self, state: tessera_service::keys::KeyState) {
        use tessera_service::keys::KeyState;
        let index = match state {
            KeyState::Next => 0,
            KeyState::Current => 1,
            KeyState::Previous => 2,
            KeyState::Retired => 3,
        };
        bump(&self.key_transitions[index]);
    }

    /// Counts a login attempt.
    pub fn login(&self, outcome: LoginOutcome) {
        bump(match outcome {
            LoginOutcome::Ok => &self.logins_ok,
            LoginOutcome::Failed => &self.logins_failed,
            LoginOutcome::Throttled => &self.logins_throttled,
        });
    }

    /// Counts a request refused by the per-IP rate limit.
    pub fn rate_limited(&self) {
        bump(&self.rate_limited);
    }

    /// Counts a successful refresh-token rotation.
    pub fn refresh(&self) {
        bump(&self.refreshes);
    }

    /// Counts a detected refresh-token reuse.
    pub fn reuse_detected(&self) {
        bump(&self.reuse_detections);
    }

    /// Counts a revocation of the given kind (`token`, `session`, `user`).
    pub fn revocation(&self, kind: &str) {
        if let Some(index) = REVOCATION_KINDS.iter().position(|known| *known == kind) {
            bump(&self.revocations[index]);
        }
    }

    /// Counts an access token refused, by reason (see [`VERIFICATION_FAILURE_REASONS`]).
    pub fn verification_failure(&self, reason: &str) {
        if let Some(index) = VERIFICATION_FAILURE_REASONS
            .iter()
            .position(|known| *known == reason)
        {
            bump(&self.verification_failures[index]);
        }
    }

    /// Counts an access token that verified, by the `kid` of the key that verified it (so that
    /// the last use of a rotated-out key is visible).
    pub fn verified(&self, kid: &str) {
        {
            let counted = self
                .verifications
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, counter)) = counted.iter().find(|(known, _)| &**known == kid) {
                bump(counter);
                return;
            }
        }
        let mut counted = self
            .verifications
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, counter)) = counted.iter().find(|(known, _)| &**known == kid) {
            bump(counter);
        } else if counted.len() < MAX_COUNTED_KIDS {
            counted.push((kid.into(), AtomicU64::new(1)));
        }
    }

    /// Records one request's status and latency.
    pub fn request(&self, status: u16, elapsed: Duration) {
        self.response(status);
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            bump(&self.latency_buckets[bucket]);
        }
        bump(&self.latency_count);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a response by status class without its latency (a long poll, whose time is
    /// waiting, not work).
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100)
            .saturating_sub(1)
            .min(STATUS_CLASSES.len() - 1);
        bump(&self.responses[class]);
    }

    /// Records whether the Redis broadcast subscription is up.
    pub fn redis_connected(&self, connected: bool) {
        self.redis_state
            .store(if connected { 2 } else { 1 }, Ordering::Relaxed);
    }

    /// Records how long a broadcast revocation took from its publisher to this instance.
    pub fn revocation_propagated(&self, millis: u64) {
        #[allow(
            clippy::cast_precision_loss,
            reason = "milliseconds below 2^53 convert exactly"
        )]
        let seconds = millis as f64 / 1000.0;
        if let Some(bucket) = PROPAGATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
        {
            bump(&self.propagation_buckets[bucket]);
        }
        bump(&self.propagation_count);
        self.propagation_sum_millis
            .fetch_add(millis, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text format.
    #[must_use]
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(
            out,
            "# HELP tessera_build_info The running version (always 1)."
        );
        let _ = writeln!(out, "# TYPE tessera_build_info gauge");
        let _ = writeln!(
            out,
            "tessera_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            out,
            "# HELP tessera_store_up Whether the store (SQLite or PostgreSQL) answered its last check (every second)."
        );
        let _ = writeln!(out, "# TYPE tessera_store_up gauge");
        let _ = writeln!(out, "tessera_store_up {}", u8::from(gauges.store_up));
        let _ = writeln!(
            out,
            "# HELP tessera_store_connections Connections of the store's pool, by state."
        );
        let _ = writeln!(out, "# TYPE tessera_store_connections gauge");
        let _ = writeln!(
            out,
            "tessera_store_connections{{state=\"in_use\"}} {}",
            gauges.pool.in_use
        );
        let _ = writeln!(
            out,
            "tessera_store_connections{{state=\"idle\"}} {}",
            gauges.pool.idle
        );
        let _ = writeln!(
            out,
            "# HELP tessera_store_connections_max The most connections the store's pool opens."
        );
        let _ = writeln!(out, "# TYPE tessera_store_connections_max gauge");
        let _ = writeln!(out, "tessera_store_connections_max {}", gauges.pool.max);
        let _ = writeln!(
            out,
            "# HELP tessera_deny_list_sync_age_seconds Time since the deny-list last matched the store (checks fail closed past 10 s)."
        );
        let _ = writeln!(out, "# TYPE tessera_deny_list_sync_age_seconds gauge");
        let age = gauges.deny_list_sync_age.map_or_else(
            || "+Inf".to_owned(),
            |age| format!("{:.3}", age.as_secs_f64()),
        );
        let _ = writeln!(out, "tessera_deny_list_sync_age_seconds {age}");
        if let Some(counts) = gauges.signing_keys {
            let _ = writeln!(
                out,
                "# HELP tessera_signing_keys Stored signing keys by state (next: published, not yet signing; current: signing; previous: verifying until its tokens expire)."
            );
            let _ = writeln!(out, "# TYPE tessera_signing_keys gauge");
            for (state, count) in ["next", "current", "previous"].iter().zip(counts) {
                let _ = writeln!(out, "tessera_signing_keys{{state=\"{state}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "# HELP tessera_signing_key_transitions_total Stored signing keys that entered each state, as this instance saw them."
            );
            let _ = writeln!(out, "# TYPE tessera_signing_key_transitions_total counter");
            for (state, counter) in ["next", "current", "previous", "retired"]
                .iter()
                .zip(&self.key_transitions)
            {
                let _ = writeln!(
                    out,
                    "tessera_signing_key_transitions_total{{state=\"{state}\"}} {}",
                    load(counter)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP tessera_token_verifications_total Access tokens that verified, by the key that verified them."
        );
        let _ = writeln!(out, "# TYPE tessera_token_verifications_total counter");
        for (kid, counter) in self
            .verifications
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tessera_token_verifications_total{{kid=\"{}\"}} {}",
                escape_label(kid),
                load(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_logins_total Login attempts by outcome."
        );
        let _ = writeln!(out, "# TYPE tessera_logins_total counter");
        for (outcome, counter) in [
            ("ok", &self.logins_ok),
            ("failed", &self.logins_failed),
            ("throttled", &self.logins_throttled),
        ] {
            let _ = writeln!(
                out,
                "tessera_logins_total{{outcome=\"{outcome}\"}} {}",
                load(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_rate_limited_total Credential requests refused by the per-IP limit."
        );
        let _ = writeln!(out, "# TYPE tessera_rate_limited_total counter");
        let _ = writeln!(
            out,
            "tessera_rate_limited_total {}",
            load(&self.rate_limited)
        );
        let _ = writeln!(
            out,
            "# HELP tessera_refreshes_total Successful refresh-token rotations."
        );
        let _ = writeln!(out, "# TYPE tessera_refreshes_total counter");
        let _ = writeln!(out, "tessera_refreshes_total {}", load(&self.refreshes));
        let _ = writeln!(out, "# HELP tessera_refresh_reuse_detections_total Rotated-away refresh tokens presented (each revokes a session).");
        let _ = writeln!(out, "# TYPE tessera_refresh_reuse_detections_total counter");
        let _ = writeln!(
            out,
            "tessera_refresh_reuse_detections_total {}",
            load(&self.reuse_detections)
        );
        let _ = writeln!(
            out,
            "# HELP tessera_revocations_total Revocations recorded, by kind."
        );
        let _ = writeln!(out, "# TYPE tessera_revocations_total counter");
        for (kind, counter) in REVOCATION_KINDS.iter().zip(&self.revocations) {
            let _ = writeln!(
                out,
                "tessera_revocations_total{{kind=\"{kind}\"}} {}",
                load(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_token_verification_failures_total Access tokens refused, by reason."
        );
        let _ = writeln!(
            out,
            "# TYPE tessera_token_verification_failures_total counter"
        );
        for (reason, counter) in VERIFICATION_FAILURE_REASONS
            .iter()
            .zip(&self.verification_failures)
        {
            let _ = writeln!(
                out,
                "tessera_token_verification_failures_total{{reason=\"{reason}\"}} {}",
                load(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_deny_list_entries Entries in the in-process deny-list."
        );
        let _ = writeln!(out, "# TYPE tessera_deny_list_entries gauge");
        let _ = writeln!(
            out,
            "tessera_deny_list_entries {}",
            gauges.deny_list_entries
        );
        let _ = writeln!(
            out,
            "# HELP tessera_http_responses_total HTTP responses by status class."
        );
        let _ = writeln!(out, "# TYPE tessera_http_responses_total counter");
        for (class, counter) in STATUS_CLASSES.iter().zip(&self.responses) {
            let _ = writeln!(
                out,
                "tessera_http_responses_total{{class=\"{class}\"}} {}",
                load(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_http_request_duration_seconds Request latency."
        );
        let _ = writeln!(
            out,
            "# TYPE tessera_http_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            cumulative += load(counter);
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(
            out,
            "tessera_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        #[allow(
            clippy::cast_precision_loss,
            reason = "a latency sum in seconds needs no 53-bit precision"
        )]
        let sum = load(&self.latency_sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "tessera_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "tessera_http_request_duration_seconds_count {count}");
        let redis_state = load(&self.redis_state);
        if redis_state > 0 {
            let _ = writeln!(
                out,
                "# HELP tessera_redis_connected Whether the revocation broadcast (Redis) is being received."
            );
            let _ = writeln!(out, "# TYPE tessera_redis_connected gauge");
            let _ = writeln!(
                out,
                "tessera_redis_connected {}",
                u8::from(redis_state == 2)
            );
            let _ = writeln!(out, "# HELP tessera_revocation_propagation_seconds Time from a revocation's broadcast by any instance to its arrival here (publisher's and this machine's clocks).");
            let _ = writeln!(
                out,
                "# TYPE tessera_revocation_propagation_seconds histogram"
            );
            let mut cumulative = 0;
            for (bound, counter) in PROPAGATION_BUCKETS.iter().zip(&self.propagation_buckets) {
                cumulative += load(counter);
                let _ = writeln!(
                    out,
                    "tessera_revocation_propagation_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = load(&self.propagation_count);
            let _ = writeln!(
                out,
                "tessera_revocation_propagation_seconds_bucket{{le=\"+Inf\"}} {count}"
            );
            #[allow(
                clippy::cast_precision_loss,
                reason = "a latency sum in seconds needs no 53-bit precision"
            )]
            let sum = load(&self.propagation_sum_millis) as f64 / 1e3;
            let _ = writeln!(out, "tessera_revocation_propagation_seconds_sum {sum}");
            let _ = writeln!(out, "tessera_revocation_propagation_seconds_count {count}");
        }
        out
    }
}

/// A label value in the exposition format: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges() -> Gauges {
        Gauges {
            deny_list_entries: 4,
            deny_list_sync_age: Some(Duration::from_millis(1_500)),
            store_up: true,
            pool: PoolStats {
                in_use: 1,
                idle: 2,
                max: 10,
            },
            signing_keys: Some([1, 1, 2]),
        }
    }

    #[test]
    fn renders_the_gauges_and_the_verifications_per_key() {
        let metrics = Metrics::default();
        metrics.verified("key-a");
        metrics.verified("key-b");
        metrics.verified("key-a");
        metrics.verified("odd\"kid\\");
        metrics.signing_key_transition(tessera_service::keys::KeyState::Retired);
        let text = metrics.render(&gauges());
        for line in [
            "tessera_token_verifications_total{kid=\"key-a\"} 2",
            "tessera_token_verifications_total{kid=\"key-b\"} 1",
            "tessera_token_verifications_total{kid=\"odd\\\"kid\\\\\"} 1",
            "tessera_store_up 1",
            "tessera_store_connections{state=\"in_use\"} 1",
            "tessera_store_connections{state=\"idle\"} 2",
            "tessera_store_connections_max 10",
            "tessera_deny_list_sync_age_seconds 1.500",
            "tessera_deny_list_entries 4",
            "tessera_signing_keys{state=\"next\"} 1",
            "tessera_signing_keys{state=\"current\"} 1",
            "tessera_signing_keys{state=\"previous\"} 2",
            "tessera_signing_key_transitions_total{state=\"retired\"} 1",
            "tessera_signing_key_transitions_total{state=\"current\"} 0",
        ] {
            assert!(text.lines().any(|got| got == line), "{line} in\n{text}");
        }
        assert!(text.contains(&format!(
            "tessera_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )));
        let never = Gauges {
            deny_list_sync_age: None,
            store_up: false,
            ..gauges()
        };
        let text = metrics.render(&never);
        assert!(
            text.contains("tessera_deny_list_sync_age_seconds +Inf\n"),
            "{text}"
        );
        assert!(text.contains("tessera_store_up 0"));
    }

    #[test]
    fn the_key_ids_counted_are_bounded() {
        let metrics = Metrics::default();
        for index in 0..(MAX_COUNTED_KIDS + 10) {
            metrics.verified(&format!("kid-{index}"));
        }
        let text = metrics.render(&gauges());
        let counted = text
            .lines()
            .filter(|line| line.starts_with("tessera_token_verifications_total{"))
            .count();
        assert_eq!(counted, MAX_COUNTED_KIDS);
    }

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.login(LoginOutcome::Ok);
        metrics.login(LoginOutcome::Failed);
        metrics.login(LoginOutcome::Failed);
        metrics.verification_failure("expired");
        metrics.verification_failure("not-a-reason");
        metrics.revocation("session");
        metrics.request(200, Duration::from_micros(300));
        metrics.request(401, Duration::from_millis(7));
        metrics.request(503, Duration::from_secs(20));
        let text = metrics.render(&gauges());
        assert!(
            text.contains("tessera_logins_total{outcome=\"failed\"} 2"),
            "{text}"
        );
        assert!(text.contains("tessera_token_verification_failures_total{reason=\"expired\"} 1"));
        assert!(text.contains("tessera_revocations_total{kind=\"session\"} 1"));
        assert!(text.contains("tessera_deny_list_entries 4"));
        assert!(text.contains("tessera_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{le=\"0.01\"} 2"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{le=\"10\"} 2"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("tessera_http_request_duration_seconds_count 3"));
    }

    #[test]
    fn every_token_error_reason_has_a_label() {
        use tessera_token::Error;
        let errors = [
            Error::TokenTooLarge { len: 1, max: 0 },
            Error::Segments { found: 1 },
            Error::Base64 { segment: "header" },
            Error::Header("x"),
            Error::TokenType("x"),
            Error::UnknownKey,
            Error::AlgorithmMismatch,
            Error::SignatureLength,
            Error::NonCanonicalSignature,
            Error::Signature,
            Error::Payload("x"),
            Error::ClaimType {
                claim: "exp",
                reason: "x",
            },
            Error::Expired,
            Error::NotYetValid,
            Error::IssuedInFuture,
            Error::Issuer,
            Error::Audience,
            Error::MissingClaim("sub"),
        ];
        for error in errors {
            assert!(
                VERIFICATION_FAILURE_REASONS.contains(&error.reason()),
                "{}",
                error.reason()
            );
        }
    }
}
