//! The behaviour every storage backend owes the `tessera_store` traits.
//!
//! Each function takes a store on a fresh, empty database and panics, naming what broke, if the
//! backend does not behave. Functions that need several handles on one database (two pools are
//! two processes, as far as the database can tell) take `&[Arc<dyn Store>]`. Time is passed
//! explicitly from [`NOW`]; nothing sleeps.

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_store::{
    Client, KeyChange, KeyRing, NewSession, NewUser, RefreshRecord, Revocation, RevocationKind,
    Rotation, Session, Store, StoreError, StoredKey, TokenHash, User,
};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// Calls `$backend!` with the name of every conformance function that takes one store, so that
/// each backend's test module runs all of them: a new test is added here once and cannot be
/// forgotten by a backend.
#[macro_export]
macro_rules! for_each_conformance_test {
    ($backend:ident) => {
        $backend!(
            users_are_found_by_id_and_by_username_in_any_ascii_case,
            taken_usernames_and_ids_are_conflicts,
            users_are_listed_oldest_first,
            a_password_change_ends_every_other_session_whatever_its_state,
            disabling_a_user_revokes_everything_and_enabling_brings_nothing_back,
            a_session_is_not_created_from_changed_credentials,
            sessions_are_created_with_their_first_refresh_token,
            failed_session_creation_stores_nothing,
            rotation_stores_the_successor_in_the_same_session,
            a_failed_rotation_changes_nothing_and_releases_the_store,
            a_used_refresh_token_is_reported_as_reused,
            the_grace_window_lets_only_the_immediately_preceding_token_through,
            only_unused_tokens_of_live_sessions_are_live,
            a_refresh_token_of_a_disabled_user_is_invalid,
            an_unknown_refresh_token_is_invalid,
            an_expired_refresh_token_is_invalid,
            a_refresh_token_of_an_expired_session_is_invalid,
            a_refresh_token_of_a_revoked_session_is_invalid,
            live_sessions_are_newest_first_and_exclude_revoked_and_expired,
            revoking_a_session_keeps_the_first_revocation_time,
            logging_out_everywhere_revokes_every_session_and_the_users_tokens,
            purging_expired_sessions_deletes_them_and_their_tokens,
            live_revocations_leave_out_expired_entries,
            re_adding_a_revocation_keeps_the_maxima_under_a_new_seq,
            revocations_since_reports_only_newer_entries_in_order,
            revocation_pages_are_bounded_and_know_the_newest_number,
            revocations_outlive_the_longest_access_lifetime_ever_issued,
            purging_expired_revocations_deletes_them,
            clients_are_created_and_found,
            clients_are_listed_oldest_first_then_by_id,
            deleting_a_client_removes_only_it,
            a_client_secret_is_replaced_in_place,
            a_fresh_key_ring_is_empty_at_version_0,
            inserted_keys_come_back_whole_in_insertion_order,
            a_stale_key_ring_version_changes_nothing,
            activating_retiring_and_rewrapping_change_only_the_named_key,
            a_conflicting_key_ring_change_applies_nothing_of_its_batch,
            roles_are_given_once_and_listed_sorted,
            removing_a_role_records_a_user_revocation,
            removing_a_role_keeps_the_maxima_of_an_earlier_user_revocation,
            removing_a_role_the_user_lacks_records_nothing,
            other_users_roles_are_untouched,
            ping_answers,
        );
    };
}

/// The suite's "now" (2023-11-14); tests step from it.
pub const NOW: u64 = 1_700_000_000;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;
/// Sessions and refresh tokens created by the helpers live this long.
const SESSION_LIFE: u64 = 7 * DAY;

/// A recognisable digest.
pub fn digest(n: u8) -> TokenHash {
    TokenHash([n; 32])
}

/// Creates a user, or panics.
pub async fn add_user(store: &dyn Store, id: &str, username: &str, created_at: u64) -> User {
    store
        .create_user(&NewUser {
            id: id.to_owned(),
            username: username.to_owned(),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{id}"),
            created_at,
        })
        .await
        .unwrap_or_else(|e| panic!("creating user {username:?} failed: {e}"))
}

/// A refresh token of `session_id` issued at `created_at`, living [`SESSION_LIFE`].
fn refresh(hash: TokenHash, session_id: &str, created_at: u64) -> RefreshRecord {
    RefreshRecord {
        hash,
        session_id: session_id.to_owned(),
        created_at,
        expires_at: created_at + SESSION_LIFE,
    }
}

fn new_session(user_id: &str, session_id: &str, created_at: u64) -> NewSession {
    NewSession {
        id: session_id.to_owned(),
        user_id: user_id.to_owned(),
        created_at,
        expires_at: created_at + SESSION_LIFE,
        user_agent: Some("test-agent/1.0".to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        credential_epoch: 0,
    }
}

/// Creates a session living [`SESSION_LIFE`] with first refresh token `first`, or panics; returns
/// it as stored.
pub async fn add_session(
    store: &dyn Store,
    user_id: &str,
    session_id: &str,
    created_at: u64,
    first: TokenHash,
) -> Session {
    let epoch = store
        .user_by_id(user_id)
        .await
        .unwrap()
        .map_or(0, |user| user.credential_epoch);
    let created = store
        .create_session(
            &NewSession {
                credential_epoch: epoch,
                ..new_session(user_id, session_id, created_at)
            },
            &refresh(first, session_id, created_at),
        )
        .await
        .unwrap_or_else(|e| panic!("creating session {session_id} failed: {e}"));
    assert!(created, "session {session_id} was refused");
    store
        .session(session_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("session {session_id} was created but is not found"))
}

async fn rotate(store: &dyn Store, presented: TokenHash, next: TokenHash, now: u64) -> Rotation {
    // The successor names no session on purpose: a store puts it in the presented token's.
    store
        .rotate_refresh_token(&presented, &refresh(next, "", now), now)
        .await
        .unwrap_or_else(|e| panic!("rotation failed with an error: {e}"))
}

async fn is_stored(store: &dyn Store, hash: TokenHash) -> bool {
    store
        .session_by_refresh_token(&hash)
        .await
        .unwrap()
        .is_some()
}

async fn revoked_at(store: &dyn Store, session_id: &str) -> Option<u64> {
    store
        .session(session_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("session {session_id} is missing"))
        .revoked_at
}

fn ids(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.as_str()).collect()
}

fn revocation(kind: RevocationKind, subject: &str, not_before: u64, expires_at: u64) -> Revocation {
    Revocation {
        kind,
        subject: subject.to_owned(),
        not_before,
        expires_at,
    }
}

/// Asserts that sequence numbers strictly increase and returns the revocations without them.
fn in_seq_order(rows: Vec<(i64, Revocation)>) -> Vec<Revocation> {
    for pair in rows.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "sequence numbers must increase: {rows:?}"
        );
    }
    rows.into_iter().map(|(_, r)| r).collect()
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// A user is found by id and by username in any ASCII case.
pub async fn users_are_found_by_id_and_by_username_in_any_ascii_case(store: &dyn Store) {
    let alice = add_user(store, "u-alice", "Alice", NOW).await;
    assert_eq!(alice.id, "u-alice");
    assert_eq!(
        alice.username, "Alice",
        "the username is kept as registered"
    );
    assert_eq!(alice.created_at, NOW);
    assert!(!alice.disabled, "a new user is enabled");
    for name in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_eq!(
            store.user_by_username(name).await.unwrap().as_ref(),
            Some(&alice),
            "lookup by {name:?}"
        );
    }
    assert_eq!(store.user_by_id("u-alice").await.unwrap(), Some(alice));
    assert_eq!(store.user_by_username("bob").await.unwrap(), None);
    assert_eq!(store.user_by_username("alice ").await.unwrap(), None);
    assert_eq!(
        store.user_by_id("U-ALICE").await.unwrap(),
        None,
        "ids are exact"
    );
}

/// A username taken in any ASCII case is a conflict, and so is a taken id; nothing is stored.
pub async fn taken_usernames_and_ids_are_conflicts(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let clash = store
        .create_user(&NewUser {
            id: "u-other".to_owned(),
            username: "ALICE".to_owned(),
            password_hash: "x".to_owned(),
            created_at: NOW,
        })
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("username"))),
        "expected Conflict(\"username\"), got {clash:?}"
    );
    assert_eq!(store.user_by_id("u-other").await.unwrap(), None);

    let same_id = store
        .create_user(&NewUser {
            id: "u-alice".to_owned(),
            username: "bob".to_owned(),
            password_hash: "x".to_owned(),
            created_at: NOW,
        })
        .await;
    assert!(
        matches!(same_id, Err(StoreError::Conflict(_))),
        "expected a conflict, got {same_id:?}"
    );
    assert_eq!(store.user_by_username("bob").await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

/// `list_users` is oldest first, whatever the order of creation.
pub async fn users_are_listed_oldest_first(store: &dyn Store) {
    assert!(store.list_users().await.unwrap().is_empty());
    add_user(store, "u-carol", "carol", NOW + 2).await;
    add_user(store, "u-alice", "alice", NOW).await;
    add_user(store, "u-bob", "bob", NOW + 1).await;
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

/// The deny-list entries of one subject, as stored.
async fn entries_for(store: &dyn Store, subject: &str) -> Vec<Revocation> {
    store
        .revocations_since(0)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, revocation)| revocation)
        .filter(|revocation| revocation.subject == subject)
        .collect()
}

