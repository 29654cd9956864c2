//! The guard itself, and its builder.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use tessera_token::{Clock, KeySet, SystemClock, DEFAULT_LEEWAY};

use crate::claims::Claims;
use crate::error::{Error, Unavailable};
use crate::fetch::{default_client, parse_url};
use crate::introspection::{Introspection, IntrospectionOptions};
use crate::keys::{JwksOptions, Keys, RemoteSource, VerifierTemplate};
use crate::metrics::{Counters, GuardStats};
use crate::revocation::{Feed, FeedOptions};

/// Checks Tessera access tokens for a service: the token core's strict verification with keys
/// from a remote JWK Set (or local ones), then revocation (the feed, or introspection).
///
/// Cheap to clone (one `Arc`): give a clone to every router and task. The background tasks (key
/// refresh, feed follower) stop when the last clone is dropped. Build it with
/// [`Guard::builder`].
#[derive(Clone, Debug)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// Aborted when the last clone of the guard goes.
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    keys: Arc<Keys>,
    revocation: Revocation,
    counters: Arc<Counters>,
    pub(crate) realm: String,
    changed: tokio::sync::watch::Sender<()>,
}

#[derive(Debug)]
enum Revocation {
    /// The JWK Set alone: a revoked token is accepted until it expires.
    None,
    Feed(Arc<Feed>),
    Introspection(Box<Introspection>),
}

/// Where the keys come from.
#[derive(Debug)]
enum KeySource {
    Discover,
    JwksUrl(String),
    Local(KeySet),
}

/// Builds a [`Guard`]. An expected issuer, an expected audience and a key source are required:
/// [`GuardBuilder::build`] refuses to build without them.
#[derive(Debug)]
#[must_use]
pub struct GuardBuilder {
    issuer: Option<String>,
    audience: Option<String>,
    keys: Option<KeySource>,
    jwks: JwksOptions,
    leeway: Duration,
    clock: Arc<dyn Clock>,
    realm: Option<String>,
    feed: Option<FeedOptions>,
    introspection: Option<IntrospectionOptions>,
    client: Option<reqwest::Client>,
}

impl Guard {
    /// A builder with the defaults: the system clock, the token core's leeway (30 s), the
    /// [`JwksOptions`] defaults, no revocation source.
    pub fn builder() -> GuardBuilder {
        GuardBuilder {
            issuer: None,
            audience: None,
            keys: None,
            jwks: JwksOptions::default(),
            leeway: Duration::from_secs(DEFAULT_LEEWAY),
            clock: Arc::new(SystemClock),
            realm: None,
            feed: None,
            introspection: None,
            client: None,
        }
    }

    /// Verifies a token and checks that it is not revoked.
    ///
    /// On the steady path (keys cached, the feed current) this awaits nothing: one lock-free load
    /// of the key set, the token core's verification, and a few hash lookups. It waits on the
    /// network only for a token with an unknown `kid` (one refetch, shared, subject to the
    /// cooldown) and, in introspection mode, when the answer is not cached.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] or [`Error::Revoked`] (401), [`Error::Unavailable`] (503).
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
        let shared = &self.inner.shared;
        let result = shared.verify(token).await;
        let counter = match &result {
            Ok(_) => &shared.counters.accepted,
            Err(Error::Revoked(_)) => &shared.counters.refused_revoked,
            Err(Error::Unavailable(_)) => &shared.counters.refused_unavailable,
            Err(_) => &shared.counters.refused_invalid,
        };
        Counters::bump(counter);
        if let Err(error) = &result {
            tracing::debug!(
                event = "token_refused",
                reason = error.reason(),
                "access token refused"
            );
        }
        result
    }

    /// Finds the `Authorization: Bearer` token in `headers` and [verifies](Guard::verify) it.
    ///
    /// # Errors
    /// [`Error::MissingToken`] without one (or with another scheme);
    /// [`Error::MalformedAuthorization`] for a `Bearer` header without a single token, or two
    /// `Authorization` headers (which one counts would be ambiguous); then as [`Guard::verify`].
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<Claims, Error> {
        let token = bearer_token(headers);
        match token {
            Ok(token) => self.verify(token).await,
            Err(error) => {
                Counters::bump(&self.inner.shared.counters.refused_invalid);
                Err(error)
            }
        }
    }

    /// Completes when the guard can decide: its keys are loaded and, with a feed, the feed is
    /// current. Wrap it in a timeout at start-up if the service should not wait forever.
    pub async fn ready(&self) {
        let shared = &self.inner.shared;
        let mut changed = shared.changed.subscribe();
        while !shared.is_ready() {
            // The sender lives as long as `shared`, which this borrow keeps alive.
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether the guard can decide now (see [`Guard::ready`]).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.inner.shared.is_ready()
    }

    /// The guard's counters and state.
    #[must_use]
    pub fn stats(&self) -> GuardStats {
        let shared = &self.inner.shared;
        let mut stats = shared.counters.snapshot();
        stats.keys_loaded = shared.keys.is_loaded();
        stats.keys_stale = shared.keys.is_stale();
        stats.keys = shared.keys.len();
        if let Revocation::Feed(feed) = &shared.revocation {
            stats.feed_current = feed.is_current();
            stats.feed_cursor = feed.cursor();
            stats.revocations = feed.len();
        }
        stats
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }
}

