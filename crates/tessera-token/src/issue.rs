//! Issuing access tokens: `{alg, typ: "at+jwt", kid}` headers and RFC 9068 claims.

use crate::base64url;
use crate::claims::RESERVED_CLAIMS;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::jws::{header_b64, sign_compact};
use crate::keys::jti_bytes;
use crate::signer::Signer;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// What to put in one access token beyond the issuer's fixed claims.
#[derive(Debug, Clone, Default)]
pub struct AccessTokenRequest {
    /// The subject (user id).
    pub subject: String,
    /// The session id, if the token belongs to a login session.
    pub session_id: Option<String>,
    /// The client the token is issued to.
    pub client_id: Option<String>,
    /// Lifetime in seconds; the issuer's default when `None`.
    pub ttl: Option<u64>,
    /// Custom claims (`scope`, `roles`, ...). Reserved names are refused.
    pub extra: Map<String, Value>,
}

/// A freshly issued access token and the claims a caller needs to track it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccessToken {
    /// The compact JWS.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its `iat` (and `nbf`), seconds since the epoch.
    pub issued_at: u64,
    /// Its `exp`, seconds since the epoch.
    pub expires_at: u64,
}

/// The claims as serialized: borrowed from the issuer and the request, nothing copied.
#[derive(Serialize)]
struct ClaimsToSign<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Issues access tokens with one signer (see [`Signer`]), issuer, audience and default lifetime.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    key: Arc<dyn Signer>,
    header_b64: String,
    issuer: String,
    audience: String,
    default_ttl: u64,
    clock: Arc<dyn Clock>,
}

impl TokenIssuer {
    /// An issuer signing with `key` (a [`crate::SigningKey`], or any other [`Signer`]), stamping
    /// `issuer` and `audience`, with tokens living `default_ttl` seconds.
    #[must_use]
    pub fn new(key: Arc<dyn Signer>, issuer: &str, audience: &str, default_ttl: u64) -> Self {
        TokenIssuer {
            header_b64: header_b64(key.as_ref(), ACCESS_TOKEN_TYP),
            key,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            default_ttl,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock (tests, or issuing "as of" a given time).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The signer in use.
    #[must_use]
    pub fn signer(&self) -> &dyn Signer {
        self.key.as_ref()
    }

    /// Issues one access token: `iat` and `nbf` now, `exp` now + ttl, a fresh 128-bit `jti`.
    ///
    /// # Errors
    /// [`Error::Issue`] if `extra` uses a reserved claim name or the lifetime overflows;
    /// [`Error::Crypto`] if signing or the random source fails.
    pub fn issue(&self, request: &AccessTokenRequest) -> Result<IssuedAccessToken> {
        if let Some(name) = RESERVED_CLAIMS
            .iter()
            .find(|name| request.extra.contains_key(**name))
        {
            return Err(Error::Issue(format!(
                "`{name}` is set by the issuer and cannot be a custom claim"
            )));
        }
        let now = self.clock.now();
        let ttl = request.ttl.unwrap_or(self.default_ttl);
        let exp = now
            .checked_add(ttl)
            .filter(|exp| *exp <= crate::claims::MAX_NUMERIC_DATE)
            .ok_or_else(|| Error::Issue("token lifetime is out of range".into()))?;
        let jti = base64url::encode(&jti_bytes()?);
        let claims = ClaimsToSign {
            iss: &self.issuer,
            sub: &request.subject,
            aud: &self.audience,
            exp,
            iat: now,
            nbf: now,
            jti: &jti,
            sid: request.session_id.as_deref(),
            client_id: request.client_id.as_deref(),
            extra: &request.extra,
        };
        let payload = serde_json::to_vec(&claims).map_err(|err| Error::Issue(err.to_string()))?;
        let token = sign_compact(&self.header_b64, &payload, self.key.as_ref())?;
        Ok(IssuedAccessToken {
            token,
            jti,
            issued_at: now,
            expires_at: exp,
        })
    }
}