/// `change_password` replaces the hash, bumps the credential epoch, keeps one session and
/// revokes every other one (expired ones too) with a deny-list entry each; it changes nothing
/// when the epoch it was given is no longer current, the user is disabled or unknown.
pub async fn a_password_change_ends_every_other_session_whatever_its_state(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let bob = add_user(store, "u-bob", "bob", NOW).await;
    add_session(
        store,
        "u-alice",
        "s-old",
        NOW - SESSION_LIFE - DAY,
        digest(1),
    )
    .await;
    add_session(store, "u-alice", "s-keep", NOW, digest(2)).await;
    add_session(store, "u-alice", "s-other", NOW + 1, digest(3)).await;
    add_session(store, "u-bob", "s-bob", NOW, digest(4)).await;
    let revoked = store
        .change_password("u-alice", 0, "$argon2id$new", "s-keep", NOW + 10)
        .await
        .unwrap()
        .expect("the epoch was current");
    assert_eq!(
        ids(&revoked),
        ["s-other", "s-old"],
        "newest first, expired included"
    );
    let alice = store.user_by_id("u-alice").await.unwrap().unwrap();
    assert_eq!(alice.password_hash, "$argon2id$new");
    assert_eq!(alice.credential_epoch, 1);
    assert_eq!(revoked_at(store, "s-keep").await, None);
    assert_eq!(revoked_at(store, "s-other").await, Some(NOW + 10));
    assert!(
        matches!(
            rotate(store, digest(2), digest(12), NOW + 11).await,
            Rotation::Rotated(_)
        ),
        "the kept session follows the new credentials"
    );
    assert_eq!(
        rotate(store, digest(3), digest(13), NOW + 11).await,
        Rotation::Invalid
    );
    for session in ["s-other", "s-old"] {
        let entries = entries_for(store, session).await;
        assert_eq!(entries.len(), 1, "{session}: {entries:?}");
        assert_eq!(entries[0].kind, RevocationKind::Session);
        assert!(entries[0].expires_at >= NOW + 10 + tessera_store::REVOCATION_MARGIN);
    }
    assert!(entries_for(store, "s-keep").await.is_empty());
    assert_eq!(store.user_by_id("u-bob").await.unwrap(), Some(bob));
    assert_eq!(
        revoked_at(store, "s-bob").await,
        None,
        "other users are untouched"
    );

    // The epoch that was read with the old hash is stale now: nothing changes.
    assert_eq!(
        store
            .change_password("u-alice", 0, "$argon2id$stale", "s-keep", NOW + 20)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_by_id("u-alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
    assert_eq!(
        store
            .change_password("u-nobody", 0, "$argon2id$x", "s-1", NOW)
            .await
            .unwrap(),
        None
    );
    store.disable_user("bob", NOW + 30).await.unwrap();
    assert_eq!(
        store
            .change_password("u-bob", 1, "$argon2id$x", "s-bob", NOW + 31)
            .await
            .unwrap(),
        None,
        "a disabled user's password does not change"
    );
}

/// `disable_user` finds the user by username in any case, and in one step disables it, bumps
/// its epoch, revokes every session with a deny-list entry each and records a user revocation;
/// `enable_user` lets it log in again and brings none of that back.
pub async fn disabling_a_user_revokes_everything_and_enabling_brings_nothing_back(
    store: &dyn Store,
) {
    add_user(store, "u-alice", "Alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    add_session(
        store,
        "u-alice",
        "s-old",
        NOW - SESSION_LIFE - DAY,
        digest(2),
    )
    .await;
    let (disabled, revoked) = store.disable_user("ALICE", NOW + 5).await.unwrap().unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.id, "u-alice");
    assert_eq!(disabled.credential_epoch, 1);
    assert_eq!(ids(&revoked), ["s-1", "s-old"]);
    assert!(store.user_by_id("u-alice").await.unwrap().unwrap().disabled);
    let user_entries = entries_for(store, "u-alice").await;
    assert_eq!(user_entries.len(), 1);
    assert_eq!(user_entries[0].kind, RevocationKind::User);
    assert_eq!(user_entries[0].not_before, NOW + 5);
    assert_eq!(entries_for(store, "s-1").await.len(), 1);

    let enabled = store.enable_user("alice").await.unwrap().unwrap();
    assert!(!enabled.disabled);
    assert!(!store.user_by_id("u-alice").await.unwrap().unwrap().disabled);
    assert_eq!(
        revoked_at(store, "s-1").await,
        Some(NOW + 5),
        "still revoked"
    );
    assert_eq!(
        rotate(store, digest(1), digest(11), NOW + 6).await,
        Rotation::Invalid
    );
    assert_eq!(
        entries_for(store, "u-alice").await,
        user_entries,
        "the revocation stays"
    );
    assert_eq!(store.disable_user("nobody", NOW).await.unwrap(), None);
    assert_eq!(store.enable_user("nobody").await.unwrap(), None);
}

/// A session is created only while the user is enabled and its credential epoch is the one the
/// caller read with the password hash: a login racing a password change or a disable keeps none.
pub async fn a_session_is_not_created_from_changed_credentials(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-keep", NOW, digest(1)).await;
    store
        .change_password("u-alice", 0, "$argon2id$new", "s-keep", NOW + 1)
        .await
        .unwrap()
        .unwrap();
    let stale = NewSession {
        credential_epoch: 0,
        ..new_session("u-alice", "s-stale", NOW + 2)
    };
    assert!(!store
        .create_session(&stale, &refresh(digest(2), "s-stale", NOW + 2))
        .await
        .unwrap());
    assert_eq!(
        store.session("s-stale").await.unwrap(),
        None,
        "nothing stored"
    );
    assert!(!is_stored(store, digest(2)).await);
    let current = NewSession {
        credential_epoch: 1,
        ..new_session("u-alice", "s-current", NOW + 2)
    };
    assert!(store
        .create_session(&current, &refresh(digest(3), "s-current", NOW + 2))
        .await
        .unwrap());
    store.disable_user("alice", NOW + 3).await.unwrap();
    let during_disable = NewSession {
        credential_epoch: 2,
        ..new_session("u-alice", "s-disabled", NOW + 4)
    };
    assert!(!store
        .create_session(&during_disable, &refresh(digest(4), "s-disabled", NOW + 4))
        .await
        .unwrap());
    let unknown = NewSession {
        credential_epoch: 0,
        ..new_session("u-nobody", "s-nobody", NOW)
    };
    assert!(!store
        .create_session(&unknown, &refresh(digest(5), "s-nobody", NOW))
        .await
        .unwrap());
}

// ---------------------------------------------------------------------------------------------
// Sessions and refresh tokens

/// A session is stored as given, with its first token, and found by id and by that token.
pub async fn sessions_are_created_with_their_first_refresh_token(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let session = add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    assert_eq!(
        session,
        Session {
            id: "s-1".to_owned(),
            user_id: "u-alice".to_owned(),
            created_at: NOW,
            last_used_at: NOW,
            expires_at: NOW + SESSION_LIFE,
            user_agent: Some("test-agent/1.0".to_owned()),
            ip: Some("192.0.2.1".to_owned()),
            revoked_at: None,
        }
    );
    assert_eq!(
        store.session_by_refresh_token(&digest(1)).await.unwrap(),
        Some(session)
    );
    assert_eq!(
        store.session_by_refresh_token(&digest(2)).await.unwrap(),
        None
    );
    assert_eq!(store.session("s-2").await.unwrap(), None);

    // Optional fields may be absent.
    let bare = NewSession {
        user_agent: None,
        ip: None,
        ..new_session("u-alice", "s-bare", NOW)
    };
    assert!(store
        .create_session(&bare, &refresh(digest(3), "s-bare", NOW))
        .await
        .unwrap());
    let stored = store.session("s-bare").await.unwrap().unwrap();
    assert_eq!((stored.user_agent, stored.ip), (None, None));
}

/// Sessions need an existing user, a free id and a free token digest; a failed creation stores
/// neither the session nor its token.
pub async fn failed_session_creation_stores_nothing(store: &dyn Store) {
    let ghost = store
        .create_session(
            &new_session("u-ghost", "s-ghost", NOW),
            &refresh(digest(9), "s-ghost", NOW),
        )
        .await;
    assert!(
        matches!(ghost, Ok(false)),
        "a session of an unknown user was created: {ghost:?}"
    );
    assert_eq!(store.session("s-ghost").await.unwrap(), None);
    assert!(!is_stored(store, digest(9)).await);

    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    let same_digest = store
        .create_session(
            &new_session("u-alice", "s-2", NOW),
            &refresh(digest(1), "s-2", NOW),
        )
        .await;
    assert!(
        matches!(same_digest, Err(StoreError::Conflict(_))),
        "expected a conflict, got {same_digest:?}"
    );
    assert_eq!(
        store.session("s-2").await.unwrap(),
        None,
        "the session was stored although its token was not"
    );

    let same_id = store
        .create_session(
            &new_session("u-alice", "s-1", NOW + 5),
            &refresh(digest(2), "s-1", NOW + 5),
        )
        .await;
    assert!(
        matches!(same_id, Err(StoreError::Conflict(_))),
        "expected a conflict, got {same_id:?}"
    );
    assert!(!is_stored(store, digest(2)).await);
    assert_eq!(store.session("s-1").await.unwrap().unwrap().created_at, NOW);
}

/// Rotation marks the token used, stores the successor in the same session and touches
/// `last_used_at`; the successor rotates in turn.
pub async fn rotation_stores_the_successor_in_the_same_session(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let session = add_session(store, "u-alice", "s-1", NOW, digest(1)).await;

    let first = rotate(store, digest(1), digest(2), NOW + 60).await;
    assert_eq!(
        first,
        Rotation::Rotated(Session {
            last_used_at: NOW + 60,
            ..session.clone()
        })
    );
    let stored = store.session("s-1").await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, NOW + 60);
    assert_eq!(
        store
            .session_by_refresh_token(&digest(2))
            .await
            .unwrap()
            .map(|s| s.id),
        Some("s-1".to_owned()),
        "the successor belongs to the presented token's session"
    );

    let second = rotate(store, digest(2), digest(3), NOW + 120).await;
    assert_eq!(
        second,
        Rotation::Rotated(Session {
            last_used_at: NOW + 120,
            ..session
        })
    );
    // The used tokens stay known (for reuse detection).
    assert!(is_stored(store, digest(1)).await);
}

