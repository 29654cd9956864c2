//! The verified claims a handler receives.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tessera_token::AccessClaims;

use crate::error::Error;

/// The claims of a verified, unrevoked access token: what the [`crate::Guard`] hands to a
/// handler (as an axum extractor, or in the request's extensions under [`crate::GuardLayer`]).
///
/// It dereferences to the token core's [`AccessClaims`] (`sub`, `sid`, `jti`, `exp`, `iat`,
/// `aud`, `iss`, `client_id`, and every other claim in `extra`), and reads the two claims
/// Tessera issues for authorisation: `scope` (space-separated OAuth scopes, RFC 6749 §3.3,
/// mapped from roles by `TESSERA_ROLE_SCOPES`) and `roles` (an array of role names).
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub(crate) AccessClaims);

impl Claims {
    /// The user id (`sub`).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.0.sub
    }

    /// The login session (`sid`), if the token has one (tokens minted by `tessera token mint`
    /// have none).
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.0.sid.as_deref()
    }

    /// The scopes of the `scope` claim, in order; none if it is absent or not a string.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0
            .extra
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split(' ')
            .filter(|scope| !scope.is_empty())
    }

    /// Whether the `scope` claim contains `scope` (an exact, case-sensitive match of one
    /// space-separated item).
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|held| held == scope)
    }

    /// The roles of the `roles` claim; none if it is absent, and non-string items are skipped.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.0
            .extra
            .get("roles")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
    }

    /// Whether the `roles` claim contains `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|held| held == role)
    }

    /// `Ok` if the token carries `scope`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`] naming it (a 403 as a response).
    pub fn require_scope(&self, scope: &str) -> Result<(), Error> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(scope.to_owned()))
        }
    }

    /// `Ok` if the token carries `role`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`] naming the role (a 403 as a response, as the other examples
    /// answer).
    pub fn require_role(&self, role: &str) -> Result<(), Error> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(role.to_owned()))
        }
    }

    /// A custom claim, as JSON.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.extra.get(name)
    }

    /// A custom claim, deserialized; `None` if it is absent or of another shape.
    #[must_use]
    pub fn custom<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.0
            .extra
            .get(name)
            .and_then(|value| T::deserialize(value).ok())
    }

    /// The token core's claims, owned.
    #[must_use]
    pub fn into_inner(self) -> AccessClaims {
        self.0
    }
}

impl Deref for Claims {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use serde_json::json;
    use tessera_token::Audience;

    fn claims(extra: Value) -> Claims {
        Claims(AccessClaims {
            iss: "i".into(),
            sub: "u".into(),
            aud: Audience::One("a".into()),
            exp: 2,
            iat: Some(1),
            nbf: None,
            jti: "j".into(),
            sid: Some("s".into()),
            client_id: None,
            extra: extra.as_object().unwrap().clone(),
        })
    }

    #[test]
    fn scopes_and_roles_are_read_exactly() {
        let c = claims(json!({"scope": "read  write:all", "roles": ["admin", 7, "ops"], "n": 3}));
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["read", "write:all"]);
        assert!(c.has_scope("write:all") && !c.has_scope("write") && !c.has_scope(""));
        assert!(c.has_role("ops") && !c.has_role("Admin"));
        assert!(c.require_scope("read").is_ok());
        assert!(matches!(c.require_scope("x"), Err(Error::InsufficientScope(s)) if s == "x"));
        assert_eq!(c.custom::<u32>("n"), Some(3));
        assert_eq!(c.subject(), "u");
        assert_eq!(c.session_id(), Some("s"));
        let bare = claims(json!({"scope": ["read"], "roles": "admin"}));
        assert_eq!(bare.scopes().count(), 0);
        assert_eq!(bare.roles().count(), 0);
    }
}
