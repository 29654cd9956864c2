//! An in-process cache of what never changes about a user (username, creation time), so that
//! `GET /auth/me` answers without a database round trip.
//!
//! Whether the user may still use a token is not cached here: a disabled user's tokens are denied
//! by the user revocation recorded when the account is disabled (see [`crate::denylist`]), which
//! every request checks before a handler runs.

use std::collections::HashMap;
use std::sync::RwLock;

/// Most profiles kept; past this the cache starts over (a bound, not an eviction policy: a
/// miss costs one indexed query).
pub const MAX_CACHED_PROFILES: usize = 100_000;

/// The immutable part of a user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Login name.
    pub username: String,
    /// Creation time.
    pub created_at: u64,
}

/// Profiles by user id.
#[derive(Debug, Default)]
pub struct ProfileCache {
    entries: RwLock<HashMap<String, Profile>>,
}

impl ProfileCache {
    /// The cached profile of `user_id`, if any.
    #[must_use]
    pub fn get(&self, user_id: &str) -> Option<Profile> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(user_id)
            .cloned()
    }

    /// Remembers a profile.
    pub fn insert(&self, user_id: &str, profile: Profile) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_CACHED_PROFILES {
            entries.clear();
        }
        entries.insert(user_id.to_owned(), profile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_profiles() {
        let cache = ProfileCache::default();
        assert_eq!(cache.get("u1"), None);
        let profile = Profile {
            username: "alice".into(),
            created_at: 7,
        };
        cache.insert("u1", profile.clone());
        assert_eq!(cache.get("u1"), Some(profile));
    }
}
