//! Strict access-token verification, in the documented order (see the crate docs).

use crate::claims::{AccessClaims, RawClaims, REGISTERED};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::json::parse_slotted;
use crate::jws::{check_signature, decode, HighS, DEFAULT_MAX_TOKEN_LEN};
use crate::keyset::KeySet;
use std::sync::Arc;

/// Default clock leeway for `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY: u64 = 30;

/// Verifies access tokens against a key set, an issuer and an audience.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Arc<KeySet>,
    issuer: String,
    audience: String,
    leeway: u64,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
    high_s: HighS,
}

fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

impl Verifier {
    /// A verifier requiring `iss == issuer` and `audience` in `aud`, with the default leeway
    /// (30 s), size cap (8 KiB) and the system clock.
    #[must_use]
    pub fn new(keys: Arc<KeySet>, issuer: &str, audience: &str) -> Self {
        Verifier {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: DEFAULT_LEEWAY,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            high_s: HighS::Refuse,
        }
    }

    /// Sets the clock leeway in seconds (0 allowed).
    #[must_use]
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Sets the largest token accepted, in bytes.
    #[must_use]
    pub fn with_max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens the door to ECDSA signatures with a high S (`s > n/2`), which this verifier refuses
    /// by default: for judging the tokens of another issuer, whose library may sign either form
    /// (ECDSA as standardised leaves the half S falls in open; PyJWT and `jose` sign either).
    /// Tessera's own tokens are always low S and need no such door.
    ///
    /// # Security
    /// With the door open, every ECDSA token has a second valid encoding: its twin `(r, n - s)`,
    /// which anyone who sees the token can compute without the key. The twin carries the same
    /// claims, so it grants nothing the token did not, but it is a different string: anything that
    /// tells tokens apart by their bytes (a cache key, a digest in a log or a deny-list, a replay
    /// check) sees two tokens. Tessera's deny-lists work by `jti`, `sid` and time, never by bytes.
    /// Open this door only where the signer is someone else, never for a key set of Tessera's
    /// own keys, and identify tokens by `jti`.
    #[must_use]
    pub fn accepting_high_s_ecdsa(mut self) -> Self {
        self.high_s = HighS::Accept;
        self
    }

