//! The use cases on a real SQLite store: each rule as the HTTP handlers and the CLI get it.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tessera_password::PasswordHasher;
use tessera_service::revocations::{NoListener, RevocationListener};
use tessera_service::sessions::{self, ClientInfo, Lifetimes};
use tessera_service::{accounts, clients, ServiceError};
use tessera_store::sqlite::SqliteStore;
use tessera_store::{RevocationKind, RevocationStore as _, SessionStore as _, Store};
use tessera_token::{Algorithm, FixedClock, KeySet, Secret, SecretText, SigningKey, TokenIssuer};

const NOW: u64 = 1_800_000_000;
const PASSWORD: &str = "correct horse battery staple";
const LIFETIMES: Lifetimes = Lifetimes {
    access: 900,
    refresh: 3_600,
    refresh_grace: 0,
};

struct World {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    passwords: PasswordHasher,
    issuer: TokenIssuer,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let keys = KeySet::with_signing_key(key);
    let issuer = TokenIssuer::new(keys.signing_key().cloned().unwrap(), "iss", "aud", 900)
        .with_clock(Arc::new(FixedClock::new(NOW)));
    World {
        _dir: dir,
        store,
        passwords: PasswordHasher::with_params(256, 1, 1, 2).unwrap(),
        issuer,
    }
}

/// A refresh token as a client presents it (bytes off the network).
fn presented(token: &SecretText) -> Secret {
    Secret::from(token.expose().to_owned())
}

fn secret(text: &str) -> Secret {
    Secret::from(text.to_owned())
}

/// Counts what it is told, so a test can see that a use case told it.
#[derive(Default)]
struct Counting(AtomicU32);

#[async_trait::async_trait]
impl RevocationListener for Counting {
    async fn recorded(&self, _now: u64) -> Result<(), ServiceError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::test]
