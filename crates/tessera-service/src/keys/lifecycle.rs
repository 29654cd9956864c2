//! The states of stored keys, derived from their times (no I/O): what signs, what verifies,
//! what is published, and when that changes next.

use serde::Serialize;
use tessera_store::{KeyRing, StoredKey, REVOCATION_MARGIN};

/// How long a JWKS response may be cached (`Cache-Control: max-age` of `/.well-known/jwks.json`).
pub const JWKS_MAX_AGE: u64 = 300;

/// How long a scheduled key is published before it signs: the JWKS `max-age` and a margin, so
/// that a resource server holding a cached JWKS has the new key before it meets a token of it.
pub const PUBLISH_LEAD: u64 = JWKS_MAX_AGE + 60;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS and verifying, not yet signing.
    Next,
    /// Signing (and verifying, and published).
    Current,
    /// No longer signing; verifying and published until every token it signed has expired.
    Previous,
    /// Gone from the JWKS and from verification.
    Retired,
}

impl KeyState {
    /// The lowercase name (`next`, `current`, `previous`, `retired`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }

    /// Whether tokens signed by a key in this state verify.
    #[must_use]
    pub fn verifies(self) -> bool {
        !matches!(self, KeyState::Retired)
    }
}

/// One key and its state at a given time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// The key id.
    pub kid: String,
    /// The JWS algorithm.
    pub algorithm: String,
    /// The state.
    pub state: KeyState,
    /// When the key was made (Unix seconds).
    pub created: u64,
    /// When it starts or started signing; `None` for a key retired before it ever signed.
    pub activated: Option<u64>,
    /// When it stops (or stopped) verifying, if that is decided: for a `previous` key, when the
    /// last token it signed has expired; for the `current` key with a `next` scheduled, the same
    /// for after that one activates; for a retired key, when it was retired.
    pub retires_at: Option<u64>,
    /// Whether it was retired by hand (`tessera keys retire`), rather than at the end of its
    /// life.
    pub retired_by_hand: bool,
}

/// The whole ring's states at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStates {
    /// Every key, oldest activation first (keys retired before they signed last).
    pub keys: Vec<KeyStatus>,
    /// The next time a state changes by itself (an activation, a previous key's end), if any.
    pub next_change_at: Option<u64>,
}

impl RingStates {
    /// The key that signs now, if any.
    #[must_use]
    pub fn current(&self) -> Option<&KeyStatus> {
        self.keys.iter().find(|key| key.state == KeyState::Current)
    }

    /// The key scheduled to sign next, if any (the earliest).
    #[must_use]
    pub fn next(&self) -> Option<&KeyStatus> {
        self.keys.iter().find(|key| key.state == KeyState::Next)
    }

    /// The state of the key `kid`, if stored.
    #[must_use]
    pub fn state_of(&self, kid: &str) -> Option<KeyState> {
        self.keys
            .iter()
            .find(|key| key.kid == kid)
            .map(|key| key.state)
    }
}

/// Whether a key was retired before it ever signed (a cancelled rotation). A key retired in
/// the second it was activated did sign (a `next` key is only retired before its activation).
fn cancelled(key: &StoredKey) -> bool {
    key.retired_at.is_some_and(|at| at < key.activates_at)
}

