//! # tessera-guard: accept Tessera's access tokens in a Rust service
//!
//! A service that trusts Tessera's tokens needs three things, and this crate is all three:
//! **verification** as strict as Tessera's own (it *is* Tessera's own: the token core's
//! [`tessera_token::Verifier`], with `typ: at+jwt`, algorithms pinned by key, `iss`, `aud`,
//! `exp`/`nbf`/`iat`, `sub` and `jti` required), **keys** fetched from the JWK Set and cached
//! with care, and **revocation**: the feed followed in the background, or introspection.
//!
//! ## What each way of checking sees
//!
//! | configured | a revoked token (logout, password change, ...) is refused | cost per request |
//! |---|---|---|
//! | keys only | only when it expires (up to `JWT_ACCESS_TTL`, 15 minutes by default) | none |
//! | keys + [`GuardBuilder::revocation_feed`] | within a second | none: a few hash lookups |
//! | keys + [`GuardBuilder::introspection`] | at once (after the positive cache, 2 s by default) | one call to Tessera per token and cache period |
//!
//! ## Features
//! - Built from the issuer (RFC 8414 discovery of `jwks_uri`), a JWK Set URL, or local keys. The
//!   expected issuer and audience are required: [`GuardBuilder::build`] refuses without them.
//! - The remote JWK Set ([`JwksOptions`]), with the care of jose's `createRemoteJWKSet`: cached
//!   for its `Cache-Control: max-age` within bounds; refreshed in the background before it
//!   expires, so no request waits on the network in steady state; an unknown `kid` causes one
//!   refetch, shared by concurrent requests and subject to a cooldown (30 s), so forged `kid`s
//!   cannot make the guard hammer the JWK Set; a timeout and a size cap (64 KiB, read
//!   incrementally); `https` required except to loopback hosts; the last good keys kept for a
//!   bounded time when refetches fail, with a warning and a counter. The key set is swapped
//!   whole and read without a lock: a verification allocates only what the token core does for
//!   the claims.
//! - The revocation feed ([`FeedOptions`], protocol in `docs/revocation-feed.md`): followed from
//!   cursor 0, so a guard started late still refuses every token revoked before it started;
//!   the same rule as Tessera's deny-list ([`RevocationSet`]); **fail closed**: 503 while the
//!   feed is not current, unless [`FeedOptions::serve_stale`].
//! - Introspection ([`IntrospectionOptions`], RFC 7662) after local verification, with a short,
//!   bounded positive cache; negative answers are never cached.
//! - axum and tower: the [`Claims`] extractor, [`GuardLayer`] for routers and routes
//!   ([`Guard::layer`], [`Guard::require_scope`], [`Guard::require_role`]), [`RequireScope`] as
//!   an extractor. Refusals follow RFC 6750: 401 `invalid_token` with one generic description
//!   whichever check failed (no validation oracle) and `WWW-Authenticate: Bearer realm="...",
//!   error="invalid_token"` (plain `Bearer realm="..."` when no token was sent, RFC 6750 §3.1);
//!   403 `insufficient_scope` naming the scope; 503 `temporarily_unavailable` with `Retry-After`
//!   when the guard cannot decide.
//! - Counters for a service's metrics ([`Guard::stats`]); `tracing` events for what an operator
//!   must know (`jwks_refresh_failed`, `feed_failed`, `introspection_failed`).
//!
//! ## Non-features, on purpose
//! - No algorithm from the token, no `none`, no keys from the token (the token core's rules).
//! - No symmetric keys from a remote JWK Set (a published secret is no secret); HMAC keys only
//!   as [`GuardBuilder::local_keys`].
//! - No redirects followed (one could lead from `https` to clear text).
//!
//! ## Getting started
//!
//! A service with local keys (here made on the spot; in production [`GuardBuilder::discover_keys`]
//! with the issuer's URL), one route for any user and one for the `posts:write` scope:
//!
//! ```
//! use axum::{routing::get, Router};
//! use std::sync::Arc;
//! use tessera_guard::{Claims, Guard};
//! use tessera_token::{AccessTokenRequest, Algorithm, KeySet, SigningKey, TokenIssuer};
//! use tower::ServiceExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // What Tessera does: sign an access token for this service's audience.
//! let (key, _) = SigningKey::generate(Algorithm::ES256)?;
//! let key = Arc::new(key);
//! let issuer = TokenIssuer::new(key.clone(), "https://auth.example.com", "posts-api", 900);
//! let mut request = AccessTokenRequest { subject: "user-1".into(), ..Default::default() };
//! request.extra.insert("scope".into(), "posts:read".into());
//! let token = issuer.issue(&request)?.token;
//!
//! // What the service does: a guard with the public key, and routes behind it.
//! let mut public = KeySet::new();
//! public.add_verifying_key(key.verifying_key().clone())?;
//! let guard = Guard::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("posts-api")
//!     .local_keys(public)
//!     .build()?;
//! let app = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.sub.clone() }))
//!     .route(
//!         "/posts",
//!         axum::routing::post(|| async { "written" }).layer(guard.require_scope("posts:write")),
//!     )
//!     .layer(guard.layer());
//!
//! let call = |path: &'static str, method: &'static str, token: &str| {
//!     axum::http::Request::builder()
//!         .uri(path)
//!         .method(method)
//!         .header("authorization", format!("Bearer {token}"))
//!         .body(axum::body::Body::empty())
//! };
//! let me = app.clone().oneshot(call("/me", "GET", &token)?).await?;
//! assert_eq!(me.status(), 200);
//! let write = app.clone().oneshot(call("/posts", "POST", &token)?).await?;
//! assert_eq!(write.status(), 403);
//! assert_eq!(
//!     write.headers()["www-authenticate"],
//!     r#"Bearer realm="posts-api", error="insufficient_scope", scope="posts:write""#
//! );
//! let forged = app.oneshot(call("/me", "GET", &format!("{token}x"))?).await?;
//! assert_eq!(forged.status(), 401);
//! # Ok(())
//! # }
//! ```
//!
//! Against a running Tessera, with the revocation feed (the client made by
//! `tessera client add`), waiting at start until the guard can decide:
//!
//! ```no_run
//! use std::time::Duration;
//! use tessera_guard::{ClientCredentials, FeedOptions, Guard};
//!
//! # async fn start() -> Result<(), tessera_guard::Error> {
//! let guard = Guard::builder()
//!     .issuer("https://auth.example.com") // Tessera's JWT_ISSUER
//!     .audience("posts-api") // Tessera's JWT_AUDIENCE
//!     .discover_keys()
//!     .revocation_feed(FeedOptions::new(ClientCredentials::new("tsc_...", "tss_...")))
//!     .build()?;
//! if tokio::time::timeout(Duration::from_secs(10), guard.ready()).await.is_err() {
//!     tracing::warn!("Tessera is not answering yet; requests get 503 until it does");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Modules of the design
//! - `guard`: [`Guard`] and [`GuardBuilder`], the one place a decision is made.
//! - `keys`: the key cache ([`JwksOptions`]).
//! - `revocation`: [`RevocationSet`] and the feed follower ([`FeedOptions`]).
//! - `introspection`: [`IntrospectionOptions`] and the positive cache.
//! - `web`: the axum and tower side, and the one mapping of [`Error`] to HTTP.
//! - `fetch`: the URL rule, the HTTP client, bounded reads.
#![forbid(unsafe_code)]

mod claims;
mod credentials;
mod error;
mod fetch;
mod guard;
mod introspection;
mod keys;
mod metrics;
mod revocation;
mod web;

pub use claims::Claims;
pub use credentials::ClientCredentials;
pub use error::{Error, Revoked, Unavailable};
pub use guard::{Guard, GuardBuilder};
pub use introspection::IntrospectionOptions;
pub use keys::JwksOptions;
pub use metrics::GuardStats;
pub use revocation::{FeedOptions, RevocationKind, RevocationSet};
pub use web::{
    GuardLayer, GuardService, Rejection, RequireScope, Scope, INVALID_TOKEN_DESCRIPTION,
};
