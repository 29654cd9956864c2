//! OAuth client credentials, for the revocation feed and introspection.

use std::fmt;

use tessera_token::SecretText;

/// An OAuth client's id and secret (`tessera client add NAME` prints them), sent as HTTP Basic
/// credentials (`client_secret_basic`).
///
/// # Security
/// `Debug` shows the id only; the secret is zeroized on drop. The feed shows who was revoked and
/// when: give these credentials only to services trusted with that, never to a browser.
#[derive(Clone)]
pub struct ClientCredentials {
    id: String,
    secret: SecretText,
}

impl ClientCredentials {
    /// Credentials from a client id and secret.
    #[must_use]
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials {
            id: id.into(),
            secret: SecretText::new(secret.into()),
        }
    }

    /// The client id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.id, Some(self.secret.expose()))
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let printed = format!("{:?}", ClientCredentials::new("tsc_1", "tss_very-secret"));
        assert!(printed.contains("tsc_1"), "{printed}");
        assert!(!printed.contains("very-secret"), "{printed}");
    }
}
