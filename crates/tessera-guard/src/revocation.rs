//! Revocations, judged in-process: the set the feed fills, and the follower that fills it.
//!
//! [`RevocationSet`] holds what `GET /oauth/revocations` said (protocol:
//! `docs/revocation-feed.md`), and judges a token exactly as Tessera's own deny-list does: its
//! `jti` revoked, its `sid` revoked, or its user revoked from an epoch the token was issued
//! before. A check is a few hash lookups under a read lock: no I/O.
//!
//! The follower (a background task) long-polls the feed from cursor 0 (a snapshot of every
//! revocation that still matters, so a guard started late misses nothing), then from each answer's
//! cursor. It is **current** while its last answer (one that left nothing more to read) arrived
//! within [`FeedOptions::stale_after`]; a healthy long poll is answered at least every
//! [`FeedOptions::wait`], so the bound must exceed the wait with margin (the defaults: 10 s and
//! 15 s, as the protocol page advises). While not current the guard refuses every token with 503,
//! unless [`FeedOptions::serve_stale`] says otherwise. Errors are retried with backoff (100 ms
//! doubling to 5 s, or `Retry-After`), and the first request after an error asks with `wait=0`,
//! so a Tessera restart costs a few hundred milliseconds; the cursor stays valid across restarts
//! (it numbers the durable record). A `400` (a cursor the record does not know: a restored
//! database) starts again from 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;
use tessera_token::{AccessClaims, Clock};

use crate::credentials::ClientCredentials;
use crate::error::{Error, Revoked};
use crate::fetch::{describe, read_capped, retry_after};
use crate::metrics::Counters;

/// What kind of thing a feed entry revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationKind {
    /// One access token, by `jti`.
    Token,
    /// Every token of a login session, by `sid`.
    Session,
    /// Every token of a user issued before `not_before`, by `sub`.
    User,
}

/// Revoked tokens, sessions and user epochs, each kept until its `until` (after which every
/// token it could match has expired).
///
/// `Debug` shows the counts only: the entries are user, session and token ids (what the feed's
/// page calls sensitive), and there may be millions of them.
#[derive(Default)]
pub struct RevocationSet {
    /// `jti` -> until.
    tokens: HashMap<Box<str>, u64>,
    /// `sid` -> until.
    sessions: HashMap<Box<str>, u64>,
    /// user id -> (not_before, until).
    users: HashMap<Box<str>, (u64, u64)>,
}

impl RevocationSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        RevocationSet::default()
    }

    /// Adds one revocation; a repeated one keeps the later epoch and the later `until`.
    pub fn apply(&mut self, kind: RevocationKind, value: &str, not_before: u64, until: u64) {
        match kind {
            RevocationKind::Token => {
                let entry = self.tokens.entry(value.into()).or_insert(until);
                *entry = (*entry).max(until);
            }
            RevocationKind::Session => {
                let entry = self.sessions.entry(value.into()).or_insert(until);
                *entry = (*entry).max(until);
            }
            RevocationKind::User => {
                let entry = self
                    .users
                    .entry(value.into())
                    .or_insert((not_before, until));
                *entry = (entry.0.max(not_before), entry.1.max(until));
            }
        }
    }

    /// Whether (and why) the token with these claims is revoked: the same rule as Tessera's
    /// deny-list. A token without `iat` cannot prove it is newer than a user's epoch and is
    /// refused. Times are whole seconds, so a token issued in the epoch's own second may be older
    /// or newer: one with a session is judged by its session (revoked along with the epoch), one
    /// without is refused.
    #[must_use]
    pub fn check(&self, claims: &AccessClaims) -> Option<Revoked> {
        let Some(iat) = claims.iat else {
            return Some(Revoked::NoIssuedAt);
        };
        if self.tokens.contains_key(claims.jti.as_str()) {
            return Some(Revoked::Token);
        }
        if claims
            .sid
            .as_deref()
            .is_some_and(|sid| self.sessions.contains_key(sid))
        {
            return Some(Revoked::Session);
        }
        if let Some((not_before, _)) = self.users.get(claims.sub.as_str()) {
            if iat < *not_before || (iat == *not_before && claims.sid.is_none()) {
                return Some(Revoked::User);
            }
        }
        None
    }

    /// Drops the entries whose `until` has passed at `now` (Unix seconds).
    pub fn forget_expired(&mut self, now: u64) {
        self.tokens.retain(|_, until| *until > now);
        self.sessions.retain(|_, until| *until > now);
        self.users.retain(|_, (_, until)| *until > now);
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.users.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationSet")
            .field("tokens", &self.tokens.len())
            .field("sessions", &self.sessions.len())
            .field("users", &self.users.len())
            .finish()
    }
}

