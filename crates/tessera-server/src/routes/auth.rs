//! `/auth/*`: registration, login, refresh rotation, logout, and the current user.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tessera_password::{check_password, check_username};
use tessera_store::{
    NewSession, NewUser, RefreshRecord, Revocation, RevocationKind, Rotation, StoreError,
};
use tessera_token::{AccessTokenRequest, Secret};

use crate::cookies::{clear_session_cookies, session_cookies, set_session_cookies, SessionCookies};
use crate::credentials::{
    csrf_token, digest_of, looks_like_refresh_token, new_refresh_token, new_session_id, new_user_id,
};
use crate::error::ApiError;
use crate::extract::{
    check_csrf, csrf_header_echoing_cookie, has_content_type, starts_as_json_object, Authenticated,
    AuthenticatedToRevoke, JsonBody, JSON,
};
use crate::metrics::LoginOutcome;
use crate::profiles::Profile;
use crate::state::AppState;
use crate::throttle::RateLimitedPeer;

/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT: usize = 256;

/// A username and password, as posted to `/auth/register` and `/auth/login`.
#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// `POST /auth/register {username, password}` -> 201 `{id, username}`.
///
/// # Errors
/// 400 naming the username or password rule broken; 409 if the username is taken; 429 past the
/// per-address limit.
pub async fn register(
    State(state): State<AppState>,
    _: RateLimitedPeer,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let Credentials { username, password } = body;
    let password = Secret::from(password);
    check_username(&username).map_err(|rule| ApiError::BadRequest(rule.to_string()))?;
    let text = std::str::from_utf8(password.expose())
        .map_err(|_| ApiError::BadRequest("password is not UTF-8".into()))?;
    check_password(text, &username).map_err(|rule| ApiError::BadRequest(rule.to_string()))?;
    let password_hash = state.passwords.hash(password).await?;
    let user = state
        .store
        .create_user(&NewUser {
            id: new_user_id()?,
            username,
            password_hash,
            created_at: state.now(),
        })
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ApiError::Conflict {
                code: "username_taken",
                description: "that username is already registered".into(),
            },
            other => other.into(),
        })?;
    tracing::info!(event = "user_registered", user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": user.id, "username": user.username })),
    )
        .into_response())
}

/// `POST /auth/login {username, password}` -> 200 token pair and session cookies.
///
/// Unknown user, wrong password and disabled account give the same 401 after the same work
/// (argon2id against a dummy hash when there is no user). Too many failures for one username
/// lock it for the rest of the window, before the password is looked at
/// ([`crate::throttle::LoginThrottle`]).
///
/// # Errors
/// 401 `invalid_grant`; 429 while the account is locked or past the per-address limit.
pub async fn login(
    State(state): State<AppState>,
    RateLimitedPeer(peer): RateLimitedPeer,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let Credentials { username, password } = body;
    // A turn to hash first: a login refused because hashing is saturated (503) must not count
    // as a failed attempt, or a flood would lock out every user who retries.
    let turn = state.passwords.reserve().await?;
    let attempt = state
        .login_throttle
        .attempt(&username, state.now())
        .await?
        .map_err(|retry_after| {
            tracing::warn!(event = "login_throttled", ip = %peer.ip(), retry_after, "login refused: too many failed attempts for this account");
            state.metrics.login(LoginOutcome::Throttled);
            ApiError::TooManyRequests { retry_after }
        })?;
    let user = state.store.user_by_username(&username).await?;
    let matches = state
        .passwords
        .verify_reserved(
            turn,
            Secret::from(password),
            user.as_ref().map(|user| user.password_hash.as_str()),
        )
        .await?;
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        _ => {
            tracing::warn!(event = "login_failed", ip = %peer.ip(), "login failed");
            state.metrics.login(LoginOutcome::Failed);
            if attempt >= state.config.server.login_max_failures {
                let user_id = user.as_ref().map(|user| user.id.as_str());
                tracing::warn!(event = "account_locked", ip = %peer.ip(), user_id, lockout = state.config.server.login_lockout, "too many failed logins: account locked for the window");
            }
            return Err(ApiError::InvalidCredentials);
        }
    };
    let now = state.now();
    let session_id = new_session_id()?;
    let refresh_token = new_refresh_token()?;
    let expires_at = now.saturating_add(state.config.refresh_ttl);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(MAX_USER_AGENT).collect());
    let created = state
        .store
        .create_session(
            &NewSession {
                id: session_id.clone(),
                user_id: user.id.clone(),
                created_at: now,
                expires_at,
                user_agent,
                ip: Some(peer.ip().to_string()),
                credential_epoch: user.credential_epoch,
            },
            &RefreshRecord {
                hash: digest_of(refresh_token.expose()),
                session_id: session_id.clone(),
                created_at: now,
                expires_at,
            },
        )
        .await?;
    // The session exists only if the password just checked is still the user's and the user is
    // still enabled (a password change or a disable may have committed while argon2 ran).
    if !created {
        tracing::warn!(event = "login_failed", ip = %peer.ip(), user_id = %user.id, "login refused: the password changed or the account was disabled while it was checked");
        state.metrics.login(LoginOutcome::Failed);
        return Err(ApiError::InvalidCredentials);
    }
    state.login_throttle.record_success(&username).await;
    state.metrics.login(LoginOutcome::Ok);
    tracing::info!(event = "login", user_id = %user.id, session_id = %session_id, "login succeeded");
    token_response(
        &state,
        &user.id,
        &session_id,
        &refresh_token,
        expires_at,
        now,
    )
}

