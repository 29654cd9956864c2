//! The CLI contract: keygen, token mint/verify/inspect, jwks, configuration errors.

use crate::{fails, ok, Workdir};
use serde_json::Value;

fn claims_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap()
}

#[test]
fn keygen_hmac_secrets_are_long_enough_and_random() {
    let work = Workdir::new();
    for (alg, bytes) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
        let first = ok(&work.tessera(&["keygen", "--alg", alg]));
        let second = ok(&work.tessera(&["keygen", "--alg", alg]));
        assert_ne!(first, second);
        let decoded = tessera_token::base64url::decode(first.as_bytes()).unwrap();
        assert!(decoded.len() >= bytes, "{alg}: {}", decoded.len());
        assert!(decoded.len() >= 32, "at least 256 bits");
    }
}

#[test]
fn keygen_writes_pkcs8_pem_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let work = Workdir::new();
    for alg in ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"] {
        let stdout = ok(&work.tessera(&["keygen", "--alg", alg]));
        assert!(stdout.starts_with("-----BEGIN PRIVATE KEY-----"), "{alg}");
        let out = work.path().join(format!("{alg}.pem"));
        let printed = ok(&work.tessera(&["keygen", "--alg", alg, "--out", out.to_str().unwrap()]));
        assert!(printed.is_empty(), "with --out nothing goes to stdout");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let reason =
            fails(&work.tessera(&["keygen", "--alg", alg, "--out", out.to_str().unwrap()]));
        assert!(reason.contains("exists"), "{reason}");
    }
    let reason = fails(&work.tessera(&["keygen", "--alg", "none"]));
    assert!(reason.contains("none"), "{reason}");
}

#[test]
fn mint_then_verify_round_trips_with_the_generated_key() {
    let work = Workdir::new();
    let token = ok(&work.tessera(&[
        "token",
        "mint",
        "--sub",
        "alice",
        "--claim",
        "scope=\"read\"",
        "--claim",
        "roles=[\"admin\"]",
    ]));
    assert_eq!(token.lines().count(), 1);
    assert_eq!(token.split('.').count(), 3);
    // Stored mode: the key is in the database, sealed under the generated key-encryption key.
    assert!(work.path().join("tessera-data/tessera.db").exists());
    assert!(work.path().join("tessera-data/key-encryption-key").exists());
    assert!(!work
        .path()
        .join("tessera-data/signing-key-es256.pem")
        .exists());
    let claims = claims_of(&ok(&work.tessera(&["token", "verify", &token])));
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["roles"][0], "admin");
    assert_eq!(claims["aud"], "tessera");
    assert_eq!(claims["iss"], "http://127.0.0.1:8080");
    let ttl = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 900, "default access TTL is 15m");
    // From stdin too.
    let from_stdin = claims_of(&ok(
        &work.tessera_with_stdin(&["token", "verify"], Some(&format!("{token}\n")))
    ));
    assert_eq!(from_stdin, claims);
}

#[test]
fn verify_judges_at_a_given_instant_with_leeway() {
    let mut work = Workdir::new();
    work.set("JWT_ACCESS_TTL", "60s");
    let token = ok(&work.tessera(&["token", "mint", "--sub", "bob"]));
    let claims = claims_of(&ok(&work.tessera(&["token", "verify", &token])));
    let exp = claims["exp"].as_u64().unwrap();
    let at = |t: u64, leeway: &str| {
        work.tessera(&[
            "token",
            "verify",
            "--at",
            &t.to_string(),
            "--leeway",
            leeway,
            &token,
        ])
    };
    ok(&at(exp - 1, "0"));
    let reason = fails(&at(exp, "0"));
    assert!(reason.contains("expired"), "{reason}");
    ok(&at(exp + 29, "30s"));
    assert!(fails(&at(exp + 30, "30s")).contains("expired"));
    let iat = claims["iat"].as_u64().unwrap();
    assert!(fails(&at(iat - 31, "30")).contains("not valid yet"));
}