/// How long Tessera's record keeps a revocation past the lifetime of the tokens it covers
/// (`REVOCATION_MARGIN`: the verifiers' leeway and the clock difference between instances).
const REVOCATION_MARGIN: u64 = 600;

/// How the guard follows Tessera's revocation feed (`GET /oauth/revocations`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FeedOptions {
    /// The client credentials the feed requires.
    pub credentials: ClientCredentials,
    /// The feed's URL; by default the issuer's `/oauth/revocations`.
    pub url: Option<String>,
    /// How long each long poll may be held open when nothing is new (`wait`, at most 25 s).
    /// Default 10 s.
    pub wait: Duration,
    /// How long after its last answer the feed still counts as current. Default 15 s; must
    /// exceed [`FeedOptions::wait`] by at least 2 s.
    pub stale_after: Duration,
    /// Accept tokens (checked against the revocations known so far) while the feed is not
    /// current, instead of answering 503. Default false: fail closed.
    pub serve_stale: bool,
    /// The largest answer read, in bytes (a full page is 10,000 entries, about 1.3 MB). Default
    /// 8 MiB.
    pub max_page_size: usize,
    /// The longest lifetime (`exp - iat`) of a token the guard accepts: set it to Tessera's
    /// `JWT_ACCESS_TTL` (the longest any instance uses). Default 1 hour, the longest
    /// `JWT_ACCESS_TTL` Tessera does not warn about.
    ///
    /// Tessera keeps a revocation only as long as the longest access lifetime it issues, and
    /// refuses longer-lived tokens itself (`tessera token mint --ttl 7d` makes one): the feed
    /// forgets a revocation once the tokens it covers have expired, so a longer-lived token would
    /// be accepted again afterwards (and at once by a guard started later). The guard refuses such
    /// tokens, and keeps every revocation at least until the tokens it covers, of at most this
    /// lifetime, have expired.
    pub max_token_lifetime: Duration,
}

impl FeedOptions {
    /// The defaults, with these credentials.
    #[must_use]
    pub fn new(credentials: ClientCredentials) -> Self {
        FeedOptions {
            credentials,
            url: None,
            wait: Duration::from_secs(10),
            stale_after: Duration::from_secs(15),
            serve_stale: false,
            max_page_size: 8 * 1024 * 1024,
            max_token_lifetime: Duration::from_secs(3600),
        }
    }

    /// Sets [`FeedOptions::url`].
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets [`FeedOptions::wait`] and [`FeedOptions::stale_after`].
    #[must_use]
    pub fn timing(mut self, wait: Duration, stale_after: Duration) -> Self {
        self.wait = wait;
        self.stale_after = stale_after;
        self
    }

    /// Sets [`FeedOptions::serve_stale`].
    ///
    /// # Security
    /// While the feed is down, a logged-out user's token is accepted until it expires.
    #[must_use]
    pub fn serve_stale(mut self, serve_stale: bool) -> Self {
        self.serve_stale = serve_stale;
        self
    }

    /// Sets [`FeedOptions::max_page_size`].
    #[must_use]
    pub fn max_page_size(mut self, bytes: usize) -> Self {
        self.max_page_size = bytes;
        self
    }

    /// Sets [`FeedOptions::max_token_lifetime`].
    #[must_use]
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_token_lifetime.as_secs() == 0 {
            return Err(Error::config(
                "revocation feed: max_token_lifetime must be at least 1 s",
            ));
        }
        if self.wait > Duration::from_secs(25) {
            return Err(Error::config("revocation feed: wait is at most 25 s"));
        }
        if self.stale_after < self.wait + Duration::from_secs(2) {
            return Err(Error::config(
                "revocation feed: stale_after must exceed wait by at least 2 s, or a healthy \
                 long poll would look stale",
            ));
        }
        Ok(())
    }
}

