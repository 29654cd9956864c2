//! `/auth/*`: registration, login, refresh rotation, logout, and the current user.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tessera_service::credentials::csrf_token;
use tessera_service::sessions::{self, ClientInfo, Lifetimes, SessionTokens};
use tessera_service::{accounts, ServiceError};
use tessera_token::Secret;

use crate::cookies::{clear_session_cookies, session_cookies, set_session_cookies, SessionCookies};
use crate::error::ApiError;
use crate::extract::{
    check_csrf, csrf_header_echoing_cookie, has_content_type, starts_as_json_object, Authenticated,
    AuthenticatedToRevoke, JsonBody, TokenSource, JSON,
};
use crate::metrics::LoginOutcome;
use crate::profiles::Profile;
use crate::state::AppState;
use crate::throttle::{AttemptOutcome, RateLimitedPeer};

/// A username and password, as posted to `/auth/register` and `/auth/login`.
#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    /// Login only: answer with the cookies alone, no token in the body (for browser pages, so
    /// that no script on them can read a token).
    #[serde(default)]
    cookie_only: bool,
}

/// `POST /auth/register {username, password}` -> 201 `{id, username}`.
///
/// # Errors
/// 400 naming the username or password rule broken; 409 if the username is taken; 429 past the
/// per-address limit; 503 when password hashing is saturated.
pub async fn register(
    State(state): State<AppState>,
    _: RateLimitedPeer,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let Credentials {
        username, password, ..
    } = body;
    let user = accounts::register(
        state.store.as_ref(),
        &state.passwords,
        &username,
        Secret::from(password),
        state.now(),
    )
    .await?;
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
/// ([`crate::throttle::LoginThrottle`]); a login refused because hashing is saturated is not
/// counted. A login whose password changed, or whose account was disabled, while it ran gets no
/// session (the same 401).
///
/// # Errors
/// 401 `invalid_grant`; 429 while the account is locked or past the per-address limit; 503
/// when password hashing is saturated.
pub async fn login(
    State(state): State<AppState>,
    RateLimitedPeer(peer): RateLimitedPeer,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let Credentials {
        username,
        password,
        cookie_only,
    } = body;
    // A turn to hash first: a login refused because hashing is saturated (503) must not count
    // as a failed attempt, or a flood would lock out every user who retries.
    let turn = state.passwords.reserve().await?;
    let attempt = match state.login_throttle.attempt(&username, state.now()).await? {
        AttemptOutcome::Counted(attempt) => attempt,
        AttemptOutcome::Locked { retry_after } => {
            tracing::warn!(event = "login_throttled", ip = %peer.ip(), retry_after, "login refused: too many failed attempts for this account");
            state.metrics.login(LoginOutcome::Throttled);
            return Err(ApiError::TooManyRequests { retry_after });
        }
    };
    let checked = accounts::check_login(
        state.store.as_ref(),
        &state.passwords,
        turn,
        &username,
        Secret::from(password),
    )
    .await;
    let user = match checked {
        Ok(user) => user,
        Err(ServiceError::InvalidCredentials) => {
            tracing::warn!(event = "login_failed", ip = %peer.ip(), "login failed");
            state.metrics.login(LoginOutcome::Failed);
            if attempt >= state.config.server.login_max_failures {
                tracing::warn!(event = "account_locked", ip = %peer.ip(), lockout = state.config.server.login_lockout, "too many failed logins: account locked for the window");
            }
            return Err(ApiError::InvalidCredentials);
        }
        Err(other) => return Err(other.into()),
    };
    let client = ClientInfo {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        ip: Some(peer.ip().to_string()),
    };
    let started = sessions::start(
        state.store.as_ref(),
        state.tokens().issuer()?,
        &state.config.role_scopes,
        &user,
        client,
        lifetimes(&state),
        state.now(),
    )
    .await;
    let tokens = match started {
        Ok(tokens) => tokens,
        // The password just checked is no longer the user's, or the user was disabled, while
        // argon2 ran: no session, the same 401.
        Err(ServiceError::CredentialsChanged) => {
            tracing::warn!(event = "login_failed", ip = %peer.ip(), user_id = %user.id, "login refused: the password changed or the account was disabled while it was checked");
            state.metrics.login(LoginOutcome::Failed);
            return Err(ApiError::InvalidCredentials);
        }
        Err(other) => return Err(other.into()),
    };
    state.login_throttle.record_success(&username).await;
    state.metrics.login(LoginOutcome::Ok);
    token_response(&state, &tokens, cookie_only)
}

/// The lifetimes this server issues with.
fn lifetimes(state: &AppState) -> Lifetimes {
    Lifetimes {
        access: state.config.access_ttl,
        refresh: state.config.refresh_ttl,
        refresh_grace: state.config.refresh_grace,
    }
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

/// The token pair as JSON (`Cache-Control: no-store`) with the session cookies (the CSRF token
/// is the session's signed one). `cookie_only`: the body carries no token, only `token_type` and
/// `expires_in` (the tokens are in the HttpOnly cookies, out of reach of page scripts).
fn token_response(
    state: &AppState,
    tokens: &SessionTokens,
    cookie_only: bool,
) -> Result<Response, ApiError> {
    let refresh_text = tokens.refresh.expose();
    let csrf_token = csrf_token(&state.csrf_key, &tokens.session_id);
    let body = if cookie_only {
        json!({
            "token_type": "Bearer",
            "expires_in": tokens.access_ttl,
        })
    } else {
        json!({
            "access_token": tokens.access.token,
            "refresh_token": refresh_text,
            "token_type": "Bearer",
            "expires_in": tokens.access_ttl,
        })
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    set_session_cookies(
        headers,
        &SessionCookies {
            access_token: &tokens.access.token,
            access_ttl: tokens.access_ttl,
            refresh_token: refresh_text,
            refresh_ttl: tokens.refresh_ttl,
            csrf_token: &csrf_token,
        },
    );
    Ok(response)
}

/// The body of `/auth/refresh`: optional, since the refresh cookie may carry the token.
#[derive(Deserialize, Default)]
struct RefreshBody {
    refresh_token: Option<String>,
    /// Answer with the cookies alone, no token in the body.
    #[serde(default)]
    cookie_only: bool,
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
    let body = body?;
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
    if from_cookie {
        // Signed double submit: the CSRF token must be the one of the session the refresh cookie
        // belongs to, or the request was not made by a page of that session.
        if let Some(session) =
            sessions::session_of_refresh_token(state.store.as_ref(), &presented).await?
        {
            check_csrf(&headers, &state.csrf_key, &session.id)?;
        }
    }
    let rotated = sessions::rotate(
        state.store.as_ref(),
        state.tokens().issuer()?,
        &state.config.role_scopes,
        state.deny_list.as_ref(),
        &presented,
        lifetimes(&state),
        state.now(),
    )
    .await;
    match rotated {
        Ok(tokens) => {
            state.metrics.refresh();
            // A refresh by cookie never answers with tokens in the body: the page that relies
            // on the cookies must not be able to read them (an XSS could ask otherwise).
            token_response(&state, &tokens, body.cookie_only || from_cookie)
        }
        Err(ServiceError::RefreshTokenReused { .. }) => {
            state.metrics.reuse_detected();
            Err(ApiError::InvalidRefreshToken)
        }
        Err(other) => Err(other.into()),
    }
}

/// Ends a session (its refresh tokens and, in the same step, its access tokens) and brings the
/// deny-list up to date.
pub(crate) async fn revoke_session(state: &AppState, session_id: &str) -> Result<(), ApiError> {
    sessions::end(
        state.store.as_ref(),
        state.deny_list.as_ref(),
        session_id,
        state.now(),
    )
    .await?;
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
    sessions::end_all(
        state.store.as_ref(),
        state.deny_list.as_ref(),
        &auth.claims.sub,
        state.now(),
    )
    .await?;
    Ok(no_content_clearing_cookies())
}

/// The username and creation time of the user `sub`, from the cache or the store.
///
/// # Errors
/// 401 if the user no longer exists or is disabled; store failures.
async fn profile_of(state: &AppState, sub: &str) -> Result<Profile, ApiError> {
    if let Some(profile) = state.profiles.get(sub) {
        return Ok(profile);
    }
    let user = accounts::active_user(state.store.as_ref(), sub)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let profile = Profile {
        username: user.username,
        created_at: user.created_at,
    };
    state.profiles.insert(&user.id, profile.clone());
    Ok(profile)
}

/// `GET /auth/me` -> `{sub, username, created_at, roles}` (`roles` as the token carries them:
/// a role taken away ends the token, a role given is in the next one).
///
/// # Errors
/// 401 without a valid token, or if the user no longer exists or is disabled.
pub async fn me(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    let profile = profile_of(&state, &auth.claims.sub).await?;
    Ok(private(Json(json!({
        "sub": auth.claims.sub,
        "username": profile.username,
        "created_at": profile.created_at,
        "roles": auth.claims.extra.get("roles").cloned().unwrap_or_else(|| json!([])),
    }))))
}

/// The response headers of `GET /auth/forward` that carry the user, with
/// `TESSERA_FORWARD_USER_HEADERS` (the proxy must set them on the upstream request itself,
/// overwriting any the client sent).
pub const FORWARD_USER_ID: &str = "x-tessera-user-id";
/// See [`FORWARD_USER_ID`]: the username.
pub const FORWARD_USERNAME: &str = "x-tessera-username";
/// See [`FORWARD_USER_ID`]: the roles the token carries, comma-separated.
pub const FORWARD_ROLES: &str = "x-tessera-roles";

/// Whether the proxy asked for browser navigations to be sent to the sign-in page
/// (`GET /auth/forward?redirect=true`): only proxies that pass the answer on to the browser can
/// (Traefik `forwardAuth`, Caddy `forward_auth`); nginx's `auth_request` takes any answer but
/// 2xx, 401 and 403 for an error.
fn asks_for_sign_in_redirect(uri: &axum::http::Uri) -> bool {
    uri.query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "redirect=true"))
}

/// Whether the guarded request is a browser loading a page: `Sec-Fetch-Mode: navigate`, or,
/// from a browser that does not send it, a `GET` that accepts HTML. Calls from scripts and API
/// clients keep their 401.
fn is_browser_navigation(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let method = text("x-forwarded-method")
        .or_else(|| text("x-original-method"))
        .unwrap_or("GET");
    if !method.eq_ignore_ascii_case("GET") {
        return false;
    }
    match text("sec-fetch-mode") {
        Some(mode) => mode.eq_ignore_ascii_case("navigate"),
        None => text("accept").is_some_and(|accept| accept.contains("text/html")),
    }
}

/// 302 to `/sign-in?next=PATH`, `PATH` being the guarded request's (`X-Forwarded-Uri` or
/// `X-Original-URI`) when it is a path of the site; the sign-in page follows `next` only within
/// its own origin. The location is relative: the proxy serves Tessera's pages on the app's
/// origin (docs/one-origin.md).
fn sign_in_redirect(headers: &HeaderMap) -> Response {
    let guarded = headers
        .get("x-forwarded-uri")
        .or_else(|| headers.get("x-original-uri"))
        .and_then(|value| value.to_str().ok())
        .filter(|path| path.starts_with('/') && !path.starts_with("//") && !path.contains('\\'));
    let location = match guarded {
        Some(path) => format!("/sign-in?next={}", encode_query_value(path)),
        None => "/sign-in".to_owned(),
    };
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Percent-encodes a query value, keeping `/` readable (`next=/account`).
fn encode_query_value(text: &str) -> String {
    use std::fmt::Write as _;
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// `GET /auth/forward` (for reverse proxies, which ask with `GET` whatever the request they
/// guard: nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`) -> 200 (empty) for a
/// live access token (Bearer or the access cookie; signature, claims and revocation checked as
/// everywhere), with the user's id, name and roles in `X-Tessera-User-Id`, `X-Tessera-Username` and `X-Tessera-Roles` when
/// `TESSERA_FORWARD_USER_HEADERS` is on; 401 otherwise. Never cached. When the proxy names the
/// guarded request's method (`X-Forwarded-Method` or `X-Original-Method`) and it changes state,
/// a token from the access cookie needs the session's `X-CSRF-Token` too (403 without).
///
/// With `?redirect=true` (proxies that pass the answer on to the browser), a browser navigation
/// without a live token gets 302 to `/sign-in?next=PATH` instead of the 401.
///
/// # Errors
/// 401 without a live token; 403 for a cookie-authenticated state-changing request without the
/// CSRF token; 503 when revocation cannot be checked.
pub async fn forward(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    auth: Result<Authenticated, ApiError>,
) -> Result<Response, ApiError> {
    let auth = match auth {
        Ok(auth) => auth,
        Err(ApiError::MissingToken | ApiError::InvalidToken)
            if asks_for_sign_in_redirect(&uri) && is_browser_navigation(&headers) =>
        {
            return Ok(sign_in_redirect(&headers));
        }
        Err(refused) => return Err(refused),
    };
    // The method of the request the proxy guards, if it says (Traefik always does; nginx with
    // `proxy_set_header X-Forwarded-Method $request_method`): a state-changing request
    // authenticated by cookie must carry the session's CSRF token, as on Tessera's own
    // endpoints, so an API behind the same origin is protected from cross-site requests.
    let guarded_method = headers
        .get("x-forwarded-method")
        .or_else(|| headers.get("x-original-method"))
        .and_then(|value| value.to_str().ok())
        .map(str::to_ascii_uppercase);
    let changes_state = guarded_method
        .as_deref()
        .is_some_and(|method| !matches!(method, "GET" | "HEAD" | "OPTIONS"));
    if changes_state && auth.source == TokenSource::Cookie {
        check_csrf(&headers, &state.csrf_key, &auth.session_id)?;
    }
    let mut response = StatusCode::OK.into_response();
    if state.config.server.forward_user_headers {
        let profile = profile_of(&state, &auth.claims.sub).await?;
        let roles = auth
            .claims
            .extra
            .get("roles")
            .and_then(serde_json::Value::as_array)
            .map(|roles| {
                roles
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let headers = response.headers_mut();
        // Ids are base64url, usernames and roles a restricted ASCII set: always valid values.
        for (name, value) in [
            (FORWARD_USER_ID, auth.claims.sub.as_str()),
            (FORWARD_USERNAME, profile.username.as_str()),
            (FORWARD_ROLES, roles.as_str()),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