/// A rotation that fails half-way (its successor's digest is already stored) writes nothing: the
/// presented token stays unused and rotates afterwards, and the store keeps accepting writes
/// (no transaction is left open holding a lock).
pub async fn a_failed_rotation_changes_nothing_and_releases_the_store(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    add_session(store, "u-alice", "s-2", NOW, digest(2)).await;
    let err = store
        .rotate_refresh_token(&digest(1), &refresh(digest(2), "", NOW + 60), NOW + 60)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("refresh token")),
        "{err:?}"
    );
    assert_eq!(
        store.session("s-1").await.unwrap().unwrap().last_used_at,
        NOW,
        "the session was not touched"
    );
    assert_eq!(
        store
            .live_refresh_token(&digest(1), NOW + 60)
            .await
            .unwrap()
            .map(|s| s.id),
        Some("s-1".to_owned()),
        "the presented token is still unused"
    );
    assert!(matches!(
        rotate(store, digest(1), digest(3), NOW + 61).await,
        Rotation::Rotated(_)
    ));
    add_session(store, "u-alice", "s-3", NOW + 62, digest(4)).await;
}

/// A refresh token of a disabled user does not rotate, and does not come back with an enable.
pub async fn a_refresh_token_of_a_disabled_user_is_invalid(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    store.disable_user("alice", NOW).await.unwrap();
    assert_eq!(
        rotate(store, digest(1), digest(2), NOW + 1).await,
        Rotation::Invalid
    );
    store.enable_user("alice").await.unwrap();
    assert_eq!(
        rotate(store, digest(1), digest(2), NOW + 2).await,
        Rotation::Invalid
    );
}

/// Only an unused, unexpired token of a live session is live; looking it up is not a use.
pub async fn only_unused_tokens_of_live_sessions_are_live(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    let live = |hash, now| async move {
        store
            .live_refresh_token(&hash, now)
            .await
            .unwrap()
            .map(|s| s.id)
    };
    assert_eq!(live(digest(1), NOW + 1).await, Some("s-1".to_owned()));
    assert_eq!(
        live(digest(1), NOW + 1).await,
        Some("s-1".to_owned()),
        "a lookup is not a use"
    );
    assert_eq!(live(digest(9), NOW + 1).await, None, "unknown");
    assert!(matches!(
        rotate(store, digest(1), digest(2), NOW + 2).await,
        Rotation::Rotated(_)
    ));
    assert_eq!(live(digest(1), NOW + 3).await, None, "used");
    assert_eq!(live(digest(2), NOW + 3).await, Some("s-1".to_owned()));
    assert_eq!(live(digest(2), NOW + SESSION_LIFE).await, None, "expired");
    store.revoke_session("s-1", NOW + 4).await.unwrap();
    assert_eq!(live(digest(2), NOW + 5).await, None, "revoked session");
}

/// Presenting a used token again is `Reused` with its session; nothing changes (revoking is the
/// caller's decision).
pub async fn a_used_refresh_token_is_reported_as_reused(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    let Rotation::Rotated(after_first) = rotate(store, digest(1), digest(2), NOW + 60).await else {
        panic!("the first rotation must succeed");
    };

    let replay = rotate(store, digest(1), digest(4), NOW + 61).await;
    assert_eq!(replay, Rotation::Reused(after_first.clone()));
    assert!(
        !is_stored(store, digest(4)).await,
        "a replay must not store a successor"
    );
    assert_eq!(
        store.session("s-1").await.unwrap(),
        Some(after_first),
        "a replay must not touch the session"
    );
    // The legitimate successor still works until the caller revokes the session.
    assert!(matches!(
        rotate(store, digest(2), digest(3), NOW + 62).await,
        Rotation::Rotated(_)
    ));
}

async fn grace(
    store: &dyn Store,
    presented: TokenHash,
    next: TokenHash,
    grace: u64,
    now: u64,
) -> bool {
    store
        .refresh_within_grace(&presented, &refresh(next, "", now), grace, now)
        .await
        .unwrap_or_else(|e| panic!("the grace step failed with an error: {e}"))
        .is_some()
}

/// The refresh grace window: the immediately preceding token, presented again within the window,
/// mints a live branch in the same session, any number of times; after the window, or once a
/// later token of the session was used, or for an older token, nothing is minted; a revoked
/// session gets none.
pub async fn the_grace_window_lets_only_the_immediately_preceding_token_through(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    assert!(
        !grace(store, digest(1), digest(9), 10, NOW).await,
        "an unused token is no retry"
    );
    assert!(matches!(
        rotate(store, digest(1), digest(2), NOW + 60).await,
        Rotation::Rotated(_)
    ));
    // Three tabs presenting the rotated-away token within the window: three branches.
    for (branch, at) in [(3, 60), (4, 65), (5, 70)] {
        assert!(
            grace(store, digest(1), digest(branch), 10, NOW + at).await,
            "{branch}"
        );
        assert!(is_stored(store, digest(branch)).await);
    }
    // Each branch, and the successor, rotate normally afterwards.
    assert!(matches!(
        rotate(store, digest(3), digest(6), NOW + 71).await,
        Rotation::Rotated(_)
    ));
    // Once a later token was used, the old one is no longer the immediate predecessor.
    assert!(!grace(store, digest(1), digest(7), 10, NOW + 71).await);
    assert!(!is_stored(store, digest(7)).await);
    // The new immediate predecessor is, within its own window; not after it.
    assert!(grace(store, digest(3), digest(8), 10, NOW + 75).await);
    assert!(!grace(store, digest(3), digest(10), 10, NOW + 82).await);
    // Rotations sharing a second: which of them came last cannot be told from whole seconds,
    // so none is let through (the strict answer: a replay).
    assert!(matches!(
        rotate(store, digest(8), digest(12), NOW + 90).await,
        Rotation::Rotated(_)
    ));
    assert!(matches!(
        rotate(store, digest(12), digest(13), NOW + 90).await,
        Rotation::Rotated(_)
    ));
    assert!(!grace(store, digest(8), digest(14), 10, NOW + 91).await);
    assert!(!grace(store, digest(12), digest(15), 10, NOW + 91).await);
    // A revoked session gets nothing.
    store.revoke_session("s-1", NOW + 76).await.unwrap();
    assert!(!grace(store, digest(3), digest(11), 10, NOW + 76).await);
}

/// An unknown digest is `Invalid`, and its would-be successor is not stored.
pub async fn an_unknown_refresh_token_is_invalid(store: &dyn Store) {
    assert_eq!(
        rotate(store, digest(7), digest(8), NOW).await,
        Rotation::Invalid
    );
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    assert_eq!(
        rotate(store, digest(7), digest(8), NOW).await,
        Rotation::Invalid
    );
    assert!(!is_stored(store, digest(8)).await);
}

/// A token is `Invalid` from its `expires_at` on, and an `Invalid` answer leaves it unused.
pub async fn an_expired_refresh_token_is_invalid(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let short = RefreshRecord {
        expires_at: NOW + HOUR,
        ..refresh(digest(1), "s-1", NOW)
    };
    store
        .create_session(&new_session("u-alice", "s-1", NOW), &short)
        .await
        .unwrap();

    assert_eq!(
        rotate(store, digest(1), digest(2), NOW + HOUR).await,
        Rotation::Invalid,
        "a token is expired at its expires_at"
    );
    assert!(!is_stored(store, digest(2)).await);
    assert_eq!(
        store.session("s-1").await.unwrap().unwrap().last_used_at,
        NOW
    );
    // Invalid changed nothing: a moment before expiry the same token still rotates.
    assert!(matches!(
        rotate(store, digest(1), digest(3), NOW + HOUR - 1).await,
        Rotation::Rotated(_)
    ));
}

/// A live token of an expired session is `Invalid`.
pub async fn a_refresh_token_of_an_expired_session_is_invalid(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let long = RefreshRecord {
        expires_at: NOW + 30 * DAY,
        ..refresh(digest(1), "s-1", NOW)
    };
    store
        .create_session(&new_session("u-alice", "s-1", NOW), &long)
        .await
        .unwrap();
    assert_eq!(
        rotate(store, digest(1), digest(2), NOW + SESSION_LIFE).await,
        Rotation::Invalid
    );
    assert!(!is_stored(store, digest(2)).await);
}

/// After `revoke_session` the session's live token is `Invalid`; a used one is still `Reused`.
pub async fn a_refresh_token_of_a_revoked_session_is_invalid(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    assert!(matches!(
        rotate(store, digest(1), digest(2), NOW + 60).await,
        Rotation::Rotated(_)
    ));
    store
        .revoke_session("s-1", NOW + 120)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        rotate(store, digest(2), digest(3), NOW + 180).await,
        Rotation::Invalid
    );
    assert!(!is_stored(store, digest(3)).await);
    match rotate(store, digest(1), digest(4), NOW + 180).await {
        Rotation::Reused(session) => assert_eq!(session.revoked_at, Some(NOW + 120)),
        other => panic!("a used token of a revoked session must be Reused, got {other:?}"),
    }
}