/// One feed answer.
#[derive(Deserialize)]
struct Page {
    revocations: Vec<Entry>,
    cursor: i64,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct Entry {
    kind: RevocationKind,
    value: String,
    #[serde(default)]
    not_before: u64,
    until: u64,
}

/// The followed feed: the set, and whether it is current.
#[derive(Debug)]
pub(crate) struct Feed {
    pub(crate) set: RwLock<RevocationSet>,
    url: Url,
    options: FeedOptions,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    started: Instant,
    /// Milliseconds after `started` of the last answer that left nothing more to read; 0: none.
    current_at_ms: AtomicU64,
    cursor: AtomicI64,
}

impl Feed {
    pub(crate) fn new(
        url: Url,
        options: FeedOptions,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Feed {
            set: RwLock::new(RevocationSet::new()),
            url,
            options,
            client,
            clock,
            started: Instant::now(),
            current_at_ms: AtomicU64::new(0),
            cursor: AtomicI64::new(0),
        }
    }

    pub(crate) fn serves_stale(&self) -> bool {
        self.options.serve_stale
    }

    /// Whether the last complete answer arrived within [`FeedOptions::stale_after`].
    pub(crate) fn is_current(&self) -> bool {
        let at = self.current_at_ms.load(Ordering::Acquire);
        at != 0
            && self.started.elapsed().as_millis()
                <= u128::from(at) + self.options.stale_after.as_millis()
    }

    pub(crate) fn cursor(&self) -> i64 {
        self.cursor.load(Ordering::Relaxed)
    }

    /// Judges the claims against the set, after the lifetime rule
    /// ([`FeedOptions::max_token_lifetime`]), as Tessera's deny-list does.
    pub(crate) fn check(&self, claims: &AccessClaims) -> Option<Revoked> {
        if claims.iat.is_some_and(|iat| {
            claims.exp.saturating_sub(iat) > self.options.max_token_lifetime.as_secs()
        }) {
            return Some(Revoked::Lifetime);
        }
        self.set
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(claims)
    }

    pub(crate) fn len(&self) -> usize {
        self.set
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// The follower task: runs until the guard is dropped.
    pub(crate) async fn follow(self: Arc<Self>, counters: Arc<Counters>, changed: impl Fn()) {
        const FORGET_EVERY: Duration = Duration::from_secs(60);
        let mut cursor: i64 = 0;
        let mut caught_up = false;
        let mut failures: u32 = 0;
        let mut forgotten_at = Instant::now();
        loop {
            let wait = if caught_up {
                self.options.wait
            } else {
                Duration::ZERO
            };
            let delay = match self.poll(cursor, wait).await {
                Ok(page) => {
                    failures = 0;
                    Counters::bump(&counters.feed_answers);
                    {
                        let mut set = self
                            .set
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        // Every token an entry covers was issued before its `not_before`, and the
                        // guard accepts none that lives longer than `max_token_lifetime`.
                        let covered = self
                            .options
                            .max_token_lifetime
                            .as_secs()
                            .saturating_add(REVOCATION_MARGIN);
                        for entry in &page.revocations {
                            let until = entry.until.max(entry.not_before.saturating_add(covered));
                            set.apply(entry.kind, &entry.value, entry.not_before, until);
                        }
                        if forgotten_at.elapsed() >= FORGET_EVERY {
                            set.forget_expired(self.clock.now());
                            forgotten_at = Instant::now();
                        }
                    }
                    cursor = page.cursor;
                    self.cursor.store(cursor, Ordering::Relaxed);
                    caught_up = !page.more;
                    if caught_up {
                        let now = u64::try_from(self.started.elapsed().as_millis())
                            .unwrap_or(u64::MAX)
                            .max(1);
                        self.current_at_ms.store(now, Ordering::Release);
                        changed();
                    }
                    None
                }
                Err(Failure::CursorRefused) => {
                    Counters::bump(&counters.feed_restarts);
                    tracing::warn!(event = "feed_restart", cursor, "the revocation feed does not know this cursor (a restored database?); reading it again from 0");
                    cursor = 0;
                    caught_up = false;
                    Some(Duration::from_millis(100))
                }
                Err(Failure::Other { error, retry_after }) => {
                    Counters::bump(&counters.feed_failures);
                    failures = failures.saturating_add(1);
                    caught_up = false;
                    let backoff = Duration::from_millis(100)
                        .saturating_mul(1 << failures.min(7).saturating_sub(1))
                        .min(Duration::from_secs(5));
                    let delay = retry_after.unwrap_or(backoff);
                    tracing::warn!(event = "feed_failed", error = %error, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), current = self.is_current(), "following the revocation feed failed; retrying");
                    changed();
                    Some(delay)
                }
            };
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn poll(&self, cursor: i64, wait: Duration) -> Result<Page, Failure> {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("after", &cursor.to_string())
            .append_pair("wait", &wait.as_secs().to_string());
        let response = self
            .options
            .credentials
            .apply(self.client.get(url))
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(wait + Duration::from_secs(10))
            .send()
            .await
            .map_err(|err| Failure::other(Error::fetch("revocation feed", describe(&err))))?;
        let status = response.status();
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err(Failure::CursorRefused);
        }
        if status != reqwest::StatusCode::OK {
            let retry_after = retry_after(response.headers());
            let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
                " (the client credentials were refused: `tessera client add`)"
            } else {
                ""
            };
            return Err(Failure::Other {
                error: Error::fetch("revocation feed", format!("answered {status}{hint}")),
                retry_after,
            });
        }
        let body = read_capped(response, self.options.max_page_size, "revocation feed")
            .await
            .map_err(Failure::other)?;
        serde_json::from_slice(&body).map_err(|err| {
            Failure::other(Error::fetch(
                "revocation feed",
                format!("not a feed answer: {err}"),
            ))
        })
    }
}

enum Failure {
    CursorRefused,
    Other {
        error: Error,
        retry_after: Option<Duration>,
    },
}

impl Failure {
    fn other(error: Error) -> Self {
        Failure::Other {
            error,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_token::Audience;

    fn claims(sub: &str, sid: Option<&str>, jti: &str, iat: Option<u64>) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            sub: sub.into(),
            aud: Audience::One("a".into()),
            exp: 2_000,
            iat,
            nbf: None,
            jti: jti.into(),
            sid: sid.map(Into::into),
            client_id: None,
            extra: serde_json::Map::new(),
        }
    }

