//! Keys as nodes hold them: key order, the two-part keys of prefix-compressed
//! leaves, and separators.

use std::cmp::Ordering;

/// A key kept by a cursor or a finger: short keys (the common case) stay
/// inline, so keeping one allocates nothing.
pub(crate) type KeyBuf = smallvec::SmallVec<[u8; 32]>;

/// Bytewise (memcmp) order of two keys, eight bytes at a time. Keys are
/// short (tens of bytes) and a binary search compares a handful per node,
/// so an inline loop beats a call to `memcmp` for each.
#[inline]
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let word = |s: &[u8], at: usize| -> u64 {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_be_bytes)
    };
    let mut at = 0;
    while at + 8 <= n {
        let (x, y) = (word(a, at), word(b, at));
        if x != y {
            return x.cmp(&y);
        }
        at += 8;
    }
    if at < n {
        if n >= 8 {
            // The last eight common bytes, overlapping bytes already found
            // equal: their first difference is the first difference.
            let (x, y) = (word(a, n - 8), word(b, n - 8));
            if x != y {
                return x.cmp(&y);
            }
        } else {
            // Keys after a leaf's prefix are often this short: the same
            // overlapping trick with narrower words instead of a byte loop.
            let (x, y) = if n >= 4 {
                let (x, y) = (be32(a), be32(b));
                if x != y {
                    return x.cmp(&y);
                }
                (be32(&a[n - 4..]), be32(&b[n - 4..]))
            } else if n >= 2 {
                let (x, y) = (be16(a), be16(b));
                if x != y {
                    return x.cmp(&y);
                }
                (be16(&a[n - 2..]), be16(&b[n - 2..]))
            } else {
                (u32::from(a[0]), u32::from(b[0]))
            };
            if x != y {
                return x.cmp(&y);
            }
        }
    }
    a.len().cmp(&b.len())
}

/// The first four bytes of `s` (at least four long) as a big-endian number.
#[inline(always)]
fn be32(s: &[u8]) -> u32 {
    match s {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// The first two bytes of `s` (at least two long) as a big-endian number.
#[inline(always)]
fn be16(s: &[u8]) -> u32 {
    match s {
        [a, b, ..] => u32::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    }
}

/// Whether `a` and `b` are the same bytes: [`cmp_keys`]'s word loads
/// without its big-endian order (little-endian loads, free on the hosts we
/// run on; equality does not depend on byte order), inline (a leaf search
/// checks its prefix so).
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    };
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        be32(a) == be32(b) && be32(&a[n - 4..]) == be32(&b[n - 4..])
    } else {
        a == b
    }
}

