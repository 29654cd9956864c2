//! Sessions: starting one with its tokens, rotating a refresh token, ending one or all.
//!
//! A session is one login: the family of its refresh tokens, named by the `sid` claim of every
//! access token issued for it. Its rules, here and nowhere else:
//! - it is created only while the credentials checked for the login are current
//!   ([`tessera_store::User::credential_epoch`]);
//! - an access token's `exp` never passes the session's end;
//! - presenting a refresh token that was already rotated away ends the whole session;
//! - ending a session records the denial of its `sid` with it, also when the session's row is
//!   already gone.

use tessera_config::RoleScopes;
use tessera_store::{NewSession, RefreshRecord, Rotation, Session, Store, User};
use tessera_token::{AccessTokenRequest, IssuedAccessToken, Secret, SecretText, TokenIssuer};

use crate::credentials::{digest_of, looks_like_refresh_token, new_refresh_token, new_session_id};
use crate::revocations::{deny_session, RevocationListener};
use crate::ServiceError;

/// Longest `User-Agent` kept with a session.
pub const MAX_USER_AGENT: usize = 256;

/// What a session remembers of the client that started it.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Its `User-Agent` (truncated to [`MAX_USER_AGENT`] characters).
    pub user_agent: Option<String>,
    /// Its address.
    pub ip: Option<String>,
}

/// The lifetimes a session's tokens are issued with.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Of access tokens, in seconds (`JWT_ACCESS_TTL`).
    pub access: u64,
    /// Of a session and its refresh tokens, in seconds (`JWT_REFRESH_TTL`).
    pub refresh: u64,
    /// The refresh grace window in seconds (`TESSERA_REFRESH_GRACE`; 0: none).
    pub refresh_grace: u64,
}

/// The tokens of a session, as handed to the client.
#[derive(Debug)]
pub struct SessionTokens {
    /// The access token.
    pub access: IssuedAccessToken,
    /// Its lifetime in seconds (`expires_in`): `JWT_ACCESS_TTL`, or less near the session's end.
    pub access_ttl: u64,
    /// The refresh token.
    pub refresh: SecretText,
    /// Seconds until the session ends (the refresh token's life).
    pub refresh_ttl: u64,
    /// The session id (`sid`).
    pub session_id: String,
    /// The user id (`sub`).
    pub user_id: String,
}

/// Issues a session's access token: `lifetimes.access`, but never past the session's end, with
/// the user's roles (read now, so a role given is in the next token) and the scopes they grant.
#[allow(
    clippy::too_many_arguments,
    reason = "one private helper of the two ways a session gets tokens"
)]
async fn tokens(
    store: &dyn Store,
    issuer: &TokenIssuer,
    role_scopes: &RoleScopes,
    user_id: &str,
    session_id: &str,
    refresh: SecretText,
    session_expires_at: u64,
    lifetimes: Lifetimes,
    now: u64,
) -> Result<SessionTokens, ServiceError> {
    let refresh_ttl = session_expires_at.saturating_sub(now).max(1);
    let access_ttl = lifetimes.access.min(refresh_ttl);
    let roles = store.user_roles(user_id).await?;
    let access = issuer.issue(&AccessTokenRequest {
        subject: user_id.to_owned(),
        session_id: Some(session_id.to_owned()),
        ttl: Some(access_ttl),
        extra: crate::roles::role_claims(&roles, role_scopes),
        ..AccessTokenRequest::default()
    })?;
    Ok(SessionTokens {
        access,
        access_ttl,
        refresh,
        refresh_ttl,
        session_id: session_id.to_owned(),
        user_id: user_id.to_owned(),
    })
}

/// Starts a session for `user` (whose password was just checked) and issues its tokens.
///
/// # Errors
/// [`ServiceError::CredentialsChanged`] if the password changed, or the user was disabled, since
/// `user` was read: no session is created; store and token failures.
pub async fn start(
    store: &dyn Store,
    issuer: &TokenIssuer,
    role_scopes: &RoleScopes,
    user: &User,
    client: ClientInfo,
    lifetimes: Lifetimes,
    now: u64,
) -> Result<SessionTokens, ServiceError> {
    let session_id = new_session_id()?;
    let refresh = new_refresh_token()?;
    let expires_at = now.saturating_add(lifetimes.refresh);
    let created = store
        .create_session(
            &NewSession {
                id: session_id.clone(),
                user_id: user.id.clone(),
                created_at: now,
                expires_at,
                user_agent: client
                    .user_agent
                    .map(|agent| agent.chars().take(MAX_USER_AGENT).collect()),
                ip: client.ip,
                credential_epoch: user.credential_epoch,
            },
            &RefreshRecord {
                hash: digest_of(refresh.as_bytes()),
                session_id: session_id.clone(),
                created_at: now,
                expires_at,
            },
        )
        .await?;
    if !created {
        return Err(ServiceError::CredentialsChanged);
    }
    tracing::info!(event = "login", user_id = %user.id, session_id = %session_id, "login succeeded");
    tokens(
        store,
        issuer,
        role_scopes,
        &user.id,
        &session_id,
        refresh,
        expires_at,
        lifetimes,
        now,
    )
    .await
}

/// The session a presented refresh token belongs to, if it has the shape of one and is known
/// (used or not): for checks made before rotating, such as the CSRF token of cookie mode.
///
/// # Errors
/// Store failures.
pub async fn session_of_refresh_token(
    store: &dyn Store,
    presented: &Secret,
) -> Result<Option<Session>, ServiceError> {
    let text = std::str::from_utf8(presented.expose()).unwrap_or_default();
    if !looks_like_refresh_token(text) {
        return Ok(None);
    }
    Ok(store
        .session_by_refresh_token(&digest_of(presented.expose()))
        .await?)
}

