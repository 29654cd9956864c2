//! Interop with PyJWT, an independent implementation, in both directions.

use crate::{fails, ok, python, Workdir};
use serde_json::Value;
use std::process::Command;

const ISS: &str = "https://auth.interop.test";
const AUD: &str = "interop-api";
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyjwt_peer.py");

/// Runs the PyJWT peer; returns stdout, or the failure.
fn peer(args: &[&str]) -> Result<String, String> {
    let output = Command::new(python())
        .arg(PEER)
        .args(args)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap().trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A workdir configured for `alg`, and the KEY argument the peer needs (secret or PEM path).
fn configured(alg: &str) -> (Workdir, String) {
    let mut work = Workdir::new();
    work.set("JWT_ALGORITHM", alg)
        .set("JWT_ISSUER", ISS)
        .set("JWT_AUDIENCE", AUD);
    if alg.starts_with("HS") {
        let secret = ok(&work.tessera(&["keygen", "--alg", alg]));
        work.set("JWT_SECRET_KEY", &secret);
        (work, secret)
    } else {
        let path = work.path().join("key.pem");
        ok(&work.tessera(&["keygen", "--alg", alg, "--out", path.to_str().unwrap()]));
        let path = path.to_str().unwrap().to_owned();
        work.set("JWT_PRIVATE_KEY_FILE", &path);
        (work, path)
    }
}

const ALGORITHMS: [&str; 5] = ["HS256", "RS256", "PS256", "ES256", "EdDSA"];

#[test]
fn tessera_tokens_verify_under_pyjwt_with_pinned_algorithms() {
    for alg in ALGORITHMS {
        let (work, key) = configured(alg);
        let token = ok(&work.tessera(&[
            "token",
            "mint",
            "--sub",
            "alice",
            "--claim",
            "scope=\"read write\"",
        ]));
        let claims: Value = serde_json::from_str(
            &peer(&["verify", alg, &key, ISS, AUD, &token])
                .unwrap_or_else(|err| panic!("{alg}: {err}")),
        )
        .unwrap();
        assert_eq!(claims["sub"], "alice", "{alg}");
        assert_eq!(claims["scope"], "read write");
        // PyJWT refuses it under another pinned algorithm, and with the wrong audience.
        let other = if alg == "HS256" { "HS384" } else { "HS256" };
        assert!(
            peer(&["verify", other, &key, ISS, AUD, &token]).is_err(),
            "{alg} under {other}"
        );
        assert!(
            peer(&["verify", alg, &key, ISS, "someone-else", &token]).is_err(),
            "{alg} aud"
        );
    }
}

#[test]
fn kid_is_the_rfc7638_thumbprint_pyjwt_computes() {
    for alg in ALGORITHMS {
        let (work, key) = configured(alg);
        let token = ok(&work.tessera(&["token", "mint", "--sub", "x"]));
        let shown: Value =
            serde_json::from_str(&ok(&work.tessera(&["token", "inspect", &token]))).unwrap();
        let expected = peer(&["kid", alg, &key]).unwrap();
        assert_eq!(shown["header"]["kid"], expected.as_str(), "{alg}");
    }
}

#[test]
fn pyjwt_tokens_verify_under_tessera() {
    for alg in ALGORITHMS {
        let (work, key) = configured(alg);
        let kid = peer(&["kid", alg, &key]).unwrap();
        // ECDSA leaves the half S falls in open, and PyJWT signs either: each ES* token is taken
        // in both forms, (r, s) and (r, n - s), computed by the peer. Tessera's own-key path takes
        // only the low S, the one Tessera signs; `--jwks`, for other issuers' tokens, takes both.
        let low_s = |token: String| {
            if alg.starts_with("ES") {
                peer(&["ecdsa-s", "low", alg, &token]).unwrap()
            } else {
                token
            }
        };
        let minted = peer(&[
            "mint",
            alg,
            &key,
            ISS,
            AUD,
            "bob",
            &kid,
            r#"{"roles":["reader"]}"#,
        ])
        .unwrap();
        let high_s = alg
            .starts_with("ES")
            .then(|| peer(&["ecdsa-s", "high", alg, &minted]).unwrap());
        let token = low_s(minted);
        let claims: Value =
            serde_json::from_str(&ok(&work.tessera(&["token", "verify", &token]))).unwrap();
        assert_eq!(claims["sub"], "bob", "{alg}");
        assert_eq!(claims["roles"][0], "reader");
        if let Some(high_s) = &high_s {
            // Both forms are genuine signatures: PyJWT verifies each.
            for form in [&token, high_s] {
                peer(&["verify", alg, &key, ISS, AUD, form]).unwrap();
            }
            let reason = fails(&work.tessera(&["token", "verify", high_s]));
            assert!(
                reason.contains("non_canonical_signature"),
                "{alg}: {reason}"
            );
        }
        if !alg.starts_with("HS") {
            let jwks = work.path().join("jwks.json");
            std::fs::write(&jwks, ok(&work.tessera(&["jwks"]))).unwrap();
            let jwks = jwks.to_str().unwrap();
            ok(&work.tessera(&["token", "verify", "--jwks", jwks, &token]));
            if let Some(high_s) = &high_s {
                let twin: Value = serde_json::from_str(&ok(
                    &work.tessera(&["token", "verify", "--jwks", jwks, high_s])
                ))
                .unwrap();
                assert_eq!(twin, claims, "{alg}");
            }
        }
        // Wrong audience and unknown kid are refused by Tessera.
        let wrong_aud = low_s(peer(&["mint", alg, &key, ISS, "elsewhere", "bob", &kid]).unwrap());
        assert!(
            fails(&work.tessera(&["token", "verify", &wrong_aud])).contains("audience"),
            "{alg}"
        );
        let wrong_kid = peer(&["mint", alg, &key, ISS, AUD, "bob", "not-our-kid"]).unwrap();
        assert!(
            fails(&work.tessera(&["token", "verify", &wrong_kid])).contains("kid"),
            "{alg}"
        );
    }
}

#[test]
fn pyjwt_none_and_hs256_confusion_tokens_are_refused() {
    let (work, key) = configured("RS256");
    let kid = peer(&["kid", "RS256", &key]).unwrap();
    // alg=none, built by hand the way an attacker would.
    let header = tessera_token::base64url::encode(
        format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes(),
    );
    let payload = tessera_token::base64url::encode(br#"{"sub":"mallory"}"#);
    assert!(
        fails(&work.tessera(&["token", "verify", &format!("{header}.{payload}.")])).contains("alg")
    );
    // HS256 signed with the public key PEM as secret (PyJWT itself refuses to do this; sign by hand).
    let jwks = ok(&work.tessera(&["jwks"]));
    let secret = jwks.as_bytes();
    let attacker =
        tessera_token::SigningKey::from_hmac_secret(tessera_token::Algorithm::HS256, secret)
            .unwrap();
    let header = tessera_token::base64url::encode(
        format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes(),
    );
    let input = format!("{header}.{payload}");
    let sig = tessera_token::base64url::encode(&attacker.sign(input.as_bytes()).unwrap());
    assert!(fails(&work.tessera(&["token", "verify", &format!("{input}.{sig}")])).contains("alg"));
}
