//! `tessera keys`: signing keys kept in the store (stored mode: neither `JWT_SECRET_KEY` nor
//! `JWT_PRIVATE_KEY_FILE`), sealed under a key-encryption key: the first key, scheduled and
//! immediate rotation, retirement, an algorithm change, rotating the key-encryption key, wrong
//! and malformed key-encryption keys, PostgreSQL, the import of the key file of earlier versions,
//! and static keys refusing the commands.
//!
//! `keys retire` is given its KID after `--`: a base64url kid starts with `-` one time in 64,
//! which the command line takes for an option (a product bug, kept as an ignored test below).
//!
//! The PostgreSQL test uses `TESSERA_TEST_DATABASE_URL` (`scripts/test.sh` sets it); without it
//! it fails, unless `TESSERA_SKIP_POSTGRES=1` says to skip it.

use crate::{fails, ok, Workdir, TEST_KEK};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

/// How long a scheduled key is published before it signs (`keys::PUBLISH_LEAD`).
const PUBLISH_LEAD: u64 = 360;
/// What a `previous` key verifies for at least, beyond its successor's activation
/// (`REVOCATION_MARGIN`).
const MARGIN: u64 = 600;
/// Slack for the clock moving on between a command and the test reading the time.
const SLACK: u64 = 5;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn unset(work: &mut Workdir, name: &str) {
    work.env.retain(|(var, _)| var != name);
}

/// The decoded JOSE header of a compact JWS.
fn header(token: &str) -> Value {
    let first = token.split('.').next().unwrap();
    let bytes = tessera_token::base64url::decode(first.as_bytes())
        .unwrap_or_else(|| panic!("header is not base64url: {token}"));
    json(std::str::from_utf8(&bytes).unwrap())
}

fn kid_of(token: &str) -> String {
    header(token)["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid in the header of {token}"))
        .to_owned()
}

fn mint(work: &Workdir, sub: &str) -> String {
    let token = ok(&work.tessera(&["token", "mint", "--sub", sub]));
    assert_eq!(token.split('.').count(), 3, "a compact JWS: {token}");
    token
}

/// `tessera token verify TOKEN` succeeds; its claims.
fn verified(work: &Workdir, token: &str) -> Value {
    json(&ok(&work.tessera(&["token", "verify", token])))
}

/// `tessera keys list`, parsed.
fn list(work: &Workdir) -> Vec<Value> {
    json(&ok(&work.tessera(&["keys", "list"])))
        .as_array()
        .expect("`keys list` prints a JSON array")
        .clone()
}