/// THE RACE: 20 concurrent rotations of one token, spread over `stores` (handles on one
/// database; several handles stand for several processes): exactly one is `Rotated`, the other
/// 19 are `Reused`, and only the winner's successor exists.
pub async fn concurrent_rotations_of_one_token_have_exactly_one_winner(stores: &[Arc<dyn Store>]) {
    const CONTENDERS: u8 = 20;
    let first = stores.first().expect("at least one store");
    add_user(first.as_ref(), "u-alice", "alice", NOW).await;
    add_session(first.as_ref(), "u-alice", "s-1", NOW, digest(1)).await;

    let start = Arc::new(Barrier::new(usize::from(CONTENDERS)));
    let mut contenders = JoinSet::new();
    for i in 0..CONTENDERS {
        let store = Arc::clone(&stores[usize::from(i) % stores.len()]);
        let start = Arc::clone(&start);
        contenders.spawn(async move {
            let next = refresh(digest(100 + i), "s-1", NOW + 60);
            start.wait().await;
            let outcome = store
                .rotate_refresh_token(&digest(1), &next, NOW + 60)
                .await;
            (i, outcome)
        });
    }
    let mut winners = Vec::new();
    let mut reused = 0;
    while let Some(joined) = contenders.join_next().await {
        let (i, outcome) = joined.expect("a contender panicked");
        match outcome {
            Ok(Rotation::Rotated(session)) => {
                assert_eq!(session.id, "s-1");
                winners.push(i);
            }
            Ok(Rotation::Reused(session)) => {
                assert_eq!(session.id, "s-1");
                reused += 1;
            }
            Ok(Rotation::Invalid) => panic!("contender {i}: Invalid for a live token"),
            Err(e) => panic!("contender {i}: rotation failed with an error: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one rotation must win: {winners:?}"
    );
    assert_eq!(
        reused,
        CONTENDERS - 1,
        "every other rotation must see reuse"
    );
    let winner = winners[0];

    for i in 0..CONTENDERS {
        assert_eq!(
            is_stored(first.as_ref(), digest(100 + i)).await,
            i == winner,
            "successor {i}: only the winner's successor may be stored"
        );
    }
    for i in 0..CONTENDERS {
        let store = stores[usize::from(i) % stores.len()].as_ref();
        let outcome = rotate(store, digest(100 + i), digest(150 + i), NOW + 120).await;
        if i == winner {
            assert!(
                matches!(outcome, Rotation::Rotated(_)),
                "the winner's successor must rotate, got {outcome:?}"
            );
        } else {
            assert_eq!(outcome, Rotation::Invalid, "successor {i} must be unknown");
        }
    }
}

/// Many rotations at once (stores batch them; see the SQLite store's group commit): 30 live
/// tokens each presented twice, an unknown token, and a rotation whose successor collides with
/// an existing token. Each is decided as if it were alone: per token exactly one `Rotated` (its
/// own session) and one `Reused`; the unknown one `Invalid`; the colliding one fails alone with
/// a conflict and leaves its token unused; every winner's successor is live.
pub async fn concurrent_rotations_of_many_tokens_are_each_decided_alone(stores: &[Arc<dyn Store>]) {
    const TOKENS: u8 = 30;
    let first = stores.first().expect("at least one store");
    add_user(first.as_ref(), "u-alice", "alice", NOW).await;
    for i in 0..=TOKENS {
        add_session(
            first.as_ref(),
            "u-alice",
            &format!("s-{i}"),
            NOW,
            digest(1 + i),
        )
        .await;
    }
    // (presented, successor): each of the first TOKENS tokens twice; an unknown token; and
    // session s-TOKENS's token with a successor that already exists (token 1).
    let mut contenders: Vec<(TokenHash, TokenHash)> = Vec::new();
    for i in 0..TOKENS {
        contenders.push((digest(1 + i), digest(100 + 2 * i)));
        contenders.push((digest(1 + i), digest(101 + 2 * i)));
    }
    contenders.push((digest(200), digest(201)));
    contenders.push((digest(1 + TOKENS), digest(1)));
    let start = Arc::new(Barrier::new(contenders.len()));
    let mut running = JoinSet::new();
    for (index, (presented, next)) in contenders.iter().copied().enumerate() {
        let store = Arc::clone(&stores[index % stores.len()]);
        let start = Arc::clone(&start);
        running.spawn(async move {
            start.wait().await;
            let outcome = store
                .rotate_refresh_token(&presented, &refresh(next, "", NOW + 60), NOW + 60)
                .await;
            (presented, next, outcome)
        });
    }
    let mut rotated: BTreeSet<u8> = BTreeSet::new();
    let mut reused: BTreeSet<u8> = BTreeSet::new();
    let mut winners = Vec::new();
    while let Some(joined) = running.join_next().await {
        let (presented, next, outcome) = joined.expect("a contender panicked");
        let token = presented.0[0];
        match (token, outcome) {
            (200, outcome) => assert!(
                matches!(outcome, Ok(Rotation::Invalid)),
                "unknown token: {outcome:?}"
            ),
            (token, outcome) if token == 1 + TOKENS => assert!(
                matches!(outcome, Err(StoreError::Conflict("refresh token"))),
                "colliding successor: {outcome:?}"
            ),
            (token, Ok(Rotation::Rotated(session))) => {
                assert_eq!(session.id, format!("s-{}", token - 1));
                assert!(rotated.insert(token), "token {token} rotated twice");
                winners.push((token, next));
            }
            (token, Ok(Rotation::Reused(session))) => {
                assert_eq!(session.id, format!("s-{}", token - 1));
                assert!(reused.insert(token), "token {token} reused twice");
            }
            (token, outcome) => panic!("token {token}: {outcome:?}"),
        }
    }
    let all: BTreeSet<u8> = (1..=TOKENS).collect();
    assert_eq!(rotated, all, "every token rotates exactly once");
    assert_eq!(reused, all, "every token's second presentation is reuse");
    for (token, successor) in winners {
        assert_eq!(
            first
                .live_refresh_token(&successor, NOW + 60)
                .await
                .unwrap()
                .map(|session| session.id),
            Some(format!("s-{}", token - 1)),
            "the successor of token {token} is live in its session"
        );
    }
    assert_eq!(
        first
            .live_refresh_token(&digest(1 + TOKENS), NOW + 60)
            .await
            .unwrap()
            .map(|session| session.id),
        Some(format!("s-{TOKENS}")),
        "the token whose rotation failed is still unused"
    );
}

/// `live_sessions` is the user's unrevoked, unexpired sessions, newest first.
pub async fn live_sessions_are_newest_first_and_exclude_revoked_and_expired(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_user(store, "u-bob", "bob", NOW).await;
    add_session(store, "u-alice", "s-old", NOW, digest(1)).await;
    add_session(store, "u-alice", "s-new", NOW + 20, digest(2)).await;
    add_session(store, "u-alice", "s-mid", NOW + 10, digest(3)).await;
    add_session(store, "u-alice", "s-revoked", NOW + 30, digest(4)).await;
    store.revoke_session("s-revoked", NOW + 40).await.unwrap();
    add_session(
        store,
        "u-alice",
        "s-expired",
        NOW - SESSION_LIFE - DAY,
        digest(5),
    )
    .await;
    add_session(store, "u-bob", "s-bob", NOW + 50, digest(6)).await;

    let live = store.live_sessions("u-alice", NOW + 100).await.unwrap();
    assert_eq!(ids(&live), ["s-new", "s-mid", "s-old"]);
    assert!(live.iter().all(|s| s.user_id == "u-alice"));
    // A session is over at its expires_at.
    let later = store
        .live_sessions("u-alice", NOW + SESSION_LIFE)
        .await
        .unwrap();
    assert_eq!(ids(&later), ["s-new", "s-mid"]);
    assert!(store
        .live_sessions("u-nobody", NOW)
        .await
        .unwrap()
        .is_empty());
}

/// `revoke_session` returns the session as it was and keeps the first revocation time.
pub async fn revoking_a_session_keeps_the_first_revocation_time(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let session = add_session(store, "u-alice", "s-1", NOW, digest(1)).await;

    let before = store.revoke_session("s-1", NOW + 10).await.unwrap();
    assert_eq!(
        before,
        Some(session.clone()),
        "returns the session as it was"
    );
    assert_eq!(revoked_at(store, "s-1").await, Some(NOW + 10));

    let again = store.revoke_session("s-1", NOW + 20).await.unwrap();
    assert_eq!(
        again,
        Some(Session {
            revoked_at: Some(NOW + 10),
            ..session
        })
    );
    assert_eq!(
        revoked_at(store, "s-1").await,
        Some(NOW + 10),
        "first time kept"
    );
    assert_eq!(store.revoke_session("s-none", NOW).await.unwrap(), None);
}

/// `revoke_user_sessions` (logout everywhere) revokes every session of the user not yet revoked,
/// expired ones included, with a deny-list entry each, and records a user revocation.
pub async fn logging_out_everywhere_revokes_every_session_and_the_users_tokens(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_user(store, "u-bob", "bob", NOW).await;
    add_session(
        store,
        "u-alice",
        "s-old",
        NOW - SESSION_LIFE - DAY,
        digest(1),
    )
    .await;
    add_session(store, "u-alice", "s-1", NOW, digest(2)).await;
    add_session(store, "u-alice", "s-2", NOW + 1, digest(3)).await;
    add_session(store, "u-alice", "s-earlier", NOW + 3, digest(4)).await;
    store.revoke_session("s-earlier", NOW + 50).await.unwrap();
    add_session(store, "u-bob", "s-bob", NOW, digest(5)).await;

    let revoked = store
        .revoke_user_sessions("u-alice", NOW + 100)
        .await
        .unwrap();
    assert_eq!(ids(&revoked), ["s-2", "s-1", "s-old"]);
    assert!(revoked.iter().all(|session| session.revoked_at.is_none()));
    for session in ["s-old", "s-1", "s-2"] {
        assert_eq!(
            revoked_at(store, session).await,
            Some(NOW + 100),
            "{session}"
        );
        assert_eq!(entries_for(store, session).await.len(), 1, "{session}");
    }
    assert_eq!(revoked_at(store, "s-earlier").await, Some(NOW + 50));
    assert_eq!(
        revoked_at(store, "s-bob").await,
        None,
        "other users are untouched"
    );
    let user = entries_for(store, "u-alice").await;
    assert_eq!(user.len(), 1);
    assert_eq!(
        (user[0].kind, user[0].not_before),
        (RevocationKind::User, NOW + 100)
    );
    assert_eq!(
        rotate(store, digest(2), digest(12), NOW + 101).await,
        Rotation::Invalid
    );
    assert!(store
        .revoke_user_sessions("u-alice", NOW + 200)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .live_sessions("u-alice", NOW + 300)
        .await
        .unwrap()
        .is_empty());
}

/// `purge_expired_sessions` deletes sessions that expired before the cutoff, with their tokens.
pub async fn purging_expired_sessions_deletes_them_and_their_tokens(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    let old_start = NOW - SESSION_LIFE - DAY;
    add_session(store, "u-alice", "s-old", old_start, digest(1)).await;
    assert!(matches!(
        rotate(store, digest(1), digest(2), old_start + 60).await,
        Rotation::Rotated(_)
    ));
    add_session(store, "u-alice", "s-live", NOW, digest(3)).await;

    assert_eq!(store.purge_expired_sessions(NOW).await.unwrap(), 1);
    assert_eq!(store.session("s-old").await.unwrap(), None);
    assert!(!is_stored(store, digest(1)).await, "used token purged");
    assert!(!is_stored(store, digest(2)).await, "live token purged");
    assert!(store.session("s-live").await.unwrap().is_some());

    // Only sessions that expired strictly before the cutoff go.
    assert_eq!(
        store
            .purge_expired_sessions(NOW + SESSION_LIFE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_expired_sessions(NOW + SESSION_LIFE + 1)
            .await
            .unwrap(),
        1
    );
    assert!(!is_stored(store, digest(3)).await);
}

// ---------------------------------------------------------------------------------------------
// Revocations

/// `live_revocations` leaves out entries expired at `now`, in sequence order.
pub async fn live_revocations_leave_out_expired_entries(store: &dyn Store) {
    let jti = revocation(RevocationKind::Token, "j-1", 0, NOW + HOUR);
    let sid = revocation(RevocationKind::Session, "s-1", 0, NOW - 1);
    let user = revocation(RevocationKind::User, "u-alice", NOW, NOW + DAY);
    for r in [&jti, &sid, &user] {
        store.add_revocation(r).await.unwrap();
    }
    let live = in_seq_order(store.live_revocations(NOW).await.unwrap());
    assert_eq!(live, [jti, user.clone()]);
    let later = in_seq_order(store.live_revocations(NOW + HOUR).await.unwrap());
    assert_eq!(later, [user], "an entry is over at its expires_at");
    assert!(store.live_revocations(NOW + DAY).await.unwrap().is_empty());
}

/// Recording a revocation again keeps the larger `not_before` and `expires_at`, under a new
/// sequence number; the same subject under another kind is a separate entry.
pub async fn re_adding_a_revocation_keeps_the_maxima_under_a_new_seq(store: &dyn Store) {
    let user = |not_before, expires_at| {
        revocation(RevocationKind::User, "u-alice", not_before, expires_at)
    };
    store.add_revocation(&user(NOW, NOW + DAY)).await.unwrap();
    let [(seq_1, _)] = store.revocations_since(0).await.unwrap()[..] else {
        panic!("expected one revocation");
    };

    store
        .add_revocation(&user(NOW - 100, NOW + HOUR))
        .await
        .unwrap();
    let rows = store.live_revocations(NOW).await.unwrap();
    let [(seq_2, ref kept)] = rows[..] else {
        panic!("re-adding must not duplicate: {rows:?}");
    };
    assert_eq!(*kept, user(NOW, NOW + DAY), "the larger values are kept");
    assert!(seq_2 > seq_1, "a re-added revocation gets a new seq");

    store
        .add_revocation(&user(NOW + 50, NOW + 2 * DAY))
        .await
        .unwrap();
    let rows = store.revocations_since(seq_2).await.unwrap();
    let [(seq_3, ref raised)] = rows[..] else {
        panic!("expected the raised revocation after seq {seq_2}: {rows:?}");
    };
    assert_eq!(*raised, user(NOW + 50, NOW + 2 * DAY));
    assert!(seq_3 > seq_2);
    assert_eq!(store.revocations_since(0).await.unwrap().len(), 1);

    store
        .add_revocation(&revocation(RevocationKind::Token, "u-alice", 0, NOW + HOUR))
        .await
        .unwrap();
    assert_eq!(store.live_revocations(NOW).await.unwrap().len(), 2);
}

/// `revocations_since` returns exactly the entries after the given seq, oldest first, expired
/// ones included.
pub async fn revocations_since_reports_only_newer_entries_in_order(store: &dyn Store) {
    let entries = [
        revocation(RevocationKind::Token, "j-1", 0, NOW + HOUR),
        revocation(RevocationKind::Session, "s-1", 0, NOW + HOUR),
        revocation(RevocationKind::User, "u-1", NOW - DAY, NOW - 1),
    ];
    assert!(store.revocations_since(0).await.unwrap().is_empty());
    for r in &entries {
        store.add_revocation(r).await.unwrap();
    }
    let all = store.revocations_since(0).await.unwrap();
    assert_eq!(in_seq_order(all.clone()), entries);
    let (first_seq, last_seq) = (all[0].0, all[2].0);
    assert_eq!(
        store.revocations_since(first_seq).await.unwrap(),
        all[1..].to_vec()
    );
    assert!(store.revocations_since(last_seq).await.unwrap().is_empty());
}

/// `revocations_page` returns at most `limit` entries in order and the newest number handed
/// out, which stays put when the newest entry is purged (a cursor past it is from the future).
pub async fn revocation_pages_are_bounded_and_know_the_newest_number(store: &dyn Store) {
    assert_eq!(store.revocations_page(0, 10).await.unwrap(), (vec![], 0));
    for n in 0..5 {
        let entry = revocation(RevocationKind::Token, &format!("j-{n}"), 0, NOW + HOUR - n);
        store.add_revocation(&entry).await.unwrap();
    }
    let all = store.revocations_since(0).await.unwrap();
    let newest = all[4].0;
    let (first, reported) = store.revocations_page(0, 2).await.unwrap();
    assert_eq!(first, all[..2].to_vec());
    assert_eq!(reported, newest);
    let (rest, _) = store.revocations_page(first[1].0, 10).await.unwrap();
    assert_eq!(rest, all[2..].to_vec());
    assert_eq!(
        store.revocations_page(newest, 10).await.unwrap(),
        (vec![], newest)
    );
    // Purging the newest entries does not lower the newest number.
    assert_eq!(
        store.purge_expired_revocations(NOW + HOUR).await.unwrap(),
        4
    );
    assert_eq!(store.revocations_page(0, 10).await.unwrap().1, newest);
}

/// A revocation one handle records is seen by another handle on the same database (how a
/// running server learns of `tessera user disable`).
pub async fn revocations_recorded_by_one_store_are_seen_by_another(stores: &[Arc<dyn Store>]) {
    let [a, b] = stores else {
        panic!("expected two handles on one database");
    };
    let first = revocation(RevocationKind::User, "u-alice", NOW, NOW + DAY);
    a.add_revocation(&first).await.unwrap();
    let seen = b.revocations_since(0).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, first);

    let second = revocation(RevocationKind::Session, "s-1", 0, NOW + DAY);
    b.add_revocation(&second).await.unwrap();
    let news = a.revocations_since(seen[0].0).await.unwrap();
    assert_eq!(news.len(), 1);
    assert_eq!(news[0].1, second);
}

/// `purge_expired_revocations` deletes entries that expired before the cutoff; sequence numbers
/// of later entries stay above every number handed out, purged or not.
pub async fn purging_expired_revocations_deletes_them(store: &dyn Store) {
    let keeps = revocation(RevocationKind::Token, "j-now", 0, NOW);
    store.add_revocation(&keeps).await.unwrap();
    let gone = revocation(RevocationKind::Token, "j-gone", 0, NOW - 10);
    store.add_revocation(&gone).await.unwrap();
    let last_seq = store.revocations_since(0).await.unwrap()[1].0;

    assert_eq!(store.purge_expired_revocations(NOW).await.unwrap(), 1);
    let left = in_seq_order(store.revocations_since(0).await.unwrap());
    assert_eq!(left, [keeps]);

    let fresh = revocation(RevocationKind::Token, "j-fresh", 0, NOW + HOUR);
    store.add_revocation(&fresh).await.unwrap();
    let news = store.revocations_since(last_seq).await.unwrap();
    assert_eq!(news.len(), 1, "a seq was handed out twice: {news:?}");
    assert_eq!(news[0].1, fresh);
}

/// Revocations are kept at least until every token they cover has expired under the longest
/// access lifetime the deployment has issued with, whatever the recorder asks for; the mark is
/// never lowered. Revoking a session records its entry in the same step.
pub async fn revocations_outlive_the_longest_access_lifetime_ever_issued(store: &dyn Store) {
    assert_eq!(store.longest_access_ttl().await.unwrap(), 0);
    assert_eq!(store.raise_longest_access_ttl(HOUR).await.unwrap(), HOUR);
    assert_eq!(
        store.raise_longest_access_ttl(20).await.unwrap(),
        HOUR,
        "never lowered"
    );
    assert_eq!(store.longest_access_ttl().await.unwrap(), HOUR);
    let margin = tessera_store::REVOCATION_MARGIN;
    // A recorder configured with a 20 s lifetime asks for too little.
    let (_, stored) = store
        .add_revocation(&revocation(RevocationKind::User, "u-1", NOW, NOW + 20 + 30))
        .await
        .unwrap();
    assert_eq!(stored.expires_at, NOW + HOUR + margin);
    assert_eq!(
        in_seq_order(store.live_revocations(NOW + HOUR).await.unwrap()),
        std::slice::from_ref(&stored)
    );
    // A longer expiry asked for is kept.
    let (_, long) = store
        .add_revocation(&revocation(RevocationKind::Token, "j-1", NOW, NOW + DAY))
        .await
        .unwrap();
    assert_eq!(long.expires_at, NOW + DAY);

    add_user(store, "u-alice", "alice", NOW).await;
    add_session(store, "u-alice", "s-1", NOW, digest(1)).await;
    store.revoke_session("s-1", NOW + 10).await.unwrap();
    let entries = entries_for(store, "s-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, RevocationKind::Session);
    assert_eq!(entries[0].expires_at, NOW + 10 + HOUR + margin);
    // Revoking it again records nothing new.
    store.revoke_session("s-1", NOW + 20).await.unwrap();
    assert_eq!(entries_for(store, "s-1").await, entries);
}

/// The deployment secret is made by the first caller and the same for every handle afterwards.
pub async fn the_deployment_secret_is_made_once_and_shared(stores: &[Arc<dyn Store>]) {
    let [a, b] = stores else {
        panic!("expected two handles on one database");
    };
    assert_eq!(a.deployment_secret(&[1; 32]).await.unwrap(), [1; 32]);
    assert_eq!(b.deployment_secret(&[2; 32]).await.unwrap(), [1; 32]);
    assert_eq!(a.deployment_secret(&[3; 32]).await.unwrap(), [1; 32]);
}

// ---------------------------------------------------------------------------------------------
// Clients and health

/// Clients are stored whole and found by id; a taken id is `Conflict("client")`.
pub async fn clients_are_created_and_found(store: &dyn Store) {
    let client = Client {
        client_id: "c-api".to_owned(),
        name: "API gateway".to_owned(),
        secret_hash: digest(42),
        created_at: NOW,
    };
    store.create_client(&client).await.unwrap();
    assert_eq!(store.client("c-api").await.unwrap(), Some(client.clone()));
    assert_eq!(store.client("c-other").await.unwrap(), None);
    assert_eq!(
        store.client("C-API").await.unwrap(),
        None,
        "client ids are exact"
    );

    let clash = store
        .create_client(&Client {
            name: "impostor".to_owned(),
            secret_hash: digest(43),
            ..client.clone()
        })
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("client"))),
        "expected Conflict(\"client\"), got {clash:?}"
    );
    assert_eq!(store.client("c-api").await.unwrap(), Some(client));
}

