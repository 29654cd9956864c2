//! What a use case can refuse, or fail with.

use std::time::Duration;

/// Everything a use case can answer instead of doing what was asked.
///
/// The refusals (a broken rule, a wrong password, a taken name) are for the caller to show; the
/// failures (the store, the hasher, the random source) are for the log. `tessera-server` maps
/// each to one HTTP status in its error module; the CLI prints the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A username, password or name rule is broken; the text names the rule.
    #[error("{0}")]
    Rule(String),
    /// The username is registered already (in any ASCII case).
    #[error("that username is already registered")]
    UsernameTaken,
    /// Unknown user, wrong password, or disabled account: deliberately one answer.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The current password given to a password change is wrong.
    #[error("current_password is incorrect")]
    WrongCurrentPassword,
    /// The refresh token is unknown, expired, revoked, or of a disabled user.
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    /// The refresh token was already rotated away: its session was just revoked.
    #[error("the refresh token was already used; its session is revoked")]
    RefreshTokenReused {
        /// The session it belonged to.
        session: Box<tessera_store::Session>,
    },
    /// The user's credentials changed, or it was disabled, while the request ran: nothing was
    /// done.
    #[error("the password was changed or the account disabled while this request ran")]
    CredentialsChanged,
    /// Client authentication failed.
    #[error("client authentication failed")]
    InvalidClient,
    /// There is no such user, client or session (the text says which).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Password hashing has more work queued than it should; retry after this long.
    #[error("password hashing is busy")]
    Busy {
        /// About how long the queued work takes.
        retry_after: Duration,
    },
    /// A dependency cannot answer in a way that can be trusted (a deny-list that cannot be
    /// brought up to date): the request is refused, never answered from stale state.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] tessera_store::StoreError),
    /// Hashing a password failed.
    #[error("password hashing: {0}")]
    Password(tessera_password::PasswordError),
    /// Issuing a token failed.
    #[error("token: {0}")]
    Token(#[from] tessera_token::Error),
    /// The key-encryption key is missing, malformed or wrong, or a stored key does not open
    /// with it (the text names the variable or the key).
    #[error("{0}")]
    KeyEncryption(String),
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

impl From<tessera_password::PasswordError> for ServiceError {
    fn from(err: tessera_password::PasswordError) -> Self {
        match err {
            tessera_password::PasswordError::Busy { retry_after } => {
                ServiceError::Busy { retry_after }
            }
            other => ServiceError::Password(other),
        }
    }
}
