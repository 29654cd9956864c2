//! Operational endpoints: health, readiness, JWKS.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::OpsPeer;

/// How long clients may cache the JWK Set, in seconds: stored keys are published at least this
/// long (plus a margin) before they sign, so a cached set always has every key in use.
pub use tessera_service::keys::JWKS_MAX_AGE;

/// `GET /.well-known/jwks.json`: the public keys (empty for HMAC, whose secret is never shown).
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE}"),
        )],
        Json(state.tokens().keys.to_jwks()),
    )
        .into_response()
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 only when the store answers, the deny-list is current, and (with
/// `REDIS_URL`) the revocation broadcast is being received or the `database` fallback covers for
/// it. The body says which part is not ready. It answers at once from the state the background
/// checks keep (the store is checked every second by [`crate::health::watch_store`]), and
/// requests are limited per client address.
pub async fn readyz(State(state): State<AppState>, _: OpsPeer) -> Response {
    let store = state.store_health.is_up();
    let deny_list = state.deny_list.is_fresh();
    let redis = match state.deny_list.shared() {
        None => "not_configured",
        Some(_) if !state.deny_list.redis_disconnected() => "ok",
        Some(_) if state.deny_list.polls_fast() => "unreachable_falling_back_to_database",
        Some(_) => "unreachable",
    };
    let ready = store && deny_list && redis != "unreachable";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": if store { "ok" } else { "unreachable" },
        "deny_list": if deny_list { "ok" } else { "stale" },
        "redis": redis,
    });
    let mut response = (status, Json(body)).into_response();
    if !ready {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    response
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&crate::metrics::Gauges {
            deny_list_entries: state.deny_list.len(),
            deny_list_sync_age: state.deny_list.sync_age(),
            store_up: state.store_health.is_up(),
            pool: state.store.pool_stats(),
            signing_keys: state.tokens().states.as_ref().map(|states| {
                let count = |wanted| states.keys.iter().filter(|key| key.state == wanted).count();
                use tessera_service::keys::KeyState;
                [
                    count(KeyState::Next),
                    count(KeyState::Current),
                    count(KeyState::Previous),
                ]
            }),
        }),
    )
        .into_response()
}

/// The OpenAPI 3 description of this API (`crates/tessera-server/openapi.json`).
pub const OPENAPI_DOCUMENT: &str = include_str!("../../openapi.json");

/// `GET /openapi.json`: the OpenAPI 3 document of the API.
pub async fn openapi() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        OPENAPI_DOCUMENT,
    )
        .into_response()
}

/// The fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The fallback for known paths with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