/// A client named `client_id`, with secret digest `digest(n)`, created at `created_at`.
fn client(client_id: &str, n: u8, created_at: u64) -> Client {
    Client {
        client_id: client_id.to_owned(),
        name: format!("service {client_id}"),
        secret_hash: digest(n),
        created_at,
    }
}

/// Clients are listed whole, oldest first, those of the same second by id (byte order).
pub async fn clients_are_listed_oldest_first_then_by_id(store: &dyn Store) {
    assert_eq!(store.list_clients().await.unwrap(), vec![]);
    let (late, b, a, upper) = (
        client("c-late", 1, NOW + 10),
        client("c-b", 2, NOW),
        client("c-a", 3, NOW),
        client("C-z", 4, NOW),
    );
    for c in [&late, &b, &a, &upper] {
        store.create_client(c).await.unwrap();
    }
    assert_eq!(store.list_clients().await.unwrap(), vec![upper, a, b, late]);
}

/// Deleting a client removes it and nothing else; deleting an unknown id reports `false`.
pub async fn deleting_a_client_removes_only_it(store: &dyn Store) {
    let (gone, kept) = (client("c-gone", 1, NOW), client("c-kept", 2, NOW));
    store.create_client(&gone).await.unwrap();
    store.create_client(&kept).await.unwrap();
    assert!(store.delete_client("c-gone").await.unwrap());
    assert_eq!(store.client("c-gone").await.unwrap(), None);
    assert_eq!(store.list_clients().await.unwrap(), vec![kept.clone()]);
    assert!(
        !store.delete_client("c-gone").await.unwrap(),
        "already gone"
    );
    assert!(!store.delete_client("c-never").await.unwrap());
    assert!(
        !store.delete_client("C-KEPT").await.unwrap(),
        "ids are exact"
    );
    assert_eq!(store.client("c-kept").await.unwrap(), Some(kept));
    // The id is free again.
    store.create_client(&gone).await.unwrap();
}