impl Shared {
    async fn verify(&self, token: &str) -> Result<Claims, Error> {
        let claims = self.keys.verify(token, &self.counters).await?;
        match &self.revocation {
            Revocation::None => {}
            Revocation::Feed(feed) => {
                if !feed.is_current() {
                    if !feed.serves_stale() {
                        return Err(Error::Unavailable(Unavailable::FeedStale));
                    }
                    Counters::bump(&self.counters.stale_feed_acceptances);
                }
                if let Some(revoked) = feed.check(&claims) {
                    return Err(Error::Revoked(revoked));
                }
            }
            Revocation::Introspection(introspection) => {
                introspection.check(token, &claims, &self.counters).await?;
            }
        }
        Ok(Claims(claims))
    }

    fn is_ready(&self) -> bool {
        self.keys.is_loaded()
            && match &self.revocation {
                Revocation::Feed(feed) => feed.is_current(),
                Revocation::None | Revocation::Introspection(_) => true,
            }
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (scheme case-insensitive); `None`
/// without exactly one `Authorization` header of that scheme with a non-empty token.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(Error::MissingToken)?;
    if values.next().is_some() {
        return Err(Error::MalformedAuthorization);
    }
    let text = value.to_str().map_err(|_| Error::MalformedAuthorization)?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...): no bearer token.
        return Err(Error::MissingToken);
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return Err(Error::MalformedAuthorization);
    }
    Ok(token)
}

impl GuardBuilder {
    /// The expected issuer (`iss`), exactly as Tessera's `JWT_ISSUER`. Required. With
    /// [`GuardBuilder::discover_keys`], the feed or introspection, it is also the URL they are
    /// found at.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The expected audience (this service's name in `aud`, Tessera's `JWT_AUDIENCE`). Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Keys from the issuer's RFC 8414 metadata (`{issuer}/.well-known/oauth-authorization-server`,
    /// whose `issuer` must equal the expected one): its `jwks_uri`, cached as
    /// [`JwksOptions`] say.
    pub fn discover_keys(mut self) -> Self {
        self.keys = Some(KeySource::Discover);
        self
    }

