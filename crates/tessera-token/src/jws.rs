//! The JWS compact layer (RFC 7515 §7.1): split, strict base64url, a closed protected header,
//! algorithm binding, the signature's form (length; low S for ECDSA), and the signature over the
//! received bytes.
//!
//! This layer knows nothing of JWT claims; [`crate::Verifier`] builds the access-token checks on it.

use crate::base64url;
use crate::error::{Error, Result};
use crate::json::parse_slotted;
use crate::keys::VerifyingKey;
use crate::signer::Signer;
use serde_json::Value;

/// Default cap on a token's length in bytes (step 1 of verification).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The protected header, reduced to the members Tessera uses.
///
/// Key-carrying members (`jwk`, `jku`, `x5u`, `x5c`, `x5t`) are never read: a key never comes from
/// the token it is meant to check. Unknown, non-critical members are ignored as RFC 7515 §4 asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The `alg` member, exactly as received.
    pub alg: String,
    /// The `typ` member, if any.
    pub typ: Option<String>,
    /// The `kid` member, if any.
    pub kid: Option<String>,
    /// The `cty` member, if any.
    pub cty: Option<String>,
}

impl Header {
    /// Parses header bytes: UTF-8 JSON object, no duplicate members, `alg` a string, `typ`/`kid`/
    /// `cty` strings when present, no `crit` (Tessera understands no extension), no `b64`.
    ///
    /// # Errors
    /// [`Error::Header`] naming the rule broken.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let [alg, typ, kid, cty, crit, b64] =
            parse_slotted(bytes, &["alg", "typ", "kid", "cty", "crit", "b64"])
                .map_err(|refusal| Error::Header(refusal.describe()))?
                .slots;
        match crit {
            None => {}
            Some(Value::Array(names)) if names.is_empty() => {
                return Err(Error::Header("crit is empty (RFC 7515 section 4.1.11)"))
            }
            Some(Value::Array(_)) => {
                return Err(Error::Header(
                    "crit names an extension this verifier does not support",
                ))
            }
            Some(_) => return Err(Error::Header("crit is not an array")),
        }
        if b64.is_some() {
            return Err(Error::Header(
                "b64 (RFC 7797 unencoded payload) is not supported",
            ));
        }
        let text = |member: Option<Value>, wrong_type: &'static str| match member {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(Error::Header(wrong_type)),
        };
        Ok(Header {
            alg: text(alg, "alg is not a string")?.ok_or(Error::Header("alg is missing"))?,
            typ: text(typ, "typ is not a string")?,
            kid: text(kid, "kid is not a string")?,
            cty: text(cty, "cty is not a string")?,
        })
    }
}

/// A compact JWS after steps 1-4: size checked, split, decoded, header parsed.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub(crate) header: Header,
    pub(crate) signing_input: &'a [u8],
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// Steps 1-4: size cap, exactly three segments, strict base64url, closed header.
pub(crate) fn decode(token: &str, max_len: usize) -> Result<Decoded<'_>> {
    let bytes = token.as_bytes();
    if bytes.len() > max_len {
        return Err(Error::TokenTooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let segments = token.split_once('.').and_then(|(header, rest)| {
        let (payload, signature) = rest.split_once('.')?;
        (!signature.contains('.')).then_some((header, payload, signature))
    });
    let Some((header_segment, payload_segment, signature_segment)) = segments else {
        return Err(Error::Segments {
            found: bytes.iter().filter(|&&byte| byte == b'.').count() + 1,
        });
    };
    let header_bytes =
        base64url::decode(header_segment.as_bytes()).ok_or(Error::Base64 { segment: "header" })?;
    let payload_bytes = base64url::decode(payload_segment.as_bytes())
        .ok_or(Error::Base64 { segment: "payload" })?;
    let signature_bytes = base64url::decode(signature_segment.as_bytes()).ok_or(Error::Base64 {
        segment: "signature",
    })?;
    Ok(Decoded {
        header: Header::parse(&header_bytes)?,
        signing_input: &bytes[..header_segment.len() + 1 + payload_segment.len()],
        payload: payload_bytes,
        signature: signature_bytes,
    })
}

/// What step 8 does with an ECDSA signature whose S is in the high half (`s > n/2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HighS {
    /// Refuse it ([`Error::NonCanonicalSignature`]): the default, and what Tessera's own tokens
    /// need, as Tessera signs only low S.
    Refuse,
    /// Verify it like a low S: for tokens of issuers whose libraries sign either form.
    Accept,
}

/// Steps 7-9: `alg` equal to the key's algorithm, the signature's form (exact length; for ECDSA,
/// low S unless `high_s` accepts either), the signature over the received signing input.
pub(crate) fn check_signature(
    decoded: &Decoded<'_>,
    key: &VerifyingKey,
    high_s: HighS,
) -> Result<()> {
    if !key.algorithm().accepts_header_alg(&decoded.header.alg) {
        return Err(Error::AlgorithmMismatch);
    }
    if decoded.signature.len() != key.signature_len() {
        return Err(Error::SignatureLength);
    }
    if high_s == HighS::Refuse && key.is_high_s_ecdsa(&decoded.signature) {
        return Err(Error::NonCanonicalSignature);
    }
    key.verify_signature(decoded.signing_input, &decoded.signature)
}