/// Rotates a refresh token: in one atomic store step the presented token is used up and its
/// successor joins the same session; then the session's tokens are issued. A token that was
/// already rotated away is a replay: its whole session is ended (and `listener` told).
///
/// # Errors
/// [`ServiceError::InvalidRefreshToken`] for a token that is malformed, unknown, expired, revoked
/// or of a disabled user; [`ServiceError::RefreshTokenReused`] for a replay (after ending its
/// session); store, token and listener failures.
pub async fn rotate(
    store: &dyn Store,
    issuer: &TokenIssuer,
    role_scopes: &RoleScopes,
    listener: &dyn RevocationListener,
    presented: &Secret,
    lifetimes: Lifetimes,
    now: u64,
) -> Result<SessionTokens, ServiceError> {
    let text = std::str::from_utf8(presented.expose()).unwrap_or_default();
    if !looks_like_refresh_token(text) {
        return Err(ServiceError::InvalidRefreshToken);
    }
    let next = new_refresh_token()?;
    // The successor joins the presented token's session (the session id here is ignored) and
    // cannot outlive it; a disabled user's token, or one from older credentials, is invalid.
    let rotation = store
        .rotate_refresh_token(
            &digest_of(presented.expose()),
            &RefreshRecord {
                hash: digest_of(next.as_bytes()),
                session_id: String::new(),
                created_at: now,
                expires_at: now.saturating_add(lifetimes.refresh),
            },
            now,
        )
        .await?;
    match rotation {
        Rotation::Rotated(session) => {
            tracing::info!(event = "refresh", session_id = %session.id, "refresh token rotated");
            tokens(
                store,
                issuer,
                role_scopes,
                &session.user_id,
                &session.id,
                next,
                session.expires_at,
                lifetimes,
                now,
            )
            .await
        }
        Rotation::Reused(session) => {
            // A retry of the last rotation (a lost response, racing tabs) within the grace
            // window gets a working pair in the same session instead of ending it.
            if lifetimes.refresh_grace > 0 {
                let branch = RefreshRecord {
                    hash: digest_of(next.as_bytes()),
                    session_id: String::new(),
                    created_at: now,
                    expires_at: now.saturating_add(lifetimes.refresh),
                };
                if let Some(session) = store
                    .refresh_within_grace(
                        &digest_of(presented.expose()),
                        &branch,
                        lifetimes.refresh_grace,
                        now,
                    )
                    .await?
                {
                    tracing::info!(event = "refresh_grace", session_id = %session.id, "the previous refresh token presented again within the grace window: a new pair in the same session");
                    return tokens(
                        store,
                        issuer,
                        role_scopes,
                        &session.user_id,
                        &session.id,
                        next,
                        session.expires_at,
                        lifetimes,
                        now,
                    )
                    .await;
                }
            }
            tracing::warn!(
                event = "refresh_token_reuse",
                user_id = %session.user_id,
                session_id = %session.id,
                "rotated-away refresh token presented: revoking the whole session"
            );
            end(store, listener, &session.id, now).await?;
            Err(ServiceError::RefreshTokenReused {
                session: Box::new(session),
            })
        }
        Rotation::Invalid => Err(ServiceError::InvalidRefreshToken),
    }
}

/// Ends one session (logout, session delete, a replayed refresh token, RFC 7009 revocation of a
/// refresh token): its refresh tokens stop working and its `sid` is denied, in one store step,
/// then `listener` is told. A session whose row is already gone (purged after its end) still has
/// its `sid` denied. Returns the session as it was, if it still existed.
///
/// # Errors
/// Store and listener failures.
pub async fn end(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    session_id: &str,
    now: u64,
) -> Result<Option<Session>, ServiceError> {
    let session = store.revoke_session(session_id, now).await?;
    if session.is_some() {
        listener.recorded(now).await?;
    } else {
        deny_session(store, listener, session_id, now).await?;
    }
    tracing::info!(event = "revocation", kind = "session", session_id = %session_id, "session revoked");
    Ok(session)
}

/// Ends every session of a user (logout everywhere): every session not yet revoked, with its
/// `sid` denied, and every token of the user issued before `now`, in one store step; then tells
/// `listener`. Returns the sessions ended.
///
/// # Errors
/// Store and listener failures.
pub async fn end_all(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    user_id: &str,
    now: u64,
) -> Result<Vec<Session>, ServiceError> {
    let ended = store.revoke_user_sessions(user_id, now).await?;
    listener.recorded(now).await?;
    tracing::info!(event = "revocation", kind = "user", user_id = %user_id, sessions = ended.len(), "all sessions revoked");
    Ok(ended)
}

/// The user's sessions that are neither revoked nor expired, newest first.
///
/// # Errors
/// Store failures.
pub async fn list(
    store: &dyn Store,
    user_id: &str,
    now: u64,
) -> Result<Vec<Session>, ServiceError> {
    Ok(store.live_sessions(user_id, now).await?)
}

/// Ends the session `session_id` of `user_id` (a user's own session delete).
///
/// # Errors
/// [`ServiceError::NotFound`] if it is not one of the user's sessions; store and listener
/// failures.
pub async fn end_own(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    user_id: &str,
    session_id: &str,
    now: u64,
) -> Result<(), ServiceError> {
    let session = store.session(session_id).await?;
    if session.is_none_or(|session| session.user_id != user_id) {
        return Err(ServiceError::NotFound("session"));
    }
    end(store, listener, session_id, now).await.map(drop)
}
