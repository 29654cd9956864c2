//! Project Wycheproof's JSON Web Signature and JSON Web Key suites (C2SP/wycheproof,
//! `testvectors_v1/`, Apache-2.0; copies and licence in `tests/data/wycheproof/`).
//!
//! Wycheproof tests the JWS layer: signature, key/algorithm binding and encoding. So the cases run
//! through [`verify_with_key`] with the key bound to its JWK's own `alg`, not through the
//! access-token [`tessera_token::Verifier`], which adds `typ`, `kid` and claims policy.
//!
//! Every case must end as its label says (`valid` accepted, `invalid` rejected), unless it is in
//! an override list. One valid case has an ECDSA signature with a high S (`s > n/2`), which
//! Tessera refuses by default (issue 9, item 5): it is an override, and a separate test runs every
//! case refused for its high S through [`verify_with_key_accepting_high_s_ecdsa`], the door for
//! other issuers' tokens, where each ends as labelled. An override states why Tessera differs from the label, and the test asserts
//! exactly what Tessera does with the case instead (never a silent skip). An override that stops
//! being needed, or names a case that does not exist, fails the test.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tessera_token::{
    base64url, verify_with_key, verify_with_key_accepting_high_s_ecdsa, Algorithm, Error, Header,
    Jwk, JwkSet, KeySet, VerifyingKey, DEFAULT_MAX_TOKEN_LEN,
};

const JWS_SUITE: &str = include_str!("../data/wycheproof/json_web_signature_test.json");
const JWK_SUITE: &str = include_str!("../data/wycheproof/json_web_key_test.json");

/// Cases in `json_web_signature_test.json`; the suite must not silently shrink.
const JWS_CASES: usize = 401;
/// Cases in `json_web_key_test.json`.
const JWK_CASES: usize = 26;

/// `json_web_signature_test.json` cases where Tessera's result differs from the label.
const JWS_OVERRIDES: &[(u32, &str)] = &[
    (
        18,
        "es256 group, 'acceptsValid': a genuine ES256 signature whose S is in the high half \
         (s > n/2). ECDSA accepts both s and n - s, but the pair makes every token malleable, so \
         Tessera signs only low S and refuses the high form by default (non_canonical_signature). \
         Through the door for other issuers' tokens it verifies (checked separately).",
    ),
    (
        346,
        "rfc7520 group: the JWK says alg PS256 but the JWS (RFC 7520 figure 20) is PS384. Tessera \
         binds a key to its JWK's alg, so the PS256 key refuses a PS384 header (alg_mismatch). \
         The same key material bound to PS384 verifies it (checked separately).",
    ),
    (
        347,
        "rfc7520 group: the JWK says alg \"ES521\", which is not a registered JOSE name (ES512 is \
         meant). Tessera refuses a JWK with an unknown alg at import, so nothing verifies with \
         it. The same key with alg ES512 verifies the JWS (checked separately).",
    ),
    (
        350,
        "rfc7520WithKeyOps group: same as 346 (key alg PS256, JWS alg PS384): alg_mismatch.",
    ),
    (
        351,
        "rfc7520WithKeyOps group: same as 347 (key alg \"ES521\"): the key is refused at import.",
    ),
    (
        367,
        "base64 group, 'invalidBase64Padding': marked invalid, but the JWS is byte-identical to \
         the valid tcId 357 (the README's known mislabel). Tessera accepts it, as it must.",
    ),
    (
        370,
        "base64 group, 'invalidBase64PaddingInPayload': marked invalid, but byte-identical to \
         the valid tcId 357 (the README's known mislabel). Tessera accepts it.",
    ),
    (
        372,
        "base64 group, 'InvalidCharacterInsertedInHeader': marked valid, but the header segment \
         contains `?`, which is not base64url. A strict verifier rejects it (base64, header).",
    ),
    (
        373,
        "base64 group, 'InvalidCharacterInsertedInPayload': marked valid, but the payload \
         segment contains `?`, which is not base64url. Rejected (base64, payload).",
    ),
];