/// The state of every key in `ring` at `now`, given the deployment's longest access-token
/// lifetime (a `previous` key verifies until its successor's activation plus that lifetime plus
/// [`REVOCATION_MARGIN`], which covers the verifiers' leeway and clock differences).
///
/// A key signs from `activates_at` until the next key in activation order activates; a key
/// retired by hand is retired from that moment, whatever its times say.
#[must_use]
pub fn ring_states(ring: &KeyRing, now: u64, longest_access_ttl: u64) -> RingStates {
    let grace = longest_access_ttl.saturating_add(REVOCATION_MARGIN);
    let mut in_line: Vec<&StoredKey> = ring.keys.iter().filter(|key| !cancelled(key)).collect();
    // Stable: equal activation times keep the order the keys were added in.
    in_line.sort_by_key(|key| key.activates_at);
    let mut keys = Vec::with_capacity(ring.keys.len());
    let mut next_change_at: Option<u64> = None;
    let mut note_change = |at: u64| {
        if at > now {
            next_change_at = Some(next_change_at.map_or(at, |known| known.min(at)));
        }
    };
    for (index, key) in in_line.iter().enumerate() {
        let successor = in_line.get(index + 1).map(|next| next.activates_at);
        let end = successor.map(|at| at.saturating_add(grace));
        let retired_by_hand = key.retired_at.is_some_and(|at| at <= now);
        let (state, retires_at) = match key.retired_at {
            Some(at) if at <= now => (KeyState::Retired, Some(at)),
            _ if key.activates_at > now => (KeyState::Next, None),
            _ => match successor {
                Some(activation) if activation <= now => match end {
                    Some(end) if end <= now => (KeyState::Retired, Some(end)),
                    _ => (KeyState::Previous, end),
                },
                _ => (KeyState::Current, end),
            },
        };
        if state != KeyState::Retired {
            note_change(key.activates_at);
            if let Some(end) = end {
                note_change(end);
            }
            if let Some(at) = key.retired_at {
                note_change(at);
            }
        }
        keys.push(KeyStatus {
            kid: key.kid.clone(),
            algorithm: key.algorithm.clone(),
            state,
            created: key.created_at,
            activated: Some(key.activates_at),
            retires_at,
            retired_by_hand,
        });
    }
    keys.extend(
        ring.keys
            .iter()
            .filter(|key| cancelled(key))
            .map(|key| KeyStatus {
                kid: key.kid.clone(),
                algorithm: key.algorithm.clone(),
                state: KeyState::Retired,
                created: key.created_at,
                activated: None,
                retires_at: key.retired_at,
                retired_by_hand: true,
            }),
    );
    RingStates {
        keys,
        next_change_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const TTL: u64 = 900;

    fn key(kid: &str, activates_at: u64, retired_at: Option<u64>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            algorithm: "ES256".into(),
            wrapped_private: vec![1, 2, 3],
            kek_id: "kek-test".into(),
            public_jwk: "{}".into(),
            created_at: activates_at.saturating_sub(PUBLISH_LEAD),
            activates_at,
            retired_at,
        }
    }

    fn states(keys: Vec<StoredKey>, now: u64) -> Vec<(String, KeyState)> {
        let ring = KeyRing { version: 1, keys };
        ring_states(&ring, now, TTL)
            .keys
            .into_iter()
            .map(|status| (status.kid, status.state))
            .collect()
    }

    fn named(pairs: &[(&str, KeyState)]) -> Vec<(String, KeyState)> {
        pairs
            .iter()
            .map(|(kid, state)| ((*kid).to_owned(), *state))
            .collect()
    }

    #[test]
    fn a_rotation_goes_next_current_previous_retired() {
        let ring = vec![
            key("a", NOW - 1000, None),
            key("b", NOW + PUBLISH_LEAD, None),
        ];
        use KeyState::*;
        assert_eq!(
            states(ring.clone(), NOW),
            named(&[("a", Current), ("b", Next)])
        );
        let switch = NOW + PUBLISH_LEAD;
        assert_eq!(
            states(ring.clone(), switch - 1),
            named(&[("a", Current), ("b", Next)])
        );
        assert_eq!(
            states(ring.clone(), switch),
            named(&[("a", Previous), ("b", Current)])
        );
        let end = switch + TTL + REVOCATION_MARGIN;
        assert_eq!(
            states(ring.clone(), end - 1),
            named(&[("a", Previous), ("b", Current)])
        );
        assert_eq!(states(ring, end), named(&[("a", Retired), ("b", Current)]));
    }

    #[test]
    fn the_next_change_is_the_nearest_future_boundary() {
        let switch = NOW + PUBLISH_LEAD;
        let ring = KeyRing {
            version: 2,
            keys: vec![key("a", NOW - 1000, None), key("b", switch, None)],
        };
        assert_eq!(ring_states(&ring, NOW, TTL).next_change_at, Some(switch));
        let end = switch + TTL + REVOCATION_MARGIN;
        assert_eq!(ring_states(&ring, switch, TTL).next_change_at, Some(end));
        assert_eq!(ring_states(&ring, end, TTL).next_change_at, None);
        let current = ring_states(&ring, NOW, TTL);
        assert_eq!(current.current().unwrap().retires_at, Some(end));
        assert_eq!(current.next().unwrap().kid, "b");
    }

    #[test]
    fn a_retired_key_is_retired_at_once_and_a_cancelled_one_never_signed() {
        use KeyState::*;
        let ring = vec![
            key("a", NOW - 1000, Some(NOW)),
            key("b", NOW, None),
            key("c", NOW + PUBLISH_LEAD, Some(NOW)),
        ];
        let at_now = ring_states(
            &KeyRing {
                version: 3,
                keys: ring.clone(),
            },
            NOW,
            TTL,
        );
        assert_eq!(
            at_now
                .keys
                .iter()
                .map(|k| (k.kid.clone(), k.state))
                .collect::<Vec<_>>(),
            named(&[("a", Retired), ("b", Current), ("c", Retired)])
        );
        assert_eq!(at_now.keys[2].activated, None, "c never signed");
        assert_eq!(
            states(ring, NOW + PUBLISH_LEAD),
            named(&[("a", Retired), ("b", Current), ("c", Retired)])
        );
    }

    #[test]
    fn equal_activation_times_keep_insertion_order() {
        use KeyState::*;
        let ring = vec![key("a", NOW, None), key("b", NOW, None)];
        assert_eq!(states(ring, NOW), named(&[("a", Previous), ("b", Current)]));
    }
}