/// Marks a response about the user as not to be stored by any cache (cookie-authenticated
/// responses are not covered by the `Authorization` rule of shared caches).
pub(crate) fn private(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The token pair as JSON (`Cache-Control: no-store`) with the session cookies. The access token
/// lives `JWT_ACCESS_TTL`, but never past the end of its session (`session_expires_at`), so no
/// access token outlives what a password change or logout-all ends.
fn token_response(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    refresh_token: &Secret,
    session_expires_at: u64,
    now: u64,
) -> Result<Response, ApiError> {
    let refresh_ttl = session_expires_at.saturating_sub(now).max(1);
    let access_ttl = state.config.access_ttl.min(refresh_ttl);
    let issued = state.issuer.issue(&AccessTokenRequest {
        subject: user_id.to_owned(),
        session_id: Some(session_id.to_owned()),
        ttl: Some(access_ttl),
        ..AccessTokenRequest::default()
    })?;
    let refresh_text = std::str::from_utf8(refresh_token.expose())
        .map_err(|_| ApiError::Internal("refresh token is not text".into()))?;
    let csrf_token = csrf_token(&state.csrf_key, session_id);
    let mut response = Json(json!({
        "access_token": issued.token,
        "refresh_token": refresh_text,
        "token_type": "Bearer",
        "expires_in": access_ttl,
    }))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    set_session_cookies(
        headers,
        &SessionCookies {
            access_token: &issued.token,
            access_ttl,
            refresh_token: refresh_text,
            refresh_ttl,
            csrf_token: &csrf_token,
        },
    );
    Ok(response)
}

/// The body of `/auth/refresh`: optional, since the refresh cookie may carry the token.
#[derive(Deserialize, Default)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// `POST /auth/refresh {refresh_token}` (or the refresh cookie plus `X-CSRF-Token`) -> a new
/// pair; the presented refresh token is rotated away. Presenting a rotated-away token revokes
/// the whole session.
///
/// A body is JSON (`Content-Type: application/json`, else 415): a cross-site form can post
/// `text/plain` that parses as JSON, and would sign the victim's browser in to the attacker's
/// account. An empty body (cookie mode, which needs the CSRF header) may have any type.
///
/// # Errors
/// 400 without a token (or with a Tessera cookie sent twice); 415 for a body that is not JSON;
/// 403 for a cookie without a valid CSRF header; 401 `invalid_grant`; 429 past the per-address
/// limit.
pub async fn refresh(
    State(state): State<AppState>,
    _: RateLimitedPeer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest("the request body could not be read".into()),
    })?;
    let body: RefreshBody = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshBody::default()
    } else {
        let refused = || {
            ApiError::BadRequest(
                "the body must be a JSON object {\"refresh_token\": \"tsr_...\"}, or empty when the refresh cookie is sent".into(),
            )
        };
        if !has_content_type(&headers, JSON) {
            return Err(ApiError::UnsupportedMediaType(JSON));
        }
        if !starts_as_json_object(&body) {
            return Err(refused());
        }
        serde_json::from_slice(&body).map_err(|_| refused())?
    };
    let (presented, from_cookie) = match body.refresh_token {
        Some(token) => (Secret::from(token), false),
        None => {
            let token = session_cookies(&headers)?.refresh.ok_or_else(|| {
                ApiError::BadRequest(
                    "refresh_token is required, in the JSON body or the refresh cookie".into(),
                )
            })?;
            csrf_header_echoing_cookie(&headers)?;
            (Secret::from(token.to_owned()), true)
        }
    };
    let presented_text = std::str::from_utf8(presented.expose()).unwrap_or_default();
    if !looks_like_refresh_token(presented_text) {
        return Err(ApiError::InvalidRefreshToken);
    }
    let presented_hash = digest_of(presented.expose());
    if from_cookie {
        // Signed double submit: the CSRF token must be the one of the session the refresh cookie
        // belongs to, or the request was not made by a page of that session.
        if let Some(session) = state
            .store
            .session_by_refresh_token(&presented_hash)
            .await?
        {
            check_csrf(&headers, &state.csrf_key, &session.id)?;
        }
    }
    let now = state.now();
    let next = new_refresh_token()?;
    // One atomic step in the store: the successor joins the presented token's session (the
    // session id here is ignored) and cannot outlive it; a disabled user's token is invalid.
    let rotation = state
        .store
        .rotate_refresh_token(
            &presented_hash,
            &RefreshRecord {
                hash: digest_of(next.expose()),
                session_id: String::new(),
                created_at: now,
                expires_at: now.saturating_add(state.config.refresh_ttl),
            },
            now,
        )
        .await?;
    match rotation {
        Rotation::Rotated(session) => {
            tracing::info!(event = "refresh", session_id = %session.id, "refresh token rotated");
            state.metrics.refresh();
            token_response(
                &state,
                &session.user_id,
                &session.id,
                &next,
                session.expires_at,
                now,
            )
        }
        Rotation::Reused(session) => {
            state.metrics.reuse_detected();
            tracing::warn!(
                event = "refresh_token_reuse",
                user_id = %session.user_id,
                session_id = %session.id,
                "rotated-away refresh token presented: revoking the whole session"
            );
            revoke_session(&state, &session.id).await?;
            Err(ApiError::InvalidRefreshToken)
        }
        Rotation::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

/// Revokes a session: its refresh tokens and, in the same step, its access tokens (a deny-list
/// entry for its `sid`), then publishes the revocation to the cache and the other instances.
pub(crate) async fn revoke_session(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    let now = state.now();
    if state.store.revoke_session(session_id, now).await?.is_some() {
        state.deny_list.publish_recorded(now).await?;
    } else {
        // No such session any more (purged after its end): its `sid` is denied all the same,
        // so a verified token that names it cannot outlive this logout by its leeway.
        state
            .deny_list
            .revoke(Revocation {
                kind: RevocationKind::Session,
                subject: session_id.to_owned(),
                not_before: now,
                expires_at: 0,
            })
            .await?;
    }
    tracing::info!(event = "revocation", kind = "session", session_id = %session_id, "session revoked");
    Ok(())
}

/// A 204 that also deletes the session cookies.
pub(crate) fn no_content_clearing_cookies() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(response.headers_mut());
    response
}

