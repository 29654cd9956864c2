//! Users' roles: carried in access tokens as `roles` and, through `TESSERA_ROLE_SCOPES`, as the
//! OAuth `scope` claim that resource servers check.
//!
//! A role given reaches the user's next token (a login or a refresh); a role taken away ends the
//! user's current access tokens at once (a user revocation, recorded in the same store step), so
//! no token keeps a power the user lost; the sessions stay, and their next refresh issues tokens
//! without it.

use serde_json::{Map, Value};
use tessera_config::{is_role_name, RoleScopes};
use tessera_store::{Store, StoreError};

use crate::revocations::RevocationListener;
use crate::ServiceError;

/// Checks a role name: 1 to 64 ASCII letters, digits, `_`, `-`, `.` or `:`.
///
/// # Errors
/// [`ServiceError::Rule`] naming the rule.
pub fn check_role_name(role: &str) -> Result<(), ServiceError> {
    if is_role_name(role) {
        Ok(())
    } else {
        Err(ServiceError::Rule(
            "a role is 1 to 64 ASCII letters, digits, `_`, `-`, `.` or `:`".into(),
        ))
    }
}

/// The claims a user's roles add to an access token: `roles` (sorted) and `scope` (the scopes
/// they grant, space-separated), each only when not empty.
#[must_use]
pub fn role_claims(roles: &[String], role_scopes: &RoleScopes) -> Map<String, Value> {
    let mut claims = Map::new();
    if !roles.is_empty() {
        claims.insert(
            "roles".into(),
            Value::Array(roles.iter().cloned().map(Value::String).collect()),
        );
    }
    let scopes = role_scopes.scopes_of(roles);
    if !scopes.is_empty() {
        claims.insert("scope".into(), Value::String(scopes.join(" ")));
    }
    claims
}

/// Gives the user `username` a role. Returns the user's roles after, and whether it changed.
///
/// # Errors
/// [`ServiceError::NotFound`] for an unknown user; [`ServiceError::Rule`] for a bad role name;
/// store failures.
pub async fn add(
    store: &dyn Store,
    username: &str,
    role: &str,
) -> Result<(tessera_store::User, Vec<String>, bool), ServiceError> {
    check_role_name(role)?;
    let user = store
        .user_by_username(username)
        .await?
        .ok_or(ServiceError::NotFound("user"))?;
    let added = match store.add_user_role(&user.id, role).await {
        Ok(added) => added,
        Err(StoreError::Conflict(_)) => return Err(ServiceError::NotFound("user")),
        Err(other) => return Err(other.into()),
    };
    if added {
        tracing::info!(event = "role_added", user_id = %user.id, role, "role given");
    }
    let roles = store.user_roles(&user.id).await?;
    Ok((user, roles, added))
}

/// Takes a role from the user `username` and ends the user's current access tokens (those
/// issued up to this second: a user revocation, in the same store step), then tells `listener`.
/// Returns the user's roles after, and whether it changed.
///
/// # Errors
/// [`ServiceError::NotFound`] for an unknown user; [`ServiceError::Rule`] for a bad role name;
/// store and listener failures.
pub async fn remove(
    store: &dyn Store,
    listener: &dyn RevocationListener,
    username: &str,
    role: &str,
    now: u64,
) -> Result<(tessera_store::User, Vec<String>, bool), ServiceError> {
    check_role_name(role)?;
    let user = store
        .user_by_username(username)
        .await?
        .ok_or(ServiceError::NotFound("user"))?;
    // Tokens carry whole seconds, and a refresh may read the roles just before this change
    // commits and issue its token a moment later, in the next second: every token of this
    // second and the next is ended too (a refresh in those seconds is refused once and works
    // after).
    let removed = store
        .remove_user_role(&user.id, role, now.saturating_add(2))
        .await?;
    if removed {
        listener.recorded(now).await?;
        tracing::info!(event = "role_removed", user_id = %user.id, role, "role taken away: the user's current access tokens are revoked");
    }
    let roles = store.user_roles(&user.id).await?;
    Ok((user, roles, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_their_scopes_become_claims_only_when_there_are_some() {
        let scopes = tessera_config::Config::from_vars(&tessera_config::Vars::from_pairs([(
            "TESSERA_ROLE_SCOPES",
            "admin=users:write users:read",
        )]))
        .unwrap()
        .role_scopes;
        assert!(role_claims(&[], &scopes).is_empty());
        let claims = role_claims(&["admin".into(), "viewer".into()], &scopes);
        assert_eq!(claims["roles"], serde_json::json!(["admin", "viewer"]));
        assert_eq!(claims["scope"], "users:read users:write");
        let unmapped = role_claims(&["viewer".into()], &scopes);
        assert!(unmapped.get("scope").is_none());
        assert!(check_role_name("ops:oncall").is_ok());
        assert!(check_role_name("a b").is_err() && check_role_name("").is_err());
    }
}
