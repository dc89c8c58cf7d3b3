//! LEB128 varints for `u64` and zigzag mapping for `i64`.
//!
//! Seven value bits per byte, least significant group first; the high bit
//! says another byte follows. A `u64` takes 1 to [`MAX_VARINT_LEN`] bytes.
//! Decoding accepts only the canonical (shortest) form, so every value has
//! exactly one encoding and a flipped continuation bit cannot go unnoticed
//! as padding.

use super::error::{CodecError, Result};

/// Longest encoding of a `u64` (ceil(64 / 7)).
pub const MAX_VARINT_LEN: usize = 10;

/// Append the LEB128 encoding of `v` to `out`.
#[inline]
pub fn encode_u64(v: u64, out: &mut Vec<u8>) {
    encode_u64_to(v, out);
}

/// [`encode_u64`] into any [`ByteSink`](super::ByteSink).
#[inline]
pub(crate) fn encode_u64_to(mut v: u64, out: &mut impl super::ByteSink) {
    while v >= 0x80 {
        out.put_byte((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_byte(v as u8);
}

/// Number of bytes [`encode_u64`] writes for `v`.
#[inline]
pub fn encoded_len_u64(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Decode a varint at the start of `bytes`; returns the value and the
/// number of bytes it occupied. Errors on truncation, on a value that
/// overflows `u64`, and on a non-canonical (zero-padded) encoding.
#[inline]
pub fn decode_u64(bytes: &[u8]) -> Result<(u64, usize)> {
    match decode_u64_ok(bytes) {
        Some(found) => Ok(found),
        None => Err(decode_error(bytes)),
    }
}

/// [`decode_u64`] without the error: `None` for exactly the encodings it
/// refuses. Small enough to inline into every decoder, which the error's
/// formatting is not.
#[inline(always)]
pub(crate) fn decode_u64_ok(bytes: &[u8]) -> Option<(u64, usize)> {
    if let Some(&b) = bytes.first() {
        if b < 0x80 {
            return Some((u64::from(b), 1));
        }
    }
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().take(MAX_VARINT_LEN).enumerate() {
        // The tenth byte carries only bit 63; anything more (including a
        // continuation bit) cannot fit a u64.
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // A zero last group is padding: not the shortest form.
            return (b != 0 || i == 0).then_some((v, i + 1));
        }
    }
    None
}

/// Why [`decode_u64_ok`] refused `bytes`.
#[cold]
fn decode_error(bytes: &[u8]) -> CodecError {
    let detail = match bytes
        .iter()
        .take(MAX_VARINT_LEN)
        .position(|&b| b & 0x80 == 0)
    {
        Some(i) if i == MAX_VARINT_LEN - 1 && bytes[i] > 1 => {
            format!("overflows 64 bits (tenth byte {:#04x})", bytes[i])
        }
        Some(i) => format!("non-canonical {}-byte encoding ends in a zero group", i + 1),
        None if bytes.len() >= MAX_VARINT_LEN => format!(
            "overflows 64 bits (tenth byte {:#04x})",
            bytes[MAX_VARINT_LEN - 1]
        ),
        None => format!("truncated after {} bytes", bytes.len()),
    };
    CodecError::corrupted("varint", detail)
}

/// Map an `i64` to a `u64` so that small magnitudes of either sign get
/// short varints: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
#[inline]
pub fn zigzag_encode(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag_encode`].
#[inline]
pub fn zigzag_decode(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, QuickCheck};

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_u64(v, &mut out);
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        assert_eq!(
            enc(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn edge_values_round_trip_with_exact_length() {
        for shift in 0..64 {
            for v in [
                1u64 << shift,
                (1u64 << shift) - 1,
                (1u64 << shift) + 1,
                u64::MAX >> shift,
            ] {
                let e = enc(v);
                assert_eq!(e.len(), encoded_len_u64(v), "len of {v}");
                assert_eq!(decode_u64(&e), Ok((v, e.len())), "value {v}");
            }
        }
    }

    #[test]
    fn rejects_truncated_overflowing_and_padded() {
        assert!(decode_u64(&[]).is_err());
        assert!(decode_u64(&[0x80]).is_err());
        assert!(decode_u64(&[0xff; 9]).is_err());
        // Ten bytes whose last carries more than bit 63.
        let mut big = vec![0xff; 9];
        big.push(0x02);
        assert!(decode_u64(&big).is_err());
        // Eleven continuation bytes.
        assert!(decode_u64(&[0xff; 11]).is_err());
        // Zero padding: 0 and 1 written in two bytes.
        assert!(decode_u64(&[0x80, 0x00]).is_err());
        assert!(decode_u64(&[0x81, 0x00]).is_err());
    }

    #[test]
    fn decode_stops_at_the_varint() {
        assert_eq!(decode_u64(&[0xac, 0x02, 0xff, 0x00]), Ok((300, 2)));
    }

    #[test]
    fn zigzag_known_values() {
        let pairs = [
            (0i64, 0u64),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
            (i64::MIN, u64::MAX),
        ];
        for (s, u) in pairs {
            assert_eq!(zigzag_encode(s), u);
            assert_eq!(zigzag_decode(u), s);
        }
    }

    quickcheck! {
        fn prop_u64_round_trip(v: u64, tail: Vec<u8>) -> bool {
            let mut e = enc(v);
            let n = e.len();
            e.extend_from_slice(&tail);
            decode_u64(&e) == Ok((v, n))
        }

        fn prop_zigzag_round_trip(v: i64) -> bool {
            zigzag_decode(zigzag_encode(v)) == v
        }
    }

    #[test]
    fn random_bytes_never_panic_and_decode_canonically() {
        fn prop(bytes: Vec<u8>) -> bool {
            match decode_u64(&bytes) {
                Ok((v, n)) => bytes.get(..n) == Some(enc(v).as_slice()),
                Err(_) => true,
            }
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(Vec<u8>) -> bool);
    }
}