/// `POST /auth/logout` -> 204; the session's access and refresh tokens stop working at once.
///
/// # Errors
/// 401 without a valid token; 403 for a cookie without the CSRF header.
pub async fn logout(
    State(state): State<AppState>,
    AuthenticatedToRevoke(auth): AuthenticatedToRevoke,
) -> Result<Response, ApiError> {
    revoke_session(&state, &auth.session_id).await?;
    Ok(no_content_clearing_cookies())
}

/// `POST /auth/logout-all` -> 204; every session of the user stops working at once.
///
/// # Errors
/// 401 without a valid token; 403 for a cookie without the CSRF header.
pub async fn logout_all(
    State(state): State<AppState>,
    AuthenticatedToRevoke(auth): AuthenticatedToRevoke,
) -> Result<Response, ApiError> {
    let now = state.now();
    let user_id = &auth.claims.sub;
    // One step in the store: every session, a deny-list entry for each, and the user epoch.
    let revoked = state.store.revoke_user_sessions(user_id, now).await?;
    state.deny_list.publish_recorded(now).await?;
    tracing::info!(event = "revocation", kind = "user", user_id = %user_id, sessions = revoked.len(), "all sessions revoked");
    Ok(no_content_clearing_cookies())
}

/// `GET /auth/me` -> `{sub, username, created_at}`.
///
/// # Errors
/// 401 without a valid token, or if the user no longer exists or is disabled.
pub async fn me(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    let profile = match state.profiles.get(&auth.claims.sub) {
        Some(profile) => profile,
        None => {
            let user = state
                .store
                .user_by_id(&auth.claims.sub)
                .await?
                .filter(|user| !user.disabled)
                .ok_or(ApiError::InvalidToken)?;
            let profile = Profile {
                username: user.username,
                created_at: user.created_at,
            };
            state.profiles.insert(&user.id, profile.clone());
            profile
        }
    };
    Ok(private(Json(json!({
        "sub": auth.claims.sub,
        "username": profile.username,
        "created_at": profile.created_at,
    }))))
}