/// What Tessera does with each overridden JWS case.
fn jws_override_outcome(tc_id: u32) -> Outcome {
    match tc_id {
        18 => Outcome::Rejected(Error::NonCanonicalSignature),
        346 | 350 => Outcome::Rejected(Error::AlgorithmMismatch),
        347 | 351 => Outcome::KeyRefused(Error::UnsupportedAlgorithm("ES521".into())),
        367 | 370 => Outcome::Accepted,
        372 => Outcome::Rejected(Error::Base64 { segment: "header" }),
        373 => Outcome::Rejected(Error::Base64 { segment: "payload" }),
        _ => panic!("JWS override {tc_id} has no stated outcome"),
    }
}

/// `json_web_key_test.json` cases where Tessera's result differs from the label.
const JWK_OVERRIDES: &[(u32, &str)] = &[(
    1,
    "jws_mixedSymmetryKeyset ('MixedKeySet', 'Ambiguous'): an HS256 secret and an ES256 \
         public key in one set. Wycheproof expects such sets refused because a verifier that \
         picks the algorithm from the header could use one key as the other kind. Tessera's keys \
         are typed and each is bound to its own alg, so the set is unambiguous, and KeySet \
         deliberately allows a symmetric key beside asymmetric ones (rotation). The HS256 JWS \
         names the HS256 key by kid and verifies.",
)];

/// What Tessera does with each overridden JWK case.
fn jwk_override_outcome(tc_id: u32) -> Outcome {
    match tc_id {
        1 => Outcome::Accepted,
        _ => panic!("JWK override {tc_id} has no stated outcome"),
    }
}

// ---------------------------------------------------------------------------------------------
// The suite files
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Suite {
    number_of_tests: usize,
    test_groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    comment: String,
    /// The public key (or key set), when the key is asymmetric.
    #[serde(default)]
    public: Option<Value>,
    /// The private key (or key set); the only key of a symmetric group.
    #[serde(default)]
    private: Option<Value>,
    tests: Vec<Case>,
}

impl Group {
    /// The key to verify with: the public JWK if there is one, else the private (`oct`) one.
    fn verification_key(&self) -> &Value {
        self.public
            .as_ref()
            .or(self.private.as_ref())
            .unwrap_or_else(|| panic!("group {} has no key", self.comment))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    tc_id: u32,
    comment: String,
    jws: String,
    result: Label,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Label {
    Valid,
    Invalid,
}

fn parse_suite(text: &str) -> Suite {
    serde_json::from_str(text).expect("the Wycheproof file parses")
}

// ---------------------------------------------------------------------------------------------
// Running cases
// ---------------------------------------------------------------------------------------------

/// How one case ended in Tessera.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The JWS verified.
    Accepted,
    /// The key or key set was refused at import; a refused key rejects every JWS.
    KeyRefused(Error),
    /// The key was built, and the JWS was rejected.
    Rejected(Error),
}

impl Outcome {
    fn matches(&self, label: Label) -> bool {
        (label == Label::Valid) == (*self == Outcome::Accepted)
    }

    /// A short tag for the tally: `accepted`, `key:<reason>` or `jws:<reason>`.
    fn tag(&self) -> String {
        match self {
            Outcome::Accepted => "accepted".into(),
            Outcome::KeyRefused(err) => format!("key:{}", err.reason()),
            Outcome::Rejected(err) => format!("jws:{}", err.reason()),
        }
    }
}

/// Builds one verification key from a group's JWK, bound to the JWK's own `alg`.
fn import_key(jwk: &Value) -> Result<VerifyingKey, Error> {
    let jwk: Jwk = serde_json::from_value(jwk.clone())
        .map_err(|err| Error::Key(format!("not a JWK: {err}")))?;
    VerifyingKey::from_jwk(&jwk, None)
}

/// Builds a key set from a group's JWK Set, each key bound to its own `alg`.
fn import_key_set(jwks: &Value) -> Result<KeySet, Error> {
    let jwks: JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|err| Error::Key(format!("not a JWK Set: {err}")))?;
    KeySet::from_jwks(&jwks, None)
}

