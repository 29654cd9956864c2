//! Low S: one encoding per ECDSA signature.
//!
//! ECDSA does not fix the half S falls in: if `(r, s)` is a valid signature, so is `(r, n - s)`,
//! where `n` is the order of the curve's group. Anyone can compute that twin from a token, without
//! the key. The twin carries the same claims, but it is a different string, and anything that
//! tells tokens apart by their bytes (a cache, a digest in a log or a deny-list, a replay check)
//! would see two tokens. So Tessera signs only the low form, `s <= n / 2` (as Bitcoin does since
//! BIP 62 and BIP 146), and its verifier refuses the high form unless it was opened for other
//! issuers' tokens ([`crate::Verifier::accepting_high_s_ecdsa`]).
//!
//! This is normalization of the JOSE encoding (RFC 7518 section 3.4: `R || S`, each as long as
//! the order, big-endian), not elliptic-curve arithmetic: a comparison with `n / 2` and one
//! subtraction `n - s`, on byte strings. The cryptography stays in aws-lc-rs.

/// The order `n` of the P-256 group, big-endian (SEC 2 v2 section 2.4.2; FIPS 186-4 D.1.2.3).
pub(crate) const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The order `n` of the P-384 group, big-endian (SEC 2 v2 section 2.5.2; FIPS 186-4 D.1.2.4).
pub(crate) const P384_ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// The order `n` of the P-521 group, big-endian in 66 bytes, the length of `S` in an ES512
/// signature (SEC 2 v2 section 2.6.2; FIPS 186-4 D.1.2.5).
pub(crate) const P521_ORDER: [u8; 66] = [
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xfa, 0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09,
    0xa5, 0xd0, 0x3b, 0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38,
    0x64, 0x09,
];

/// Whether the `S` half of a fixed-width `R || S` signature is high: `s > n / 2` (rounded
/// down; `n` is odd). An `s` of `n` or more counts as high too: it is no canonical value at all.
///
/// `signature` must be `2 * order.len()` bytes (the caller has checked the length); a signature
/// of another length is reported as not high and left to the length check.
pub(crate) fn is_high_s(signature: &[u8], order: &[u8]) -> bool {
    let Some(s) = s_half(signature, order.len()) else {
        return false;
    };
    // Walk s and n / 2 from the most significant byte; the first byte that differs decides.
    // Byte i of n / 2 (n shifted right by one bit) is n[i] >> 1, topped with the low bit of
    // n[i - 1].
    let mut carried_bit = 0u8;
    for (&s_byte, &n_byte) in s.iter().zip(order) {
        let half_byte = (n_byte >> 1) | carried_bit;
        carried_bit = (n_byte & 1) << 7;
        if s_byte != half_byte {
            return s_byte > half_byte;
        }
    }
    false // s == n / 2 exactly: the largest low value.
}

/// Puts the `S` half of a fixed-width `R || S` signature in the low form: if `s > n / 2`,
/// replaces it by `n - s` (which is then below `n / 2`); a low `s` is left as it is.
///
/// For signatures aws-lc-rs has just made, so `0 < s < n` and the subtraction cannot underflow.
pub(crate) fn normalize_to_low_s(signature: &mut [u8], order: &[u8]) {
    if is_high_s(signature, order) {
        negate_s(signature, order);
    }
}

/// Replaces the `S` half of a fixed-width `R || S` signature by `n - s`: the other signature of
/// the pair, the high one for a low `s` and the other way round. `s` must be below `n`; a
/// signature of the wrong length is left as it is.
pub(crate) fn negate_s(signature: &mut [u8], order: &[u8]) {
    let width = order.len();
    if signature.len() != 2 * width {
        return;
    }
    let s = &mut signature[width..];
    // n - s, from the least significant byte up, borrowing as on paper.
    let mut borrow = false;
    for (s_byte, &n_byte) in s.iter_mut().zip(order).rev() {
        let (difference, borrowed_here) = n_byte.overflowing_sub(*s_byte);
        let (difference, borrowed_below) = difference.overflowing_sub(u8::from(borrow));
        *s_byte = difference;
        borrow = borrowed_here || borrowed_below;
    }
}