/// Replacing a client's secret digest changes only that digest; an unknown id reports `false`.
pub async fn a_client_secret_is_replaced_in_place(store: &dyn Store) {
    let (rotated, other) = (client("c-rotated", 1, NOW), client("c-other", 2, NOW));
    store.create_client(&rotated).await.unwrap();
    store.create_client(&other).await.unwrap();
    assert!(store
        .set_client_secret("c-rotated", &digest(9))
        .await
        .unwrap());
    assert_eq!(
        store.client("c-rotated").await.unwrap(),
        Some(Client {
            secret_hash: digest(9),
            ..rotated
        })
    );
    assert_eq!(store.client("c-other").await.unwrap(), Some(other));
    assert!(!store
        .set_client_secret("c-never", &digest(9))
        .await
        .unwrap());
    assert_eq!(
        store.client("c-never").await.unwrap(),
        None,
        "nothing created"
    );
}

// ---------------------------------------------------------------------------------------------
// Signing keys

/// Wrapped private-key bytes that are not UTF-8 (and contain a NUL), so that a backend storing
/// them as text, or stopping at a NUL, is caught.
const WRAPPED: [u8; 8] = [0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0xde, 0xad];
/// Part of how `{:?}` shows [`WRAPPED`].
const WRAPPED_DEBUG: &str = "255, 254, 128, 195, 40, 222, 173";

/// A signing key `kid`, created at `created_at` and activating an hour later, with wrapped bytes
/// [`WRAPPED`] followed by `n`.
pub fn stored_key(kid: &str, n: u8, created_at: u64) -> StoredKey {
    let mut wrapped_private = WRAPPED.to_vec();
    wrapped_private.push(n);
    let (algorithm, public_jwk) = if n.is_multiple_of(2) {
        (
            "ES256",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"x-{n}","y":"y-{n}"}}"#),
        )
    } else {
        (
            "EdDSA",
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"x-{n}"}}"#),
        )
    };
    StoredKey {
        kid: kid.to_owned(),
        algorithm: algorithm.to_owned(),
        wrapped_private,
        kek_id: format!("kek-{n}"),
        public_jwk,
        created_at,
        activates_at: created_at + HOUR,
        retired_at: None,
    }
}

/// Applies `changes` at `expected`, which must succeed with `expected + 1`.
async fn change_ring(store: &dyn Store, expected: i64, changes: &[KeyChange]) {
    let outcome = store
        .change_key_ring(expected, changes)
        .await
        .unwrap_or_else(|e| panic!("changing the key ring at {expected} failed: {e}"));
    assert_eq!(
        outcome,
        Some(expected + 1),
        "a change at the current version {expected} must apply and return the next one"
    );
}

/// The ring as stored, after checking that `key_ring_version` agrees with it.
async fn ring(store: &dyn Store) -> KeyRing {
    let ring = store.key_ring().await.unwrap();
    assert_eq!(
        store.key_ring_version().await.unwrap(),
        ring.version,
        "key_ring_version must agree with key_ring"
    );
    ring
}

/// A fresh store's ring is at version 0 and holds no key.
pub async fn a_fresh_key_ring_is_empty_at_version_0(store: &dyn Store) {
    assert_eq!(
        ring(store).await,
        KeyRing {
            version: 0,
            keys: vec![]
        }
    );
    assert_eq!(store.key_ring_version().await.unwrap(), 0);
}

/// Keys inserted at the current version come back exactly as given (every field, the wrapped
/// bytes byte for byte, `retired_at` absent or present) in the order they were added, whatever
/// their ids or times, and every change raises the version by one.
pub async fn inserted_keys_come_back_whole_in_insertion_order(store: &dyn Store) {
    // Inserted in an order that is neither the order of their ids nor of their times.
    let z = stored_key("kid-z", 1, NOW + 20);
    let m = stored_key("kid-m", 2, NOW + 10);
    change_ring(
        store,
        0,
        &[KeyChange::Insert(z.clone()), KeyChange::Insert(m.clone())],
    )
    .await;
    let stored = ring(store).await;
    assert_eq!(
        stored,
        KeyRing {
            version: 1,
            keys: vec![z.clone(), m.clone()]
        },
        "both keys, whole, in the order they were inserted"
    );
    assert_eq!(
        stored.keys[0].wrapped_private[..8],
        WRAPPED,
        "the wrapped bytes, byte for byte"
    );
    assert_eq!(stored.keys[0].retired_at, None, "a key in service");

    let retired = StoredKey {
        retired_at: Some(NOW + 30),
        ..stored_key("kid-a", 3, NOW)
    };
    change_ring(store, 1, &[KeyChange::Insert(retired.clone())]).await;
    assert_eq!(
        ring(store).await,
        KeyRing {
            version: 2,
            keys: vec![z, m, retired]
        },
        "a key added later comes last, with its retirement time"
    );

    // The ring as read is printable without its secrets.
    let shown = format!("{stored:?}");
    assert!(
        format!("{WRAPPED:?}").contains(WRAPPED_DEBUG),
        "{WRAPPED_DEBUG} is how Debug shows the wrapped bytes"
    );
    assert!(
        !shown.contains(WRAPPED_DEBUG) && shown.contains("[REDACTED]"),
        "the Debug output of a key ring shows wrapped private bytes: {shown}"
    );
}

