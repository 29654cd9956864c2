//! The one place where errors become HTTP responses.
//!
//! Every error body is `{"error": CODE, "error_description": TEXT}`. A 401 always carries
//! `WWW-Authenticate: Bearer` (with `error="invalid_token"` when a token was presented, RFC 6750
//! §3.1), and every bad or missing access token gets the same body, so responses are no oracle
//! for which check failed. Internal failures are logged here and answered with an opaque 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a handler or extractor returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is malformed or breaks a rule (400 `invalid_request`).
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than allowed (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request's headers are larger than allowed (431).
    #[error("request headers too large")]
    HeadersTooLarge,
    /// The request has more header fields than allowed (431).
    #[error("too many request header fields")]
    TooManyHeaders,
    /// The body is not of the one media type the endpoint reads (415); names that type
    /// (`application/json`, `application/x-www-form-urlencoded`).
    #[error("expected a body of Content-Type: {0}")]
    UnsupportedMediaType(&'static str),
    /// No access token was presented (401, `WWW-Authenticate: Bearer`).
    #[error("no access token")]
    MissingToken,
    /// The access token is invalid, expired or revoked (401, `error="invalid_token"`).
    #[error("invalid access token")]
    InvalidToken,
    /// Username or password wrong, or the account is disabled (401 `invalid_grant`).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The refresh token is unknown, expired, reused or revoked (401 `invalid_grant`).
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Client authentication (HTTP Basic) failed at an OAuth endpoint (401 `invalid_client`).
    #[error("invalid client credentials")]
    InvalidClient,
    /// A cookie-authenticated state-changing request lacks a valid CSRF header (403).
    #[error("{0}")]
    Csrf(&'static str),
    /// A browser marked the request `Sec-Fetch-Site: cross-site` and its origin is not listed in
    /// `TESSERA_CORS_ORIGINS` (403).
    #[error("cross-site request refused")]
    CrossSite,
    /// Something that must be unique already exists (409).
    #[error("{description}")]
    Conflict {
        /// The error code.
        code: &'static str,
        /// What is taken.
        description: String,
    },
    /// Too many attempts (429 with `Retry-After`).
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until the client may try again.
        retry_after: u64,
    },
    /// A dependency (the store, the deny-list) cannot answer; the request is refused (503, with
    /// `Retry-After: 1`).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Password hashing has more work queued than it can finish soon; the request is refused at
    /// once (503 with `Retry-After`) instead of queueing more.
    #[error("password hashing is busy")]
    Busy {
        /// Seconds until the queued work should be done.
        retry_after: u64,
    },
    /// No such route (404).
    #[error("not found")]
    NotFound,
    /// The route exists but not with this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A bug or an unexpected failure; logged, answered with an opaque 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The generic description of every 401 for an access token.
const INVALID_TOKEN_DESCRIPTION: &str =
    "authentication required: the access token is missing, invalid, expired or revoked";

impl ApiError {
    /// The HTTP status for this error.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge | ApiError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MissingToken
            | ApiError::InvalidToken
            | ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::InvalidClient => StatusCode::UNAUTHORIZED,
            ApiError::Csrf(_) | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code_and_description(&self) -> (&'static str, String) {
        match self {
            ApiError::BadRequest(text) => ("invalid_request", text.clone()),
            ApiError::PayloadTooLarge => {
                ("invalid_request", "the request body is too large".into())
            }
            ApiError::HeadersTooLarge => (
                "invalid_request",
                format!(
                    "the request headers are larger than {} KiB",
                    crate::layers::MAX_HEADER_BYTES / 1024
                ),
            ),
            ApiError::TooManyHeaders => (
                "invalid_request",
                format!(
                    "the request has more than {} header fields",
                    crate::layers::MAX_HEADER_COUNT
                ),
            ),
            ApiError::UnsupportedMediaType(_) => ("invalid_request", self.to_string()),
            ApiError::MissingToken | ApiError::InvalidToken => {
                ("invalid_token", INVALID_TOKEN_DESCRIPTION.into())
            }
            ApiError::InvalidCredentials => {
                ("invalid_grant", "invalid username or password".into())
            }
            ApiError::InvalidRefreshToken => (
                "invalid_grant",
                "the refresh token is invalid, expired or revoked".into(),
            ),
            ApiError::InvalidClient => (
                "invalid_client",
                "client authentication failed (HTTP Basic with a client id and secret)".into(),
            ),
            ApiError::Csrf(text) => ("csrf_failed", (*text).into()),
            ApiError::CrossSite => (
                "cross_site_refused",
                "a page on another site may not call this endpoint; list its origin in \
                 TESSERA_CORS_ORIGINS if it should"
                    .into(),
            ),
            ApiError::Conflict { code, description } => (code, description.clone()),
            ApiError::TooManyRequests { retry_after } => (
                "too_many_requests",
                format!("too many attempts; try again in {retry_after} seconds"),
            ),
            ApiError::Unavailable(text) => ("temporarily_unavailable", (*text).into()),
            ApiError::Busy { retry_after } => (
                "temporarily_unavailable",
                format!(
                    "the server is busy checking passwords; try again in {retry_after} seconds"
                ),
            ),
            ApiError::NotFound => ("not_found", "no such resource".into()),
            ApiError::MethodNotAllowed => ("method_not_allowed", "method not allowed here".into()),
            ApiError::Internal(_) => ("server_error", "internal server error".into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "internal error");
        }
        let status = self.status();
        let (code, description) = self.code_and_description();
        let mut response = (
            status,
            axum::Json(json!({ "error": code, "error_description": description })),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::InvalidToken | ApiError::InvalidRefreshToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\""),
                );
            }
            ApiError::TooManyRequests { retry_after } | ApiError::Busy { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<tessera_store::StoreError> for ApiError {
    fn from(err: tessera_store::StoreError) -> Self {
        match err {
            tessera_store::StoreError::Database(inner) => {
                // Debug: the store's loss and return are logged once by the health check, not
                // once per request.
                tracing::debug!(error = %inner, "store unavailable");
                ApiError::Unavailable("the data store is not answering; try again")
            }
            tessera_store::StoreError::Redis(inner) => {
                tracing::debug!(error = %inner, "Redis unavailable");
                ApiError::Unavailable("the shared state (Redis) is not answering; try again")
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A body that could not be read: 413 past the body limit, 400 otherwise.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => ApiError::BadRequest("the request body could not be read".into()),
        }
    }
}

/// A JSON body that does not decode into the expected shape (the media type and the object
/// check come first, in [`crate::extract::JsonBody`]).
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType(crate::extract::JSON)
            }
            _ => ApiError::BadRequest(format!("invalid JSON body: {}", rejection.body_text())),
        }
    }
}

