//! The records the store keeps.

use std::fmt;

/// A SHA-256 digest of a secret (refresh token, client secret): what is stored instead of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not the secret, but there is no reason to print it either.
        f.write_str("TokenHash(..)")
    }
}

/// A user account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id; the `sub` of the user's tokens.
    pub id: String,
    /// Login name, as registered.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: u64,
    /// Whether the account is disabled (its tokens stop working).
    pub disabled: bool,
    /// Bumped by every change that must end the sessions made before it (a password change, a
    /// disable). A login creates its session only if the epoch it read with the password hash is
    /// still current, so no session survives from credentials that changed under it.
    pub credential_epoch: u64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"[REDACTED]")
            .field("created_at", &self.created_at)
            .field("disabled", &self.disabled)
            .field("credential_epoch", &self.credential_epoch)
            .finish()
    }
}

/// What is needed to create a user.
#[derive(Clone)]
pub struct NewUser {
    /// Stable id chosen by the caller (random).
    pub id: String,
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: u64,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A login session: the family of one login's refresh tokens, named by the `sid` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (`sid`).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// When the user logged in.
    pub created_at: u64,
    /// When a refresh token of this session was last used (or the login time).
    pub last_used_at: u64,
    /// When the session ends regardless of use (the login time plus the refresh lifetime).
    pub expires_at: u64,
    /// The client's `User-Agent` at login, truncated.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub ip: Option<String>,
    /// When the session was revoked, if it was.
    pub revoked_at: Option<u64>,
}

/// What is needed to create a session.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session id (`sid`), random.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Login time.
    pub created_at: u64,
    /// End of the session's life.
    pub expires_at: u64,
    /// The client's `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The user's [`User::credential_epoch`] read together with the password hash that was
    /// checked: the session is created only if it is still the user's epoch.
    pub credential_epoch: u64,
}

/// One refresh token, as stored: its digest, session, and life.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The session it belongs to.
    pub session_id: String,
    /// Issue time.
    pub created_at: u64,
    /// Expiry.
    pub expires_at: u64,
}

/// The outcome of a refresh-token rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now used and its successor stored. The session, as updated.
    Rotated(Session),
    /// The token had already been rotated away: a replay. The session it belongs to.
    Reused(Session),
    /// Unknown, expired, or its session is revoked or expired.
    Invalid,
}

/// What a revocation denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// One access token, by `jti`.
    Token,
    /// Every token of one session, by `sid`.
    Session,
    /// Every token of a user issued before `not_before` (logout-all, password change, disable).
    User,
}

impl RevocationKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Token => "jti",
            RevocationKind::Session => "sid",
            RevocationKind::User => "user",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "jti" => Some(RevocationKind::Token),
            "sid" => Some(RevocationKind::Session),
            "user" => Some(RevocationKind::User),
            _ => None,
        }
    }
}

/// One deny-list entry.
///
/// # How long an entry is kept
/// An entry must outlive every token it denies, whatever the configuration did in between
/// (an access lifetime lowered or raised, a restart, instances configured differently, a CLI with
/// its own settings). So the store, not the caller, has the last word on `expires_at`: it keeps
/// an entry at least until `not_before + longest access lifetime + REVOCATION_MARGIN`, where the
/// longest access lifetime is the durable, deployment-wide mark every server raises to its own
/// `JWT_ACCESS_TTL` before it issues a token ([`crate::RevocationStore::raise_longest_access_ttl`])
/// and never lowers. Every token a revocation covers was issued before `not_before`, so it
/// expires before `not_before + longest lifetime`; [`REVOCATION_MARGIN`] covers the clock leeway
/// of the verifiers and the clock difference between instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What is denied.
    pub kind: RevocationKind,
    /// The `jti`, `sid` or user id.
    pub subject: String,
    /// Every token this entry denies was issued (`iat`) before this. For
    /// [`RevocationKind::User`] that is the rule itself (tokens with `iat < not_before` are
    /// denied); for sessions and single tokens it only bounds how long the entry is kept.
    pub not_before: u64,
    /// When the entry can be forgotten: when every token it denies has expired. The store keeps
    /// it at least as long as the rule above says.
    pub expires_at: u64,
}

/// Added to every revocation's lifetime beyond the longest access-token lifetime: twice the
/// largest clock leeway Tessera accepts (`JWT_LEEWAY` is at most 300 s), once for the leeway a
/// verifier grants after `exp` and once for the clock difference between the instance that
/// issued a token and the one that revoked it.
pub const REVOCATION_MARGIN: u64 = 600;

