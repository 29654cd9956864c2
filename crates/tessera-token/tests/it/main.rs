//! Test vectors for the token core, run through the public API only.
//!
//! - [`rfc_vectors`]: the example JWSs of RFC 7515 Appendix A, RFC 7520 section 4 and RFC 8037
//!   Appendix A, verified with keys built from the RFCs' JWKs, and re-signed byte for byte where the
//!   algorithm is deterministic (HMAC, RSASSA-PKCS1-v1_5, Ed25519).
//! - [`wycheproof`]: Project Wycheproof's JSON Web Signature and JSON Web Key suites, every case
//!   matched against its label or against a documented override.
//! - [`ed25519_small_order_and_non_canonical_keys_are_refused_at_import`]: every small-order and
//!   non-canonical Ed25519 public key encoding, one test each, on every import path.
//!
//! Fixture files live in `tests/data/` and are compiled in with `include_str!`/`include_bytes!`, so
//! the suite does not depend on anything outside this crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod ed25519_small_order_and_non_canonical_keys_are_refused_at_import;
mod rfc_vectors;
mod wycheproof;