#[test]
fn verify_requires_issuer_and_audience() {
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "carol"]));
    let reason = fails(&work.tessera(&["token", "verify", "--issuer", "https://other", &token]));
    assert!(reason.contains("issuer"), "{reason}");
    let reason = fails(&work.tessera(&["token", "verify", "--audience", "other", &token]));
    assert!(reason.contains("audience"), "{reason}");
    ok(&work.tessera(&[
        "token",
        "verify",
        "--issuer",
        "http://127.0.0.1:8080",
        "--audience",
        "tessera",
        &token,
    ]));
}

#[test]
fn verify_with_a_jwks_file() {
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "dave", "--ttl", "2m"]));
    let jwks = ok(&work.tessera(&["jwks"]));
    let parsed: Value = serde_json::from_str(&jwks).unwrap();
    let key = &parsed["keys"][0];
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "public parameters only");
    let path = work.path().join("jwks.json");
    std::fs::write(&path, &jwks).unwrap();
    let claims = claims_of(&ok(&work.tessera(&[
        "token",
        "verify",
        "--jwks",
        path.to_str().unwrap(),
        &token,
    ])));
    assert_eq!(claims["sub"], "dave");
    // A different key set does not verify it.
    let other = Workdir::new();
    ok(&other.tessera(&["jwks"]));
    let other_jwks = other.path().join("jwks.json");
    std::fs::write(&other_jwks, ok(&other.tessera(&["jwks"]))).unwrap();
    let reason = fails(&work.tessera(&[
        "token",
        "verify",
        "--jwks",
        other_jwks.to_str().unwrap(),
        &token,
    ]));
    assert!(reason.contains("kid"), "{reason}");
}

#[test]
fn tampered_tokens_are_rejected_with_the_failed_check() {
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "erin"]));
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut sig = tessera_token::base64url::decode(signature.as_bytes()).unwrap();
    sig[0] ^= 1;
    let tampered = format!("{input}.{}", tessera_token::base64url::encode(&sig));
    assert!(fails(&work.tessera(&["token", "verify", &tampered])).contains("signature"));
    assert!(fails(&work.tessera(&["token", "verify", "a.b"])).contains("segments"));
    assert!(fails(&work.tessera(&["token", "verify", &format!("{token}=")])).contains("base64url"));
}

#[test]
fn inspect_labels_output_unverified() {
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "frank"]));
    let shown: Value =
        serde_json::from_str(&ok(&work.tessera(&["token", "inspect", &token]))).unwrap();
    assert!(shown["UNVERIFIED"]
        .as_str()
        .unwrap()
        .contains("NOT checked"));
    assert_eq!(shown["header"]["typ"], "at+jwt");
    assert_eq!(shown["claims"]["sub"], "frank");
}

#[test]
fn hs256_from_the_environment_and_dotenv() {
    let mut work = Workdir::new();
    let secret = ok(&work.tessera(&["keygen", "--alg", "HS256"]));
    std::fs::write(
        work.path().join(".env"),
        format!("JWT_SECRET_KEY={secret}\nJWT_AUDIENCE=from-dotenv\n"),
    )
    .unwrap();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "gina"]));
    let header: Value =
        serde_json::from_str(&ok(&work.tessera(&["token", "inspect", &token]))).unwrap();
    assert_eq!(header["header"]["alg"], "HS256");
    assert_eq!(header["claims"]["aud"], "from-dotenv");
    assert_eq!(
        ok(&work.tessera(&["jwks"])).replace([' ', '\n'], ""),
        r#"{"keys":[]}"#,
        "secrets are never exported"
    );
    work.set("JWT_AUDIENCE", "from-env");
    let token = ok(&work.tessera(&["token", "mint", "--sub", "gina"]));
    let claims = claims_of(&ok(&work.tessera(&["token", "verify", &token])));
    assert_eq!(
        claims["aud"], "from-env",
        "the real environment wins over .env"
    );
}

