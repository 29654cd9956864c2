//! Typed extractors: [`Authenticated`] does all access-token checking; [`JsonBody`] turns body
//! problems into JSON errors.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use tessera_token::AccessClaims;

use crate::cookies::{cookie, ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER};
use crate::credentials::constant_time_eq;
use crate::error::ApiError;
use crate::state::AppState;

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
/// Checks, in order: a token is present (Bearer header first, then the access cookie); for a
/// cookie on a state-changing method, the `X-CSRF-Token` header matches the CSRF cookie; the
/// token verifies (signature and claims, [`tessera_token::Verifier`]); it carries a `sid`; and the
/// deny-list does not deny it (fail closed if the deny-list cannot answer).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The verified claims.
    pub claims: AccessClaims,
    /// The session id (`sid`) of the token.
    pub session_id: String,
    /// How the token arrived.
    pub source: TokenSource,
}

/// Checks the double-submit CSRF token on a cookie-authenticated request.
///
/// # Errors
/// [`ApiError::Csrf`] saying exactly what is missing or wrong.
pub fn check_csrf(headers: &HeaderMap) -> Result<(), ApiError> {
    let header = headers
        .get(CSRF_HEADER)
        .ok_or(ApiError::Csrf(
            "missing X-CSRF-Token header: requests authenticated by cookie must echo the CSRF cookie in it",
        ))?
        .as_bytes();
    let cookie = cookie(headers, CSRF_COOKIE).ok_or(ApiError::Csrf(
        "missing __Host-tessera-csrf cookie: log in again to get one",
    ))?;
    if cookie.is_empty() || !constant_time_eq(header, cookie.as_bytes()) {
        return Err(ApiError::Csrf(
            "X-CSRF-Token header does not match the __Host-tessera-csrf cookie",
        ));
    }
    Ok(())
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
            None => match cookie(&parts.headers, ACCESS_COOKIE) {
                Some(token) => (token, TokenSource::Cookie),
                None => return Err(ApiError::MissingToken),
            },
        };
        if source == TokenSource::Cookie && is_state_changing(&parts.method) {
            check_csrf(&parts.headers)?;
        }
        let claims = state.verifier.verify_access_token(token).map_err(|err| {
            tracing::info!(
                event = "token_rejected",
                reason = err.reason(),
                "access token rejected"
            );
            state.metrics.verification_failure(err.reason());
            ApiError::InvalidToken
        })?;
        let session_id = claims.sid.clone().ok_or(ApiError::InvalidToken)?;
        if let Some(denial) = state.deny_list.check(&claims)? {
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
}

/// A JSON object body (`Content-Type: application/json` or `*/*+json`); every rejection becomes
/// an [`ApiError`] with a JSON error body: 415 for another content type, 413 past the body
/// limit, 400 for anything but a JSON object of the expected shape. serde would fill a struct
/// from an array by position; the object check refuses that.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest("the request body could not be read".into()),
                })?;
        if !starts_as_json_object(&body) {
            return Err(ApiError::BadRequest(
                "invalid JSON body: expected a JSON object".into(),
            ));
        }
        match axum::Json::<T>::from_bytes(&body) {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// Whether `body`'s first non-whitespace byte opens a JSON object. serde fills a struct from a
/// JSON array by position, so the handlers check this before deserializing.
pub(crate) fn starts_as_json_object(body: &[u8]) -> bool {
    body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{')
}

/// Whether the request says its body is JSON: `application/json` or `application/<x>+json`,
/// parameters (`; charset=utf-8`) allowed, case-insensitive.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => ApiError::BadRequest(format!("invalid JSON body: {}", rejection.body_text())),
    }
}
