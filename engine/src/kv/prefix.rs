//! Key prefixes as ranges: every table, index and catalog area is the set of
//! keys that start with one prefix.

use smallvec::SmallVec;

/// The smallest byte string above every string starting with `prefix`, if
/// any (`None` when the prefix is all `FF`: the range then runs to the end).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<SmallVec<[u8; 64]>> {
    let keep = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut end = SmallVec::from_slice(prefix.get(..=keep)?);
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    Some(end)
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
    }
}
