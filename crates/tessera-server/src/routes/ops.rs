//! Operational endpoints: health, readiness, JWKS.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::OpsPeer;

/// How long clients may cache the JWK Set, in seconds. Keys must stay published for longer than
/// this after they stop signing (the rotation overlap), so a cached set always has every key
/// still in use.
pub const JWKS_MAX_AGE: u64 = 300;

/// `GET /.well-known/jwks.json`: the public keys (empty for HMAC, whose secret is never shown).
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE}"),
        )],
        Json(state.keys.to_jwks()),
    )
        .into_response()
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// How long one store check of `/readyz` is reused: a flood of probes costs the store one query
/// per this interval.
pub const READINESS_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the store answers, checked at most once per [`READINESS_CHECK_INTERVAL`].
async fn store_answers(state: &AppState) -> bool {
    let cached = *state
        .readiness
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((checked_at, answered)) = cached {
        if checked_at.elapsed() < READINESS_CHECK_INTERVAL {
            return answered;
        }
    }
    let answered = state.store.ping().await.is_ok();
    *state
        .readiness
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((std::time::Instant::now(), answered));
    answered
}

/// `GET /readyz`: 200 only when the store answers, the deny-list is current, and (with
/// `REDIS_URL`) the revocation broadcast is being received or the `database` fallback covers for
/// it. The body says which part is not ready. The store is asked at most once a second, and
/// requests are limited per client address.
pub async fn readyz(State(state): State<AppState>, _: OpsPeer) -> Response {
    let store = store_answers(&state).await;
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
        state.metrics.render(state.deny_list.len()),
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