/// Selects the key by the header's `kid`, then verifies at the JWS layer.
fn verify_with_key_set(token: &str, keys: &KeySet) -> Result<(), Error> {
    let header_segment = token.split('.').next().unwrap_or_default();
    let header_bytes =
        base64url::decode(header_segment.as_bytes()).ok_or(Error::Base64 { segment: "header" })?;
    let kid = Header::parse(&header_bytes)?.kid.ok_or(Error::UnknownKey)?;
    let key = keys.get(&kid).ok_or(Error::UnknownKey)?;
    verify_with_key(token, key, DEFAULT_MAX_TOKEN_LEN).map(|_| ())
}

fn jws_suite_outcomes() -> Vec<(u32, Label, Outcome)> {
    let suite = parse_suite(JWS_SUITE);
    let mut outcomes = Vec::new();
    for group in &suite.test_groups {
        let key = import_key(group.verification_key());
        for case in &group.tests {
            let outcome = match &key {
                Err(err) => Outcome::KeyRefused(err.clone()),
                Ok(key) => match verify_with_key(&case.jws, key, DEFAULT_MAX_TOKEN_LEN) {
                    Ok(_) => Outcome::Accepted,
                    Err(err) => Outcome::Rejected(err),
                },
            };
            outcomes.push((case.tc_id, case.result, outcome));
        }
    }
    outcomes
}

fn jwk_suite_outcomes() -> Vec<(u32, Label, Outcome)> {
    let suite = parse_suite(JWK_SUITE);
    let mut outcomes = Vec::new();
    for group in &suite.test_groups {
        let keys = import_key_set(group.verification_key());
        for case in &group.tests {
            let outcome = match &keys {
                Err(err) => Outcome::KeyRefused(err.clone()),
                Ok(keys) => match verify_with_key_set(&case.jws, keys) {
                    Ok(()) => Outcome::Accepted,
                    Err(err) => Outcome::Rejected(err),
                },
            };
            outcomes.push((case.tc_id, case.result, outcome));
        }
    }
    outcomes
}

/// Counts from one suite run.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    total: usize,
    as_labelled: usize,
    overridden: usize,
}

