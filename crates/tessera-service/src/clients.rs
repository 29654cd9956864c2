//! OAuth clients of the introspection endpoint (and of the revocation feed to come).
//!
//! A client authenticates with an id and a secret. The secret is 256 random bits, shown once and
//! stored only as its SHA-256 digest (a fast hash suffices for a random value of that size: there
//! is nothing to guess). Both carry a prefix, `tsc_` and `tss_`, so a leaked secret is
//! recognisable to secret scanners. Clients are looked up in the store on every request, so a
//! removal or a new secret takes effect at once, on every instance.

use tessera_store::{Client, Store, StoreError};
use tessera_token::SecretText;

use crate::credentials::{constant_time_eq, digest_of, new_client_id, new_client_secret};
use crate::ServiceError;

/// Most characters in a client's name.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks a client name: what it may be shown and logged as (1 to [`MAX_NAME_CHARS`]
/// characters, no control characters).
///
/// # Errors
/// [`ServiceError::Rule`] saying so.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ServiceError::Rule(format!(
            "client name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(())
}

/// Creates a client named `name`; returns its id and its secret, which is stored only as a
/// digest and so never shown again.
///
/// # Errors
/// [`ServiceError::Rule`] for a bad name; store failures (a taken id means a broken random
/// source).
pub async fn add(
    store: &dyn Store,
    name: &str,
    now: u64,
) -> Result<(String, SecretText), ServiceError> {
    check_name(name)?;
    let client_id = new_client_id()?;
    let secret = new_client_secret()?;
    store
        .create_client(&Client {
            client_id: client_id.clone(),
            name: name.to_owned(),
            secret_hash: digest_of(secret.as_bytes()),
            created_at: now,
        })
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ServiceError::Random,
            other => other.into(),
        })?;
    tracing::info!(event = "client_added", client_id = %client_id, "OAuth client created");
    Ok((client_id, secret))
}

/// Every client, oldest first.
///
/// # Errors
/// Store failures.
pub async fn list(store: &dyn Store) -> Result<Vec<Client>, ServiceError> {
    Ok(store.list_clients().await?)
}

/// Removes a client: its credentials stop working at once.
///
/// # Errors
/// [`ServiceError::NotFound`]; store failures.
pub async fn remove(store: &dyn Store, client_id: &str) -> Result<(), ServiceError> {
    if !store.delete_client(client_id).await? {
        return Err(ServiceError::NotFound("client"));
    }
    tracing::info!(event = "client_removed", client_id = %client_id, "OAuth client removed");
    Ok(())
}

/// Gives a client a new secret (stored as its digest in place of the old one) and returns it:
/// the old secret stops working at once.
///
/// # Errors
/// [`ServiceError::NotFound`]; store failures.
pub async fn rotate_secret(store: &dyn Store, client_id: &str) -> Result<SecretText, ServiceError> {
    let secret = new_client_secret()?;
    if !store
        .set_client_secret(client_id, &digest_of(secret.as_bytes()))
        .await?
    {
        return Err(ServiceError::NotFound("client"));
    }
    tracing::info!(event = "client_secret_rotated", client_id = %client_id, "OAuth client secret replaced");
    Ok(secret)
}

/// Authenticates a client by id and secret (the secret compared by digest, in constant time).
///
/// # Errors
/// [`ServiceError::InvalidClient`] for an unknown id or a wrong secret; store failures.
pub async fn authenticate(
    store: &dyn Store,
    client_id: &str,
    secret: &[u8],
) -> Result<Client, ServiceError> {
    let client = store
        .client(client_id)
        .await?
        .ok_or(ServiceError::InvalidClient)?;
    if !constant_time_eq(&digest_of(secret).0, &client.secret_hash.0) {
        tracing::warn!(event = "client_auth_failed", client_id = %client_id, "client authentication failed");
        return Err(ServiceError::InvalidClient);
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn client_names_are_bounded_and_printable() {
        assert!(check_name("billing-service").is_ok());
        assert!(check_name("Service de facturation é").is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_name("").is_err());
        assert!(check_name("bad\nname").is_err());
        assert!(check_name("bell\u{7}").is_err());
    }
}