    /// Keys from this JWK Set URL, cached as [`JwksOptions`] say.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.keys = Some(KeySource::JwksUrl(url.into()));
        self
    }

    /// Fixed local keys (for instance [`KeySet::from_jwks`] of a file, or Tessera's HMAC secret
    /// in a single-service deployment). Nothing is fetched.
    pub fn local_keys(mut self, keys: KeySet) -> Self {
        self.keys = Some(KeySource::Local(keys));
        self
    }

    /// How the remote JWK Set is cached and fetched.
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.jwks = options;
        self
    }

    /// The clock leeway for `exp`, `nbf` and `iat` (whole seconds; default 30 s; at most 300 s
    /// with the revocation feed, whose revocations cover no more).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock tokens are judged by (for tests; the system clock by default).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenges (default: the audience). Printable
    /// ASCII without `"` or `\`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Follow Tessera's revocation feed: revoked tokens are refused within a second, with no
    /// I/O per request; fail closed when the feed is not current.
    pub fn revocation_feed(mut self, options: FeedOptions) -> Self {
        self.feed = Some(options);
        self
    }

    /// Introspection mode: Tessera is asked about every token (behind a short positive cache).
    pub fn introspection(mut self, options: IntrospectionOptions) -> Self {
        self.introspection = Some(options);
        self
    }

    /// The HTTP client for the JWK Set, the feed and introspection, instead of the built-in one
    /// (rustls with the system's roots, no redirects). Use it for a private CA or a proxy; keep
    /// redirects off, as the URL rule (https except to loopback hosts) is checked before the
    /// request only.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the guard and starts its background tasks (on the current tokio runtime, which a
    /// remote key set or a revocation source needs).
    ///
    /// # Errors
    /// [`Error::Config`] without an issuer, an audience or a key source, with both the feed and
    /// introspection, with a URL that is not `https` (except to a loopback host), with
    /// inconsistent options, or without a tokio runtime where one is needed.
    pub fn build(self) -> Result<Guard, Error> {
        let issuer = self
            .issuer
            .filter(|issuer| !issuer.is_empty())
            .ok_or_else(|| Error::config("an expected issuer is required (`issuer`)"))?;
        let audience = self
            .audience
            .filter(|audience| !audience.is_empty())
            .ok_or_else(|| Error::config("an expected audience is required (`audience`)"))?;
        let source = self.keys.ok_or_else(|| {
            Error::config("a key source is required (`discover_keys`, `jwks_url` or `local_keys`)")
        })?;
        let realm = self.realm.unwrap_or_else(|| audience.clone());
        if realm
            .bytes()
            .any(|byte| !(0x20..0x7f).contains(&byte) || byte == b'"' || byte == b'\\')
        {
            return Err(Error::config(
                "the realm must be printable ASCII without `\"` or `\\`",
            ));
        }
        if self.feed.is_some() && self.introspection.is_some() {
            return Err(Error::config(
                "choose the revocation feed or introspection, not both",
            ));
        }
        self.jwks.validate()?;
        if let Some(feed) = &self.feed {
            feed.validate()?;
            // Tessera keeps a revocation 600 s past the tokens it covers: for the leeway a
            // verifier grants after `exp` (at most 300 s, as `JWT_LEEWAY`) and the clocks'
            // difference. A longer leeway would accept a revoked token after the feed forgot it.
            if self.leeway > Duration::from_secs(MAX_FEED_LEEWAY) {
                return Err(Error::config(format!(
                    "with the revocation feed, the leeway is at most {MAX_FEED_LEEWAY} s"
                )));
            }
        }
        let template = VerifierTemplate {
            issuer: issuer.clone(),
            audience,
            leeway: self.leeway.as_secs(),
            clock: self.clock.clone(),
        };
        let needs_network = !matches!(source, KeySource::Local(_))
            || self.feed.is_some()
            || self.introspection.is_some();
        let runtime = if needs_network {
            Some(tokio::runtime::Handle::try_current().map_err(|_| {
                Error::config("a remote key set or a revocation source needs a tokio runtime")
            })?)
        } else {
            None
        };
        let client = match (&self.client, needs_network) {
            (Some(client), _) => Some(client.clone()),
            (None, true) => Some(default_client()?),
            (None, false) => None,
        };
        let from_issuer = |path: &str, what: &str| {
            parse_url(&format!("{}{path}", issuer.trim_end_matches('/')), what)
        };
        let keys = match (source, &client) {
            (KeySource::Local(keys), _) => Keys::local(keys, template),
            (KeySource::JwksUrl(url), Some(client)) => Keys::remote(
                RemoteSource::Jwks(parse_url(&url, "the JWK Set URL")?),
                client.clone(),
                self.jwks,
                template,
            ),
            (KeySource::Discover, Some(client)) => Keys::remote(
                RemoteSource::Discover {
                    metadata: metadata_url(&issuer)?,
                },
                client.clone(),
                self.jwks,
                template,
            ),
            (_, None) => return Err(Error::config("no HTTP client for a remote key set")),
        };
        let revocation = match (self.feed, self.introspection, &client) {
            (Some(options), _, Some(client)) => {
                let url = match &options.url {
                    Some(url) => parse_url(url, "the revocation feed URL")?,
                    None => from_issuer(
                        "/oauth/revocations",
                        "the revocation feed URL (from the issuer)",
                    )?,
                };
                Revocation::Feed(Arc::new(Feed::new(
                    url,
                    options,
                    client.clone(),
                    self.clock.clone(),
                )))
            }
            (None, Some(options), Some(client)) => {
                let url = match &options.url {
                    Some(url) => parse_url(url, "the introspection URL")?,
                    None => from_issuer(
                        "/oauth/introspect",
                        "the introspection URL (from the issuer)",
                    )?,
                };
                Revocation::Introspection(Box::new(Introspection::new(
                    url,
                    options,
                    client.clone(),
                    self.clock.clone(),
                )))
            }
            _ => {
                tracing::info!(event = "guard_without_revocation", "tessera-guard checks tokens against the keys alone: a revoked token is accepted until it expires (configure the revocation feed or introspection to see revocations)");
                Revocation::None
            }
        };
        let shared = Arc::new(Shared {
            keys: Arc::new(keys),
            revocation,
            counters: Arc::new(Counters::default()),
            realm,
            changed: tokio::sync::watch::Sender::new(()),
        });
        let mut tasks = Vec::new();
        if let Some(runtime) = runtime {
            let notify = |shared: &Arc<Shared>| {
                let weak = Arc::downgrade(shared);
                move || {
                    if let Some(shared) = weak.upgrade() {
                        shared.changed.send_replace(());
                    }
                }
            };
            if shared.keys.is_remote() {
                let task = shared
                    .keys
                    .clone()
                    .follow(shared.counters.clone(), notify(&shared));
                tasks.push(runtime.spawn(task).abort_handle());
            }
            if let Revocation::Feed(feed) = &shared.revocation {
                let task = feed
                    .clone()
                    .follow(shared.counters.clone(), notify(&shared));
                tasks.push(runtime.spawn(task).abort_handle());
            }
        }
        Ok(Guard {
            inner: Arc::new(Inner { shared, tasks }),
        })
    }
}

