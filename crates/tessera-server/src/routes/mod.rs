//! The HTTP routes, one module per area. Handlers are thin: they read like the contract.

pub mod auth;
pub mod feed;
pub mod oauth;
pub mod ops;
pub mod sessions;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

/// Every route of the API; `GET /metrics` too unless `metrics_apart` (then it is served on its
/// own listener, by [`metrics_router`], and the API's port answers 404 for it).
pub fn router(metrics_apart: bool) -> Router<AppState> {
    let api = api_router();
    if metrics_apart {
        api
    } else {
        api.route("/metrics", get(ops::metrics))
    }
}

/// The router of the separate metrics listener (`TESSERA_METRICS_BIND`): `GET /metrics` only.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(ops::metrics))
}

fn api_router() -> Router<AppState> {
    crate::pages::router()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-all", post(auth::logout_all))
        .route("/auth/me", get(auth::me))
        .route("/auth/forward", get(auth::forward))
        .route("/auth/sessions", get(sessions::list))
        .route("/auth/sessions/{id}", delete(sessions::delete))
        .route("/auth/password", post(sessions::change_password))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/oauth/revocations", get(feed::revocations))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(ops::openapi))
}
