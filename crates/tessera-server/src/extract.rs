//! Typed extractors: [`Authenticated`] does all access-token checking; [`JsonBody`] turns body
//! problems into JSON errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use serde::de::DeserializeOwned;
use tessera_token::AccessClaims;

use aws_lc_rs::hmac;

use crate::cookies::{session_cookies, CSRF_HEADER};
use crate::error::ApiError;
use crate::state::AppState;
use tessera_service::credentials::{constant_time_eq, csrf_token_matches};

/// How the access token arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    Bearer,
    /// The `__Host-tessera-access` cookie.
    Cookie,
}

/// A request carrying a valid, unrevoked access token.
///
/// Checks, in order: a token is present (Bearer header first, then the access cookie, refused if
/// the request carries a Tessera cookie twice); the token verifies (signature and claims,
/// [`tessera_token::Verifier`]); it carries a `sid`; for a cookie on a state-changing method,
/// the `X-CSRF-Token` header matches the CSRF cookie and is the CSRF token of that session; and
/// the deny-list does not deny it (fail closed if the deny-list cannot answer).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The session id (`sid`) of the token.
    pub session_id: String,
    /// How the token arrived.
    pub source: TokenSource,
}

/// An [`Authenticated`] request to an endpoint that revokes (logout, logout-all, session
/// delete, password change): served while Redis is unreachable, after bringing the deny-list up
/// to date with the database ([`crate::denylist::DenyList::check_to_revoke`]). Revoking must
/// always be possible.
#[derive(Debug, Clone)]
pub struct AuthenticatedToRevoke(pub Authenticated);

/// Checks the signed double-submit CSRF token of a cookie-authenticated request of session
/// `session_id`: the `X-CSRF-Token` header equals the CSRF cookie, and is that session's token
/// ([`tessera_service::credentials::csrf_token`]).
///
/// # Errors
/// [`ApiError::Csrf`] saying exactly what is missing or wrong; [`ApiError::BadRequest`] for a
/// cookie sent twice.
pub fn check_csrf(headers: &HeaderMap, key: &hmac::Key, session_id: &str) -> Result<(), ApiError> {
    let header = csrf_header_echoing_cookie(headers)?;
    if !csrf_token_matches(key, session_id, header) {
        return Err(ApiError::Csrf(
            "the CSRF token does not belong to this session: log in again to get one",
        ));
    }
    Ok(())
}

/// The first half of [`check_csrf`]: the `X-CSRF-Token` header is present and equals the CSRF
/// cookie. Returns the header's value.
///
/// # Errors
/// As [`check_csrf`].
pub fn csrf_header_echoing_cookie(headers: &HeaderMap) -> Result<&[u8], ApiError> {
    let header = headers
        .get(CSRF_HEADER)
        .ok_or(ApiError::Csrf(
            "missing X-CSRF-Token header: requests authenticated by cookie must echo the CSRF cookie in it",
        ))?
        .as_bytes();
    let cookie = session_cookies(headers)?.csrf.ok_or(ApiError::Csrf(
        "missing __Host-tessera-csrf cookie: log in again to get one",
    ))?;
    if cookie.is_empty() || !constant_time_eq(header, cookie.as_bytes()) {
        return Err(ApiError::Csrf(
            "X-CSRF-Token header does not match the __Host-tessera-csrf cookie",
        ));
    }
    Ok(header)
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// What the request will do with its token: decides how a Redis outage is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Anything: fail closed as configured.
    Use,
    /// Revoke: never refused for Redis alone.
    Revoke,
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    purpose: Purpose,
) -> Result<Authenticated, ApiError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| {
                    let (scheme, token) = text.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .ok_or(ApiError::InvalidToken)
        })
        .transpose()
        .inspect_err(|_| state.metrics.verification_failure("malformed_header"))?;
    let (token, source) = match bearer {
        Some(token) => (token, TokenSource::Bearer),
        None => match session_cookies(&parts.headers)?.access {
            Some(token) => (token, TokenSource::Cookie),
            None => return Err(ApiError::MissingToken),
        },
    };
    let tokens = state.tokens();
    let (claims, kid) = tokens
        .verifier
        .verify_access_token_by_key(token)
        .map_err(|err| {
            tracing::info!(
                event = "token_rejected",
                reason = err.reason(),
                "access token rejected"
            );
            state.metrics.verification_failure(err.reason());
            ApiError::InvalidToken
        })?;
    state.metrics.verified(kid);
    let session_id = claims.sid.clone().ok_or(ApiError::InvalidToken)?;
    if source == TokenSource::Cookie && is_state_changing(&parts.method) {
        check_csrf(&parts.headers, &state.csrf_key, &session_id)?;
    }
    let denial = match purpose {
        Purpose::Use => state.deny_list.check(&claims)?,
        Purpose::Revoke => {
            state
                .deny_list
                .check_to_revoke(&claims, state.now())
                .await?
        }
    };
    if let Some(denial) = denial {
        state.metrics.verification_failure("revoked");
        tracing::info!(event = "token_rejected", reason = ?denial, sub = %claims.sub, "revoked access token presented");
        return Err(ApiError::InvalidToken);
    }
    Ok(Authenticated {
        claims,
        session_id,
        source,
    })
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, Purpose::Use).await
    }
}

impl FromRequestParts<AppState> for AuthenticatedToRevoke {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, Purpose::Revoke)
            .await
            .map(AuthenticatedToRevoke)
    }
}

/// A JSON object body (`Content-Type: application/json`, parameters such as `charset=utf-8`
/// allowed); every rejection becomes an [`ApiError`] with a JSON error body: 415 for any other
/// content type (a cross-site `<form>` can send `text/plain` that happens to be JSON, but never
/// `application/json`), 413 past the body limit, 400 for anything but a JSON object of the
/// expected shape. serde would fill a struct from an array by position; the object check refuses
/// that.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(request.headers(), JSON) {
            return Err(ApiError::UnsupportedMediaType(JSON));
        }
        let body = Bytes::from_request(request, state).await?;
        if !starts_as_json_object(&body) {
            return Err(ApiError::BadRequest(
                "invalid JSON body: expected a JSON object".into(),
            ));
        }
        match axum::Json::<T>::from_bytes(&body) {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// An `application/x-www-form-urlencoded` body (the OAuth endpoints), the media type compared
/// without regard to case as for JSON: 415 for any other content type (naming the expected one),
/// 413 past the body limit, 400 for a form that does not decode into `T`.
#[derive(Debug)]
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(request.headers(), FORM) {
            return Err(ApiError::UnsupportedMediaType(FORM));
        }
        let body = Bytes::from_request(request, state).await?;
        serde_urlencoded::from_bytes(&body)
            .map(FormBody)
            .map_err(|err| {
                ApiError::BadRequest(format!(
                    "expected an application/x-www-form-urlencoded body: {err}"
                ))
            })
    }
}

/// Whether `body`'s first non-whitespace byte opens a JSON object. serde fills a struct from a
/// JSON array by position, so the handlers check this before deserializing.
pub(crate) fn starts_as_json_object(body: &[u8]) -> bool {
    body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{')
}

/// The media type of JSON bodies.
pub const JSON: &str = "application/json";

/// The media type of form bodies (the OAuth endpoints).
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Whether the request's `Content-Type` is `media_type` (parameters such as `; charset=utf-8`
/// allowed; compared without regard to case).
pub fn has_content_type(headers: &HeaderMap, media_type: &str) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case(media_type)
}