#[test]
fn configuration_errors_name_the_variable() {
    for (vars, expected) in [
        (vec![("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
        (vec![("JWT_SECRET_KEY", "too-short")], "JWT_SECRET_KEY"),
        (
            vec![
                ("JWT_ALGORITHM", "HS512"),
                ("JWT_SECRET_KEY", &"x".repeat(63)),
            ],
            "JWT_SECRET_KEY",
        ),
        (vec![("JWT_ACCESS_TTL", "forever")], "JWT_ACCESS_TTL"),
        (
            vec![
                ("JWT_ALGORITHM", "RS256"),
                ("JWT_PRIVATE_KEY_FILE", "/nonexistent.pem"),
            ],
            "JWT_PRIVATE_KEY_FILE",
        ),
    ] {
        let mut work = Workdir::new();
        for (name, value) in &vars {
            work.set(name, value);
        }
        let reason = fails(&work.tessera(&["token", "mint", "--sub", "x"]));
        assert!(reason.contains(expected), "{vars:?}: {reason}");
    }
}

/// Review finding 7: a `.env` line that does not parse was echoed on stderr by every command
/// (`Error parsing line: '<secret> <secret>'`). Every command that reads the configuration names
/// the file and the line (counting the lines of a multi-line quoted value) and prints no part of
/// the line.
#[test]
fn dotenv_parse_errors_name_the_line_and_never_echo_it() {
    const SECRET: &str = "canary-s3cr3t-0123456789abcdef";
    let work = Workdir::new();
    std::fs::write(
        work.path().join(".env"),
        format!(
            "# deployment settings\nJWT_AUDIENCE=tessera\n\nJWT_ISSUER=\"http://127.0.0.1:8080\"\n\
             TESSERA_NOTE=\"two\nlines\"\nJWT_SECRET_KEY={SECRET} {SECRET}\nTESSERA_BIND=127.0.0.1:0\n"
        ),
    )
    .unwrap();
    let assert_never_shows_the_secret = |args: &[&str], stdout: &[u8], stderr: &[u8]| {
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(stdout),
            String::from_utf8_lossy(stderr)
        );
        for part in ["canary", "s3cr3t", "0123456789abcdef"] {
            assert!(
                !printed.contains(part),
                "{args:?} printed {part:?}: {printed}"
            );
        }
    };
    for args in [
        &["token", "mint", "--sub", "x"][..],
        &["token", "verify", "a.b.c"],
        &["jwks"],
        &["user", "list"],
        &["user", "add", "alice"],
        &["client", "add", "billing"],
        &["client", "list"],
        &["client", "rotate-secret", "tsc_x"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        // `user add` reads its password from stdin only after the configuration: none is given.
        let output = work.tessera(args);
        assert_never_shows_the_secret(args, &output.stdout, &output.stderr);
        let reason = fails(&output);
        assert!(
            reason.contains(".env") && reason.contains("line 7"),
            "{args:?}: {reason}"
        );
    }
    let doctor = work.tessera(&["doctor"]);
    assert_never_shows_the_secret(&["doctor"], &doctor.stdout, &doctor.stderr);
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8(doctor.stdout).unwrap();
    let finding = report.lines().next().unwrap();
    assert!(
        finding.starts_with("error") && finding.contains(".env") && finding.contains("line 7"),
        "{report}"
    );
    assert!(
        !work.path().join("tessera-data").exists(),
        "nothing runs on a configuration that does not parse"
    );
}

#[test]
fn legacy_expiry_names_are_honoured() {
    let mut work = Workdir::new();
    work.set("JWT_EXPIRY_HOURS", "2");
    let token = ok(&work.tessera(&["token", "mint", "--sub", "hank"]));
    let claims = claims_of(&ok(&work.tessera(&["token", "verify", &token])));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        7200
    );
}

#[test]
fn every_command_has_help() {
    let work = Workdir::new();
    for args in [
        vec!["--help"],
        vec!["keygen", "--help"],
        vec!["token", "--help"],
        vec!["token", "mint", "--help"],
        vec!["token", "verify", "--help"],
        vec!["token", "inspect", "--help"],
        vec!["jwks", "--help"],
    ] {
        let text = ok(&work.tessera(&args));
        assert!(text.contains("Usage"), "{args:?}");
    }
}

#[test]
fn verify_never_creates_a_key() {
    let work = Workdir::new();
    let reason = fails(&work.tessera(&["token", "verify", "a.b.c"]));
    assert!(reason.contains("no signing key yet"), "{reason}");
    assert!(!work.path().join("tessera-data").exists());
    let reason = fails(&work.tessera(&["token", "mint", "--sub", "x", "--ttl", "0"]));
    assert!(reason.contains("--ttl"), "{reason}");
}

#[test]
fn previous_keys_keep_verifying_after_a_rotation() {
    let mut work = Workdir::new();
    let path = |name: &str| work.path().join(name).to_str().unwrap().to_owned();
    let (old, rsa, new) = (path("old.pem"), path("rsa.pem"), path("new.pem"));
    ok(&work.tessera(&["keygen", "--alg", "ES256", "--out", &old]));
    ok(&work.tessera(&["keygen", "--alg", "RS256", "--out", &rsa]));
    ok(&work.tessera(&["keygen", "--alg", "ES256", "--out", &new]));
    work.set("JWT_PRIVATE_KEY_FILE", &old);
    let old_token = ok(&work.tessera(&["token", "mint", "--sub", "ivan"]));
    let mut rsa_work = Workdir::new();
    rsa_work
        .set("JWT_ALGORITHM", "RS256")
        .set("JWT_PRIVATE_KEY_FILE", &rsa);
    let rsa_token = ok(&rsa_work.tessera(&["token", "mint", "--sub", "ivan"]));

    // Rotated: new signing key, old ones listed as previous.
    let mut rotated = Workdir::new();
    rotated
        .set("JWT_PRIVATE_KEY_FILE", &new)
        .set("JWT_PREVIOUS_KEY_FILES", &format!("{old},RS256:{rsa}"));
    ok(&rotated.tessera(&["token", "verify", &old_token]));
    ok(&rotated.tessera(&["token", "verify", &rsa_token]));
    let jwks: Value = serde_json::from_str(&ok(&rotated.tessera(&["jwks"]))).unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["ES256", "ES256", "RS256"], "current key first");
    let new_token = ok(&rotated.tessera(&["token", "mint", "--sub", "ivan"]));
    let header = |token: &str| -> Value {
        serde_json::from_str::<Value>(&ok(&rotated.tessera(&["token", "inspect", token]))).unwrap()
            ["header"]
            .clone()
    };
    assert_eq!(
        header(&new_token)["kid"],
        jwks["keys"][0]["kid"],
        "new tokens are signed by the new key"
    );
    assert_ne!(header(&old_token)["kid"], header(&new_token)["kid"]);

    // Once the old key is dropped from the list, its tokens stop verifying.
    let mut dropped = Workdir::new();
    dropped.set("JWT_PRIVATE_KEY_FILE", &new);
    assert!(fails(&dropped.tessera(&["token", "verify", &old_token])).contains("kid"));
    let mut broken = Workdir::new();
    broken
        .set("JWT_PRIVATE_KEY_FILE", &new)
        .set("JWT_PREVIOUS_KEY_FILES", "/nonexistent.pem");
    assert!(
        fails(&broken.tessera(&["token", "verify", &new_token])).contains("JWT_PREVIOUS_KEY_FILES")
    );
}

/// The order n of the P-256 group, big-endian (SEC 2 v2 section 2.4.2).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The ES256 token with its signature (r, s) replaced by its twin (r, n - s), which verifies
/// under the same key and which anyone can compute from the token alone.
fn ecdsa_twin(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = tessera_token::base64url::decode(signature.as_bytes()).unwrap();
    assert_eq!(
        signature.len(),
        64,
        "an ES256 signature is r || s, 32 bytes each"
    );
    let mut borrow = false;
    for (s, n) in signature[32..].iter_mut().zip(P256_ORDER).rev() {
        let (difference, borrow_1) = n.overflowing_sub(*s);
        let (difference, borrow_2) = difference.overflowing_sub(u8::from(borrow));
        *s = difference;
        borrow = borrow_1 || borrow_2;
    }
    assert!(!borrow, "s < n");
    format!("{input}.{}", tessera_token::base64url::encode(&signature))
}

#[test]
fn ecdsa_high_s_twin_is_refused_by_verify_with_the_configured_key() {
    // Issue 9, item 5: without --jwks the token must be one of ours, and Tessera signs only the
    // low S, so the (r, n - s) twin of its token is refused, naming the check.
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "erin"]));
    let claims = claims_of(&ok(&work.tessera(&["token", "verify", &token])));
    assert_eq!(claims["sub"], "erin");
    let twin = ecdsa_twin(&token);
    let reason = fails(&work.tessera(&["token", "verify", &twin]));
    assert!(reason.contains("non_canonical_signature"), "{reason}");
    assert!(reason.contains("high S"), "{reason}");
}

