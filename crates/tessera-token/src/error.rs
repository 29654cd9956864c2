//! The one error type of the token core.
//!
//! Each verification variant names the step of the verification order that failed (see the crate
//! docs), so callers can log and count failures by reason. Over HTTP all of them become the same
//! `invalid_token`: the detail is for logs and metrics, never for the client.

/// Everything that can go wrong in the token core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Step 1: the token is longer than the configured cap.
    #[error("token is {len} bytes, over the {max}-byte limit")]
    TokenTooLarge {
        /// Length of the presented token in bytes.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// Step 2: the token is not exactly three dot-separated segments.
    #[error("token must have exactly three segments, found {found}")]
    Segments {
        /// How many segments were found.
        found: usize,
    },
    /// Step 3: a segment is not strict, unpadded, canonical base64url.
    #[error("{segment} segment is not strict base64url")]
    Base64 {
        /// Which segment: `header`, `payload` or `signature`.
        segment: &'static str,
    },
    /// Step 4: the protected header is malformed or asks for something this verifier refuses.
    #[error("invalid header: {0}")]
    Header(&'static str),
    /// Step 5: the `typ` header is missing or not the expected token type.
    #[error("invalid token type: {0}")]
    TokenType(&'static str),
    /// Step 6: no key in the key set has the token's `kid` (or the token has none).
    #[error("no key for this token's kid")]
    UnknownKey,
    /// Step 7: the header `alg` is not exactly the algorithm the key is bound to.
    #[error("header alg does not match the key's algorithm")]
    AlgorithmMismatch,
    /// Step 8: the signature has the wrong length for the key's algorithm.
    #[error("signature has the wrong length for the algorithm")]
    SignatureLength,
    /// Step 8: an ECDSA signature whose S is in the upper half (`s > n/2`, `n` the curve's group
    /// order): the twin `(r, n - s)` of a low-S signature, which verifies under the same key and
    /// which anyone can compute from a token without the key. Tessera signs only the low form and
    /// refuses the high one, so that a token has exactly one encoding; a verifier opened with
    /// [`crate::Verifier::accepting_high_s_ecdsa`] (for other issuers' tokens) takes both.
    #[error("ECDSA signature is not canonical: high S (s > n/2), a form Tessera never signs")]
    NonCanonicalSignature,
    /// Step 9: the signature does not verify over the received signing input.
    #[error("signature does not verify")]
    Signature,
    /// Step 10: the payload is not UTF-8 JSON object without duplicate members.
    #[error("invalid payload: {0}")]
    Payload(&'static str),
    /// Step 10: a registered claim has the wrong JSON type or an out-of-range value.
    #[error("claim `{claim}` is invalid: {reason}")]
    ClaimType {
        /// The claim name.
        claim: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Step 11: the token has expired (`exp`, with leeway).
    #[error("token has expired")]
    Expired,
    /// Step 11: the token is not valid yet (`nbf`, with leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// Step 11: the token claims to be issued in the future (`iat`, with leeway).
    #[error("token is issued in the future")]
    IssuedInFuture,
    /// Step 12: `iss` is not exactly the expected issuer.
    #[error("issuer does not match")]
    Issuer,
    /// Step 13: `aud` does not contain the expected audience.
    #[error("audience does not match")]
    Audience,
    /// Step 14: a required claim is absent.
    #[error("required claim `{0}` is missing")]
    MissingClaim(&'static str),
    /// A key could not be built: wrong size, wrong type, malformed material, or an unusable JWK.
    #[error("invalid key: {0}")]
    Key(String),
    /// An algorithm name that Tessera does not support (including `none`).
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// A claim supplied for issuing cannot be used (a reserved name, or not serialisable).
    #[error("cannot issue token: {0}")]
    Issue(String),
    /// The cryptographic library or the system random source failed.
    #[error("cryptographic operation failed")]
    Crypto,
}

impl Error {
    /// A short, stable label for the step that failed, for metrics and structured logs.
    ///
    /// The label never contains token content.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Error::TokenTooLarge { .. } => "too_large",
            Error::Segments { .. } => "segments",
            Error::Base64 { .. } => "base64",
            Error::Header(_) => "header",
            Error::TokenType(_) => "typ",
            Error::UnknownKey => "unknown_kid",
            Error::AlgorithmMismatch => "alg_mismatch",
            Error::SignatureLength => "signature_length",
            Error::NonCanonicalSignature => "non_canonical_signature",
            Error::Signature => "signature",
            Error::Payload(_) => "payload",
            Error::ClaimType { .. } => "claim_type",
            Error::Expired => "expired",
            Error::NotYetValid => "not_yet_valid",
            Error::IssuedInFuture => "issued_in_future",
            Error::Issuer => "issuer",
            Error::Audience => "audience",
            Error::MissingClaim(_) => "missing_claim",
            Error::Key(_) => "key",
            Error::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Error::Issue(_) => "issue",
            Error::Crypto => "crypto",
        }
    }
}

/// The token core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