/// A JWS whose signature has been verified; the payload is not interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJws {
    /// The protected header.
    pub header: Header,
    /// The payload bytes, exactly as signed.
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS with one given key: the JWS layer alone (steps 1-4 and 7-9), with no
/// `typ` or claims policy. Use [`crate::Verifier`] for access tokens.
///
/// An ECDSA signature must have a low S (`s <= n/2`), the form Tessera signs; for a JWS of
/// another issuer, whose library may sign either form, see
/// [`verify_with_key_accepting_high_s_ecdsa`].
///
/// # Errors
/// The [`Error`] variant of the first step that fails.
pub fn verify_with_key(token: &str, key: &VerifyingKey, max_len: usize) -> Result<VerifiedJws> {
    verify_jws(token, key, max_len, HighS::Refuse)
}

/// [`verify_with_key`], except that an ECDSA signature with a high S (`s > n/2`) verifies like a
/// low one. For JWSs of other issuers: ECDSA as standardised leaves the half S falls in open, and
/// PyJWT, `jose` and most JOSE libraries sign either.
///
/// # Errors
/// The [`Error`] variant of the first step that fails.
///
/// # Security
/// Every ECDSA JWS accepted here has a second encoding that is accepted too: `(r, n - s)`, which
/// anyone can compute from the JWS without the key. Both carry the same payload, so nothing new
/// is granted, but anything that tells JWSs apart by their bytes (a cache key, a digest in a log
/// or a deny-list, a replay check) sees two. Identify tokens by a claim such as `jti`, never by
/// their bytes, and use [`verify_with_key`] for Tessera's own tokens, which are always low S.
pub fn verify_with_key_accepting_high_s_ecdsa(
    token: &str,
    key: &VerifyingKey,
    max_len: usize,
) -> Result<VerifiedJws> {
    verify_jws(token, key, max_len, HighS::Accept)
}

fn verify_jws(
    token: &str,
    key: &VerifyingKey,
    max_len: usize,
    high_s: HighS,
) -> Result<VerifiedJws> {
    let decoded = decode(token, max_len)?;
    check_signature(&decoded, key, high_s)?;
    Ok(VerifiedJws {
        header: decoded.header,
        payload: decoded.payload,
    })
}

/// Produces a compact JWS: `header_b64 . base64url(payload) . base64url(signature)`.
///
/// `header_b64` must be the base64url encoding of a header naming the key's algorithm.
///
/// # Errors
/// [`Error::Crypto`] if signing fails.
pub(crate) fn sign_compact(header_b64: &str, payload: &[u8], key: &dyn Signer) -> Result<String> {
    let encoded_len = |len: usize| len.div_ceil(3) * 4;
    let capacity =
        header_b64.len() + 2 + encoded_len(payload.len()) + encoded_len(key.signature_len());
    let mut token = String::with_capacity(capacity);
    token.push_str(header_b64);
    token.push('.');
    base64url::encode_into(payload, &mut token);
    let signing_input_len = token.len();
    token.push('.');
    key.sign_encoded_into(signing_input_len, &mut token)?;
    Ok(token)
}

/// The base64url protected header `{"alg", "typ", "kid"}` for a key and token type.
pub(crate) fn header_b64(key: &dyn Signer, typ: &str) -> String {
    let header = serde_json::json!({ "alg": key.algorithm().name(), "typ": typ, "kid": key.kid() });
    base64url::encode(header.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Result<Header> {
        Header::parse(json.as_bytes())
    }

    #[test]
    fn header_accepts_the_usual_members() {
        let parsed = header(r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","x-custom":1}"#).unwrap();
        assert_eq!(parsed.alg, "ES256");
        assert_eq!(parsed.typ.as_deref(), Some("at+jwt"));
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn header_refuses_crit_b64_duplicates_and_wrong_types() {
        let cases = [
            (r#"{"alg":"HS256","crit":[]}"#, "crit is empty"),
            (r#"{"alg":"HS256","crit":["exp"],"exp":1}"#, "crit names"),
            (r#"{"alg":"HS256","crit":"exp"}"#, "crit is not an array"),
            (
                r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
                "crit names",
            ),
            (r#"{"alg":"HS256","b64":true}"#, "b64"),
            (r#"{"alg":"HS256","alg":"none"}"#, "duplicate"),
            (r#"{"alg":256}"#, "alg is not a string"),
            (r#"{"typ":"JWT"}"#, "alg is missing"),
            (r#"{"alg":"HS256","kid":7}"#, "kid is not a string"),
            (r#"["HS256"]"#, "not a JSON object"),
            ("{\"alg\":\"HS256\"", "not JSON"),
        ];
        for (json, expected) in cases {
            match header(json) {
                Err(Error::Header(text)) => assert!(text.contains(expected), "{json}: {text}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn decode_checks_size_segments_and_base64_in_order() {
        let too_long = "a".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
        assert!(matches!(
            decode(&too_long, DEFAULT_MAX_TOKEN_LEN),
            Err(Error::TokenTooLarge { .. })
        ));
        assert_eq!(
            decode("a.b", 100).unwrap_err(),
            Error::Segments { found: 2 }
        );
        assert_eq!(
            decode("a.b.c.d", 100).unwrap_err(),
            Error::Segments { found: 4 }
        );
        assert_eq!(
            decode("a=.e30.AA", 100).unwrap_err(),
            Error::Base64 { segment: "header" }
        );
        assert_eq!(
            decode("e30.e3 .AA", 100).unwrap_err(),
            Error::Base64 { segment: "payload" }
        );
        assert_eq!(
            decode("e30.e30.A+", 100).unwrap_err(),
            Error::Base64 {
                segment: "signature"
            }
        );
        // `e30` is `{}`: the header then fails for lack of alg, after base64 passed.
        assert_eq!(
            decode("e30.e30.AA", 100).unwrap_err(),
            Error::Header("alg is missing")
        );
    }
}
