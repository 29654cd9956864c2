//! Ed25519 public keys that are refused at import: small-order points and non-canonical
//! encodings.
//!
//! An Ed25519 public key `A` is a curve point encoded in 32 bytes: its `y` coordinate in the low
//! 255 bits (little-endian) and the sign of `x` in the top bit (RFC 8032 section 5.1.2). A
//! signature `(R, S)` verifies when `[S]B = R + [k]A`, `k` a hash of `R`, `A` and the message. If
//! `A` has small order (it lies in the 8-torsion subgroup; the identity is one of the 8 points),
//! `[k]A` takes at most 8 values whatever the message, and signatures can be forged without a
//! private key: for `A` the identity, `R = [S]B` verifies every message. Key generation never
//! makes such a key, so one in a JWK Set or a key file is an attack or a bug, and it is refused.
//! So are encodings that are not the one canonical encoding of a point (`y >= p`, and `x = 0`
//! with the sign bit set), which name the same small-order points in other ways and which
//! RFC 8032 section 5.1.3 tells decoders to reject.
//!
//! These are byte comparisons against fixed values, not curve arithmetic: the values were
//! derived and checked once, outside this crate (see [`SMALL_ORDER_Y`]).

/// The field prime `p = 2^255 - 19`, little-endian.
const P: [u8; 32] = [
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

/// The `y` coordinates of the 8 points of small order, little-endian with the sign bit clear:
/// `0` (the two points of order 4, `x = ±sqrt(-1)`), `1` (the identity), the two `y` of the four
/// points of order 8, and `p - 1` (the point of order 2, `x = 0`).
///
/// Derived and checked with `tests/data/ed25519_small_order.py` (pure Python, from the curve
/// equation of RFC 8032 section 5.1): it decodes points from small `y` values, multiplies each by
/// the prime order `L` to land in the 8-torsion subgroup until it has found all 8 points, and
/// checks that each one decodes from its encoding, lies on the curve, has `8 * P` equal to the
/// identity, and has the order stated here. The two order-8 values are also the ones in
/// libsodium's and other published Ed25519 blocklists.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // y = 0: order 4.
    [0; 32],
    // y = 1: the identity.
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    // y = 0x05fc536d...8f95e826: order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // y = 0x7a03ac92...706a17c7: order 8.
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // y = p - 1: order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Checks an Ed25519 public key's encoding; `Err` says why it is refused.
pub(crate) fn check_public_key(encoded: &[u8; 32]) -> Result<(), &'static str> {
    let sign_bit = encoded[31] & 0x80 != 0;
    let mut y = *encoded;
    y[31] &= 0x7f;
    if !is_below_p(&y) {
        return Err(
            "the Ed25519 public key is not canonically encoded: its y is not below 2^255 - 19",
        );
    }
    // x = 0 exactly when y = 1 or y = p - 1 (then x^2 = 0 in the curve equation), and 0 has no
    // sign: a set sign bit would be a second encoding of the same point.
    if sign_bit && (y == SMALL_ORDER_Y[1] || y == SMALL_ORDER_Y[4]) {
        return Err(
            "the Ed25519 public key is not canonically encoded: x = 0 with the sign bit set",
        );
    }
    if SMALL_ORDER_Y.contains(&y) {
        return Err(
            "the Ed25519 public key is a point of small order, with which anyone could forge \
             signatures",
        );
    }
    Ok(())
}

/// Whether a little-endian 255-bit `y` is below `p`.
fn is_below_p(y: &[u8; 32]) -> bool {
    // Compare from the most significant byte; the first byte that differs decides.
    for (&y_byte, &p_byte) in y.iter().zip(&P).rev() {
        if y_byte != p_byte {
            return y_byte < p_byte;
        }
    }
    false // y == p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian 32-byte value from a small number.
    fn small(value: u8) -> [u8; 32] {
        let mut bytes = [0; 32];
        bytes[0] = value;
        bytes
    }

    /// `p + offset` for an offset that keeps the value below 2^255 (at most 18).
    fn p_plus(offset: u8) -> [u8; 32] {
        let mut bytes = P;
        bytes[0] += offset;
        bytes
    }

    #[test]
    fn p_is_2_to_the_255_minus_19() {
        // 2^255 - 1 is 0xff...ff7f little-endian; p is 18 below it.
        let mut all_ones = [0xff; 32];
        all_ones[31] = 0x7f;
        let mut expected = all_ones;
        expected[0] -= 18;
        assert_eq!(P, expected);
    }

    #[test]
    fn the_boundary_of_canonical_y_is_p() {
        let mut p_minus_2 = P;
        p_minus_2[0] -= 2;
        assert!(is_below_p(&p_minus_2));
        assert!(is_below_p(&SMALL_ORDER_Y[4])); // p - 1
        assert!(!is_below_p(&P));
        assert!(!is_below_p(&p_plus(1)));
        assert!(!is_below_p(&p_plus(18))); // 2^255 - 1
        assert!(is_below_p(&small(2)));
        // Only the top byte decides here: 0x7e... is below p whatever follows.
        let mut high = [0xff; 32];
        high[31] = 0x7e;
        assert!(is_below_p(&high));
    }

    #[test]
    fn small_order_points_in_every_encoding_are_refused() {
        for y in SMALL_ORDER_Y {
            assert!(check_public_key(&y).is_err(), "{y:02x?}");
            let mut signed = y;
            signed[31] |= 0x80;
            assert!(check_public_key(&signed).is_err(), "{signed:02x?}");
        }
        // p and p + 1 are non-canonical encodings of y = 0 and y = 1; so is every y >= p.
        for offset in 0..=18 {
            let err = check_public_key(&p_plus(offset)).unwrap_err();
            assert!(err.contains("not below 2^255 - 19"), "{offset}: {err}");
        }
    }

    #[test]
    fn x_zero_with_the_sign_bit_is_named_as_such() {
        for y in [SMALL_ORDER_Y[1], SMALL_ORDER_Y[4]] {
            let mut signed = y;
            signed[31] |= 0x80;
            let err = check_public_key(&signed).unwrap_err();
            assert!(err.contains("x = 0 with the sign bit set"), "{err}");
            assert!(check_public_key(&y).unwrap_err().contains("small order"));
        }
    }

    #[test]
    fn ordinary_keys_pass() {
        // RFC 8037 A.2's public key, and values next to the refused ones.
        let rfc8037 = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        assert_eq!(check_public_key(&rfc8037), Ok(()));
        let mut p_minus_2 = P;
        p_minus_2[0] -= 2;
        for key in [small(2), small(3), p_minus_2] {
            assert_eq!(check_public_key(&key), Ok(()), "{key:02x?}");
        }
    }
}