/// An OAuth client allowed to introspect tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// Public id.
    pub client_id: String,
    /// Human name.
    pub name: String,
    /// SHA-256 of the client secret (a 256-bit random value, so a fast hash is enough).
    pub secret_hash: TokenHash,
    /// Creation time.
    pub created_at: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A signing key kept in the store (stored-key mode), its private part encrypted.
///
/// The store knows nothing of keys or encryption: it keeps these bytes and times, and changes
/// them only as a whole ring (see [`KeyStore::change_key_ring`](crate::KeyStore::change_key_ring)).
/// The state of a key (next, current, previous, retired) is derived from the times by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (`kid`), unique.
    pub kid: String,
    /// The JWS algorithm name (`ES256`, `EdDSA`, ...).
    pub algorithm: String,
    /// The private key encrypted under the key-encryption key (nonce and AEAD ciphertext).
    pub wrapped_private: Vec<u8>,
    /// Which key-encryption key wrapped it (a fingerprint, never the key).
    pub kek_id: String,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// When the key was made.
    pub created_at: u64,
    /// When it starts (or started) signing.
    pub activates_at: u64,
    /// When it was retired by hand (compromise, cancellation); `None` while in service.
    pub retired_at: Option<u64>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("wrapped_private", &"[REDACTED]")
            .field("kek_id", &self.kek_id)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// The stored signing keys and the version of the ring they were read at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRing {
    /// Raised by one at every change; `0` for a store that never held a key.
    pub version: i64,
    /// Every stored key, in the order they were added.
    pub keys: Vec<StoredKey>,
}

/// One change to the key ring.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// Adds a key (its `kid` must be new).
    Insert(StoredKey),
    /// Moves a key's activation time (e.g. to now, for an incident rotation).
    Activate {
        /// The key.
        kid: String,
        /// Its new activation time.
        at: u64,
    },
    /// Retires a key by hand: from `at` it neither signs nor verifies.
    Retire {
        /// The key.
        kid: String,
        /// When.
        at: u64,
    },
    /// Replaces a key's encrypted private part (the key-encryption key changed).
    Rewrap {
        /// The key.
        kid: String,
        /// The private key encrypted under the new key-encryption key.
        wrapped_private: Vec<u8>,
        /// The new key-encryption key's fingerprint.
        kek_id: String,
    },
}

impl fmt::Debug for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyChange::Insert(key) => f.debug_tuple("Insert").field(key).finish(),
            KeyChange::Activate { kid, at } => f
                .debug_struct("Activate")
                .field("kid", kid)
                .field("at", at)
                .finish(),
            KeyChange::Retire { kid, at } => f
                .debug_struct("Retire")
                .field("kid", kid)
                .field("at", at)
                .finish(),
            // The wrapped private key is encrypted, but like the key's it stays out of logs.
            KeyChange::Rewrap { kid, kek_id, .. } => f
                .debug_struct("Rewrap")
                .field("kid", kid)
                .field("wrapped_private", &"[REDACTED]")
                .field("kek_id", kek_id)
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recognisable bytes, and how `{:?}` of a `Vec<u8>` would print them.
    const WRAPPED: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0x00, 0xff];
    const WRAPPED_DEBUG: &str = "222, 173, 190, 239, 0, 255";

    fn key() -> StoredKey {
        StoredKey {
            kid: "kid-1".to_owned(),
            algorithm: "ES256".to_owned(),
            wrapped_private: WRAPPED.to_vec(),
            kek_id: "kek-1".to_owned(),
            public_jwk: r#"{"kty":"EC"}"#.to_owned(),
            created_at: 1,
            activates_at: 2,
            retired_at: None,
        }
    }

    #[test]
    fn debug_output_never_shows_the_wrapped_private_key() {
        assert_eq!(
            format!("{:?}", WRAPPED.to_vec()),
            format!("[{WRAPPED_DEBUG}]")
        );
        let ring = KeyRing {
            version: 1,
            keys: vec![key()],
        };
        let changes = [
            KeyChange::Insert(key()),
            KeyChange::Rewrap {
                kid: "kid-1".to_owned(),
                wrapped_private: WRAPPED.to_vec(),
                kek_id: "kek-2".to_owned(),
            },
        ];
        for shown in [
            format!("{:?}", key()),
            format!("{:#?}", key()),
            format!("{ring:?}"),
            format!("{changes:?}"),
            format!("{changes:#?}"),
        ] {
            assert!(shown.contains("[REDACTED]"), "{shown}");
            assert!(shown.contains("kid-1"), "the kid is shown: {shown}");
            assert!(!shown.contains(WRAPPED_DEBUG), "{shown}");
            assert!(!shown.contains("222"), "{shown}");
        }
    }
}
