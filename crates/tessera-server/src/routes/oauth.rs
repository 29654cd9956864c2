//! The OAuth endpoints: RFC 7009 revocation, RFC 7662 introspection, RFC 8414 metadata.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tessera_service::credentials::{digest_of, looks_like_refresh_token};
use tessera_service::{accounts, clients, revocations, sessions};
use tessera_token::Secret;

use super::auth::revoke_session;
use crate::error::ApiError;
use crate::extract::FormBody;
use crate::state::AppState;
use crate::throttle::{OAuthPeer, OnRedisFailure, RateDecision};

/// The form of `/oauth/revoke` and `/oauth/introspect`.
#[derive(Deserialize)]
pub struct TokenForm {
    token: Option<String>,
    /// Accepted and ignored: the token's shape says what it is.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "part of the RFC 7009/7662 form; the token's shape decides"
    )]
    token_type_hint: Option<String>,
}

/// The `token` of the form.
fn token_from(form: TokenForm) -> Result<Secret, ApiError> {
    form.token
        .filter(|token| !token.is_empty())
        .map(Secret::from)
        .ok_or_else(|| ApiError::BadRequest("the `token` parameter is required".into()))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /oauth/revoke` (form: `token`, `token_type_hint`) -> 200, for unknown tokens too
/// (RFC 7009 §2.2). A refresh token revokes its whole session; an access token is denied by
/// `jti` until it would have expired. Holding the token is the authorization (first-party public
/// client), so no client authentication is needed.
///
/// # Errors
/// 400 without a `token`; 415 for a body that is not a form; 429 past the per-address limit of
/// the OAuth endpoints; 503 if the revocation cannot be recorded.
pub async fn revoke(
    State(state): State<AppState>,
    _: OAuthPeer,
    FormBody(form): FormBody<TokenForm>,
) -> Result<Response, ApiError> {
    let token = token_from(form)?;
    let text = std::str::from_utf8(token.expose()).unwrap_or_default();
    if let Some(session) = sessions::session_of_refresh_token(state.store.as_ref(), &token).await? {
        revoke_session(&state, &session.id).await?;
    } else if let Ok(claims) = state.tokens().verifier.verify_access_token(text) {
        // Kept past the token's own expiry by the store's margin (clock leeway and skew),
        // whatever this instance's leeway.
        revocations::deny_token(
            state.store.as_ref(),
            state.deny_list.as_ref(),
            &claims.jti,
            claims.iat.unwrap_or(0),
            claims.exp,
            state.now(),
        )
        .await?;
        tracing::info!(event = "revocation", kind = "token", sub = %claims.sub, "access token revoked");
    }
    Ok(no_store(StatusCode::OK.into_response()))
}

/// Checks HTTP Basic client credentials ([`tessera_service::clients::authenticate`]).
pub(crate) async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let unauthorized = || ApiError::InvalidClient;
    let encoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| {
            let (scheme, rest) = text.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        })
        .ok_or_else(unauthorized)?;
    let decoded = Secret::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| unauthorized())?,
    );
    let text = std::str::from_utf8(decoded.expose()).map_err(|_| unauthorized())?;
    let (client_id, secret) = text.split_once(':').ok_or_else(unauthorized)?;
    let client = clients::authenticate(state.store.as_ref(), client_id, secret.as_bytes()).await?;
    Ok(client.client_id)
}

/// `POST /oauth/introspect` (form: `token`) with HTTP Basic client credentials -> RFC 7662 JSON;
/// `{"active": false}` for anything not live.
///
/// # Errors
/// 401 `invalid_client` without valid client credentials; 400 without a `token`; 415 for a body
/// that is not a form; 429 past the per-address limit of the OAuth endpoints, or past
/// `TESSERA_RATE_LIMIT_PER_IP` introspections per minute by one client.
pub async fn introspect(
    State(state): State<AppState>,
    _: OAuthPeer,
    headers: HeaderMap,
    form: Result<FormBody<TokenForm>, ApiError>,
) -> Result<Response, ApiError> {
    // The media type first (the form extractor's refusal), then the client, then the form.
    if let Err(ApiError::UnsupportedMediaType(expected)) = &form {
        return Err(ApiError::UnsupportedMediaType(expected));
    }
    let client_id = authenticate_client(&state, &headers).await?;
    if let RateDecision::Limited(refusal) = state
        .introspection_limiter
        .check(&client_id, state.now(), OnRedisFailure::AsConfigured)
        .await?
    {
        tracing::warn!(event = "rate_limited", client_id = %client_id, retry_after = refusal.retry_after, "too many introspections by one client");
        return Err(ApiError::TooManyRequests {
            retry_after: refusal.retry_after,
        });
    }
    let FormBody(form) = form?;
    let token = token_from(form)?;
    let text = std::str::from_utf8(token.expose()).unwrap_or_default();
    let inactive = || no_store(Json(json!({ "active": false })).into_response());
    let now = state.now();

    if looks_like_refresh_token(text) {
        let Some(session) = state
            .store
            .live_refresh_token(&digest_of(token.expose()), now)
            .await?
        else {
            return Ok(inactive());
        };
        let Some(user) = accounts::active_user(state.store.as_ref(), &session.user_id).await?
        else {
            return Ok(inactive());
        };
        return Ok(no_store(
            Json(json!({
                "active": true,
                "sub": user.id,
                "username": user.username,
                "exp": session.expires_at,
                "iat": session.last_used_at,
                "iss": state.config.issuer,
                "sid": session.id,
            }))
            .into_response(),
        ));
    }

    let tokens = state.tokens();
    let Ok((claims, kid)) = tokens.verifier.verify_access_token_by_key(text) else {
        return Ok(inactive());
    };
    state.metrics.verified(kid);
    if state.deny_list.check(&claims)?.is_some() {
        return Ok(inactive());
    }
    let Some(user) = accounts::active_user(state.store.as_ref(), &claims.sub).await? else {
        return Ok(inactive());
    };
    let mut body = Map::new();
    body.insert("active".into(), Value::Bool(true));
    body.insert("token_type".into(), Value::from("Bearer"));
    body.insert("username".into(), Value::from(user.username));
    if let Some(scope) = claims.extra.get("scope") {
        body.insert("scope".into(), scope.clone());
    }
    if let Value::Object(registered) =
        serde_json::to_value(&claims).map_err(|err| ApiError::Internal(err.to_string()))?
    {
        for name in [
            "sub",
            "aud",
            "iss",
            "exp",
            "iat",
            "nbf",
            "jti",
            "sid",
            "client_id",
        ] {
            if let Some(value) = registered.get(name) {
                body.insert(name.into(), value.clone());
            }
        }
    }
    Ok(no_store(Json(Value::Object(body)).into_response()))
}

/// `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let issuer = state.config.issuer.trim_end_matches('/');
    // The algorithms of the keys that verify now: the same set the JWKS publishes.
    let algorithms = state.tokens().algorithms.clone();
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({
            "issuer": state.config.issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "revocation_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "access_token_signing_alg_values_supported": algorithms,
            "response_types_supported": [],
            "grant_types_supported": ["refresh_token"],
        })),
    )
        .into_response()
}