async fn registration_applies_the_rules_and_refuses_a_taken_name_in_any_case() {
    let w = world().await;
    let user = accounts::register(&w.store, &w.passwords, "alice", secret(PASSWORD), NOW)
        .await
        .unwrap();
    assert_eq!(user.username, "alice");
    assert!(user.password_hash.starts_with("$argon2id$"));
    let taken = accounts::register(&w.store, &w.passwords, "ALICE", secret(PASSWORD), NOW).await;
    assert!(
        matches!(taken, Err(ServiceError::UsernameTaken)),
        "{taken:?}"
    );
    for (name, password) in [("x", PASSWORD), ("bob", "password"), ("carol", "carol")] {
        let refused = accounts::register(&w.store, &w.passwords, name, secret(password), NOW).await;
        assert!(
            matches!(refused, Err(ServiceError::Rule(_))),
            "{name}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_login_is_one_answer_for_unknown_user_wrong_password_and_disabled_account() {
    let w = world().await;
    accounts::register(&w.store, &w.passwords, "dora", secret(PASSWORD), NOW)
        .await
        .unwrap();
    for (name, password) in [("nobody", PASSWORD), ("dora", "wrong password here")] {
        let turn = w.passwords.reserve().await.unwrap();
        let refused =
            accounts::check_login(&w.store, &w.passwords, turn, name, secret(password)).await;
        assert!(matches!(refused, Err(ServiceError::InvalidCredentials)));
    }
    accounts::disable(&w.store, &NoListener, "dora", NOW)
        .await
        .unwrap();
    let turn = w.passwords.reserve().await.unwrap();
    let refused =
        accounts::check_login(&w.store, &w.passwords, turn, "dora", secret(PASSWORD)).await;
    assert!(matches!(refused, Err(ServiceError::InvalidCredentials)));
}

#[tokio::test]
async fn a_session_starts_only_from_current_credentials_and_its_token_never_outlives_it() {
    let w = world().await;
    let user = accounts::register(&w.store, &w.passwords, "erin", secret(PASSWORD), NOW)
        .await
        .unwrap();
    let short = Lifetimes {
        access: 900,
        refresh: 60,
        refresh_grace: 0,
    };
    let tokens = sessions::start(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &user,
        ClientInfo::default(),
        short,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(tokens.access_ttl, 60, "capped at the session's end");
    assert_eq!(tokens.access.expires_at, NOW + 60);
    // The password changes under a login that read the old one: no session.
    accounts::set_password(
        &w.store,
        &w.passwords,
        &NoListener,
        &user,
        &tokens.session_id,
        secret("another passphrase entirely"),
        NOW + 1,
    )
    .await
    .unwrap();
    let stale = sessions::start(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &user,
        ClientInfo::default(),
        LIFETIMES,
        NOW + 2,
    )
    .await;
    assert!(
        matches!(stale, Err(ServiceError::CredentialsChanged)),
        "{stale:?}"
    );
}

#[tokio::test]
async fn a_replayed_refresh_token_ends_its_session_and_tells_the_listener() {
    let w = world().await;
    let user = accounts::register(&w.store, &w.passwords, "fay", secret(PASSWORD), NOW)
        .await
        .unwrap();
    let first = sessions::start(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &user,
        ClientInfo::default(),
        LIFETIMES,
        NOW,
    )
    .await
    .unwrap();
    let listener = Counting::default();
    let second = sessions::rotate(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &listener,
        &presented(&first.refresh),
        LIFETIMES,
        NOW + 5,
    )
    .await
    .unwrap();
    assert_eq!(second.session_id, first.session_id);
    let replay = sessions::rotate(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &listener,
        &presented(&first.refresh),
        LIFETIMES,
        NOW + 6,
    )
    .await;
    assert!(
        matches!(replay, Err(ServiceError::RefreshTokenReused { .. })),
        "{replay:?}"
    );
    assert_eq!(
        listener.0.load(Ordering::Relaxed),
        1,
        "the reuse was recorded and told"
    );
    let later = sessions::rotate(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &listener,
        &presented(&second.refresh),
        LIFETIMES,
        NOW + 7,
    )
    .await;
    assert!(
        matches!(later, Err(ServiceError::InvalidRefreshToken)),
        "{later:?}"
    );
    let garbage = sessions::rotate(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &listener,
        &secret("not a token"),
        LIFETIMES,
        NOW,
    )
    .await;
    assert!(matches!(garbage, Err(ServiceError::InvalidRefreshToken)));
}

#[tokio::test]
async fn ending_a_session_that_is_gone_still_denies_its_sid() {
    let w = world().await;
    let listener = Counting::default();
    let ended = sessions::end(&w.store, &listener, "sid-of-a-purged-session", NOW)
        .await
        .unwrap();
    assert_eq!(ended, None);
    let denied: Vec<_> = w
        .store
        .live_revocations(NOW)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, r)| (r.kind, r.subject))
        .collect();
    assert_eq!(
        denied,
        [(
            RevocationKind::Session,
            "sid-of-a-purged-session".to_owned()
        )]
    );
    assert_eq!(listener.0.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_password_change_checks_cheaply_first_and_ends_the_other_sessions() {
    let w = world().await;
    let user = accounts::register(&w.store, &w.passwords, "gia", secret(PASSWORD), NOW)
        .await
        .unwrap();
    let same = accounts::check_new_password("gia", &secret(PASSWORD), &secret(PASSWORD));
    assert!(matches!(same, Err(ServiceError::Rule(_))));
    let weak = accounts::check_new_password("gia", &secret(PASSWORD), &secret("password1"));
    assert!(matches!(weak, Err(ServiceError::Rule(_))));
    let keep = sessions::start(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &user,
        ClientInfo::default(),
        LIFETIMES,
        NOW,
    )
    .await
    .unwrap();
    let other = sessions::start(
        &w.store,
        &w.issuer,
        &tessera_config::RoleScopes::default(),
        &user,
        ClientInfo::default(),
        LIFETIMES,
        NOW,
    )
    .await
    .unwrap();
    let turn = w.passwords.reserve().await.unwrap();
    let wrong =
        accounts::check_current_password(&w.passwords, turn, &user, secret("not the one")).await;
    assert!(matches!(wrong, Err(ServiceError::WrongCurrentPassword)));
    let ended = accounts::set_password(
        &w.store,
        &w.passwords,
        &NoListener,
        &user,
        &keep.session_id,
        secret("a new passphrase here"),
        NOW + 1,
    )
    .await
    .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].id, other.session_id);
    // The same user record again: its epoch is stale now.
    let again = accounts::set_password(
        &w.store,
        &w.passwords,
        &NoListener,
        &user,
        &keep.session_id,
        secret("yet another passphrase"),
        NOW + 2,
    )
    .await;
    assert!(matches!(again, Err(ServiceError::CredentialsChanged)));
}

#[tokio::test]
async fn clients_are_added_authenticated_rotated_and_removed() {
    let w = world().await;
    let store: Arc<dyn Store> = Arc::new(w.store.clone());
    let (id, first) = clients::add(store.as_ref(), "billing", NOW).await.unwrap();
    clients::authenticate(store.as_ref(), &id, first.as_bytes())
        .await
        .unwrap();
    let second = clients::rotate_secret(store.as_ref(), &id).await.unwrap();
    assert!(matches!(
        clients::authenticate(store.as_ref(), &id, first.as_bytes()).await,
        Err(ServiceError::InvalidClient)
    ));
    clients::authenticate(store.as_ref(), &id, second.as_bytes())
        .await
        .unwrap();
    clients::remove(store.as_ref(), &id).await.unwrap();
    assert!(matches!(
        clients::remove(store.as_ref(), &id).await,
        Err(ServiceError::NotFound("client"))
    ));
    assert!(matches!(
        clients::add(store.as_ref(), "", NOW).await,
        Err(ServiceError::Rule(_))
    ));
    let _ = w.store.session("none").await.unwrap();
}
