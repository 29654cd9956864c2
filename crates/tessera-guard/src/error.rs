//! The one error type of the guard, and what each variant means on the wire.
//!
//! A request the guard refuses gets exactly one of three answers (RFC 6750), written in one place
//! (`IntoResponse for Error`, in the `web` module): 401 `invalid_token` for a missing, invalid,
//! expired or revoked token, with one generic description whichever check failed (no validation
//! oracle); 403 `insufficient_scope` naming the scope; 503 `temporarily_unavailable` when the
//! guard cannot decide (fail closed). The detail (which check, which key) is for logs and
//! metrics, through [`Error::reason`].

use std::fmt;

/// Why a token was found revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoked {
    /// Its `jti` was revoked (`POST /oauth/revoke`).
    Token,
    /// Its session (`sid`) was revoked: a logout, a session deleted, a refresh token replayed.
    Session,
    /// It was issued before its user's epoch: logout everywhere, a password change, a disabled
    /// user, a role taken away.
    User,
    /// It has no `iat`, so it cannot be judged against a user's epoch (Tessera's tokens always
    /// carry one), as Tessera's own deny-list refuses it.
    NoIssuedAt,
    /// Introspection answered `active: false` (or an answer that does not match the token).
    Inactive,
    /// It lives longer (`exp - iat`) than [`crate::FeedOptions::max_token_lifetime`]: a
    /// revocation would be forgotten before it expires (Tessera refuses such tokens too).
    Lifetime,
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Revoked::Token => "token revoked",
            Revoked::Session => "session revoked",
            Revoked::User => "issued before the user's revocation epoch",
            Revoked::NoIssuedAt => "no iat to judge against the user's revocations",
            Revoked::Inactive => "introspection says inactive",
            Revoked::Lifetime => "lives longer than any revocation of it is kept",
        })
    }
}

/// Why the guard cannot decide about a token; every one of them is answered 503 (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The remote JWK Set has never been loaded.
    KeysNotLoaded,
    /// The last good JWK Set is older than its cache lifetime plus the configured grace
    /// ([`crate::JwksOptions::stale_grace`]), and every refetch since has failed.
    KeysExpired,
    /// The revocation feed has not been current within [`crate::FeedOptions::stale_after`] (and
    /// serving stale is not configured).
    FeedStale,
    /// Introspection could not be asked (network, timeout, an answer other than 200).
    Introspection,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unavailable::KeysNotLoaded => "the JWK Set has not been loaded yet",
            Unavailable::KeysExpired => "the JWK Set is stale beyond its grace period",
            Unavailable::FeedStale => "the revocation feed is not current",
            Unavailable::Introspection => "introspection did not answer",
        })
    }
}

/// Everything that can go wrong in the guard: building it, fetching what it needs, and judging a
/// request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request carries no `Authorization: Bearer` token. 401 without an error code
    /// (RFC 6750 §3.1).
    #[error("no bearer token in the request")]
    MissingToken,
    /// An `Authorization: Bearer` header that holds no single token (empty, with spaces inside,
    /// not text), or two `Authorization` headers. 401 `invalid_token` like a bad token: never
    /// taken for no token.
    #[error("a malformed Authorization header")]
    MalformedAuthorization,
    /// The token failed the token core's verification ([`tessera_token::Verifier`]); the inner
    /// error names the step. 401 `invalid_token`, with the generic description.
    #[error("invalid token: {0}")]
    InvalidToken(#[source] tessera_token::Error),
    /// The token verified but is revoked. 401 `invalid_token`, with the same generic description.
    #[error("revoked token: {0}")]
    Revoked(Revoked),
    /// The token is good but does not carry the scope (or role) this route needs. 403
    /// `insufficient_scope`, naming it.
    #[error("the token lacks the `{0}` scope")]
    InsufficientScope(String),
    /// The guard cannot decide (fail closed). 503 `temporarily_unavailable` with `Retry-After`.
    #[error("cannot check tokens now: {0}")]
    Unavailable(Unavailable),
    /// The guard is configured wrongly: refused by [`crate::GuardBuilder::build`], or a handler
    /// asked for [`crate::Claims`] on a route without the guard. 500 if it reaches a request.
    #[error("guard configuration: {0}")]
    Config(String),
    /// Fetching the metadata, the JWK Set, the feed or an introspection answer failed (logged
    /// by the background tasks; a request sees [`Error::Unavailable`] instead).
    #[error("{what}: {reason}")]
    Fetch {
        /// What was fetched: `metadata`, `JWK Set`, `revocation feed`, `introspection`.
        what: &'static str,
        /// What went wrong (never a secret or a token).
        reason: String,
    },
}

impl Error {
    /// A short, stable label for logs and metrics; never token content.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Error::MissingToken => "missing_token",
            Error::MalformedAuthorization => "malformed_authorization",
            Error::InvalidToken(inner) => inner.reason(),
            Error::Revoked(Revoked::Token) => "revoked_token",
            Error::Revoked(Revoked::Session) => "revoked_session",
            Error::Revoked(Revoked::User) => "revoked_user",
            Error::Revoked(Revoked::NoIssuedAt) => "no_iat",
            Error::Revoked(Revoked::Inactive) => "inactive",
            Error::Revoked(Revoked::Lifetime) => "token_lifetime",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::Unavailable(Unavailable::KeysNotLoaded) => "keys_not_loaded",
            Error::Unavailable(Unavailable::KeysExpired) => "keys_expired",
            Error::Unavailable(Unavailable::FeedStale) => "feed_stale",
            Error::Unavailable(Unavailable::Introspection) => "introspection_unavailable",
            Error::Config(_) => "config",
            Error::Fetch { .. } => "fetch",
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::Config(reason.into())
    }

    pub(crate) fn fetch(what: &'static str, reason: impl fmt::Display) -> Self {
        Error::Fetch {
            what,
            reason: reason.to_string(),
        }
    }
}

impl From<tessera_token::Error> for Error {
    fn from(error: tessera_token::Error) -> Self {
        Error::InvalidToken(error)
    }
}
