//! # tessera-server: the authentication server
//!
//! An axum application: accounts with argon2id passwords, login, short-lived access tokens,
//! rotating refresh tokens with reuse detection, logout and revocation that take effect at once,
//! JWKS, the OAuth endpoints (RFC 7009, 7662, 8414), throttling and metrics. [`App::build`] binds the listener (port 0 works, for tests) and [`App::run`] serves
//! until a shutdown signal.
//!
//! ## Request path
//! router -> layers ([`layers`]: metrics, security headers, timeout, body limit) -> typed extractors
//! ([`extract::Authenticated`] does all token checking, including the deny-list) -> thin handlers
//! ([`routes`]) -> the use cases of `tessera-service` (what a login, a logout, a password change
//! do, written once for the server and the CLI) -> the store. Errors become HTTP in exactly one
//! place: [`error::ApiError`] (which maps `tessera_service::ServiceError` too).
//!
//! ## Modules
//! - [`app`]: building and running the server.
//! - [`state`]: what every handler shares.
//! - [`denylist`]: the in-process revocation cache over the durable record in the store.
//! - [`shared`]: following the revocation broadcast in Redis (with `REDIS_URL`), and rebuilding
//!   Redis's deny-list from the database when Redis lost it.
//! - [`cookies`]: the `Set-Cookie` headers.
//! - [`throttle`]: the per-account login lockout and the per-address limit on credential
//!   endpoints.
//! - [`profiles`]: the cache of what never changes about a user, for `GET /auth/me`.
//! - [`health`]: whether the store answers, kept by a background check.
//! - [`metrics`]: counters and the latency histogram behind `GET /metrics`.
#![forbid(unsafe_code)]

pub mod app;
pub mod cookies;
pub mod cors;
pub mod denylist;
pub mod error;
pub mod extract;
pub mod health;
pub mod layers;
pub mod metrics;
pub mod pages;
pub mod profiles;
pub mod routes;
pub mod serve;
pub mod shared;
pub mod signing;
pub mod state;
pub mod throttle;

pub use app::{App, AppOptions};
pub use error::ApiError;
