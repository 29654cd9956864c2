//! Access-token claims (RFC 9068 profile), typed, with strict NumericDate handling.

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};

/// The largest NumericDate accepted: 9999-12-31T23:59:59Z. Anything later is refused as out of
/// range rather than risking overflow in time arithmetic.
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// Claim names Tessera sets itself; callers cannot supply them as custom claims.
pub const RESERVED_CLAIMS: [&str; 9] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sid",
    "client_id",
];

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience string.
    One(String),
    /// An array of audience strings.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is (one of) the token's audience(s).
    #[must_use]
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

/// The claims of a verified (or freshly issued) access token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued-at, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not-before, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token id (at least 128 random bits for tokens Tessera issues).
    pub jti: String,
    /// Session id: ties the token to a login session, for logout and revocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Every other claim, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Registered claims as found in a payload, typed but not yet judged against policy.
#[derive(Debug)]
pub(crate) struct RawClaims {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Option<Audience>,
    pub(crate) exp: Option<u64>,
    pub(crate) iat: Option<u64>,
    pub(crate) nbf: Option<u64>,
    pub(crate) jti: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) extra: Map<String, Value>,
}

/// The registered claim names, in the order of [`RawClaims::from_slots`].
pub(crate) const REGISTERED: [&str; 9] = RESERVED_CLAIMS;

fn string_claim(member: Option<Value>, claim: &'static str) -> Result<Option<String>> {
    match member {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(Error::ClaimType {
            claim,
            reason: "must be a string",
        }),
    }
}

fn numeric_date(member: Option<Value>, claim: &'static str) -> Result<Option<u64>> {
    let invalid = |reason| Error::ClaimType { claim, reason };
    match member {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(seconds) = number.as_u64() {
                if seconds <= MAX_NUMERIC_DATE {
                    Ok(Some(seconds))
                } else {
                    Err(invalid("is out of range"))
                }
            } else if number.is_i64() {
                Err(invalid("must not be negative"))
            } else {
                Err(invalid("must be an integer NumericDate"))
            }
        }
        Some(_) => Err(invalid("must be an integer NumericDate")),
    }
}

fn audience(member: Option<Value>) -> Result<Option<Audience>> {
    let invalid = || Error::ClaimType {
        claim: "aud",
        reason: "must be a string or an array of strings",
    };
    match member {
        None => Ok(None),
        Some(Value::String(one)) => Ok(Some(Audience::One(one))),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(one) => Ok(one),
                _ => Err(invalid()),
            })
            .collect::<Result<Vec<_>>>()
            .map(|many| Some(Audience::Many(many))),
        Some(_) => Err(invalid()),
    }
}

impl RawClaims {
    /// Types the registered claims, given in the order of [`REGISTERED`]; `extra` holds the rest.
    pub(crate) fn from_slots(slots: [Option<Value>; 9], extra: Map<String, Value>) -> Result<Self> {
        let [iss, sub, aud, exp, iat, nbf, jti, sid, client_id] = slots;
        Ok(RawClaims {
            iss: string_claim(iss, "iss")?,
            sub: string_claim(sub, "sub")?,
            aud: audience(aud)?,
            exp: numeric_date(exp, "exp")?,
            iat: numeric_date(iat, "iat")?,
            nbf: numeric_date(nbf, "nbf")?,
            jti: string_claim(jti, "jti")?,
            sid: string_claim(sid, "sid")?,
            client_id: string_claim(client_id, "client_id")?,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Result<RawClaims> {
        let object = crate::json::parse_slotted(json.as_bytes(), &REGISTERED).unwrap();
        RawClaims::from_slots(object.slots, object.rest)
    }

    #[test]
    fn numeric_dates_must_be_integers_in_range() {
        assert_eq!(
            raw(r#"{"exp":1700000000}"#).unwrap().exp,
            Some(1_700_000_000)
        );
        assert_eq!(raw(r#"{"exp":0}"#).unwrap().exp, Some(0));
        for (json, reason) in [
            (r#"{"exp":"1700000000"}"#, "must be an integer NumericDate"),
            (r#"{"exp":1700000000.0}"#, "must be an integer NumericDate"),
            (r#"{"exp":1700000000.5}"#, "must be an integer NumericDate"),
            (r#"{"exp":1e10}"#, "must be an integer NumericDate"),
            (r#"{"exp":null}"#, "must be an integer NumericDate"),
            (r#"{"exp":true}"#, "must be an integer NumericDate"),
            (r#"{"exp":-1}"#, "must not be negative"),
            (r#"{"exp":253402300800}"#, "is out of range"),
            (r#"{"exp":18446744073709551615}"#, "is out of range"),
            (
                r#"{"exp":18446744073709551616}"#,
                "must be an integer NumericDate",
            ),
            (r#"{"nbf":[1]}"#, "must be an integer NumericDate"),
            (r#"{"iat":{}}"#, "must be an integer NumericDate"),
        ] {
            match raw(json) {
                Err(Error::ClaimType { reason: got, .. }) => assert_eq!(got, reason, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn string_claims_and_audience_are_typed() {
        let claims = raw(r#"{"sub":"u1","aud":["a","b"],"scope":"read"}"#).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("u1"));
        assert!(claims.aud.as_ref().unwrap().contains("b"));
        assert!(!claims.aud.as_ref().unwrap().contains("c"));
        assert_eq!(claims.extra.get("scope"), Some(&Value::from("read")));
        assert!(raw(r#"{"sub":1}"#).is_err());
        assert!(raw(r#"{"iss":null}"#).is_err());
        assert!(raw(r#"{"aud":["a",1]}"#).is_err());
        assert!(raw(r#"{"aud":7}"#).is_err());
        assert!(raw(r#"{"jti":["x"]}"#).is_err());
    }
}