/// Length of the longest common prefix of `a` and `b`, eight bytes at a
/// time.
#[inline]
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let word = |s: &[u8], at: usize| -> u64 {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let mut at = 0;
    while at + 8 <= n {
        let diff = word(a, at) ^ word(b, at);
        if diff != 0 {
            // Little-endian: the first differing byte is the lowest one.
            return at + diff.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    at + a[at..n]
        .iter()
        .zip(&b[at..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// A key stored in a node: the node's shared prefix followed by the cell's
/// suffix (the prefix is empty in nodes without one). Compared and copied
/// without joining the parts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyParts<'a> {
    /// The node's prefix.
    pub(crate) prefix: &'a [u8],
    /// The rest of the key, as the cell stores it.
    pub(crate) suffix: &'a [u8],
}

impl<'a> KeyParts<'a> {
    /// A key in one piece.
    pub(crate) fn whole(key: &'a [u8]) -> KeyParts<'a> {
        KeyParts {
            prefix: &[],
            suffix: key,
        }
    }

    /// The key's length.
    pub(crate) fn len(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    /// The key joined into one buffer.
    pub(crate) fn to_buf(self) -> KeyBuf {
        let mut buf = KeyBuf::with_capacity(self.len());
        buf.extend_from_slice(self.prefix);
        buf.extend_from_slice(self.suffix);
        buf
    }

    /// The key joined into a vector.
    #[cfg(test)]
    pub(crate) fn to_vec(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        v.extend_from_slice(self.prefix);
        v.extend_from_slice(self.suffix);
        v
    }

    /// This key's order against `other` (memcmp order of the joined key).
    #[inline]
    pub(crate) fn cmp_bytes(&self, other: &[u8]) -> Ordering {
        let p = self.prefix.len();
        // Equal only if `other` starts with the prefix (a shorter `other`
        // that the prefix extends compares Greater).
        match cmp_keys(self.prefix, &other[..p.min(other.len())]) {
            Ordering::Equal => cmp_keys(self.suffix, &other[p..]),
            unequal => unequal,
        }
    }

    /// The bytes from `at` on, as at most two slices.
    pub(crate) fn tail(&self, at: usize) -> (&'a [u8], &'a [u8]) {
        let p = self.prefix.len();
        (
            self.prefix.get(at..).unwrap_or_default(),
            self.suffix.get(at.saturating_sub(p)..).unwrap_or_default(),
        )
    }

    /// Length of the longest common prefix with `other`.
    pub(crate) fn common_prefix(&self, other: &KeyParts<'_>) -> usize {
        if std::ptr::eq(self.prefix, other.prefix) {
            // Two keys of one node: the prefix is shared by construction.
            return self.prefix.len() + common_prefix(self.suffix, other.suffix);
        }
        // Compare piece by piece: at most three runs of whole slices.
        let (mut a, mut b) = ((self.prefix, self.suffix), (other.prefix, other.suffix));
        let mut common = 0;
        loop {
            if a.0.is_empty() {
                a = (a.1, &[]);
            }
            if b.0.is_empty() {
                b = (b.1, &[]);
            }
            let n = a.0.len().min(b.0.len());
            if n == 0 {
                return common;
            }
            let same = common_prefix(&a.0[..n], &b.0[..n]);
            common += same;
            if same < n {
                return common;
            }
            a.0 = &a.0[n..];
            b.0 = &b.0[n..];
        }
    }
}

/// The shortest key `s` with `left < s <= right`, given `left < right`: the
/// separator a leaf split promotes. Short separators keep branches wide.
pub(crate) fn shortest_separator(left: &[u8], right: &[u8]) -> Vec<u8> {
    let common = common_prefix(left, right);
    right[..(common + 1).min(right.len())].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmp_keys_is_memcmp_order() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 0],
            vec![1, 2, 3, 4, 5, 6, 7, 9],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18],
            vec![0xFF; 20],
            vec![0x80, 0, 0, 0, 0, 0, 0, 0, 1],
            vec![0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![1, 2],
            vec![1, 3],
            vec![1, 2, 3],
            vec![1, 2, 4],
            vec![1, 2, 3, 4, 5],
            vec![1, 2, 3, 4, 6],
            vec![1, 2, 3, 5, 5],
            vec![2, 0, 0, 0, 0, 0],
            vec![1, 255, 255, 255, 255, 255],
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(cmp_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(same_bytes(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn key_parts_compare_and_join_like_the_joined_key() {
        let keys: [&[u8]; 8] = [b"", b"a", b"ab", b"abc", b"abd", b"b", b"abcde", b"aa"];
        for a in keys {
            for cut in 0..=a.len() {
                let parts = KeyParts {
                    prefix: &a[..cut],
                    suffix: &a[cut..],
                };
                assert_eq!(parts.to_vec(), a);
                assert_eq!(parts.len(), a.len());
                assert_eq!(parts.to_buf().as_slice(), a);
                for at in 0..=a.len() {
                    let (x, y) = parts.tail(at);
                    assert_eq!([x, y].concat(), &a[at..]);
                }
                for b in keys {
                    assert_eq!(parts.cmp_bytes(b), a.cmp(b), "{a:?}|{cut} vs {b:?}");
                    assert_eq!(same_bytes(a, b), a == b);
                    assert_eq!(
                        parts.common_prefix(&KeyParts::whole(b)),
                        common_prefix(a, b)
                    );
                }
            }
        }
    }

    #[test]
    fn common_prefixes_match_a_byte_loop() {
        let naive = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let base: Vec<u8> = (0..40u8).collect();
        for len_a in [0, 1, 7, 8, 9, 16, 17, 40] {
            for len_b in [0, 3, 8, 15, 16, 40] {
                for flip in [None, Some(0), Some(5), Some(7), Some(8), Some(15), Some(30)] {
                    let a = &base[..len_a];
                    let mut b = base[..len_b].to_vec();
                    if let Some(at) = flip.filter(|&at| at < b.len()) {
                        b[at] ^= 0x40;
                    }
                    assert_eq!(
                        common_prefix(a, &b),
                        naive(a, &b),
                        "{len_a} {len_b} {flip:?}"
                    );
                    for cut in [0, 3, 9, len_a] {
                        let parts = KeyParts {
                            prefix: &a[..cut.min(len_a)],
                            suffix: &a[cut.min(len_a)..],
                        };
                        let other = KeyParts {
                            prefix: &b[..4.min(b.len())],
                            suffix: &b[4.min(b.len())..],
                        };
                        assert_eq!(parts.common_prefix(&other), naive(a, &b));
                    }
                }
            }
        }
    }

    #[test]
    fn separators_are_shortest() {
        assert_eq!(shortest_separator(b"abc", b"abd"), b"abd");
        assert_eq!(shortest_separator(b"abc", b"b"), b"b");
        assert_eq!(shortest_separator(b"ab", b"abzzz"), b"abz");
        assert_eq!(shortest_separator(b"", b"q"), b"q");
        assert_eq!(shortest_separator(b"apple", b"banana"), b"b");
    }
}