    /// The key set tokens are checked against.
    #[must_use]
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// Verifies an access token and returns its claims.
    ///
    /// The order is fixed: size cap, three segments, strict base64url, closed header, `typ`, key
    /// by `kid`, `alg` equality, the signature's form (exact length; for ECDSA a low S unless
    /// [`Verifier::accepting_high_s_ecdsa`] opened the door), the signature; only then the
    /// payload (UTF-8 JSON object, no duplicates, typed claims), `exp`/`nbf`/`iat` with leeway,
    /// `iss`, `aud`, and the required `sub` and `jti`.
    ///
    /// # Errors
    /// The [`Error`] variant naming the first step that failed.
    ///
    /// # Security
    /// Nothing in the payload is interpreted before the signature has verified.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessClaims> {
        self.verify_access_token_by_key(token)
            .map(|(claims, _)| claims)
    }

    /// [`Verifier::verify_access_token`], also saying which key verified the token (its `kid`):
    /// for metrics that show when a rotated-out key is last used.
    ///
    /// # Errors
    /// As [`Verifier::verify_access_token`].
    pub fn verify_access_token_by_key(&self, token: &str) -> Result<(AccessClaims, &str)> {
        let decoded = decode(token, self.max_token_len)?;
        match decoded.header.typ.as_deref() {
            None => return Err(Error::TokenType("typ is missing")),
            Some(typ) if !is_access_token_typ(typ) => {
                return Err(Error::TokenType("typ is not at+jwt"))
            }
            Some(_) => {}
        }
        let key = decoded
            .header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(Error::UnknownKey)?;
        check_signature(&decoded, key, self.high_s)?;

        let payload = parse_slotted(&decoded.payload, &REGISTERED)
            .map_err(|refusal| Error::Payload(refusal.describe()))?;
        let claims = self.check(RawClaims::from_slots(payload.slots, payload.rest)?)?;
        Ok((claims, key.kid()))
    }

    fn check(&self, raw: RawClaims) -> Result<AccessClaims> {
        let now = self.clock.now();
        let exp = raw.exp.ok_or(Error::MissingClaim("exp"))?;
        if now >= exp.saturating_add(self.leeway) {
            return Err(Error::Expired);
        }
        if raw
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(Error::NotYetValid);
        }
        if raw
            .iat
            .is_some_and(|iat| iat > now.saturating_add(self.leeway))
        {
            return Err(Error::IssuedInFuture);
        }
        let iss = raw.iss.ok_or(Error::MissingClaim("iss"))?;
        if iss != self.issuer {
            return Err(Error::Issuer);
        }
        let aud = raw.aud.ok_or(Error::MissingClaim("aud"))?;
        if !aud.contains(&self.audience) {
            return Err(Error::Audience);
        }
        Ok(AccessClaims {
            iss,
            sub: raw.sub.ok_or(Error::MissingClaim("sub"))?,
            aud,
            exp,
            iat: raw.iat,
            nbf: raw.nbf,
            jti: raw.jti.ok_or(Error::MissingClaim("jti"))?,
            sid: raw.sid,
            client_id: raw.client_id,
            extra: raw.extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::base64url;
    use crate::clock::FixedClock;
    use crate::issue::{AccessTokenRequest, TokenIssuer};
    use crate::keys::SigningKey;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://auth.test";
    const AUD: &str = "api";

    struct Fixture {
        key: Arc<SigningKey>,
        clock: Arc<FixedClock>,
        verifier: Verifier,
    }

    fn fixture(algorithm: Algorithm) -> Fixture {
        let key = if algorithm.is_symmetric() {
            SigningKey::from_hmac_secret(algorithm, &[42; 64]).unwrap()
        } else {
            SigningKey::generate(algorithm).unwrap().0
        };
        let keys = Arc::new(KeySet::with_signing_key(key));
        let key = keys.signing_key().unwrap().clone();
        let clock = Arc::new(FixedClock::new(NOW));
        let verifier = Verifier::new(keys, ISS, AUD).with_clock(clock.clone());
        Fixture {
            key,
            clock,
            verifier,
        }
    }

    /// Signs arbitrary header and payload JSON text with the fixture's key.
    fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(payload.as_bytes())
        );
        let signature = key.sign(signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", base64url::encode(&signature))
    }

    fn header(key: &SigningKey) -> String {
        json!({"alg": key.algorithm().name(), "typ": "at+jwt", "kid": key.kid()}).to_string()
    }

    fn claims() -> serde_json::Value {
        json!({"iss": ISS, "sub": "u1", "aud": AUD, "exp": NOW + 60, "iat": NOW, "nbf": NOW, "jti": "j1"})
    }

    fn issue(f: &Fixture) -> String {
        TokenIssuer::new(f.key.clone(), ISS, AUD, 600)
            .with_clock(f.clock.clone())
            .issue(&AccessTokenRequest {
                subject: "u1".into(),
                session_id: Some("s1".into()),
                ..Default::default()
            })
            .unwrap()
            .token
    }

    #[test]
    fn issued_tokens_verify_for_every_algorithm() {
        for algorithm in Algorithm::ALL {
            let f = fixture(algorithm);
            let claims = f.verifier.verify_access_token(&issue(&f)).unwrap();
            assert_eq!(claims.sub, "u1", "{algorithm}");
            assert_eq!(claims.sid.as_deref(), Some("s1"));
            assert_eq!(claims.exp, NOW + 600);
            assert_eq!(base64url::decode(claims.jti.as_bytes()).unwrap().len(), 16);
        }
    }

    #[test]
    fn step_1_size_cap() {
        let f = fixture(Algorithm::HS256);
        let token = issue(&f);
        let verifier = f.verifier.clone().with_max_token_len(token.len() - 1);
        assert!(matches!(
            verifier.verify_access_token(&token),
            Err(Error::TokenTooLarge { .. })
        ));
    }

    #[test]
    fn step_2_segments() {
        let f = fixture(Algorithm::HS256);
        let token = issue(&f);
        assert_eq!(
            f.verifier.verify_access_token(&format!("{token}.x")),
            Err(Error::Segments { found: 4 })
        );
        let two = token.rsplit_once('.').unwrap().0;
        assert_eq!(
            f.verifier.verify_access_token(two),
            Err(Error::Segments { found: 2 })
        );
    }

    #[test]
    fn step_3_strict_base64url() {
        let f = fixture(Algorithm::HS256);
        let token = issue(&f);
        assert_eq!(
            f.verifier.verify_access_token(&format!("{token}=")),
            Err(Error::Base64 {
                segment: "signature"
            })
        );
        let with_space = token.replacen('.', ". ", 1);
        assert_eq!(
            f.verifier.verify_access_token(&with_space),
            Err(Error::Base64 { segment: "payload" })
        );
    }

    #[test]
    fn step_4_header_rules() {
        let f = fixture(Algorithm::HS256);
        let kid = f.key.kid().to_owned();
        let dup = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}","kid":"{kid}"}}"#);
        let crit = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}","crit":["exp"]}}"#);
        for header in [dup, crit] {
            let token = forge(&f.key, &header, &claims().to_string());
            assert!(
                matches!(
                    f.verifier.verify_access_token(&token),
                    Err(Error::Header(_))
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn step_5_typ_must_be_at_jwt() {
        let f = fixture(Algorithm::ES256);
        let kid = f.key.kid();
        for (typ, ok) in [
            (Some("at+jwt"), true),
            (Some("AT+JWT"), true),
            (Some("application/at+jwt"), true),
            (Some("JWT"), false),
            (Some("id_token+jwt"), false),
            (None, false),
        ] {
            let mut header = json!({"alg": "ES256", "kid": kid});
            if let Some(typ) = typ {
                header["typ"] = json!(typ);
            }
            let token = forge(&f.key, &header.to_string(), &claims().to_string());
            let result = f.verifier.verify_access_token(&token);
            assert_eq!(result.is_ok(), ok, "{typ:?}: {result:?}");
            if !ok {
                assert!(matches!(result, Err(Error::TokenType(_))));
            }
        }
    }

    #[test]
    fn step_6_key_by_kid_only() {
        let f = fixture(Algorithm::ES256);
        let no_kid = json!({"alg": "ES256", "typ": "at+jwt"}).to_string();
        let other_kid = json!({"alg": "ES256", "typ": "at+jwt", "kid": "someone-else"}).to_string();
        let embedded_jwk = json!({"alg": "ES256", "typ": "at+jwt",
            "jwk": f.key.verifying_key().public_jwk().unwrap()})
        .to_string();
        for header in [no_kid, other_kid, embedded_jwk] {
            let token = forge(&f.key, &header, &claims().to_string());
            assert_eq!(
                f.verifier.verify_access_token(&token),
                Err(Error::UnknownKey),
                "{header}"
            );
        }
    }

    #[test]
    fn step_7_alg_must_equal_the_keys_algorithm() {
        let f = fixture(Algorithm::ES256);
        let kid = f.key.kid();
        for alg in ["ES384", "HS256", "none", "es256", "RS256"] {
            let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string();
            let token = forge(&f.key, &header, &claims().to_string());
            assert_eq!(
                f.verifier.verify_access_token(&token),
                Err(Error::AlgorithmMismatch),
                "{alg}"
            );
        }
    }

    #[test]
    fn key_confusion_hs256_with_public_key_bytes_is_refused() {
        // The classic attack: sign HS256 with the RSA public key's bytes as the HMAC secret.
        let f = fixture(Algorithm::RS256);
        let public = serde_json::to_vec(f.key.verifying_key().public_jwk().unwrap()).unwrap();
        let attacker = SigningKey::from_hmac_secret(Algorithm::HS256, &public).unwrap();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": f.key.kid()}).to_string();
        let token = forge(&attacker, &header, &claims().to_string());
        assert_eq!(
            f.verifier.verify_access_token(&token),
            Err(Error::AlgorithmMismatch)
        );
    }

    #[test]
    fn step_8_signature_length() {
        let f = fixture(Algorithm::ES256);
        let token = issue(&f);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = base64url::decode(signature.as_bytes()).unwrap();
        bytes.push(0);
        let longer = format!("{input}.{}", base64url::encode(&bytes));
        assert_eq!(
            f.verifier.verify_access_token(&longer),
            Err(Error::SignatureLength)
        );
        // A DER-encoded ECDSA signature (what some libraries emit) is refused by length too.
        let empty = format!("{input}.");
        assert_eq!(
            f.verifier.verify_access_token(&empty),
            Err(Error::SignatureLength)
        );
    }

    #[test]
    fn step_8_ecdsa_signatures_must_have_a_low_s() {
        for algorithm in [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512] {
            let f = fixture(algorithm);
            let token = issue(&f);
            let claims = f.verifier.verify_access_token(&token).unwrap();
            // The twin (r, n - s): the same signature with S in the high half.
            let (input, signature) = token.rsplit_once('.').unwrap();
            let mut twin = base64url::decode(signature.as_bytes()).unwrap();
            let order: &[u8] = match twin.len() {
                64 => &crate::ecdsa::P256_ORDER,
                96 => &crate::ecdsa::P384_ORDER,
                _ => &crate::ecdsa::P521_ORDER,
            };
            crate::ecdsa::negate_s(&mut twin, order);
            let twin = format!("{input}.{}", base64url::encode(&twin));
            assert_eq!(
                f.verifier.verify_access_token(&twin),
                Err(Error::NonCanonicalSignature),
                "{algorithm}"
            );
            let opened = f.verifier.clone().accepting_high_s_ecdsa();
            assert_eq!(opened.verify_access_token(&twin), Ok(claims.clone()));
            assert_eq!(opened.verify_access_token(&token), Ok(claims));
        }
        // Only ECDSA has the pair; other algorithms never see this step's refusal.
        let f = fixture(Algorithm::EdDSA);
        let token = issue(&f);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = base64url::decode(signature.as_bytes()).unwrap();
        bytes[40] ^= 0x80;
        let changed = format!("{input}.{}", base64url::encode(&bytes));
        assert_eq!(
            f.verifier.verify_access_token(&changed),
            Err(Error::Signature)
        );
    }

    #[test]
    fn step_9_signature_over_received_bytes() {
        let f = fixture(Algorithm::HS256);
        let token = issue(&f);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let other = forge(&f.key, &header(&f.key), &claims().to_string());
        let (_, other_signature) = other.rsplit_once('.').unwrap();
        assert_ne!(signature, other_signature);
        let swapped = format!("{input}.{other_signature}");
        assert_eq!(
            f.verifier.verify_access_token(&swapped),
            Err(Error::Signature)
        );
    }

    #[test]
    fn step_10_payload_rules() {
        let f = fixture(Algorithm::HS256);
        let header = header(&f.key);
        let cases = [
            ("[1,2]".to_owned(), "not a JSON object"),
            (
                "{\"sub\":\"a\",\"sub\":\"b\"}".to_owned(),
                "duplicate member name",
            ),
            ("not json".to_owned(), "not JSON"),
        ];
        for (payload, expected) in cases {
            let token = forge(&f.key, &header, &payload);
            assert_eq!(
                f.verifier.verify_access_token(&token),
                Err(Error::Payload(expected))
            );
        }
        let mut float = claims();
        float["exp"] = json!((NOW + 60) as f64 + 0.5);
        let token = forge(&f.key, &header, &float.to_string());
        assert!(matches!(
            f.verifier.verify_access_token(&token),
            Err(Error::ClaimType { claim: "exp", .. })
        ));
    }

    #[test]
    fn step_11_time_claims_with_leeway() {
        let f = fixture(Algorithm::HS256);
        let header = header(&f.key);
        let at = |claims: serde_json::Value, leeway: u64| {
            let token = forge(&f.key, &header, &claims.to_string());
            f.verifier
                .clone()
                .with_leeway(leeway)
                .verify_access_token(&token)
        };
        let mut expired = claims();
        expired["exp"] = json!(NOW);
        assert_eq!(
            at(expired.clone(), 0),
            Err(Error::Expired),
            "now must be before exp"
        );
        assert!(at(expired.clone(), 1).is_ok(), "leeway");
        expired["exp"] = json!(NOW - 30);
        assert_eq!(at(expired, 30), Err(Error::Expired));
        let mut early = claims();
        early["nbf"] = json!(NOW + 31);
        assert_eq!(at(early.clone(), 30), Err(Error::NotYetValid));
        early["nbf"] = json!(NOW + 30);
        assert!(at(early, 30).is_ok());
        let mut future = claims();
        future["iat"] = json!(NOW + 31);
        assert_eq!(at(future, 30), Err(Error::IssuedInFuture));
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(at(no_exp, 30), Err(Error::MissingClaim("exp")));
    }

    #[test]
    fn issued_token_expires_by_the_injected_clock() {
        let f = fixture(Algorithm::EdDSA);
        let token = issue(&f);
        f.clock.advance(600 + DEFAULT_LEEWAY - 1);
        assert!(f.verifier.verify_access_token(&token).is_ok());
        f.clock.advance(1);
        assert_eq!(f.verifier.verify_access_token(&token), Err(Error::Expired));
    }

    #[test]
    fn steps_12_to_14_iss_aud_required() {
        let f = fixture(Algorithm::HS256);
        let header = header(&f.key);
        let check = |claims: serde_json::Value| {
            f.verifier
                .verify_access_token(&forge(&f.key, &header, &claims.to_string()))
        };
        let mut c = claims();
        c["iss"] = json!("https://auth.test/");
        assert_eq!(check(c), Err(Error::Issuer));
        let mut c = claims();
        c["aud"] = json!(["other", "more"]);
        assert_eq!(check(c), Err(Error::Audience));
        let mut c = claims();
        c["aud"] = json!(["other", AUD]);
        assert!(check(c).is_ok());
        for claim in ["iss", "aud", "sub", "jti"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(claim);
            assert_eq!(check(c), Err(Error::MissingClaim(claim)), "{claim}");
        }
    }

    #[test]
    fn custom_claims_survive_and_reserved_names_are_refused() {
        let f = fixture(Algorithm::HS256);
        let issuer = TokenIssuer::new(f.key.clone(), ISS, AUD, 600).with_clock(f.clock.clone());
        let mut extra = serde_json::Map::new();
        extra.insert("scope".into(), json!("read write"));
        let issued = issuer
            .issue(&AccessTokenRequest {
                subject: "u1".into(),
                extra: extra.clone(),
                ..Default::default()
            })
            .unwrap();
        let claims = f.verifier.verify_access_token(&issued.token).unwrap();
        assert_eq!(claims.extra, extra);
        extra.insert("exp".into(), json!(1));
        let refused = issuer.issue(&AccessTokenRequest {
            subject: "u1".into(),
            extra,
            ..Default::default()
        });
        assert!(matches!(refused, Err(Error::Issue(_))));
    }
}
