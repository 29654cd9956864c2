//! Strict base64url (RFC 7515 §2, RFC 4648 §5): no padding, no whitespace, only the URL-safe
//! alphabet, and canonical final characters (unused trailing bits must be zero), so every token has
//! exactly one encoding.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};

const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes bytes as unpadded base64url.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

/// Appends the unpadded base64url encoding of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    STRICT.encode_string(bytes, out);
}

/// Decodes strict base64url; `None` for anything that is not the one canonical encoding.
#[must_use]
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    STRICT.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(encode(&bytes).as_bytes()), Some(bytes));
        }
    }

    #[test]
    fn rejects_padding_whitespace_and_standard_alphabet() {
        assert_eq!(decode(b"Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(decode(b"Zm8"), Some(b"fo".to_vec()));
        assert_eq!(decode(b"Zm8="), None, "padding");
        assert_eq!(decode(b"Zm 8"), None, "whitespace");
        assert_eq!(decode(b"Zm8\n"), None, "newline");
        assert_eq!(decode(b"+/8"), None, "standard alphabet");
        assert_eq!(decode(b"-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode(b"Z"), None, "impossible length");
    }

    #[test]
    fn rejects_non_canonical_final_character() {
        // "Zm8" is canonical for "fo"; "Zm9" decodes to the same bytes with a non-zero trailing bit.
        assert_eq!(decode(b"Zm9"), None);
        assert_eq!(decode(b"Zg"), Some(b"f".to_vec()));
        assert_eq!(decode(b"Zh"), None);
    }
}