/// A path parameter that is not text (percent-encoded bytes that are not UTF-8).
impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(_: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest("the session id in the path is not valid UTF-8 text".into())
    }
}

impl From<tessera_service::ServiceError> for ApiError {
    fn from(err: tessera_service::ServiceError) -> Self {
        use tessera_service::ServiceError;
        match err {
            ServiceError::Rule(text) => ApiError::BadRequest(text),
            ServiceError::UsernameTaken => ApiError::Conflict {
                code: "username_taken",
                description: "that username is already registered".into(),
            },
            ServiceError::InvalidCredentials => ApiError::InvalidCredentials,
            ServiceError::WrongCurrentPassword => {
                ApiError::BadRequest("current_password is incorrect".into())
            }
            ServiceError::InvalidRefreshToken | ServiceError::RefreshTokenReused { .. } => {
                ApiError::InvalidRefreshToken
            }
            ServiceError::CredentialsChanged => ApiError::Conflict {
                code: "credentials_changed",
                description:
                    "the password was changed or the account disabled while this request ran; sign in again"
                        .into(),
            },
            ServiceError::InvalidClient => ApiError::InvalidClient,
            ServiceError::NotFound(_) => ApiError::NotFound,
            ServiceError::Busy { retry_after } => ApiError::Busy {
                retry_after: retry_after.as_secs().max(1),
            },
            ServiceError::Unavailable(text) => ApiError::Unavailable(text),
            ServiceError::Store(err) => err.into(),
            ServiceError::Password(err) => ApiError::Internal(err.to_string()),
            ServiceError::Token(err) => err.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<tessera_password::PasswordError> for ApiError {
    fn from(err: tessera_password::PasswordError) -> Self {
        match err {
            tessera_password::PasswordError::Busy { retry_after } => ApiError::Busy {
                retry_after: retry_after.as_secs().max(1),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<tessera_token::Error> for ApiError {
    fn from(err: tessera_token::Error) -> Self {
        ApiError::Internal(format!("token: {err}"))
    }
}
