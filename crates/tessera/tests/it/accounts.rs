//! Accounts and clients from the command line: `tessera user add | list | disable | enable` and
//! `tessera client add | list | remove | rotate-secret`, checked through the binary's output and
//! through the store itself.
//!
//! That a disabled user's tokens are refused by a running server is covered by the server's own
//! tests; here we check what the server relies on: the flag, the durable user revocation and the
//! revoked sessions.

use crate::{fails, ok, Workdir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use tessera_store::sqlite::SqliteStore;
use tessera_store::{
    AccountStore as _, Client, ClientStore as _, NewSession, RefreshRecord, RevocationKind,
    RevocationStore as _, SessionStore as _, TokenHash,
};
use tessera_test_support::json;
use tessera_token::{Clock as _, Secret, SystemClock};

const PASSWORD: &str = "correct horse battery staple";

fn data_dir(work: &Workdir) -> PathBuf {
    work.path().join("tessera-data")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens the store the commands write to, the way the server does.
fn open_store(runtime: &tokio::runtime::Runtime, work: &Workdir) -> SqliteStore {
    runtime
        .block_on(SqliteStore::open(&data_dir(work)))
        .unwrap()
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// `tessera user add NAME` with `password` on stdin; the parsed output.
fn add_user(work: &Workdir, name: &str, password: &str) -> Value {
    let output = work.tessera_with_stdin(&["user", "add", name], Some(&format!("{password}\n")));
    let stdout = ok(&output);
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains(password) && !stderr.contains(password));
    json(&stdout)
}

fn list_users(work: &Workdir) -> Vec<Value> {
    json(&ok(&work.tessera(&["user", "list"])))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn user_add_creates_the_user_with_an_argon2id_hash_of_the_first_stdin_line() {
    let work = Workdir::new();
    let output = work.tessera_with_stdin(
        &["user", "add", "alice"],
        Some(&format!("{PASSWORD}\r\nsecond line is ignored\n")),
    );
    let added = json(&ok(&output));
    assert_eq!(keys(&added), BTreeSet::from(["id", "username"]));
    assert_eq!(added["username"], "alice");
    let id = added["id"].as_str().unwrap();
    assert_eq!(id.len(), 22, "128 random bits in base64url: {id}");

    let runtime = runtime();
    let store = open_store(&runtime, &work);
    let user = runtime
        .block_on(store.user_by_username("alice"))
        .unwrap()
        .unwrap();
    assert_eq!(user.id, id);
    assert!(!user.disabled);
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "production parameters"
    );
    let hasher = tessera_password::PasswordHasher::new(1).unwrap();
    let verifies = |password: &str| {
        runtime
            .block_on(hasher.verify(Secret::from(password.to_owned()), Some(&user.password_hash)))
            .unwrap()
    };
    assert!(
        verifies(PASSWORD),
        "the line without its \\r\\n is the password"
    );
    assert!(!verifies(&format!("{PASSWORD}\r")));
}

#[test]
fn user_add_refuses_a_taken_username_whatever_its_case() {
    let work = Workdir::new();
    add_user(&work, "alice", PASSWORD);
    for name in ["alice", "ALICE"] {
        let reason = fails(
            &work.tessera_with_stdin(&["user", "add", name], Some("another good passphrase\n")),
        );
        assert_eq!(
            reason,
            format!("error: username `{name}` is already taken"),
            "{reason}"
        );
    }
    assert_eq!(list_users(&work).len(), 1);
}

#[test]
fn user_add_refuses_bad_usernames_and_weak_passwords_naming_the_rule() {
    let work = Workdir::new();
    let cases = [
        (
            "alice",
            "short\n",
            "password must be at least 8 characters long",
        ),
        ("alice", "Password\n", "password is too common"),
        (
            "Alice.Wonderland",
            "alice.wonderland\n",
            "password must not be the same as the username",
        ),
        ("alice", "", "no password"),
        ("alice", "\nsecond line\n", "no password"),
        (
            "al",
            "irrelevant-passphrase",
            "username must be at least 3 characters long",
        ),
        (
            "al ice",
            "irrelevant-passphrase",
            "username may contain only ASCII letters",
        ),
        (
            "-alice",
            "irrelevant-passphrase",
            "username must start with an ASCII letter or digit",
        ),
    ];
    for (name, stdin, rule) in cases {
        // `--`: "-alice" is a name, not an option.
        let reason = fails(&work.tessera_with_stdin(&["user", "add", "--", name], Some(stdin)));
        assert!(
            reason.starts_with(&format!("error: {rule}")),
            "{name} / {stdin:?}: {reason}"
        );
    }
    let reason = fails(&work.tessera_with_stdin(
        &["user", "add", "alice"],
        Some(&format!("{}\n", "x".repeat(1025))),
    ));
    assert!(reason.contains("at most 1024 characters"), "{reason}");
    assert!(list_users(&work).is_empty(), "nothing was created");
}

#[test]
fn user_list_shows_every_user_oldest_first_without_password_hashes() {
    let work = Workdir::new();
    assert!(list_users(&work).is_empty());
    let alice = add_user(&work, "alice", PASSWORD);
    let bob = add_user(&work, "bob", "another good passphrase");
    let stdout = ok(&work.tessera(&["user", "list"]));
    assert!(
        !stdout.contains("argon2") && !stdout.contains("hash"),
        "{stdout}"
    );
    let users = json(&stdout).as_array().unwrap().clone();
    assert_eq!(users.len(), 2);
    for (listed, added) in users.iter().zip([&alice, &bob]) {
        assert_eq!(
            keys(listed),
            BTreeSet::from(["id", "username", "created_at", "disabled", "roles"])
        );
        assert_eq!(listed["id"], added["id"]);
        assert_eq!(listed["username"], added["username"]);
        assert_eq!(listed["disabled"], false);
        let created_at = listed["created_at"].as_u64().unwrap();
        assert!(created_at.abs_diff(SystemClock.now()) < 600, "{created_at}");
    }
}

#[test]
fn user_disable_records_a_user_revocation_and_revokes_every_session() {
    let mut work = Workdir::new();
    work.set("JWT_ACCESS_TTL", "10m").set("JWT_LEEWAY", "20s");
    let id = add_user(&work, "alice", PASSWORD)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let runtime = runtime();
    let store = open_store(&runtime, &work);
    let before = SystemClock.now();
    // A login session with its refresh token, as the server's login would create it.
    runtime
        .block_on(store.create_session(
            &NewSession {
                id: "session-1".into(),
                user_id: id.clone(),
                created_at: before,
                expires_at: before + 3600,
                user_agent: None,
                ip: None,
                credential_epoch: 0,
            },
            &RefreshRecord {
                hash: TokenHash([7; 32]),
                session_id: "session-1".into(),
                created_at: before,
                expires_at: before + 3600,
            },
        ))
        .unwrap();

    let disabled = json(&ok(&work.tessera(&["user", "disable", "Alice"])));
    let after = SystemClock.now();
    assert_eq!(
        disabled,
        serde_json::json!({"id": id, "username": "alice", "disabled": true, "sessions_revoked": 1})
    );
    assert_eq!(list_users(&work)[0]["disabled"], true);

    let session = runtime
        .block_on(store.session("session-1"))
        .unwrap()
        .unwrap();
    assert!(
        session.revoked_at.is_some(),
        "refresh tokens die with the session"
    );
    let revocations = runtime.block_on(store.live_revocations(after)).unwrap();
    let user_revocations: Vec<_> = revocations
        .iter()
        .map(|(_, revocation)| revocation)
        .filter(|revocation| revocation.kind == RevocationKind::User && revocation.subject == id)
        .collect();
    assert_eq!(user_revocations.len(), 1, "{revocations:?}");
    let revocation = user_revocations[0];
    // Every token issued before the disable is denied (those issued in its own second before it
    // belong to sessions it revoked) ...
    assert!(
        (before..=after).contains(&revocation.not_before),
        "{revocation:?}"
    );
    // ... for as long as any of them could still be accepted: no server has run on this
    // database, so only the margin (clock leeway and skew) counts.
    assert_eq!(
        revocation.expires_at,
        revocation.not_before + tessera_store::REVOCATION_MARGIN
    );
    let session_revocations = revocations
        .iter()
        .filter(|(_, r)| r.kind == RevocationKind::Session && r.subject == "session-1")
        .count();
    assert_eq!(
        session_revocations, 1,
        "the session's tokens are denied too"
    );

    // Idempotent.
    let again = json(&ok(&work.tessera(&["user", "disable", "alice"])));
    assert_eq!(again["disabled"], true);
    assert_eq!(again["sessions_revoked"], 0);

    // `enable` clears the flag; the tokens stay revoked.
    let enabled = json(&ok(&work.tessera(&["user", "enable", "alice"])));
    assert_eq!(
        enabled,
        serde_json::json!({"id": id, "username": "alice", "disabled": false})
    );
    assert_eq!(list_users(&work)[0]["disabled"], false);
    let still = runtime.block_on(store.live_revocations(after)).unwrap();
    assert!(still
        .iter()
        .any(|(_, r)| r.kind == RevocationKind::User && r.subject == id));
}

/// Item 15 of the security review: a revocation recorded by the CLI covers every token of the
/// deployment, however the CLI itself is configured. A server issued 1 h tokens (it raised the
/// deployment's longest access lifetime when it started); `tessera user disable` run with
/// `JWT_ACCESS_TTL=20s` must still keep the revocation past them.
#[test]
fn revocation_lifetimes_sized_by_whoever_made_them_a_cli_disable_covers_a_servers_tokens() {
    let mut work = Workdir::new();
    work.set("JWT_ACCESS_TTL", "20s");
    let id = add_user(&work, "bea", PASSWORD)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let runtime = runtime();
    let store = open_store(&runtime, &work);
    // What a server with JWT_ACCESS_TTL=1h did when it started.
    runtime
        .block_on(store.raise_longest_access_ttl(3_600))
        .unwrap();
    let issued_at = SystemClock.now();
    ok(&work.tessera(&["user", "disable", "bea"]));
    let revocations = runtime.block_on(store.live_revocations(issued_at)).unwrap();
    let revocation = revocations
        .iter()
        .map(|(_, r)| r)
        .find(|r| r.kind == RevocationKind::User && r.subject == id)
        .expect("a user revocation");
    // A 1 h token issued just before the disable is accepted until iat + 1 h + leeway (30 s).
    assert!(
        revocation.expires_at >= issued_at + 3_600 + 30,
        "the revocation lapses at {} before the token it covers ({})",
        revocation.expires_at,
        issued_at + 3_600 + 30
    );
}

#[test]
fn user_disable_and_enable_of_an_unknown_user_fail() {
    let work = Workdir::new();
    for command in ["disable", "enable"] {
        let reason = fails(&work.tessera(&["user", command, "nobody"]));
        assert_eq!(reason, "error: no user named `nobody`");
    }
    let reason = fails(&work.tessera(&["user", "disable", "evil\u{1b}[2Jname"]));
    assert!(
        !reason.contains('\u{1b}'),
        "control characters are escaped: {reason:?}"
    );
}

#[test]
fn client_add_prints_the_secret_once_and_stores_only_its_sha256() {
    let work = Workdir::new();
    let output = work.tessera(&["client", "add", "billing service"]);
    let stdout = ok(&output);
    assert_eq!(stdout.lines().count(), 1);
    let printed = json(&stdout);
    assert_eq!(
        keys(&printed),
        BTreeSet::from(["client_id", "client_secret"])
    );
    let client_id = printed["client_id"].as_str().unwrap();
    let secret = printed["client_secret"].as_str().unwrap();
    let secret_bits = secret.strip_prefix("tss_").unwrap();
    assert_eq!(
        tessera_token::base64url::decode(secret_bits.as_bytes())
            .unwrap()
            .len(),
        32
    );
    let id_bits = client_id.strip_prefix("tsc_").unwrap();
    assert_eq!(
        tessera_token::base64url::decode(id_bits.as_bytes())
            .unwrap()
            .len(),
        16
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains(secret_bits));

    let runtime = runtime();
    let store = open_store(&runtime, &work);
    let client = runtime.block_on(store.client(client_id)).unwrap().unwrap();
    assert_eq!(client.name, "billing service");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    assert_eq!(client.secret_hash.0[..], *digest.as_ref());
    runtime.block_on(store.close());

    // The secret is nowhere in the database files (main file, WAL, shared memory).
    // Closing the last connection checkpoints the WAL into the main file and removes the -wal
    // and -shm files, possibly just after `close` returns: wait for that to settle, and skip a
    // file that vanishes between listing and reading (its content is in the main file then).
    let settle = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while data_dir(&work).join("tessera.db-wal").exists() && std::time::Instant::now() < settle {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut scanned = Vec::new();
    for entry in std::fs::read_dir(data_dir(&work)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("tessera.db") {
            match std::fs::read(&path) {
                Ok(bytes) => scanned.extend(bytes),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => panic!("{}: {err}", path.display()),
            }
        }
    }
    let contains = |needle: &[u8]| scanned.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(client_id.as_bytes()),
        "the scan reads the database"
    );
    assert!(contains(digest.as_ref()), "the digest is stored");
    assert!(
        !contains(secret_bits.as_bytes()),
        "the secret is not stored"
    );

    // Every client gets its own id and secret.
    let second = json(&ok(&work.tessera(&["client", "add", "billing service"])));
    assert_ne!(second["client_id"], printed["client_id"]);
    assert_ne!(second["client_secret"], printed["client_secret"]);
}

#[test]
fn client_add_refuses_an_empty_or_unprintable_name() {
    let work = Workdir::new();
    for name in ["", "two\nlines"] {
        let reason = fails(&work.tessera(&["client", "add", name]));
        assert!(reason.contains("client name must be"), "{reason}");
    }
}

/// `tessera client add NAME`: the printed id and secret.
fn add_client(work: &Workdir, name: &str) -> (String, String) {
    let printed = json(&ok(&work.tessera(&["client", "add", name])));
    (
        printed["client_id"].as_str().unwrap().to_owned(),
        printed["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// Review finding 17: there was no way to see or remove an introspection client, or to rotate
/// its secret, short of SQL. `client list` shows id, name and creation time, oldest first, and
/// never a secret or digest.
#[test]
fn clients_are_listed_without_sql_and_without_secrets() {
    let work = Workdir::new();
    assert_eq!(json(&ok(&work.tessera(&["client", "list"]))), json("[]"));
    let (first, first_secret) = add_client(&work, "billing service");
    let (second, second_secret) = add_client(&work, "reporting");
    // One older than both, written behind the CLI's back.
    let runtime = runtime();
    let store = open_store(&runtime, &work);
    runtime
        .block_on(store.create_client(&Client {
            client_id: "tsc_legacy".to_owned(),
            name: "legacy".to_owned(),
            secret_hash: TokenHash([7; 32]),
            created_at: 1_600_000_000,
        }))
        .unwrap();
    let stored = runtime.block_on(store.list_clients()).unwrap();
    runtime.block_on(store.close());

    let output = work.tessera(&["client", "list"]);
    let stdout = ok(&output);
    let listed = json(&stdout);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3, "{stdout}");
    for entry in listed {
        assert_eq!(
            keys(entry),
            BTreeSet::from(["client_id", "created_at", "name"])
        );
    }
    assert_eq!(listed[0]["client_id"], "tsc_legacy", "oldest first");
    assert_eq!(listed[0]["created_at"], 1_600_000_000);
    let ids: BTreeSet<_> = listed[1..]
        .iter()
        .map(|entry| entry["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([first.as_str(), second.as_str()]));
    let names: BTreeSet<_> = listed[1..]
        .iter()
        .map(|entry| entry["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["billing service", "reporting"]));
    let printed = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for secret in [&first_secret, &second_secret] {
        assert!(!printed.contains(secret.as_str()), "a secret was listed");
    }
    for client in &stored {
        let hex: String = client
            .secret_hash
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            !printed.to_ascii_lowercase().contains(&hex)
                && !printed.contains(&tessera_token::base64url::encode(&client.secret_hash.0)),
            "a digest was listed"
        );
    }
}

/// Review finding 17: `client remove` and `client rotate-secret` do in the store what took SQL
/// before; an unknown id exits non-zero with one line on stderr and changes nothing.
#[test]
fn clients_are_removed_and_their_secrets_rotated_without_sql() {
    let work = Workdir::new();
    let (kept, kept_secret) = add_client(&work, "kept");
    let (rotated, old_secret) = add_client(&work, "rotated");
    let (removed, _) = add_client(&work, "removed");
    let sha256 = |secret: &str| {
        TokenHash(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
                .as_ref()
                .try_into()
                .unwrap(),
        )
    };

    let output = work.tessera(&["client", "rotate-secret", &rotated]);
    let stdout = ok(&output);
    assert_eq!(stdout.lines().count(), 1);
    let printed = json(&stdout);
    assert_eq!(
        keys(&printed),
        BTreeSet::from(["client_id", "client_secret"])
    );
    assert_eq!(printed["client_id"], rotated.as_str());
    let new_secret = printed["client_secret"].as_str().unwrap();
    assert!(new_secret.starts_with("tss_") && new_secret.len() == old_secret.len());
    assert_ne!(new_secret, old_secret);
    assert!(!String::from_utf8_lossy(&output.stderr).contains(new_secret));

    assert!(ok(&work.tessera(&["client", "remove", &removed])).is_empty());

    let runtime = runtime();
    let store = open_store(&runtime, &work);
    let client = |id: &str| runtime.block_on(store.client(id)).unwrap();
    let after = client(&rotated).unwrap();
    assert_eq!(
        after.secret_hash,
        sha256(new_secret),
        "the new secret's digest"
    );
    assert_eq!(after.name, "rotated");
    assert_eq!(client(&removed), None);
    assert_eq!(client(&kept).unwrap().secret_hash, sha256(&kept_secret));
    runtime.block_on(store.close());

    for args in [
        ["client", "remove", removed.as_str()],
        ["client", "rotate-secret", removed.as_str()],
        ["client", "remove", "tsc_\u{1b}[31mnone"],
        ["client", "rotate-secret", "nobody"],
    ] {
        let output = work.tessera(&args);
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        let reason = fails(&output);
        assert!(reason.contains("no client with id"), "{args:?}: {reason}");
        assert!(!reason.contains('\u{1b}'), "escaped: {reason:?}");
    }
    let listed = json(&ok(&work.tessera(&["client", "list"])));
    let ids: BTreeSet<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([kept.as_str(), rotated.as_str()]));
}

#[test]
fn account_commands_have_help() {
    let work = Workdir::new();
    let help = ok(&work.tessera(&["user", "add", "--help"]));
    assert!(help.contains("stdin"), "{help}");
    for command in [
        &["user", "--help"][..],
        &["user", "list", "--help"],
        &["user", "disable", "--help"],
        &["user", "enable", "--help"],
        &["client", "--help"],
        &["client", "add", "--help"],
        &["client", "list", "--help"],
        &["client", "remove", "--help"],
        &["client", "rotate-secret", "--help"],
    ] {
        assert!(ok(&work.tessera(command)).contains("Usage"), "{command:?}");
    }
}

/// `tessera user role add|remove NAME ROLE`: the user's roles as JSON, whether anything changed,
/// listed by `user list`; an unknown user or a malformed role is an error.
#[test]
fn user_role_add_and_remove_change_the_roles_user_list_shows() {
    let work = Workdir::new();
    let alice = add_user(&work, "alice", PASSWORD);
    let role = |verb: &str, name: &str, role: &str| {
        json(&ok(&work.tessera(&["user", "role", verb, name, role])))
    };
    let added = role("add", "alice", "editor");
    assert_eq!(added["id"], alice["id"]);
    assert_eq!(added["roles"], serde_json::json!(["editor"]));
    assert_eq!(added["changed"], true);
    assert_eq!(
        role("add", "ALICE", "admin")["roles"],
        serde_json::json!(["admin", "editor"])
    );
    assert_eq!(role("add", "alice", "admin")["changed"], false);
    let listed = list_users(&work);
    assert_eq!(listed[0]["roles"], serde_json::json!(["admin", "editor"]));
    let removed = role("remove", "alice", "admin");
    assert_eq!(removed["roles"], serde_json::json!(["editor"]));
    assert_eq!(removed["changed"], true);
    assert_eq!(role("remove", "alice", "admin")["changed"], false);
    let reason = fails(&work.tessera(&["user", "role", "add", "nobody", "admin"]));
    assert!(reason.contains("no user named"), "{reason}");
    let reason = fails(&work.tessera(&["user", "role", "add", "alice", "not a role"]));
    assert!(reason.contains("role"), "{reason}");
}