/// Checks every case against its label or its override; panics listing every discrepancy.
fn check(
    name: &str,
    outcomes: &[(u32, Label, Outcome)],
    overrides: &[(u32, &str)],
    override_outcome: fn(u32) -> Outcome,
) -> Summary {
    let overrides: HashMap<u32, &str> = overrides.iter().copied().collect();
    let mut failures = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut summary = Summary {
        total: 0,
        as_labelled: 0,
        overridden: 0,
    };
    for (tc_id, label, outcome) in outcomes {
        summary.total += 1;
        *tally.entry(outcome.tag()).or_default() += 1;
        if let Some(reason) = overrides.get(tc_id) {
            summary.overridden += 1;
            let expected = override_outcome(*tc_id);
            if *outcome != expected {
                failures.push(format!(
                    "tcId {tc_id} (override: {reason}): expected {expected:?}, got {outcome:?}"
                ));
            }
            if outcome.matches(*label) {
                failures.push(format!(
                    "tcId {tc_id} now ends as labelled ({label:?}): remove its override"
                ));
            }
        } else if outcome.matches(*label) {
            summary.as_labelled += 1;
        } else {
            failures.push(format!("tcId {tc_id}: labelled {label:?}, got {outcome:?}"));
        }
    }
    let seen: Vec<u32> = outcomes.iter().map(|(tc_id, _, _)| *tc_id).collect();
    for tc_id in overrides.keys() {
        if !seen.contains(tc_id) {
            failures.push(format!("override tcId {tc_id} is not in the suite"));
        }
    }
    println!(
        "Wycheproof {name}: {} cases, {} as labelled, {} documented overrides",
        summary.total, summary.as_labelled, summary.overridden
    );
    for (tag, count) in &tally {
        println!("  {tag}: {count}");
    }
    assert!(
        failures.is_empty(),
        "Wycheproof {name}: {} discrepancies:\n{}",
        failures.len(),
        failures.join("\n")
    );
    summary
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn wycheproof_jws_cases_end_as_labelled_or_as_a_documented_override() {
    check(
        "JWS",
        &jws_suite_outcomes(),
        JWS_OVERRIDES,
        jws_override_outcome,
    );
}

#[test]
fn wycheproof_jws_suite_runs_all_401_cases() {
    let suite = parse_suite(JWS_SUITE);
    assert_eq!(suite.number_of_tests, JWS_CASES);
    let summary = check(
        "JWS",
        &jws_suite_outcomes(),
        JWS_OVERRIDES,
        jws_override_outcome,
    );
    assert_eq!(
        summary,
        Summary {
            total: JWS_CASES,
            as_labelled: JWS_CASES - JWS_OVERRIDES.len(),
            overridden: JWS_OVERRIDES.len(),
        }
    );
}

#[test]
fn wycheproof_jwk_cases_end_as_labelled_or_as_a_documented_override() {
    let suite = parse_suite(JWK_SUITE);
    assert_eq!(suite.number_of_tests, JWK_CASES);
    let summary = check(
        "JWK",
        &jwk_suite_outcomes(),
        JWK_OVERRIDES,
        jwk_override_outcome,
    );
    assert_eq!(
        summary,
        Summary {
            total: JWK_CASES,
            as_labelled: JWK_CASES - JWK_OVERRIDES.len(),
            overridden: JWK_OVERRIDES.len(),
        }
    );
}

#[test]
fn wycheproof_367_and_370_are_byte_identical_to_the_valid_357() {
    let suite = parse_suite(JWS_SUITE);
    let cases: HashMap<u32, &Case> = suite
        .test_groups
        .iter()
        .flat_map(|group| &group.tests)
        .map(|case| (case.tc_id, case))
        .collect();
    assert_eq!(cases[&357].result, Label::Valid);
    for tc_id in [367, 370] {
        assert_eq!(cases[&tc_id].result, Label::Invalid, "{tc_id}");
        assert_eq!(cases[&tc_id].jws, cases[&357].jws, "{tc_id}");
    }
    for tc_id in [372, 373] {
        assert_eq!(cases[&tc_id].result, Label::Valid, "{tc_id}");
        assert!(cases[&tc_id].jws.contains('?'), "{tc_id}");
    }
}

#[test]
fn wycheproof_rfc7520_overrides_verify_once_the_key_names_the_jws_algorithm() {
    // Evidence for overrides 346/347/350/351: the JWSs are genuine RFC 7520 signatures, and only
    // the key's `alg` label is wrong. Rebinding the same key material to the JWS's algorithm
    // (PS384, ES512) makes them verify.
    let suite = parse_suite(JWS_SUITE);
    let mut checked = 0;
    for group in &suite.test_groups {
        for case in &group.tests {
            let rebound = match case.tc_id {
                346 | 350 => "PS384",
                347 | 351 => "ES512",
                _ => continue,
            };
            let mut jwk: Jwk = serde_json::from_value(group.verification_key().clone()).unwrap();
            assert!(
                matches!(jwk.alg.as_deref(), Some("PS256" | "ES521")),
                "{}: {:?}",
                case.tc_id,
                jwk.alg
            );
            jwk.alg = Some(rebound.into());
            let key = VerifyingKey::from_jwk(&jwk, None).unwrap();
            // The ES512 signature of RFC 7520 figure 27 has a high S: refused by default, verified
            // through the door for other issuers' tokens.
            let verified = if rebound == "ES512" {
                assert_eq!(
                    verify_with_key(&case.jws, &key, DEFAULT_MAX_TOKEN_LEN),
                    Err(Error::NonCanonicalSignature)
                );
                verify_with_key_accepting_high_s_ecdsa(&case.jws, &key, DEFAULT_MAX_TOKEN_LEN)
            } else {
                verify_with_key(&case.jws, &key, DEFAULT_MAX_TOKEN_LEN)
            }
            .unwrap_or_else(|err| panic!("{} ({}): {err:?}", case.tc_id, case.comment));
            assert!(verified
                .payload
                .starts_with("It\u{2019}s a dangerous".as_bytes()));
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}

#[test]
fn wycheproof_high_s_cases_end_as_labelled_through_the_door_for_other_issuers() {
    // Evidence for override 18, and what the door does: every case that the default refuses for
    // its high S ends as labelled through `verify_with_key_accepting_high_s_ecdsa`. The valid one
    // verifies; the invalid ones are still rejected, for what is wrong with them beyond the S.
    let suite = parse_suite(JWS_SUITE);
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for group in &suite.test_groups {
        let Ok(key) = import_key(group.verification_key()) else {
            continue;
        };
        for case in &group.tests {
            let strict = verify_with_key(&case.jws, &key, DEFAULT_MAX_TOKEN_LEN);
            if strict != Err(Error::NonCanonicalSignature) {
                continue;
            }
            let opened =
                verify_with_key_accepting_high_s_ecdsa(&case.jws, &key, DEFAULT_MAX_TOKEN_LEN);
            match case.result {
                Label::Valid => {
                    assert!(opened.is_ok(), "{}: {opened:?}", case.tc_id);
                    valid.push(case.tc_id);
                }
                Label::Invalid => {
                    assert!(
                        matches!(opened, Err(ref err) if *err != Error::NonCanonicalSignature),
                        "{}: {opened:?}",
                        case.tc_id
                    );
                    invalid.push(case.tc_id);
                }
            }
        }
    }
    assert_eq!(valid, [18]);
    // The es256 group's modified signature, payload and header and its embedded attacker `jwk`,
    // and the r/s special cases with s = n - 1 or s = n.
    assert_eq!(
        invalid,
        [19, 22, 23, 25, 32, 388, 389, 392, 393, 396, 397, 400, 401]
    );
}

/// The groups of `json_web_key_test.json` by comment, with their verification key sets.
fn jwk_suite_group(comment: &str) -> Group {
    parse_suite(JWK_SUITE)
        .test_groups
        .into_iter()
        .find(|group| group.comment == comment)
        .unwrap_or_else(|| panic!("no group {comment}"))
}

#[test]
fn wycheproof_duplicate_kid_set_is_refused_for_the_duplicate() {
    // tcId 4 is rejected, but its second key is refused first: its `k` ends in a non-canonical
    // base64url character. With that character made canonical, the set is refused for its
    // duplicate kid, which is what the case is about.
    let group = jwk_suite_group("jws_duplicate_kid");
    let mut jwks: JwkSet = serde_json::from_value(group.verification_key().clone()).unwrap();
    assert_eq!(
        import_key_set(group.verification_key()).unwrap_err(),
        Error::Key("the JWK's `k` is not base64url".into())
    );
    let second = jwks.keys[1].k.as_mut().unwrap();
    assert!(second.ends_with("ge"));
    let last = second.len() - 1;
    second.replace_range(last.., "E");
    assert_eq!(
        KeySet::from_jwks(&jwks, None).unwrap_err(),
        Error::Key("duplicate kid `kid-aes-sign` in key set".into())
    );
}

#[test]
fn wycheproof_rsa_key_with_exponent_one_is_refused_at_import() {
    // tcId 9: with e = 1 the forged "signature" is the PKCS #1 v1.5 padded message itself.
    let group = jwk_suite_group("exponentOne");
    let err = import_key_set(group.verification_key()).unwrap_err();
    assert!(
        matches!(err, Error::Key(ref text) if text.contains("exponent")),
        "{err}"
    );
}

#[test]
fn wycheproof_encryption_keys_are_refused_even_when_the_algorithm_is_named() {
    // tcIds 353-356 are refused because their JWKs have no alg. Naming the algorithm does not
    // help: `use: enc` and `key_ops: [encrypt]` keys are still refused for verification.
    let suite = parse_suite(JWS_SUITE);
    let mut checked = 0;
    for group in &suite.test_groups {
        let (algorithm, expected) = match group.tests.first().map(|case| case.tc_id) {
            Some(353) => (Algorithm::RS256, "use is not sig"),
            Some(354) => (Algorithm::ES256, "use is not sig"),
            Some(355) => (Algorithm::RS256, "key_ops do not include verify"),
            Some(356) => (Algorithm::ES256, "key_ops do not include verify"),
            _ => continue,
        };
        let jwk: Jwk = serde_json::from_value(group.verification_key().clone()).unwrap();
        let err = VerifyingKey::from_jwk(&jwk, Some(algorithm)).unwrap_err();
        assert!(
            matches!(err, Error::Key(ref text) if text.contains(expected)),
            "{}: {err}",
            group.comment
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}