/// The `S` half of `R || S` when each half is `width` bytes.
fn s_half(signature: &[u8], width: usize) -> Option<&[u8]> {
    (signature.len() == 2 * width).then(|| &signature[width..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::Algorithm;
    use crate::keys::SigningKey;

    const ORDERS: [&[u8]; 3] = [&P256_ORDER, &P384_ORDER, &P521_ORDER];

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    /// `R || S` with a zero R (the checks never read R) and the given S.
    fn with_s(s: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; s.len()];
        signature.extend_from_slice(s);
        signature
    }

    fn s_of(signature: &[u8]) -> &[u8] {
        &signature[signature.len() / 2..]
    }

    /// `value` plus a small number, big-endian, as a test fixture (no overflow in the cases used).
    fn plus(value: &[u8], mut add: u16) -> Vec<u8> {
        let mut sum = value.to_vec();
        for byte in sum.iter_mut().rev() {
            let total = u16::from(*byte) + add;
            *byte = (total & 0xff) as u8;
            add = total >> 8;
        }
        assert_eq!(add, 0);
        sum
    }

    /// `value - 1`, big-endian (value > 0).
    fn minus_one(value: &[u8]) -> Vec<u8> {
        let mut result = value.to_vec();
        for byte in result.iter_mut().rev() {
            let (difference, borrowed) = byte.overflowing_sub(1);
            *byte = difference;
            if !borrowed {
                break;
            }
        }
        result
    }

    /// `R || (n - S)` for any `S < n`, by schoolbook subtraction in 16-bit arithmetic: a second
    /// way to compute what `normalize_to_low_s` computes (which only ever subtracts a high S).
    fn twin(signature: &[u8], order: &[u8]) -> Vec<u8> {
        let width = order.len();
        let mut twin = signature.to_vec();
        let mut borrow = 0u16;
        for at in (0..width).rev() {
            let minuend = u16::from(order[at]) + 0x100;
            let difference = minuend - u16::from(signature[width + at]) - borrow;
            twin[width + at] = (difference & 0xff) as u8;
            borrow = u16::from(difference < 0x100);
        }
        assert_eq!(borrow, 0, "S < n");
        twin
    }

    #[test]
    fn orders_are_the_published_values() {
        // SEC 2 v2 / FIPS 186-4, in the hex the standards print, against the byte arrays above.
        assert_eq!(
            P256_ORDER.to_vec(),
            hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
        );
        assert_eq!(
            P384_ORDER.to_vec(),
            hex(concat!(
                "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf",
                "581a0db248b0a77aecec196accc52973"
            ))
        );
        assert_eq!(
            P521_ORDER.to_vec(),
            hex(concat!(
                "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"
            ))
        );
    }

    #[test]
    fn the_half_order_is_the_boundary() {
        // (n - 1) / 2 is the largest low S, (n + 1) / 2 the smallest high one. For P-256:
        let low_max = hex("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8");
        let high_min = hex("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a9");
        assert!(!is_high_s(&with_s(&low_max), &P256_ORDER));
        assert!(is_high_s(&with_s(&high_min), &P256_ORDER));
        // n - (n + 1) / 2 = (n - 1) / 2: the smallest high S maps to the largest low one.
        let mut signature = with_s(&high_min);
        normalize_to_low_s(&mut signature, &P256_ORDER);
        assert_eq!(s_of(&signature), low_max.as_slice());
        for order in ORDERS {
            // (n - 1) / 2 and (n + 1) / 2, from n by the checks' own rule (n is odd): computed
            // here as n with its last bit dropped, shifted right, and that plus one.
            let mut half = order.to_vec();
            let mut carry = 0u8;
            for byte in &mut half {
                let next = (*byte & 1) << 7;
                *byte = (*byte >> 1) | carry;
                carry = next;
            }
            assert!(!is_high_s(&with_s(&half), order));
            assert!(is_high_s(&with_s(&plus(&half, 1)), order));
        }
    }

    #[test]
    fn known_values_normalize_as_expected() {
        for order in ORDERS {
            let one = plus(&vec![0; order.len()], 1);
            let n_minus_one = minus_one(order);
            // s = 1 and s = 2 are low and stay.
            for low in [one.clone(), plus(&one, 1)] {
                let mut signature = with_s(&low);
                normalize_to_low_s(&mut signature, order);
                assert_eq!(s_of(&signature), low.as_slice());
            }
            // s = n - 1 is high and becomes 1; s = n - 2 becomes 2.
            let mut signature = with_s(&n_minus_one);
            assert!(is_high_s(&signature, order));
            normalize_to_low_s(&mut signature, order);
            assert_eq!(s_of(&signature), one.as_slice());
            let mut signature = with_s(&minus_one(&n_minus_one));
            normalize_to_low_s(&mut signature, order);
            assert_eq!(s_of(&signature), plus(&one, 1).as_slice());
            // s = n and beyond are no canonical values: reported high.
            assert!(is_high_s(&with_s(order), order));
            assert!(is_high_s(&with_s(&vec![0xff; order.len()]), order));
            // R is never read or changed.
            let mut signature = with_s(&n_minus_one);
            signature[..order.len()].fill(0xab);
            normalize_to_low_s(&mut signature, order);
            assert!(signature[..order.len()].iter().all(|&byte| byte == 0xab));
        }
        // A borrow across many bytes: P-256's n - 0x...ff52 (0x52 > 0x51 borrows through).
        let s = hex("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff52");
        let mut signature = with_s(&s);
        normalize_to_low_s(&mut signature, &P256_ORDER);
        assert_eq!(
            s_of(&signature),
            hex("7fffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc6325ff").as_slice()
        );
    }

    #[test]
    fn a_signature_of_the_wrong_length_is_left_to_the_length_check() {
        assert!(!is_high_s(&[0xff; 63], &P256_ORDER));
        let mut short = [0xff; 63];
        normalize_to_low_s(&mut short, &P256_ORDER);
        assert_eq!(short, [0xff; 63]);
    }

    #[test]
    fn the_twin_aws_lc_rs_verifies_proves_each_order() {
        // If n were wrong by anything, (r, n - s) would not be congruent to (r, -s) and would not
        // verify. aws-lc-rs accepts either half, so it judges the twin of each signature.
        for algorithm in [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512] {
            let order: &[u8] = match algorithm {
                Algorithm::ES256 => &P256_ORDER,
                Algorithm::ES384 => &P384_ORDER,
                _ => &P521_ORDER,
            };
            let (key, _) = SigningKey::generate(algorithm).unwrap();
            for message in [&b"one"[..], b"two", b"three", b"four"] {
                let signature = key.sign(message).unwrap();
                assert!(!is_high_s(&signature, order), "{algorithm} signs low S");
                let mut twin = twin(&signature, order);
                assert!(is_high_s(&twin, order), "{algorithm}");
                key.verifying_key()
                    .verify_signature(message, &twin)
                    .unwrap_or_else(|err| panic!("{algorithm}: the twin does not verify: {err}"));
                normalize_to_low_s(&mut twin, order);
                assert_eq!(twin, signature, "{algorithm}");
            }
        }
    }
}