/// The longest clock leeway with the revocation feed (Tessera's own `JWT_LEEWAY` bound).
const MAX_FEED_LEEWAY: u64 = 300;

/// RFC 8414 §3.1: the well-known path goes between the host and the issuer's path.
fn metadata_url(issuer: &str) -> Result<reqwest::Url, Error> {
    let mut url = parse_url(issuer, "the issuer (for discovery)")?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "test code")]
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_bearer_token_is_found_strictly() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            }
            bearer_token(&headers)
                .map(str::to_owned)
                .map_err(|error| error.reason())
        };
        assert_eq!(with(&["Bearer abc"]).as_deref(), Ok("abc"));
        assert_eq!(with(&["bearer abc"]).as_deref(), Ok("abc"));
        assert_eq!(with(&["Basic abc"]), Err("missing_token"));
        assert_eq!(with(&[]), Err("missing_token"));
        // A bearer header without one token is a bad token, never no token.
        assert_eq!(with(&["Bearer "]), Err("malformed_authorization"));
        assert_eq!(with(&["Bearer"]), Err("malformed_authorization"));
        assert_eq!(with(&["Bearer a b"]), Err("malformed_authorization"));
        assert_eq!(
            with(&["Bearer a", "Bearer b"]),
            Err("malformed_authorization")
        );
    }

    #[test]
    fn the_metadata_url_follows_rfc_8414() {
        assert_eq!(
            metadata_url("https://auth.example.com").unwrap().as_str(),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            metadata_url("https://example.com/tenant/")
                .unwrap()
                .as_str(),
            "https://example.com/.well-known/oauth-authorization-server/tenant"
        );
    }

    #[test]
    fn the_builder_refuses_to_build_without_issuer_audience_or_keys() {
        let keys = || KeySet::new();
        let refused = |builder: GuardBuilder, needle: &str| match builder.build() {
            Err(Error::Config(text)) => assert!(text.contains(needle), "{text}"),
            other => panic!("{other:?}"),
        };
        refused(Guard::builder().audience("a").local_keys(keys()), "issuer");
        refused(
            Guard::builder().issuer("").audience("a").local_keys(keys()),
            "issuer",
        );
        refused(Guard::builder().issuer("i").local_keys(keys()), "audience");
        refused(Guard::builder().issuer("i").audience("a"), "key source");
        refused(
            Guard::builder()
                .issuer("i")
                .audience("a")
                .realm("x\"y")
                .local_keys(keys()),
            "realm",
        );
        // A leeway that would outlast the feed's revocations.
        refused(
            Guard::builder()
                .issuer("i")
                .audience("a")
                .local_keys(keys())
                .leeway(Duration::from_secs(301))
                .revocation_feed(crate::FeedOptions::new(crate::ClientCredentials::new(
                    "c", "s",
                ))),
            "leeway",
        );
        // No runtime: a remote key set cannot start.
        refused(
            Guard::builder()
                .issuer("i")
                .audience("a")
                .jwks_url("https://x.example/jwks"),
            "runtime",
        );
        assert!(Guard::builder()
            .issuer("i")
            .audience("a")
            .local_keys(keys())
            .build()
            .is_ok());
    }
}