/// `(kid, state)` of every listed key, in listed order.
fn states(work: &Workdir) -> Vec<(String, String)> {
    list(work)
        .iter()
        .map(|key| {
            (
                key["kid"].as_str().unwrap().to_owned(),
                key["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `(kid, state)` of every listed key, sorted: for lists whose order is not the point (a key
/// retired in the second it was activated is listed like a cancelled one, last).
fn state_set(work: &Workdir) -> Vec<(String, String)> {
    let mut pairs = states(work);
    pairs.sort();
    pairs
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

fn pair(kid: &str, state: &str) -> (String, String) {
    (kid.to_owned(), state.to_owned())
}

/// The listed key `kid`.
fn listed(keys: &[Value], kid: &str) -> Value {
    keys.iter()
        .find(|key| key["kid"] == kid)
        .unwrap_or_else(|| panic!("{kid} not listed: {keys:?}"))
        .clone()
}

/// The kids `tessera jwks` publishes, in order.
fn jwks_kids(work: &Workdir) -> Vec<String> {
    json(&ok(&work.tessera(&["jwks"])))["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn u64_of(value: &Value, what: &str) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: expected a number, got {value}"))
}

fn assert_about(got: u64, expected: u64, what: &str) {
    assert!(
        got.abs_diff(expected) <= SLACK,
        "{what}: {got}, expected {expected} (±{SLACK})"
    );
}

/// A fresh key-encryption key in base64 (32 random bytes).
fn random_kek() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes a fresh key-encryption key to `name` in the working directory, as
/// `openssl rand -base64 32 > FILE` would.
fn kek_file(work: &Workdir, name: &str) -> PathBuf {
    let path = work.path().join(name);
    std::fs::write(&path, format!("{}\n", random_kek())).unwrap();
    path
}

/// `(kid, kek_id)` of every row of the SQLite store's `signing_keys`, read directly.
fn sqlite_kek_ids(work: &Workdir) -> Vec<(String, String)> {
    let path = work.path().join("tessera-data/tessera.db");
    let url = format!("sqlite://{}?mode=ro", path.display());
    tessera_test_support::block_on(async move {
        use sqlx::{Connection as _, Row as _};
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows = sqlx::query("SELECT kid, kek_id FROM signing_keys ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let ids = rows
            .iter()
            .map(|row| (row.get::<String, _>("kid"), row.get::<String, _>("kek_id")))
            .collect();
        conn.close().await.unwrap();
        ids
    })
}

#[test]
fn stored_keys_rotate_on_schedule_then_at_once_and_a_retired_key_stops_verifying() {
    use std::os::unix::fs::PermissionsExt as _;
    let work = Workdir::new();

    // Zero configuration: the first mint makes the first key, sealed under a generated KEK.
    let before = now();
    let minted = work.tessera(&["token", "mint", "--sub", "alice"]);
    let first_token = ok(&minted);
    let keys = list(&work);
    assert_eq!(
        keys.len(),
        1,
        "exactly one key after the first mint: {keys:?}"
    );
    let first = &keys[0];
    let old_kid = first["kid"].as_str().unwrap().to_owned();
    assert_eq!(first["state"], "current", "{first}");
    assert_eq!(
        first["algorithm"], "ES256",
        "JWT_ALGORITHM defaults to ES256"
    );
    assert_about(
        u64_of(&first["activated"], "activated"),
        before,
        "activated",
    );
    assert_about(u64_of(&first["created"], "created"), before, "created");
    assert!(
        first["retires_at"].is_null(),
        "nothing retires it yet: {first}"
    );
    assert!(
        stderr(&minted).contains(&format!("made the first ES256 signing key (kid {old_kid})")),
        "the first mint says it made the key: {}",
        stderr(&minted)
    );
    let kek = work.path().join("tessera-data/key-encryption-key");
    let mode = std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the generated key-encryption key is private");
    assert_eq!(kid_of(&first_token), old_kid, "the token names its key");
    assert_eq!(header(&first_token)["alg"], "ES256");
    mint(&work, "alice");
    assert_eq!(
        states(&work),
        [pair(&old_kid, "current")],
        "a second mint makes no key"
    );

    // A scheduled rotation: published now, signing after the publish lead.
    let before = now();
    let rotated = work.tessera(&["keys", "rotate"]);
    let rotation = json(&ok(&rotated));
    let new_kid = rotation["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(rotation["algorithm"], "ES256");
    assert_eq!(rotation["replaces"], old_kid.as_str());
    let activates_at = u64_of(&rotation["activates_at"], "activates_at");
    assert_about(activates_at, before + PUBLISH_LEAD, "activates_at");
    assert!(
        stderr(&rotated).contains("published now"),
        "{}",
        stderr(&rotated)
    );
    let keys = list(&work);
    assert_eq!(
        states(&work),
        [pair(&old_kid, "current"), pair(&new_kid, "next")],
        "{keys:?}"
    );
    let next = listed(&keys, &new_kid);
    assert_eq!(u64_of(&next["activated"], "next activated"), activates_at);
    assert!(next["retires_at"].is_null(), "{next}");
    let scheduled_end = u64_of(&listed(&keys, &old_kid)["retires_at"], "retires_at");
    assert!(
        scheduled_end >= activates_at + MARGIN,
        "the current key verifies past its successor's activation: retires at {scheduled_end}, \
         successor activates at {activates_at}"
    );
    let published = jwks_kids(&work);
    assert!(
        published.contains(&old_kid) && published.contains(&new_kid) && published.len() == 2,
        "the JWK Set has the current and the next key: {published:?}"
    );
    assert_eq!(
        kid_of(&mint(&work, "alice")),
        old_kid,
        "the next key does not sign before its time"
    );

    // One rotation at a time.
    let reason = fails(&work.tessera(&["keys", "rotate"]));
    assert!(
        reason.contains("already scheduled") && reason.contains(&new_kid),
        "{reason}"
    );
    assert_eq!(states(&work).len(), 2, "the refused rotation made no key");

    // `--now` activates the scheduled key itself.
    let before = now();
    let at_once = work.tessera(&["keys", "rotate", "--now"]);
    let rotation = json(&ok(&at_once));
    assert_eq!(
        rotation["kid"],
        new_kid.as_str(),
        "the scheduled key, not a new one"
    );
    assert_eq!(rotation["replaces"], old_kid.as_str());
    let activated = u64_of(&rotation["activates_at"], "activates_at");
    assert_about(activated, before, "activates_at with --now");
    assert!(
        stderr(&at_once).contains("cached") && stderr(&at_once).contains(&new_kid),
        "--now warns about cached JWK Sets: {}",
        stderr(&at_once)
    );
    let keys = list(&work);
    assert_eq!(
        states(&work),
        [pair(&old_kid, "previous"), pair(&new_kid, "current")],
        "{keys:?}"
    );
    assert_eq!(
        u64_of(&listed(&keys, &old_kid)["retires_at"], "retires_at") - activated,
        scheduled_end - activates_at,
        "the previous key verifies for the same grace after the earlier activation"
    );
    assert_eq!(
        u64_of(&listed(&keys, &new_kid)["activated"], "activated"),
        activated
    );
    assert!(listed(&keys, &new_kid)["retires_at"].is_null());
    assert_eq!(
        verified(&work, &first_token)["sub"],
        "alice",
        "old tokens still verify"
    );
    let second_token = mint(&work, "bob");
    assert_eq!(kid_of(&second_token), new_kid, "the new key signs now");
    assert_eq!(verified(&work, &second_token)["sub"], "bob");

    // Retiring the previous key: its tokens fail at once and it leaves the JWK Set.
    let before = now();
    let retirement = json(&ok(&work.tessera(&["keys", "retire", "--", &old_kid])));
    assert_eq!(
        retirement,
        serde_json::json!({"kid": old_kid, "was": "previous", "new_current": null})
    );
    let reason = fails(&work.tessera(&["token", "verify", &first_token]));
    assert!(reason.contains("token rejected"), "{reason}");
    assert_eq!(jwks_kids(&work), [new_kid.as_str()]);
    let keys = list(&work);
    assert_eq!(
        state_set(&work),
        sorted(vec![pair(&old_kid, "retired"), pair(&new_kid, "current")]),
        "{keys:?}"
    );
    assert_about(
        u64_of(&listed(&keys, &old_kid)["retires_at"], "retires_at"),
        before,
        "a retired key's retires_at is when it was retired",
    );
    assert_eq!(verified(&work, &second_token)["sub"], "bob");

    let reason = fails(&work.tessera(&["keys", "retire", "--", &old_kid]));
    assert!(
        reason.contains("retired already") && reason.contains(&old_kid),
        "{reason}"
    );
    let reason = fails(&work.tessera(&["keys", "retire", "--", "no-such-kid"]));
    assert!(
        reason.contains("no-such-kid") && reason.contains("no such signing key"),
        "{reason}"
    );
    assert_eq!(states(&work).len(), 2, "refused retirements change nothing");
}

#[test]
fn retiring_the_signing_key_makes_a_new_one_sign_at_once() {
    let work = Workdir::new();
    let old_token = mint(&work, "alice");
    let old_kid = kid_of(&old_token);

    let retired = work.tessera(&["keys", "retire", "--", &old_kid]);
    let retirement = json(&ok(&retired));
    assert_eq!(retirement["kid"], old_kid.as_str());
    assert_eq!(retirement["was"], "current");
    let new_kid = retirement["new_current"]
        .as_str()
        .unwrap_or_else(|| panic!("a new signing key: {retirement}"))
        .to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(
        stderr(&retired).contains(&format!("{new_kid} signs from now")),
        "{}",
        stderr(&retired)
    );
    assert_eq!(
        state_set(&work),
        sorted(vec![pair(&old_kid, "retired"), pair(&new_kid, "current")])
    );
    let reason = fails(&work.tessera(&["token", "verify", &old_token]));
    assert!(reason.contains("token rejected"), "{reason}");
    let new_token = mint(&work, "bob");
    assert_eq!(kid_of(&new_token), new_kid, "new tokens use the new key");
    assert_eq!(verified(&work, &new_token)["sub"], "bob");
    assert_eq!(jwks_kids(&work), [new_kid]);
}

#[test]
fn retiring_the_signing_key_activates_the_scheduled_one_and_retiring_a_next_key_cancels_it() {
    let work = Workdir::new();
    let first_token = mint(&work, "alice");
    let first = kid_of(&first_token);

    // Retiring the current key while a rotation is scheduled: the scheduled key signs at once.
    let second = json(&ok(&work.tessera(&["keys", "rotate"])))["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let retirement = json(&ok(&work.tessera(&["keys", "retire", "--", &first])));
    assert_eq!(
        retirement,
        serde_json::json!({"kid": first, "was": "current", "new_current": second})
    );
    assert_eq!(
        state_set(&work),
        sorted(vec![pair(&first, "retired"), pair(&second, "current")])
    );
    assert_eq!(kid_of(&mint(&work, "bob")), second);
    assert!(fails(&work.tessera(&["token", "verify", &first_token])).contains("token rejected"));

    // Retiring a scheduled key cancels the rotation: it never signs, and leaves the JWK Set.
    let third = json(&ok(&work.tessera(&["keys", "rotate"])))["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwks_kids(&work).len(), 2, "the scheduled key is published");
    let cancelled = work.tessera(&["keys", "retire", "--", &third]);
    assert_eq!(
        json(&ok(&cancelled)),
        serde_json::json!({"kid": third, "was": "next", "new_current": null})
    );
    assert!(
        stderr(&cancelled).contains("cancelled"),
        "{}",
        stderr(&cancelled)
    );
    let keys = list(&work);
    assert_eq!(
        state_set(&work),
        sorted(vec![
            pair(&first, "retired"),
            pair(&second, "current"),
            pair(&third, "retired")
        ]),
        "{keys:?}"
    );
    let cancelled_key = listed(&keys, &third);
    assert!(
        cancelled_key["activated"].is_null(),
        "a cancelled key never signed: {cancelled_key}"
    );
    assert!(
        listed(&keys, &second)["retires_at"].is_null(),
        "with the rotation cancelled, nothing retires the current key"
    );
    assert_eq!(jwks_kids(&work), [second.as_str()]);
    // A new rotation can be scheduled again.
    let fourth = json(&ok(&work.tessera(&["keys", "rotate"])));
    assert_eq!(fourth["replaces"], second.as_str());
}

#[test]
fn rotating_to_another_algorithm_switches_the_signing_algorithm_and_old_tokens_still_verify() {
    let work = Workdir::new();
    let es_token = mint(&work, "alice");
    let es_kid = kid_of(&es_token);

    // A scheduled rotation of one algorithm is not activated as another.
    let scheduled = json(&ok(&work.tessera(&["keys", "rotate"])))["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let reason = fails(&work.tessera(&["keys", "rotate", "--alg", "EdDSA", "--now"]));
    assert!(
        reason.contains("already scheduled") && reason.contains(&scheduled),
        "{reason}"
    );
    ok(&work.tessera(&["keys", "retire", "--", &scheduled]));

    // Shared secrets are not stored keys.
    let reason = fails(&work.tessera(&["keys", "rotate", "--alg", "HS256", "--now"]));
    assert!(reason.contains("JWT_SECRET_KEY"), "{reason}");

    let rotation = json(&ok(
        &work.tessera(&["keys", "rotate", "--alg", "EdDSA", "--now"])
    ));
    assert_eq!(rotation["algorithm"], "EdDSA");
    assert_eq!(rotation["replaces"], es_kid.as_str());
    let ed_kid = rotation["kid"].as_str().unwrap().to_owned();
    let keys = list(&work);
    assert_eq!(
        states(&work),
        [
            pair(&es_kid, "previous"),
            pair(&ed_kid, "current"),
            pair(&scheduled, "retired")
        ],
        "oldest activation first, the cancelled key last: {keys:?}"
    );
    assert_eq!(listed(&keys, &ed_kid)["algorithm"], "EdDSA");
    assert_eq!(listed(&keys, &es_kid)["algorithm"], "ES256");

    let ed_token = mint(&work, "bob");
    assert_eq!(header(&ed_token)["alg"], "EdDSA", "minted by the EdDSA key");
    assert_eq!(kid_of(&ed_token), ed_kid);
    assert_eq!(verified(&work, &ed_token)["sub"], "bob");
    assert_eq!(
        verified(&work, &es_token)["sub"],
        "alice",
        "ES256 tokens of the previous key still verify"
    );
    let jwks = json(&ok(&work.tessera(&["jwks"])));
    let mut algorithms: Vec<(String, String)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            (
                key["kid"].as_str().unwrap().to_owned(),
                key["alg"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    algorithms.sort();
    let mut expected = vec![pair(&es_kid, "ES256"), pair(&ed_kid, "EdDSA")];
    expected.sort();
    assert_eq!(
        algorithms, expected,
        "both keys published with their algorithms"
    );

    // A scheduled key of another algorithm than JWT_ALGORITHM (ES256 here) is activated by
    // `--now` without `--alg`: the same key, not a new one of the configured algorithm.
    let scheduled = json(&ok(&work.tessera(&["keys", "rotate", "--alg", "ES384"])));
    assert_eq!(scheduled["algorithm"], "ES384");
    let es384_kid = scheduled["kid"].as_str().unwrap().to_owned();
    let rotation = json(&ok(&work.tessera(&["keys", "rotate", "--now"])));
    assert_eq!(rotation["kid"], es384_kid.as_str(), "{rotation}");
    assert_eq!(rotation["algorithm"], "ES384");
    assert_eq!(rotation["replaces"], ed_kid.as_str());
    let es384_token = mint(&work, "carol");
    assert_eq!(header(&es384_token)["alg"], "ES384");
    assert_eq!(kid_of(&es384_token), es384_kid);
    for (token, sub) in [
        (&es_token, "alice"),
        (&ed_token, "bob"),
        (&es384_token, "carol"),
    ] {
        assert_eq!(verified(&work, token)["sub"], sub, "all three keys verify");
    }
}

#[test]
fn rewrap_reseals_every_key_under_a_new_kek_and_the_old_kek_no_longer_opens_them() {
    let mut work = Workdir::new();
    let token = mint(&work, "alice");
    let first = kid_of(&token);
    // Two keys: the current one and a scheduled one.
    let second = json(&ok(&work.tessera(&["keys", "rotate"])))["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_ids = sqlite_kek_ids(&work);
    assert_eq!(old_ids.len(), 2, "{old_ids:?}");
    let old_kek_id = old_ids[0].1.clone();
    assert!(
        old_ids.iter().all(|(_, id)| *id == old_kek_id),
        "{old_ids:?}"
    );

    // A malformed new key is refused, naming the option; nothing changes.
    let junk = work.path().join("junk-kek");
    std::fs::write(&junk, "short\n").unwrap();
    let reason =
        fails(&work.tessera(&["keys", "rewrap", "--new-key-file", junk.to_str().unwrap()]));
    assert!(reason.contains("--new-key-file"), "{reason}");
    assert_eq!(sqlite_kek_ids(&work), old_ids);

    let new_kek = kek_file(&work, "new-kek");
    let new_kek_arg = new_kek.to_str().unwrap();
    let rewrapped = json(&ok(&work.tessera(&[
        "keys",
        "rewrap",
        "--new-key-file",
        new_kek_arg,
    ])));
    assert_eq!(rewrapped["rewrapped"], 2, "both keys: {rewrapped}");
    let new_kek_id = rewrapped["key_encryption_key"].as_str().unwrap().to_owned();
    assert!(
        new_kek_id.starts_with("kek-") && new_kek_id.len() == 20,
        "a fingerprint: {new_kek_id}"
    );
    assert_ne!(new_kek_id, old_kek_id);
    assert_eq!(
        sqlite_kek_ids(&work),
        [
            (first.clone(), new_kek_id.clone()),
            (second, new_kek_id.clone())
        ],
        "every stored key is now sealed under the new key-encryption key"
    );

    // The data directory's (old) key-encryption key no longer opens the signing key.
    let refused = work.tessera(&["token", "mint", "--sub", "alice"]);
    let reason = fails(&refused);
    assert!(
        reason.contains("key-encryption key")
            && reason.contains(&new_kek_id)
            && reason.contains(&old_kek_id)
            && reason.contains(&first),
        "{reason}"
    );
    assert!(refused.stdout.is_empty(), "no token is printed");
    // Verifying needs no key-encryption key.
    assert_eq!(verified(&work, &token)["sub"], "alice");

    work.set("TESSERA_KEY_ENCRYPTION_KEY_FILE", new_kek_arg);
    let new_token = mint(&work, "bob");
    assert_eq!(
        kid_of(&new_token),
        first,
        "the same key signs, opened with the new KEK"
    );
    assert_eq!(verified(&work, &new_token)["sub"], "bob");

    // Rewrapping again under the same key has nothing to do.
    let again = json(&ok(&work.tessera(&[
        "keys",
        "rewrap",
        "--new-key-file",
        new_kek_arg,
    ])));
    assert_eq!(again["rewrapped"], 0, "{again}");
    assert_eq!(again["key_encryption_key"], new_kek_id.as_str());
}

#[test]
fn a_wrong_malformed_or_doubly_set_kek_fails_naming_it_and_signs_nothing() {
    let mut work = Workdir::new();
    let kid = kid_of(&mint(&work, "alice"));

    work.set("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK);
    let refused = work.tessera(&["token", "mint", "--sub", "alice"]);
    let reason = fails(&refused);
    assert!(
        reason.contains(&kid)
            && reason.contains("sealed under key-encryption key")
            && reason.contains("TESSERA_KEY_ENCRYPTION_KEY"),
        "{reason}"
    );
    assert!(refused.stdout.is_empty(), "no token is printed");
    assert_eq!(states(&work), [pair(&kid, "current")], "no key was made");

    unset(&mut work, "TESSERA_KEY_ENCRYPTION_KEY");
    work.set("TESSERA_KEY_ENCRYPTION_KEY", "short");
    let reason = fails(&work.tessera(&["token", "mint", "--sub", "alice"]));
    assert!(reason.contains("TESSERA_KEY_ENCRYPTION_KEY"), "{reason}");
    let reason = fails(&work.tessera(&["keys", "rotate"]));
    assert!(reason.contains("TESSERA_KEY_ENCRYPTION_KEY"), "{reason}");

    unset(&mut work, "TESSERA_KEY_ENCRYPTION_KEY");
    let file = kek_file(&work, "kek");
    work.set("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK)
        .set("TESSERA_KEY_ENCRYPTION_KEY_FILE", file.to_str().unwrap());
    let reason = fails(&work.tessera(&["token", "mint", "--sub", "alice"]));
    assert!(
        reason.contains("TESSERA_KEY_ENCRYPTION_KEY")
            && reason.contains("TESSERA_KEY_ENCRYPTION_KEY_FILE"),
        "{reason}"
    );
    let reason = fails(&work.tessera(&["keys", "list"]));
    assert!(
        reason.contains("TESSERA_KEY_ENCRYPTION_KEY_FILE"),
        "a configuration error, for every command: {reason}"
    );

    // With the data directory's key again, it signs, with the one key.
    unset(&mut work, "TESSERA_KEY_ENCRYPTION_KEY");
    unset(&mut work, "TESSERA_KEY_ENCRYPTION_KEY_FILE");
    assert_eq!(states(&work), [pair(&kid, "current")], "still the one key");
    assert_eq!(kid_of(&mint(&work, "alice")), kid);
}

/// A key sealed under a KEK the deployment does not have can never sign: changing the ring with a
/// wrong KEK must be refused rather than schedule an outage.
#[test]
fn rotating_or_retiring_with_a_wrong_kek_fails_and_changes_nothing() {
    let mut accepted = Vec::new();
    for command in ["rotate", "rotate --now", "retire"] {
        let mut work = Workdir::new();
        let kid = kid_of(&mint(&work, "alice"));
        let mut args: Vec<&str> = vec!["keys"];
        args.extend(command.split(' '));
        if command == "retire" {
            args.push("--");
            args.push(&kid);
        }
        work.set("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK);
        let output = work.tessera(&args);
        unset(&mut work, "TESSERA_KEY_ENCRYPTION_KEY");
        if output.status.success() {
            // What it did: a key the deployment's key-encryption key cannot open.
            let signs = work.tessera(&["token", "mint", "--sub", "alice"]);
            accepted.push(format!(
                "`tessera {}` succeeded ({}), leaving {:?}; then `token mint` with the \
                 deployment's key-encryption key: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout).trim(),
                states(&work),
                if signs.status.success() {
                    "signs".to_owned()
                } else {
                    stderr(&signs)
                }
            ));
            continue;
        }
        let reason = fails(&output);
        assert!(reason.contains("key-encryption key"), "{reason}");
        assert_eq!(states(&work), [pair(&kid, "current")], "nothing changed");
        assert_eq!(
            kid_of(&mint(&work, "alice")),
            kid,
            "the deployment's key-encryption key still signs"
        );
    }
    assert!(
        accepted.is_empty(),
        "a wrong key-encryption key was accepted:\n{}",
        accepted.join("\n")
    );
}

/// A key that signed is listed with its activation time even when it is retired in the second
/// it started signing (a key retired before it ever signed lists `activated: null`).
#[test]
fn a_key_retired_in_the_second_it_started_signing_is_listed_as_having_signed() {
    // Retried until the mint and the retirement fall in the same second.
    for _ in 0..10 {
        let work = Workdir::new();
        let token = mint(&work, "alice");
        let kid = kid_of(&token);
        ok(&work.tessera(&["keys", "retire", "--", &kid]));
        let keys = list(&work);
        let key = listed(&keys, &kid);
        assert_eq!(key["state"], "retired", "{key}");
        let created = u64_of(&key["created"], "created");
        if u64_of(&key["retires_at"], "retires_at") != created {
            continue;
        }
        assert_eq!(
            key["activated"], created,
            "{kid} signed {token} before it was retired, yet `keys list` says it never signed: \
             {keys:?}"
        );
        return;
    }
    panic!("ten tries never made and retired a key within one second");
}

/// Kids are base64url (`keys list` prints some starting with `-`, one in 64): `keys retire KID`
/// takes them as printed, without `--`.
#[test]
fn retire_takes_a_kid_starting_with_a_hyphen_as_keys_list_prints_it() {
    let work = Workdir::new();
    mint(&work, "alice");
    let output = work.tessera(&[
        "keys",
        "retire",
        "-0ujnB-HBBK5knmaDl3VAnrwADZEJAzdD3BPzrZUaiQ",
    ]);
    let stderr = stderr(&output);
    assert!(
        stderr.contains("no such signing key"),
        "the kid is looked up (and not found), not refused as an option: {stderr}"
    );
}

/// The CLI signs tokens too: a `previous` key must verify until the tokens it signed expire.
#[test]
fn a_previous_key_verifies_until_the_tokens_the_cli_minted_with_it_expire() {
    let work = Workdir::new();
    let token = mint(&work, "alice");
    let exp = u64_of(&verified(&work, &token)["exp"], "exp");
    let old_kid = kid_of(&token);
    ok(&work.tessera(&["keys", "rotate", "--now"]));
    let keys = list(&work);
    let previous = listed(&keys, &old_kid);
    assert_eq!(previous["state"], "previous");
    let retires_at = u64_of(&previous["retires_at"], "retires_at");
    assert!(
        retires_at >= exp + MARGIN,
        "the previous key retires at {retires_at}; the token it signed expires at {exp}, so it \
         should verify until at least {} (exp + the {MARGIN} s margin){}",
        exp + MARGIN,
        if retires_at < exp {
            format!(
                ": the token stops verifying {} s before it expires",
                exp - retires_at
            )
        } else {
            String::new()
        }
    );
}

#[test]
fn postgresql_needs_a_kek_and_keeps_only_sealed_private_keys() {
    let Some(database) =
        tessera_test_support::TestDatabase::fresh("a `tessera keys` PostgreSQL test", "keys")
    else {
        return;
    };
    let mut work = Workdir::new();
    work.set("DATABASE_URL", &database.url());

    let refused = work.tessera(&["token", "mint", "--sub", "alice"]);
    let reason = fails(&refused);
    assert!(
        reason.contains("TESSERA_KEY_ENCRYPTION_KEY") && reason.contains("DATABASE_URL"),
        "{reason}"
    );
    assert!(refused.stdout.is_empty());
    assert!(
        !work.path().join("tessera-data").exists(),
        "no key-encryption key is generated next to a shared database"
    );
    assert!(list(&work).is_empty(), "no key was made without a KEK");
    let reason = fails(&work.tessera(&["keys", "rotate", "--now"]));
    assert!(reason.contains("TESSERA_KEY_ENCRYPTION_KEY"), "{reason}");

    work.set("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK);
    let token = mint(&work, "alice");
    let kid = kid_of(&token);
    let keys = list(&work);
    assert_eq!(states(&work), [pair(&kid, "current")], "{keys:?}");

    // Listing, verifying and publishing need no KEK.
    unset(&mut work, "TESSERA_KEY_ENCRYPTION_KEY");
    assert_eq!(states(&work), [pair(&kid, "current")]);
    assert_eq!(verified(&work, &token)["sub"], "alice");
    assert_eq!(jwks_kids(&work), [kid.as_str()]);

    // Another KEK does not open the key.
    work.set("TESSERA_KEY_ENCRYPTION_KEY", &random_kek());
    let refused = work.tessera(&["token", "mint", "--sub", "alice"]);
    let reason = fails(&refused);
    assert!(
        reason.contains(&kid) && reason.contains("sealed under key-encryption key"),
        "{reason}"
    );
    assert!(refused.stdout.is_empty());

    // What the database holds: a public JWK without private parameters, and a private key that
    // is not a PKCS#8 key in any readable form.
    let url = database.url();
    let rows: Vec<(String, String, Vec<u8>, String, String)> =
        tessera_test_support::block_on(async move {
            use sqlx::{Connection as _, Row as _};
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let rows = sqlx::query(
                "SELECT kid, algorithm, wrapped_private, kek_id, public_jwk FROM signing_keys",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let rows = rows
                .iter()
                .map(|row| {
                    (
                        row.get("kid"),
                        row.get("algorithm"),
                        row.get("wrapped_private"),
                        row.get("kek_id"),
                        row.get("public_jwk"),
                    )
                })
                .collect();
            conn.close().await.unwrap();
            rows
        });
    assert_eq!(rows.len(), 1);
    let (stored_kid, algorithm, wrapped, kek_id, public_jwk) = &rows[0];
    assert_eq!(stored_kid, &kid);
    assert_eq!(algorithm, "ES256");
    assert!(kek_id.starts_with("kek-"), "{kek_id}");
    assert!(!kek_id.contains(TEST_KEK), "{kek_id}");
    let jwk = json(public_jwk);
    assert_eq!(jwk["kty"], "EC", "{jwk}");
    assert!(
        jwk.get("d").is_none(),
        "no private parameter in the JWK: {jwk}"
    );
    assert!(!public_jwk.contains("PRIVATE KEY"));
    // Nonce (12) + PKCS#8 + tag (16): longer than the bare key, and not parseable from any offset
    // a plain or nonce-prefixed copy would start at.
    assert!(wrapped.len() > 12 + 16, "{} bytes", wrapped.len());
    for offset in 0..=12 {
        assert!(
            aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &wrapped[offset..],
            )
            .is_err(),
            "the stored private key parses as PKCS#8 at offset {offset}: it is not sealed"
        );
        assert!(
            aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &wrapped[offset..wrapped.len() - 16],
            )
            .is_err(),
            "the stored private key parses as PKCS#8 at offset {offset} before a tag"
        );
    }
    assert!(
        !wrapped.windows(11).any(|w| w == b"PRIVATE KEY"),
        "no PEM in the stored private key"
    );
}

/// Earlier versions generated `tessera-data/signing-key-es256.pem`; when the store has no key
/// yet, that key becomes the first stored one, so the tokens it signed keep verifying.
#[test]
fn the_key_file_of_earlier_versions_becomes_the_first_stored_key() {
    let mut work = Workdir::new();
    let data = work.path().join("tessera-data");
    std::fs::create_dir(&data).unwrap();
    let legacy = data.join("signing-key-es256.pem");
    let legacy_arg = legacy.to_str().unwrap().to_owned();
    ok(&work.tessera(&["keygen", "--alg", "ES256", "--out", &legacy_arg]));

    // An earlier version signed with that file.
    work.set("JWT_PRIVATE_KEY_FILE", &legacy_arg);
    let static_token = mint(&work, "alice");
    let legacy_kid = kid_of(&static_token);
    unset(&mut work, "JWT_PRIVATE_KEY_FILE");

    // Before anything imported it, its tokens verify and it is published.
    assert_eq!(verified(&work, &static_token)["sub"], "alice");
    assert!(ok(&work.tessera(&["jwks"])).contains(&legacy_kid));

    // This version keeps keys in the store: the first signer imports the file, and deletes the
    // plain-text copy (the sealed one is the only private key at rest).
    let minted = work.tessera(&["token", "mint", "--sub", "bob"]);
    let token = ok(&minted);
    assert!(stderr(&minted).contains(&legacy_kid), "{}", stderr(&minted));
    assert!(
        !legacy.exists(),
        "the plain-text key file is gone after the import"
    );
    let keys = list(&work);
    assert_eq!(
        states(&work),
        [pair(&legacy_kid, "current")],
        "the imported key, under its own kid: {keys:?}"
    );
    assert_eq!(kid_of(&token), legacy_kid, "it goes on signing");
    assert_eq!(verified(&work, &static_token)["sub"], "alice");
    assert_eq!(verified(&work, &token)["sub"], "bob");

    // Imported once only: a rotation replaces it, the file is not imported again.
    ok(&work.tessera(&["keys", "rotate", "--now"]));
    ok(&work.tessera(&["keys", "retire", "--", &legacy_kid]));
    let new_kid = kid_of(&mint(&work, "carol"));
    assert_ne!(new_kid, legacy_kid);
    assert_eq!(
        state_set(&work),
        sorted(vec![
            pair(&legacy_kid, "retired"),
            pair(&new_kid, "current")
        ])
    );
    assert!(fails(&work.tessera(&["token", "verify", &static_token])).contains("token rejected"));
}

#[test]
fn static_keys_refuse_the_keys_commands() {
    let mut work = Workdir::new();
    work.set("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef0123");
    for args in [
        &["keys", "list"][..],
        &["keys", "rotate", "--now"],
        &["keys", "retire", "some-kid"],
    ] {
        let reason = fails(&work.tessera(args));
        assert!(
            reason.contains("JWT_SECRET_KEY") && reason.contains("static"),
            "`tessera {}`: {reason}",
            args.join(" ")
        );
    }

    let mut keyed = Workdir::new();
    let pem = keyed.path().join("key.pem");
    let pem_arg = pem.to_str().unwrap().to_owned();
    ok(&keyed.tessera(&["keygen", "--alg", "ES256", "--out", &pem_arg]));
    keyed.set("JWT_PRIVATE_KEY_FILE", &pem_arg);
    let reason = fails(&keyed.tessera(&["keys", "list"]));
    assert!(
        reason.contains("JWT_PRIVATE_KEY_FILE") && reason.contains("static"),
        "{reason}"
    );
    assert!(
        !work.path().join("tessera-data").exists() && !keyed.path().join("tessera-data").exists(),
        "no store is created for a refused command"
    );
}

#[test]
fn keys_help_shows_usage_of_every_subcommand() {
    let work = Workdir::new();
    let help = ok(&work.tessera(&["keys", "--help"]));
    assert!(help.contains("Usage: tessera keys"), "{help}");
    for sub in ["list", "rotate", "retire", "rewrap"] {
        assert!(help.contains(sub), "`keys --help` names {sub}: {help}");
    }
    for (sub, mentions) in [
        ("list", "next"),
        ("rotate", "--now"),
        ("retire", "<KID>"),
        ("rewrap", "--new-key-file"),
    ] {
        let help = ok(&work.tessera(&["keys", sub, "--help"]));
        assert!(
            help.contains(&format!("Usage: tessera keys {sub}")) && help.contains(mentions),
            "`keys {sub} --help`: {help}"
        );
    }
    assert!(ok(&work.tessera(&["--help"])).contains("keys"));
    let reason = String::from_utf8_lossy(&work.tessera(&["keys"]).stderr).into_owned();
    assert!(
        reason.contains("Usage"),
        "a bare `keys` shows usage: {reason}"
    );
    assert!(
        !work.path().join("tessera-data").exists(),
        "help creates nothing"
    );
}
