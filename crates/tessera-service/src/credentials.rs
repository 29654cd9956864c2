//! Random credentials Tessera hands out, and the digests it stores instead of them.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{digest, hmac};
use tessera_store::TokenHash;
use tessera_token::{base64url, SecretText};
use zeroize::Zeroizing;

use crate::ServiceError;

/// Prefix of refresh tokens, so secret scanners can recognise a leaked one.
pub const REFRESH_TOKEN_PREFIX: &str = "tsr_";

/// Length of a refresh token: the prefix and 256 random bits in base64url.
pub const REFRESH_TOKEN_LEN: usize = REFRESH_TOKEN_PREFIX.len() + 43;

fn random_base64url(bytes: usize) -> Result<String, ServiceError> {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buffer)
        .map_err(|_| ServiceError::Random)?;
    Ok(base64url::encode(&buffer))
}

/// Prefix of OAuth client ids.
pub const CLIENT_ID_PREFIX: &str = "tsc_";

/// Prefix of OAuth client secrets, so secret scanners can recognise a leaked one.
pub const CLIENT_SECRET_PREFIX: &str = "tss_";

/// `prefix` and `bytes` random bytes in base64url, built in buffers that are zeroized (the
/// string is allocated at its final size, so it never leaves a copy behind when growing).
fn random_secret(prefix: &str, bytes: usize) -> Result<SecretText, ServiceError> {
    let mut random = Zeroizing::new(vec![0u8; bytes]);
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| ServiceError::Random)?;
    let mut text = String::with_capacity(prefix.len() + bytes.div_ceil(3) * 4);
    text.push_str(prefix);
    base64url::encode_into(&random, &mut text);
    Ok(SecretText::new(text))
}

/// A new opaque refresh token (`tsr_` + 256 random bits).
///
/// # Errors
/// [`ServiceError::Random`] if the system random source fails.
pub fn new_refresh_token() -> Result<SecretText, ServiceError> {
    random_secret(REFRESH_TOKEN_PREFIX, 32)
}

/// A new OAuth client id (`tsc_` + 128 random bits).
///
/// # Errors
/// [`ServiceError::Random`] if the system random source fails.
pub fn new_client_id() -> Result<String, ServiceError> {
    Ok(format!("{CLIENT_ID_PREFIX}{}", random_base64url(16)?))
}

/// A new OAuth client secret (`tss_` + 256 random bits).
///
/// # Errors
/// [`ServiceError::Random`] if the system random source fails.
pub fn new_client_secret() -> Result<SecretText, ServiceError> {
    random_secret(CLIENT_SECRET_PREFIX, 32)
}

/// A new session id (128 random bits).
///
/// # Errors
/// [`ServiceError::Random`] if the system random source fails.
pub fn new_session_id() -> Result<String, ServiceError> {
    random_base64url(16)
}

/// A new user id (128 random bits).
///
/// # Errors
/// [`ServiceError::Random`] if the system random source fails.
pub fn new_user_id() -> Result<String, ServiceError> {
    random_base64url(16)
}

/// The CSRF token of a session: HMAC-SHA256 of its id under the deployment's secret
/// (signed double submit). Every instance computes the same token for a session, and a token
/// from one session does not match another.
#[must_use]
pub fn csrf_token(key: &hmac::Key, session_id: &str) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(b"tessera csrf v1\0");
    context.update(session_id.as_bytes());
    base64url::encode(context.sign().as_ref())
}

/// Whether `presented` is the CSRF token of `session_id` (compared in constant time).
#[must_use]
pub fn csrf_token_matches(key: &hmac::Key, session_id: &str, presented: &[u8]) -> bool {
    constant_time_eq(csrf_token(key, session_id).as_bytes(), presented)
}

/// The key CSRF tokens are made with, from the deployment's shared secret.
#[must_use]
pub fn csrf_key(deployment_secret: &[u8; 32]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, deployment_secret)
}

/// 32 fresh random bytes (the candidate deployment secret).
///
/// # Errors
/// [`ServiceError::Random`] if the system random source fails.
pub fn random_key() -> Result<Zeroizing<[u8; 32]>, ServiceError> {
    let mut key = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(&mut key[..])
        .map_err(|_| ServiceError::Random)?;
    Ok(key)
}

/// The SHA-256 digest under which a secret is stored.
#[must_use]
pub fn digest_of(secret: &[u8]) -> TokenHash {
    let digest = digest::digest(&digest::SHA256, secret);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(digest.as_ref());
    TokenHash(bytes)
}

/// Whether `text` has the shape of a refresh token (checked before hashing or looking it up).
#[must_use]
pub fn looks_like_refresh_token(text: &str) -> bool {
    text.len() == REFRESH_TOKEN_LEN
        && text.starts_with(REFRESH_TOKEN_PREFIX)
        && base64url::decode(&text.as_bytes()[REFRESH_TOKEN_PREFIX.len()..]).is_some()
}

/// Compares two secrets in constant time (length differences are not hidden).
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_have_the_prefix_and_256_bits() {
        let token = new_refresh_token().unwrap();
        let text = token.expose();
        assert!(looks_like_refresh_token(text), "{}", text.len());
        assert_ne!(new_refresh_token().unwrap(), token);
        assert!(!looks_like_refresh_token("tsr_short"));
        assert!(!looks_like_refresh_token(&text.replace("tsr_", "xyz_")));
    }

    #[test]
    fn client_ids_and_secrets_have_their_prefix_and_size() {
        let id = new_client_id().unwrap();
        let secret = new_client_secret().unwrap();
        let secret = secret.expose();
        let id_bits = base64url::decode(id.strip_prefix("tsc_").unwrap().as_bytes()).unwrap();
        let secret_bits =
            base64url::decode(secret.strip_prefix("tss_").unwrap().as_bytes()).unwrap();
        assert_eq!((id_bits.len(), secret_bits.len()), (16, 32));
        assert_ne!(new_client_secret().unwrap().expose(), secret);
    }

    #[test]
    fn csrf_tokens_are_tied_to_their_session_and_key() {
        let key = csrf_key(&[7; 32]);
        let token = csrf_token(&key, "session-a");
        assert_eq!(token, csrf_token(&key, "session-a"), "deterministic");
        assert!(csrf_token_matches(&key, "session-a", token.as_bytes()));
        assert!(!csrf_token_matches(&key, "session-b", token.as_bytes()));
        assert!(!csrf_token_matches(
            &csrf_key(&[8; 32]),
            "session-a",
            token.as_bytes()
        ));
        assert!(!csrf_token_matches(&key, "session-a", b"abc"));
    }

    #[test]
    fn digests_are_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(digest_of(b"abc").0[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
