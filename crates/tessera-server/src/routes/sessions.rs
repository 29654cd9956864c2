//! `/auth/sessions` and `/auth/password`: a user's own sessions and password.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_service::{accounts, sessions};
use tessera_token::Secret;

use super::auth::{no_content_clearing_cookies, private};
use crate::error::ApiError;
use crate::extract::{Authenticated, AuthenticatedToRevoke, JsonBody};
use crate::state::AppState;
use crate::throttle::{AttemptOutcome, OnRedisFailure, RateDecision, RateLimitedPeerWithoutRedis};

/// `GET /auth/sessions` -> the user's live sessions, newest first:
/// `[{id, created_at, last_used_at, user_agent, ip, current}]`.
///
/// # Errors
/// 401 without a valid token.
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let sessions = sessions::list(state.store.as_ref(), &auth.claims.sub, state.now()).await?;
    let listed: Vec<Value> = sessions
        .into_iter()
        .map(|session| {
            json!({
                "id": session.id,
                "created_at": session.created_at,
                "last_used_at": session.last_used_at,
                "user_agent": session.user_agent,
                "ip": session.ip,
                "current": session.id == auth.session_id,
            })
        })
        .collect();
    Ok(private(Json(Value::Array(listed))))
}

/// `DELETE /auth/sessions/{id}` -> 204; that session's tokens stop working at once.
///
/// # Errors
/// 401 without a valid token; 400 if the id in the path is not text (percent-encoded bytes that
/// are not UTF-8); 404 if the session is not one of the user's.
pub async fn delete(
    State(state): State<AppState>,
    AuthenticatedToRevoke(auth): AuthenticatedToRevoke,
    session_id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(session_id) = session_id?;
    sessions::end_own(
        state.store.as_ref(),
        state.deny_list.as_ref(),
        &auth.claims.sub,
        &session_id,
        state.now(),
    )
    .await?;
    if session_id == auth.session_id {
        // Deleting the session this request belongs to is a logout: clear its cookies too.
        return Ok(no_content_clearing_cookies());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `POST /auth/password`.
#[derive(Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /auth/password {current_password, new_password}` -> 204; every other session of the
/// user is revoked, whatever its state (the current one stays), and no login that checked the old
/// password while this ran keeps a session.
///
/// Each change costs two argon2id hashes, so it is limited per client address
/// (`TESSERA_RATE_LIMIT_PER_IP`, with register, login and refresh) and per user
/// ([`crate::throttle::PASSWORD_CHANGES_PER_MINUTE`]), and a new password equal to the current one is refused
/// before any hashing. It works while Redis is unreachable (it revokes): the counters then count
/// in this process.
///
/// # Errors
/// 401 without a valid token; 400 if the new password equals the current one, breaks a rule, or
/// the current password is wrong; 409 if the password changed or the account was disabled while
/// this ran; 429 past a limit or once the account is locked out (failed guesses count like failed
/// logins); 503 with `Retry-After` when password hashing is saturated.
pub async fn change_password(
    State(state): State<AppState>,
    _: RateLimitedPeerWithoutRedis,
    AuthenticatedToRevoke(auth): AuthenticatedToRevoke,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<Response, ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = body;
    let now = state.now();
    if let RateDecision::Limited(refusal) = state
        .password_change_limiter
        .check(&auth.claims.sub, now, OnRedisFailure::CountLocally)
        .await?
    {
        tracing::warn!(event = "password_change_throttled", user_id = %auth.claims.sub, retry_after = refusal.retry_after, "password change refused: too many for this user");
        return Err(ApiError::TooManyRequests {
            retry_after: refusal.retry_after,
        });
    }
    let current_password = Secret::from(current_password);
    let new_password = Secret::from(new_password);
    let user = accounts::active_user(state.store.as_ref(), &auth.claims.sub)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    accounts::check_new_password(&user.username, &current_password, &new_password)?;
    // Guesses of the current password count against the same per-account lockout as logins:
    // a stolen access token must not become an unthrottled password oracle. The hashing turn
    // comes first, so a refusal for load is not counted as a guess.
    let turn = state.passwords.reserve().await?;
    if let AttemptOutcome::Locked { retry_after } = state
        .login_throttle
        .attempt_with(&user.username, now, OnRedisFailure::CountLocally)
        .await?
    {
        tracing::warn!(event = "password_change_throttled", user_id = %user.id, retry_after, "password change refused: too many failed attempts for this account");
        return Err(ApiError::TooManyRequests { retry_after });
    }
    accounts::check_current_password(&state.passwords, turn, &user, current_password).await?;
    state.login_throttle.record_success(&user.username).await;
    // With a refresh grace window, the session may hold a branch minted for someone who
    // presented its previous refresh token (a thief, within the window) that cannot be told from
    // the user's own: the change then ends this session too, and the user signs in again with
    // the new password.
    let keep_current = state.config.refresh_grace == 0;
    let keep = if keep_current {
        auth.session_id.as_str()
    } else {
        ""
    };
    accounts::set_password(
        state.store.as_ref(),
        &state.passwords,
        state.deny_list.as_ref(),
        &user,
        keep,
        new_password,
        state.now(),
    )
    .await?;
    if keep_current {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok(crate::routes::auth::no_content_clearing_cookies())
    }
}