#[test]
fn ecdsa_high_s_twin_is_accepted_by_verify_with_a_jwks_file() {
    // --jwks judges tokens of other issuers, whose libraries sign S in either half: both forms
    // of a signature verify there, with the same claims.
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "fay"]));
    let path = work.path().join("jwks.json");
    std::fs::write(&path, ok(&work.tessera(&["jwks"]))).unwrap();
    let jwks = path.to_str().unwrap();
    let claims = claims_of(&ok(
        &work.tessera(&["token", "verify", "--jwks", jwks, &token])
    ));
    let twin = ecdsa_twin(&token);
    let twin_claims = claims_of(&ok(
        &work.tessera(&["token", "verify", "--jwks", jwks, &twin])
    ));
    assert_eq!(twin_claims, claims);
    assert_eq!(claims["sub"], "fay");
}

#[test]
fn ed25519_small_order_key_in_a_jwks_file_is_refused_and_cannot_forge_tokens() {
    // Issue 9, item 6: with the identity point as an Ed25519 public key, the signature
    // R = identity, S = 0 verifies every message ([0]B = R + [k]A for A = identity). A JWK Set
    // holding such a key must be refused at import, with a clear message, and so verify nothing.
    let work = Workdir::new();
    let mut identity = [0u8; 32];
    identity[0] = 1; // y = 1, x = 0: the neutral element, little-endian.
    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "forger",
        "x": tessera_token::base64url::encode(&identity),
    }]});
    let path = work.path().join("forged-jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "forger"});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:8080", "aud": "tessera", "sub": "admin", "jti": "forged",
        "iat": now, "nbf": now, "exp": now + 600,
    });
    let mut signature = identity.to_vec(); // R: the identity again
    signature.extend_from_slice(&[0; 32]); // S = 0
    let token = format!(
        "{}.{}.{}",
        tessera_token::base64url::encode(header.to_string().as_bytes()),
        tessera_token::base64url::encode(claims.to_string().as_bytes()),
        tessera_token::base64url::encode(&signature)
    );
    let reason =
        fails(&work.tessera(&["token", "verify", "--jwks", path.to_str().unwrap(), &token]));
    assert!(reason.contains("forged-jwks.json"), "{reason}");
    assert!(reason.contains("small order"), "{reason}");
}

/// User ids are base64url: about one in 64 starts with `-`, and `--sub` takes it as a value.
#[test]
fn mint_takes_a_subject_that_starts_with_a_hyphen() {
    let work = Workdir::new();
    let token = ok(&work.tessera(&["token", "mint", "--sub", "-CxYz_user-id"]));
    let claims = claims_of(&ok(&work.tessera(&["token", "verify", token.trim()])));
    assert_eq!(claims["sub"], "-CxYz_user-id");
}
