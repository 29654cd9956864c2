//! Accounts: registration, the password check of a login, password changes, disable and enable.

use tessera_password::{check_password, check_username, HashTurn, PasswordHasher};
use tessera_store::{NewUser, Session, Store, StoreError, User};
use tessera_token::Secret;

use crate::credentials::{constant_time_eq, new_user_id};
use crate::revocations::RevocationListener;
use crate::ServiceError;

/// The password as text, for the policy checks.
fn password_text<'a>(password: &'a Secret, what: &str) -> Result<&'a str, ServiceError> {
    std::str::from_utf8(password.expose())
        .map_err(|_| ServiceError::Rule(format!("{what} is not UTF-8")))
}

/// Registers a user: the username and password rules ([`check_username`], [`check_password`]),
/// then argon2id, then the store. A taken name is refused before the (deliberately slow) hash,
/// and again by the store if it was taken in between.
///
/// # Errors
/// [`ServiceError::Rule`] naming the rule broken; [`ServiceError::UsernameTaken`];
/// [`ServiceError::Busy`] when hashing is saturated; store and hashing failures.
pub async fn register(
    store: &dyn Store,
    passwords: &PasswordHasher,
    username: &str,
    password: Secret,
    now: u64,
) -> Result<User, ServiceError> {
    check_username(username).map_err(|rule| ServiceError::Rule(rule.to_string()))?;
    check_password(password_text(&password, "password")?, username)
        .map_err(|rule| ServiceError::Rule(rule.to_string()))?;
    if store.user_by_username(username).await?.is_some() {
        return Err(ServiceError::UsernameTaken);
    }
    let password_hash = passwords.hash(password).await?;
    let user = store
        .create_user(&NewUser {
            id: new_user_id()?,
            username: username.to_owned(),
            password_hash,
            created_at: now,
        })
        .await
        .map_err(|err| match err {
            StoreError::Conflict("username") => ServiceError::UsernameTaken,
            other => other.into(),
        })?;
    tracing::info!(event = "user_registered", user_id = %user.id, "user registered");
    Ok(user)
}

/// The password check of a login, on a hashing turn the caller took first (so that a refusal
/// for load is never counted as a failed attempt): the user, if the password is theirs and the
/// account is enabled.
///
/// # Errors
/// [`ServiceError::InvalidCredentials`] for an unknown user, a wrong password or a disabled
/// account alike, after the same argon2id work (a dummy hash stands in for an unknown user);
/// store and hashing failures.
pub async fn check_login(
    store: &dyn Store,
    passwords: &PasswordHasher,
    turn: HashTurn,
    username: &str,
    password: Secret,
) -> Result<User, ServiceError> {
    let user = store.user_by_username(username).await?;
    let matches = passwords
        .verify_reserved(
            turn,
            password,
            user.as_ref().map(|user| user.password_hash.as_str()),
        )
        .await?;
    match user {
        Some(user) if matches && !user.disabled => Ok(user),
        _ => Err(ServiceError::InvalidCredentials),
    }
}

/// The checks of a password change that cost nothing, made before any hashing: the new password
/// differs from the current one and keeps the password rules.
///
/// # Errors
/// [`ServiceError::Rule`] naming the problem.
pub fn check_new_password(
    username: &str,
    current: &Secret,
    new: &Secret,
) -> Result<(), ServiceError> {
    if constant_time_eq(current.expose(), new.expose()) {
        return Err(ServiceError::Rule(
            "new_password must differ from current_password".into(),
        ));
    }
    check_password(password_text(new, "new_password")?, username)
        .map_err(|rule| ServiceError::Rule(format!("new_password: {rule}")))
}

/// Checks the current password of a password change, on a hashing turn the caller took first.
///
/// # Errors
/// [`ServiceError::WrongCurrentPassword`]; hashing failures.
pub async fn check_current_password(
    passwords: &PasswordHasher,
    turn: HashTurn,
    user: &User,
    current: Secret,
) -> Result<(), ServiceError> {
    if passwords
        .verify_reserved(turn, current, Some(&user.password_hash))
        .await?
    {
        Ok(())
    } else {
        tracing::warn!(event = "password_change_failed", user_id = %user.id, "wrong current password");
        Err(ServiceError::WrongCurrentPassword)
    }
}

/// Sets a new password (checked by [`check_new_password`] and after the current one was checked):
/// hashes it, then in one store step replaces the hash, bumps the credential epoch, keeps the
/// session `keep` and revokes every other session of the user whatever its state; then tells
/// `listener`. Returns the sessions revoked.
///
/// # Errors
/// [`ServiceError::CredentialsChanged`] if the password changed, or the user was disabled, since
/// `user` was read (nothing changes then); [`ServiceError::Busy`]; store, hashing and listener
/// failures.
pub async fn set_password(
    store: &dyn Store,
    passwords: &PasswordHasher,
    listener: &dyn RevocationListener,
    user: &User,
    keep: &str,
    new: Secret,
    now: u64,
) -> Result<Vec<Session>, ServiceError> {
    let hash = passwords.hash(new).await?;
    let revoked = store
        .change_password(&user.id, user.credential_epoch, &hash, keep, now)
        .await?
        .ok_or(ServiceError::CredentialsChanged)?;
    listener.recorded(now).await?;
    tracing::info!(event = "password_changed", user_id = %user.id, sessions_revoked = revoked.len(), "password changed");
    Ok(revoked)
}

/// The user with this id, if it exists and is enabled: who an access token's `sub` names, for
/// what needs the account itself (a profile, a password change).
///
/// # Errors
/// Store failures.
pub async fn active_user(store: &dyn Store, user_id: &str) -> Result<Option<User>, ServiceError> {
    Ok(store
        .user_by_id(user_id)
        .await?
        .filter(|user| !user.disabled))
}

/// Disables a user by username, in one store step (the flag, a new credential epoch, every
/// session revoked with its `sid` denied, and every token issued until now denied), then tells
/// `listener`. Returns the user as updated and the sessions revoked. Disabling again revokes
/// again, harmlessly.
///
/// # Errors
/// [`ServiceError::NotFound`] if there is no such user; store failures. A listener failure is
/// returned after the disable is done: it stands.
pub async fn disable(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    username: &str,
    now: u64,
) -> Result<(User, Vec<Session>), ServiceError> {
    let (user, sessions) = store
        .disable_user(username, now)
        .await?
        .ok_or(ServiceError::NotFound("user"))?;
    tracing::info!(event = "user_disabled", user_id = %user.id, sessions_revoked = sessions.len(), "user disabled");
    listener.recorded(now).await?;
    Ok((user, sessions))
}

/// Lets a disabled user log in again. What the disable revoked stays revoked.
///
/// # Errors
/// [`ServiceError::NotFound`] if there is no such user; store failures.
pub async fn enable(store: &dyn Store, username: &str) -> Result<User, ServiceError> {
    let user = store
        .enable_user(username)
        .await?
        .ok_or(ServiceError::NotFound("user"))?;
    tracing::info!(event = "user_enabled", user_id = %user.id, "user enabled");
    Ok(user)
}
