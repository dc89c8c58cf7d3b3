//! Key prefixes as ranges: every table, index and catalog area is the set of
//! keys that start with one prefix.

use smallvec::SmallVec;

/// The smallest byte string above every string starting with `prefix`, if
/// any (`None` when the prefix is all `FF`: the range then runs to the end).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<SmallVec<[u8; 64]>> {
    let keep = last_kept(prefix)?;
    let mut end = SmallVec::from_slice(&prefix[..=keep]);
    end[keep] += 1;
    Some(end)
}

/// [`prefix_end`] of an owned prefix, made in its buffer (no copy).
pub(crate) fn into_prefix_end(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    let keep = last_kept(&prefix)?;
    prefix.truncate(keep + 1);
    prefix[keep] += 1;
    Some(prefix)
}

/// The last byte of `prefix` that its end keeps (and raises): the last one
/// below `FF`.
fn last_kept(prefix: &[u8]) -> Option<usize> {
    prefix.iter().rposition(|&b| b != 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends() {
        assert_eq!(prefix_end(&[1, 0xFF]).as_deref(), Some(&[2u8][..]));
        assert_eq!(prefix_end(&[1, 2]).as_deref(), Some(&[1u8, 3][..]));
        assert_eq!(prefix_end(&[0xFF]), None);
        assert_eq!(prefix_end(&[]), None);
        for p in [&[1, 0xFF][..], &[1, 2], &[0xFF], &[], &[0, 0xFF, 0xFF]] {
            assert_eq!(
                into_prefix_end(p.to_vec()).as_deref(),
                prefix_end(p).as_deref(),
                "{p:?}"
            );
        }
    }
}