    #[test]
    fn the_set_judges_as_the_server_deny_list_does() {
        let mut set = RevocationSet::new();
        set.apply(RevocationKind::Token, "j1", 100, 500);
        set.apply(RevocationKind::Session, "s1", 100, 500);
        set.apply(RevocationKind::User, "u1", 100, 500);
        assert_eq!(
            set.check(&claims("u2", None, "j1", Some(50))),
            Some(Revoked::Token)
        );
        assert_eq!(
            set.check(&claims("u2", Some("s1"), "j2", Some(50))),
            Some(Revoked::Session)
        );
        assert_eq!(
            set.check(&claims("u1", Some("s2"), "j2", Some(99))),
            Some(Revoked::User)
        );
        // The epoch's own second: a session's token is judged by its session, a minted one is not.
        assert_eq!(set.check(&claims("u1", Some("s2"), "j2", Some(100))), None);
        assert_eq!(
            set.check(&claims("u1", None, "j2", Some(100))),
            Some(Revoked::User)
        );
        assert_eq!(set.check(&claims("u1", Some("s2"), "j2", Some(101))), None);
        assert_eq!(set.check(&claims("u2", Some("s2"), "j2", Some(1))), None);
        assert_eq!(
            set.check(&claims("u2", None, "j2", None)),
            Some(Revoked::NoIssuedAt)
        );
        // A later epoch for the same user wins; an earlier one does not lower it.
        set.apply(RevocationKind::User, "u1", 200, 600);
        set.apply(RevocationKind::User, "u1", 150, 550);
        assert_eq!(
            set.check(&claims("u1", Some("s2"), "j2", Some(199))),
            Some(Revoked::User)
        );
        assert_eq!(set.len(), 3);
        set.forget_expired(500);
        assert_eq!(
            set.len(),
            1,
            "token and session until 500 dropped, user until 600 kept"
        );
        set.forget_expired(600);
        assert!(set.is_empty());
    }

    #[test]
    fn debug_shows_counts_not_the_revoked_ids() {
        let mut set = RevocationSet::new();
        set.apply(RevocationKind::Session, "sid-secretive", 1, 2);
        set.apply(RevocationKind::User, "user-secretive", 1, 2);
        let printed = format!("{set:?}");
        assert!(!printed.contains("secretive"), "{printed}");
        assert!(printed.contains("sessions: 1"), "{printed}");
    }

    #[test]
    fn feed_timing_must_leave_room_for_a_healthy_long_poll() {
        let options = FeedOptions::new(ClientCredentials::new("a", "b"));
        assert!(options.validate().is_ok());
        let tight = options
            .clone()
            .timing(Duration::from_secs(10), Duration::from_secs(11));
        assert!(tight.validate().is_err());
        let long = options.timing(Duration::from_secs(26), Duration::from_secs(40));
        assert!(long.validate().is_err());
    }
}