/// A change at a version that is not the current one (behind or ahead) returns `None` and
/// changes nothing, not even the version.
pub async fn a_stale_key_ring_version_changes_nothing(store: &dyn Store) {
    let kept = stored_key("kid-1", 1, NOW);
    change_ring(store, 0, &[KeyChange::Insert(kept.clone())]).await;
    let before = ring(store).await;
    for stale in [0, 2, 7, -1] {
        let outcome = store
            .change_key_ring(
                stale,
                &[
                    KeyChange::Insert(stored_key("kid-2", 2, NOW)),
                    KeyChange::Retire {
                        kid: "kid-1".to_owned(),
                        at: NOW + 5,
                    },
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("a change at stale version {stale} failed: {e}"));
        assert_eq!(outcome, None, "a change at version {stale} must not apply");
        assert_eq!(
            ring(store).await,
            before,
            "a change at version {stale} changed the ring"
        );
    }
    assert_eq!(before.version, 1);
    assert_eq!(before.keys, vec![kept]);
}

/// `Activate`, `Retire` and `Rewrap` change exactly the named key's fields, and each change
/// raises the version by one; several changes in one call apply in order.
pub async fn activating_retiring_and_rewrapping_change_only_the_named_key(store: &dyn Store) {
    let (a, b, c) = (
        stored_key("kid-a", 1, NOW),
        stored_key("kid-b", 2, NOW + 10),
        stored_key("kid-c", 3, NOW + 20),
    );
    change_ring(
        store,
        0,
        &[
            KeyChange::Insert(a.clone()),
            KeyChange::Insert(b.clone()),
            KeyChange::Insert(c.clone()),
        ],
    )
    .await;

    change_ring(
        store,
        1,
        &[KeyChange::Activate {
            kid: "kid-b".to_owned(),
            at: NOW + 15,
        }],
    )
    .await;
    let b = StoredKey {
        activates_at: NOW + 15,
        ..b
    };
    assert_eq!(
        ring(store).await,
        KeyRing {
            version: 2,
            keys: vec![a.clone(), b.clone(), c.clone()]
        },
        "Activate moves only kid-b's activation time"
    );

    change_ring(
        store,
        2,
        &[KeyChange::Retire {
            kid: "kid-a".to_owned(),
            at: NOW + 30,
        }],
    )
    .await;
    let a = StoredKey {
        retired_at: Some(NOW + 30),
        ..a
    };
    assert_eq!(
        ring(store).await,
        KeyRing {
            version: 3,
            keys: vec![a.clone(), b.clone(), c.clone()]
        },
        "Retire sets only kid-a's retirement time"
    );

    let rewrapped: Vec<u8> = vec![0xff, 0x00, 0x01, 0x80, 0x7f];
    change_ring(
        store,
        3,
        &[KeyChange::Rewrap {
            kid: "kid-c".to_owned(),
            wrapped_private: rewrapped.clone(),
            kek_id: "kek-new".to_owned(),
        }],
    )
    .await;
    let c = StoredKey {
        wrapped_private: rewrapped,
        kek_id: "kek-new".to_owned(),
        ..c
    };
    assert_eq!(
        ring(store).await,
        KeyRing {
            version: 4,
            keys: vec![a.clone(), b.clone(), c.clone()]
        },
        "Rewrap replaces only kid-c's wrapped bytes and key-encryption key id"
    );

    // Several changes in one call, in order: an insert, then changes of the key just inserted
    // (the later Activate wins) and of the others.
    let d = stored_key("kid-d", 4, NOW + 40);
    change_ring(
        store,
        4,
        &[
            KeyChange::Insert(d.clone()),
            KeyChange::Activate {
                kid: "kid-d".to_owned(),
                at: NOW + 41,
            },
            KeyChange::Activate {
                kid: "kid-d".to_owned(),
                at: NOW + 42,
            },
            KeyChange::Retire {
                kid: "kid-b".to_owned(),
                at: NOW + 43,
            },
            KeyChange::Rewrap {
                kid: "kid-a".to_owned(),
                wrapped_private: vec![9; 40],
                kek_id: "kek-new".to_owned(),
            },
        ],
    )
    .await;
    assert_eq!(
        ring(store).await,
        KeyRing {
            version: 5,
            keys: vec![
                StoredKey {
                    wrapped_private: vec![9; 40],
                    kek_id: "kek-new".to_owned(),
                    ..a
                },
                StoredKey {
                    retired_at: Some(NOW + 43),
                    ..b
                },
                c,
                StoredKey {
                    activates_at: NOW + 42,
                    ..d
                },
            ]
        },
        "a batch applies every change, in order, as one version"
    );
}

/// A change inserting a taken `kid`, or naming a `kid` that is not stored, is
/// `Err(StoreError::Conflict(_))` and applies nothing of its batch: neither the version nor the
/// changes before the failing one. So is a change failing for another reason (a time beyond the
/// storable range). Afterwards the ring changes again at the same version (nothing is left
/// locked).
pub async fn a_conflicting_key_ring_change_applies_nothing_of_its_batch(store: &dyn Store) {
    let a = stored_key("kid-a", 1, NOW);
    change_ring(store, 0, &[KeyChange::Insert(a.clone())]).await;
    let before = ring(store).await;

    // Each batch makes changes that would be visible, then fails.
    let prefix = || {
        vec![
            KeyChange::Insert(stored_key("kid-new", 2, NOW + 10)),
            KeyChange::Retire {
                kid: "kid-a".to_owned(),
                at: NOW + 20,
            },
            KeyChange::Rewrap {
                kid: "kid-a".to_owned(),
                wrapped_private: vec![1, 2, 3],
                kek_id: "kek-2".to_owned(),
            },
        ]
    };
    let failing: [(&str, KeyChange); 7] = [
        (
            "inserting a taken kid",
            KeyChange::Insert(stored_key("kid-a", 3, NOW + 30)),
        ),
        (
            "inserting a kid twice in one batch",
            KeyChange::Insert(stored_key("kid-new", 4, NOW + 30)),
        ),
        (
            "activating an unknown kid",
            KeyChange::Activate {
                kid: "kid-unknown".to_owned(),
                at: NOW + 30,
            },
        ),
        (
            "retiring an unknown kid",
            KeyChange::Retire {
                kid: "KID-A".to_owned(),
                at: NOW + 30,
            },
        ),
        (
            "rewrapping an unknown kid",
            KeyChange::Rewrap {
                kid: "kid-unknown".to_owned(),
                wrapped_private: vec![4, 5, 6],
                kek_id: "kek-3".to_owned(),
            },
        ),
        (
            "activating a kid with a NUL",
            KeyChange::Activate {
                kid: "kid-a\0".to_owned(),
                at: NOW + 30,
            },
        ),
        (
            "inserting a key created beyond the storable range",
            KeyChange::Insert(StoredKey {
                created_at: u64::MAX,
                ..stored_key("kid-far", 5, NOW)
            }),
        ),
    ];
    for (what, change) in failing {
        let mut batch = prefix();
        batch.push(change);
        let outcome = store.change_key_ring(before.version, &batch).await;
        if what.contains("storable range") {
            assert!(
                matches!(outcome, Err(StoreError::Database(_))),
                "{what}: expected a database error, got {outcome:?}"
            );
        } else {
            assert!(
                matches!(outcome, Err(StoreError::Conflict(_))),
                "{what}: expected a conflict, got {outcome:?}"
            );
        }
        assert_eq!(
            ring(store).await,
            before,
            "{what}: the failed batch changed the ring (its version or an earlier change)"
        );
    }
    // Alone, too: the failing change is the first.
    let outcome = store
        .change_key_ring(
            before.version,
            &[KeyChange::Retire {
                kid: "kid-gone".to_owned(),
                at: NOW,
            }],
        )
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict(_))),
        "retiring an unknown kid alone: expected a conflict, got {outcome:?}"
    );
    assert_eq!(ring(store).await, before);

    // The version was not consumed: the same batch without its failing change applies now.
    change_ring(store, before.version, &prefix()).await;
    let after = ring(store).await;
    assert_eq!(after.version, before.version + 1);
    assert_eq!(
        after.keys,
        vec![
            StoredKey {
                retired_at: Some(NOW + 20),
                wrapped_private: vec![1, 2, 3],
                kek_id: "kek-2".to_owned(),
                ..a
            },
            stored_key("kid-new", 2, NOW + 10),
        ]
    );
}

/// THE KEY RING RACE: in each of several rounds, 12 contenders spread over `stores` (handles on
/// one database; several handles stand for several processes or instances), released together,
/// each try to add a different key at the ring's current version `n`: exactly one gets
/// `Some(n + 1)`, every other `None`, and the ring then holds exactly the winners' keys, one per
/// round, in the order the rounds were won.
pub async fn concurrent_key_ring_changes_have_exactly_one_winner(stores: &[Arc<dyn Store>]) {
    const CONTENDERS: u8 = 12;
    const ROUNDS: u8 = 5;
    let first = stores.first().expect("at least one store");
    let mut won: Vec<StoredKey> = Vec::new();
    for round in 0..ROUNDS {
        let version = i64::from(round);
        let start = Arc::new(Barrier::new(usize::from(CONTENDERS)));
        let mut contenders = JoinSet::new();
        for i in 0..CONTENDERS {
            let store = Arc::clone(&stores[usize::from(i) % stores.len()]);
            let start = Arc::clone(&start);
            let key = stored_key(
                &format!("kid-{round}-{i}"),
                round * CONTENDERS + i,
                NOW + u64::from(round),
            );
            contenders.spawn(async move {
                start.wait().await;
                let outcome = store
                    .change_key_ring(version, &[KeyChange::Insert(key.clone())])
                    .await;
                (i, key, outcome)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = contenders.join_next().await {
            let (i, key, outcome) = joined.expect("a contender panicked");
            match outcome {
                Ok(Some(next)) => {
                    assert_eq!(
                        next,
                        version + 1,
                        "round {round}, contender {i}: the winner gets the next version"
                    );
                    winners.push(key);
                }
                Ok(None) => {}
                Err(e) => panic!("round {round}, contender {i}: failed with an error: {e}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one change must apply, {} did",
            winners.len()
        );
        won.extend(winners);
        for store in stores {
            assert_eq!(
                ring(store.as_ref()).await,
                KeyRing {
                    version: version + 1,
                    keys: won.clone()
                },
                "round {round}: the ring must hold one key per round, the winners'"
            );
        }
    }
    assert_eq!(first.key_ring_version().await.unwrap(), i64::from(ROUNDS));
}

// ---------------------------------------------------------------------------------------------
// Roles

/// The roles of a user, or panics.
async fn roles(store: &dyn Store, user_id: &str) -> Vec<String> {
    store
        .user_roles(user_id)
        .await
        .unwrap_or_else(|e| panic!("reading the roles of {user_id} failed: {e}"))
}

/// Gives a user a role, or panics; returns whether it was new.
async fn grant(store: &dyn Store, user_id: &str, role: &str) -> bool {
    store
        .add_user_role(user_id, role)
        .await
        .unwrap_or_else(|e| panic!("giving {user_id} the role {role:?} failed: {e}"))
}

/// A user starts with no roles (and an unknown id has none); a role is given once (`true`, then
/// `false`), roles come back sorted in byte order, and a role for an unknown user is a conflict
/// that stores nothing. Giving a role revokes nothing.
pub async fn roles_are_given_once_and_listed_sorted(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    assert!(roles(store, "u-alice").await.is_empty(), "a new user");
    assert!(roles(store, "u-nobody").await.is_empty(), "an unknown id");

    assert!(grant(store, "u-alice", "writer").await, "a new role");
    assert!(!grant(store, "u-alice", "writer").await, "a role it has");
    for role in ["admin", "éditeur", "Zeta", "reader"] {
        assert!(grant(store, "u-alice", role).await, "{role}");
    }
    assert_eq!(
        roles(store, "u-alice").await,
        ["Zeta", "admin", "reader", "writer", "éditeur"],
        "sorted in byte order, each once"
    );

    let unknown = store.add_user_role("u-nobody", "admin").await;
    assert!(
        matches!(unknown, Err(StoreError::Conflict("user"))),
        "a role for an unknown user: {unknown:?}"
    );
    assert!(roles(store, "u-nobody").await.is_empty());
    assert!(
        store.revocations_since(0).await.unwrap().is_empty(),
        "giving roles revokes nothing"
    );
}

/// Taking a role away removes it and, in the same step, records one user revocation of every
/// token issued before `not_before`, kept as long as the deployment's longest access lifetime
/// (plus the margin) demands, under a new sequence number.
pub async fn removing_a_role_records_a_user_revocation(store: &dyn Store) {
    assert_eq!(store.raise_longest_access_ttl(HOUR).await.unwrap(), HOUR);
    add_user(store, "u-alice", "alice", NOW).await;
    grant(store, "u-alice", "admin").await;
    grant(store, "u-alice", "reader").await;

    assert!(store
        .remove_user_role("u-alice", "admin", NOW + 10)
        .await
        .unwrap());
    assert_eq!(
        roles(store, "u-alice").await,
        ["reader"],
        "the role is gone"
    );
    let all = store.revocations_since(0).await.unwrap();
    assert_eq!(all.len(), 1, "exactly one revocation: {all:?}");
    let (seq, entry) = &all[0];
    assert_eq!(
        (entry.kind, entry.subject.as_str(), entry.not_before),
        (RevocationKind::User, "u-alice", NOW + 10)
    );
    let margin = tessera_store::REVOCATION_MARGIN;
    assert!(entry.expires_at >= NOW + 10 + HOUR);
    assert_eq!(entry.expires_at, NOW + 10 + HOUR + margin);
    assert_eq!(
        in_seq_order(store.live_revocations(NOW + 10 + HOUR).await.unwrap()),
        std::slice::from_ref(entry),
        "live until every token it covers has expired"
    );

    // Another removal moves the same entry on: the later `not_before`, under a new number.
    assert!(store
        .remove_user_role("u-alice", "reader", NOW + 20)
        .await
        .unwrap());
    assert!(roles(store, "u-alice").await.is_empty());
    let news = store.revocations_since(*seq).await.unwrap();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(
        news[0].1,
        revocation(
            RevocationKind::User,
            "u-alice",
            NOW + 20,
            NOW + 20 + HOUR + margin
        )
    );
    assert_eq!(entries_for(store, "u-alice").await, [news[0].1.clone()]);
}

/// A role taken away after the user was logged out everywhere (or disabled) merges with that
/// user revocation as every user revocation does: the larger `not_before` and the later expiry
/// are kept, under a new sequence number.
pub async fn removing_a_role_keeps_the_maxima_of_an_earlier_user_revocation(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    grant(store, "u-alice", "admin").await;
    grant(store, "u-alice", "reader").await;
    store
        .revoke_user_sessions("u-alice", NOW + 100)
        .await
        .unwrap();
    let recorded = store.revocations_since(0).await.unwrap();
    let [(before_seq, before)] = &recorded[..] else {
        panic!("one user revocation expected");
    };
    assert_eq!(before.kind, RevocationKind::User);

    // An earlier `not_before` (a caller's clock behind another's) lowers nothing.
    assert!(store
        .remove_user_role("u-alice", "admin", NOW + 50)
        .await
        .unwrap());
    let news = store.revocations_since(*before_seq).await.unwrap();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(&news[0].1, before, "the maxima are kept");
    assert_eq!(
        entries_for(store, "u-alice").await,
        std::slice::from_ref(before)
    );

    // A later one moves it on.
    assert!(store
        .remove_user_role("u-alice", "reader", NOW + 200)
        .await
        .unwrap());
    let entries = entries_for(store, "u-alice").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].not_before, NOW + 200);
    assert!(entries[0].expires_at >= before.expires_at);
}

/// Taking away a role the user does not have (or from an unknown user) answers `false` and
/// records nothing: no revocation, and no sequence number used up.
pub async fn removing_a_role_the_user_lacks_records_nothing(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_user(store, "u-bob", "bob", NOW).await;
    grant(store, "u-alice", "reader").await;
    grant(store, "u-bob", "admin").await;

    for (user, role) in [
        ("u-alice", "admin"),
        ("u-alice", "READER"),
        ("u-bob", "reader"),
        ("u-nobody", "admin"),
    ] {
        assert!(
            !store.remove_user_role(user, role, NOW + 10).await.unwrap(),
            "{user} does not have {role:?}"
        );
    }
    assert_eq!(
        store.revocations_page(0, 10).await.unwrap(),
        (Vec::new(), 0),
        "no revocation, and no sequence number handed out"
    );
    assert_eq!(roles(store, "u-alice").await, ["reader"]);
    assert_eq!(roles(store, "u-bob").await, ["admin"]);

    // Taking a role away twice records once.
    assert!(store
        .remove_user_role("u-alice", "reader", NOW + 20)
        .await
        .unwrap());
    assert!(!store
        .remove_user_role("u-alice", "reader", NOW + 30)
        .await
        .unwrap());
    let all = store.revocations_since(0).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].1.not_before, NOW + 20);
}

/// Giving or taking away one user's role leaves every other user's roles, and their
/// revocations, alone.
pub async fn other_users_roles_are_untouched(store: &dyn Store) {
    add_user(store, "u-alice", "alice", NOW).await;
    add_user(store, "u-bob", "bob", NOW).await;
    for user in ["u-alice", "u-bob"] {
        grant(store, user, "admin").await;
        grant(store, user, "reader").await;
    }
    grant(store, "u-alice", "writer").await;
    assert_eq!(roles(store, "u-bob").await, ["admin", "reader"]);

    assert!(store
        .remove_user_role("u-alice", "admin", NOW + 10)
        .await
        .unwrap());
    assert_eq!(roles(store, "u-alice").await, ["reader", "writer"]);
    assert_eq!(roles(store, "u-bob").await, ["admin", "reader"]);
    assert!(entries_for(store, "u-bob").await.is_empty());
    assert_eq!(entries_for(store, "u-alice").await.len(), 1);
}

/// `ping` answers and the backend has a name.
pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.unwrap();
    assert!(!store.backend().is_empty());
}
