//! Search aids: a node's keys as eight-byte words, so that a search
//! binary-searches words and compares whole keys only among the keys whose
//! words tie.
//!
//! An aid is derived from a node's bytes by the pager when the page can
//! no longer change (`moonvault_pager::PageAid`) and kept beside them
//! (`Page::aid`); it is never stored, so it changes no format.
//!
//! A branch's aid: word 0 is `c`, the length of the separators' longest
//! common prefix; the next `ceil(c / 8)` words are that prefix in
//! eight-byte chunks (each as a head, below); then the guide (below);
//! then the page id of child 0; then two words a separator: its *head*
//! (its eight bytes after `c`, big-endian, zero-padded) and the page id
//! of the child to its right. A descent takes the child from beside the
//! head it stops at, without loading the branch's slot and cell.
//!
//! A format-2 leaf's aid starts with a *verdict* word: [`VOUCHED`] if the
//! layer above's value check (given to [`search_aid_vouching`]) passed
//! every inline value of the leaf, else 0. The guide follows, then two
//! words a key: the head of its stored key (the bytes after the leaf's
//! prefix, which the leaf itself holds) and the offset of its cell. A
//! point read's last search is usually decided by the heads alone, and
//! the offset beside the head it stops at leads straight to the cell,
//! without a load of the leaf's slot first. The words every read of the
//! leaf uses (verdict, guide, first head) are adjacent: 40 bytes, one or
//! two cache lines (the aid is allocated 16-byte aligned, no more).
//! A read lends a value with the verdict, so a decoder can skip the
//! checks it would repeat on every read of the same bytes; a page whose
//! values fail keeps being checked read by read, each read reporting its
//! own value's damage.
//!
//! Keys strictly increase, so heads never decrease, and zero padding
//! keeps order: two keys whose heads differ compare as their heads do
//! (padding compares below every byte, as a shorter key does); equal heads
//! decide nothing.
//!
//! The guide (module `guide`, [`GUIDE_WORDS`] words) says where among
//! the heads a search starts, so that evenly rising keys are found in a
//! window of a few heads rather than by a binary search of all of them.

use moonvault_pager::PageAid;

use super::guide::{Guide, GUIDE_WORDS};
use super::{common_prefix, Node, ValueRef, KIND_BRANCH, KIND_LEAF, KIND_LEAF_V2};

/// Nodes with fewer keys search as fast without an aid.
const MIN_KEYS: usize = 8;

/// The B-tree's aids, for `Pager::derive_aids_with`: no value is ever
/// vouched for (a layer above with a value check builds its own
/// [`PageAid`] around [`search_aid_vouching`]).
pub const SEARCH_AID: PageAid = PageAid {
    words: search_aid_words,
    derive: search_aid,
};

/// A leaf aid's last word when every inline value passed the value check.
pub const VOUCHED: u64 = 1;

/// The length in words of the aid [`search_aid`] derives from a page of
/// `kind` holding `data` (0: none), read from a branch's first and last
/// separators only, from a leaf's header only.
pub fn search_aid_words(kind: u8, data: &[u8]) -> usize {
    let Ok(node) = Node::parse(0, kind, data) else {
        return 0;
    };
    let n = node.count();
    if n < MIN_KEYS {
        return 0;
    }
    match kind {
        KIND_BRANCH => match (node.separator(0), node.separator(n - 1)) {
            (Ok(first), Ok(last)) => {
                1 + common_prefix(first, last).div_ceil(8) + GUIDE_WORDS + 1 + 2 * n
            }
            _ => 0,
        },
        KIND_LEAF | KIND_LEAF_V2 => LEAF_HEADER_WORDS + 2 * n,
        _ => 0,
    }
}

/// The search aid of a page of `kind` holding `data`: `Some` for a branch
/// or a format-2 leaf of at least 8 readable keys, laid out as the module
/// doc says, vouching for no value. Never fails on damaged bytes (it
/// gives `None`; the order check on first use reports the damage).
pub fn search_aid(kind: u8, data: &[u8]) -> Option<Box<[u64]>> {
    search_aid_vouching(kind, data, |_| false)
}

/// [`search_aid`], a leaf's verdict word [`VOUCHED`] when `vouch` passes
/// every inline value of the leaf (`vouch` runs once per value, when the
/// page's aid is derived). `vouch` must pass only bytes its layer can
/// decode without checking them again.
pub fn search_aid_vouching(kind: u8, data: &[u8], vouch: fn(&[u8]) -> bool) -> Option<Box<[u64]>> {
    let node = Node::parse(0, kind, data).ok()?;
    let n = node.count();
    if n < MIN_KEYS {
        return None;
    }
    match kind {
        KIND_BRANCH => branch_aid(&node),
        KIND_LEAF | KIND_LEAF_V2 => {
            let mut words = vec![0; LEAF_HEADER_WORDS];
            words.reserve(2 * n);
            let mut vouched = true;
            for i in 0..n {
                let (key, value) = node.entry(i).ok()?;
                words.push(head(key));
                words.push(node.offset(i).ok()? as u64);
                vouched &= match value {
                    ValueRef::Inline(v) => vouch(v),
                    // Never lent as vouched: read from other pages.
                    ValueRef::Overflow { .. } => true,
                };
            }
            let (keys, _) = words[LEAF_HEADER_WORDS..].as_chunks::<2>();
            let guide = Guide::derive(keys, key_head);
            words[0] = if vouched { VOUCHED } else { 0 };
            words[1..LEAF_HEADER_WORDS].copy_from_slice(&guide.words());
            Some(words.into_boxed_slice())
        }
        _ => None,
    }
}

fn branch_aid(node: &Node<'_>) -> Option<Box<[u64]>> {
    let n = node.count();
    let first = node.separator(0).ok()?;
    let c = common_prefix(first, node.separator(n - 1).ok()?);
    let chunks = c.div_ceil(8);
    let guide_at = 1 + chunks;
    let at = guide_at + GUIDE_WORDS + 1;
    let mut words = Vec::with_capacity(at + 2 * n);
    words.push(c as u64);
    words.extend(first[..c].chunks(8).map(head));
    words.extend([0; GUIDE_WORDS]);
    words.push(node.child(0).ok()?);
    for i in 0..n {
        words.push(head(node.separator(i).ok()?.get(c..)?));
        words.push(node.child(i + 1).ok()?);
    }
    let (separators, _) = words[at..].as_chunks::<2>();
    let guide = Guide::derive(separators, key_head);
    words[guide_at..guide_at + GUIDE_WORDS].copy_from_slice(&guide.words());
    Some(words.into_boxed_slice())
}

/// A branch aid, taken apart.
pub(crate) struct BranchAid<'a> {
    /// The separators' common prefix length.
    pub c: usize,
    /// That prefix, as heads of eight-byte chunks.
    pub prefix: &'a [u64],
    /// The guide over the separators' heads.
    pub guide: Guide,
    /// Child 0's page id.
    child0: u64,
    /// Each separator's head and the page id of the child to its right.
    pub separators: &'a [[u64; 2]],
}

impl BranchAid<'_> {
    /// The page id of child `i` (`0..=count`); 0 past the end (no page).
    #[inline(always)]
    pub(crate) fn child(&self, i: usize) -> u64 {
        match i.checked_sub(1) {
            None => self.child0,
            Some(s) => self.separators.get(s).map_or(0, |sep| sep[1]),
        }
    }
}

/// A branch aid's parts, or `None` if `aid` is not the aid of a branch
/// of `count` separators.
#[inline(always)]
pub(crate) fn parts(aid: &[u64], count: usize) -> Option<BranchAid<'_>> {
    let (&c, rest) = aid.split_first()?;
    let chunks = usize::try_from(c).ok()?.div_ceil(8);
    if rest.len() != chunks + GUIDE_WORDS + 1 + 2 * count {
        return None;
    }
    let (prefix, rest) = rest.split_at(chunks);
    let (guide, rest) = rest.split_at(GUIDE_WORDS);
    let (&child0, separators) = rest.split_first()?;
    let (separators, _) = separators.as_chunks::<2>();
    Some(BranchAid {
        c: c as usize,
        prefix,
        guide: Guide::from_words(guide),
        child0,
        separators,
    })
}

/// Words of a leaf aid before its heads: the verdict, then the guide.
const LEAF_HEADER_WORDS: usize = 1 + GUIDE_WORDS;

/// A leaf aid's parts: its keys (head and cell offset each), their
/// guide and the verdict word. `None` if `aid` is not the aid of a leaf
/// of `count` keys.
#[inline(always)]
pub(crate) fn leaf_parts(aid: &[u64], count: usize) -> Option<(&[[u64; 2]], Guide, u64)> {
    if aid.len() != LEAF_HEADER_WORDS + 2 * count {
        return None;
    }
    let (header, keys) = aid.split_at(LEAF_HEADER_WORDS);
    let (keys, _) = keys.as_chunks::<2>();
    Some((keys, Guide::from_words(&header[1..]), header[0]))
}

/// The head of a leaf aid's key.
#[inline(always)]
pub(crate) fn key_head(key: &[u64; 2]) -> u64 {
    key[0]
}

/// The cell offset of a leaf aid's key (past any valid offset if the
/// word is not one).
#[inline(always)]
pub(crate) fn key_cell(key: &[u64; 2]) -> usize {
    usize::try_from(key[1]).unwrap_or(usize::MAX)
}

/// Where `key` stands against a prefix of length `c` given as `chunks`:
/// `Ok(rest)`, the key after the prefix, if it starts with it; else
/// `Err(below)`, whether it sorts below every key that does.
#[inline(always)]
pub(crate) fn strip_prefix<'k>(
    key: &'k [u8],
    c: usize,
    chunks: &[u64],
) -> std::result::Result<&'k [u8], bool> {
    let within = &key[..c.min(key.len())];
    for (chunk, &word) in within.chunks(8).zip(chunks) {
        let h = head(chunk);
        if h != word {
            // Padding sorts below every byte, as a shorter key does.
            return Err(h < word);
        }
    }
    match key.get(c..) {
        Some(rest) => Ok(rest),
        // A proper prefix of the prefix (its chunks matched as padded).
        None => Err(true),
    }
}

/// The first eight bytes of `bytes`, big-endian, zero-padded.
#[inline(always)]
pub(crate) fn head(bytes: &[u8]) -> u64 {
    match bytes.get(..8) {
        Some(w) => u64::from_be_bytes(w.try_into().unwrap_or_default()),
        None => {
            let mut w = [0u8; 8];
            w[..bytes.len()].copy_from_slice(bytes);
            u64::from_be_bytes(w)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::build_branch;
    use moonvault_pager::Page;
    use quickcheck::quickcheck;

    /// A branch of `keys` (sorted, deduplicated) with child `i` = `100 + i`,
    /// viewed once plainly and once with its aid.
    fn both(keys: &[Vec<u8>]) -> (Vec<u8>, Page) {
        let cells: Vec<(&[u8], u64)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_slice(), 101 + i as u64))
            .collect();
        let data = build_branch(100, &cells);
        let mut page = Page::new(KIND_BRANCH, data.clone());
        page.derive_aid_for_test(SEARCH_AID);
        (data, page)
    }

    fn agree(keys: &[Vec<u8>], probes: &[Vec<u8>]) -> bool {
        let (data, page) = both(keys);
        let plain = Node::parse(1, KIND_BRANCH, &data).unwrap();
        let aided = Node::of_page(1, &page).unwrap();
        assert!(
            !page.aid().is_empty(),
            "a branch of {} keys has an aid",
            keys.len()
        );
        assert_eq!(
            search_aid_words(KIND_BRANCH, &data),
            page.aid().len(),
            "the size charged is the aid's"
        );
        probes.iter().chain(keys).all(|probe| {
            let want = plain.upper_bound(probe).unwrap();
            aided.child_index(probe).unwrap() == want
                && aided.child_for(probe).unwrap() == 100 + want as u64
        })
    }

    /// Whether a format-2 leaf of `keys` (sorted, deduplicated, at least
    /// [`MIN_KEYS`]) searches every probe and every key alike with its aid
    /// and without.
    fn leaf_agrees(keys: &[Vec<u8>], probes: &[Vec<u8>]) -> bool {
        // Each value is its key: a value found names its entry.
        let entries: Vec<(&[u8], &[u8])> =
            keys.iter().map(|k| (k.as_slice(), k.as_slice())).collect();
        let data = crate::node::tests::leaf(&entries);
        let mut page = Page::new(KIND_LEAF, data.clone());
        page.derive_aid_for_test(SEARCH_AID);
        let plain = Node::parse(1, KIND_LEAF, &data).unwrap();
        let aided = Node::of_page(1, &page).unwrap();
        assert_eq!(
            page.aid().len(),
            LEAF_HEADER_WORDS + 2 * keys.len(),
            "a leaf's aid is the verdict, the guide and two words a key"
        );
        assert!(
            !aided.values_vouched(),
            "the B-tree's own aid vouches for nothing"
        );
        assert_eq!(search_aid_words(KIND_LEAF, &data), page.aid().len());
        probes.iter().chain(keys).all(|probe| {
            let want = plain.search(probe).unwrap();
            let value = plain.find(probe).unwrap();
            assert_eq!(value.is_some(), want.is_ok());
            aided.search(probe).unwrap() == want
                && plain.search_append(probe).unwrap() == want
                && aided.find(probe).unwrap() == value
        })
    }

    fn sorted(mut keys: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn small_branches_and_leaves_get_no_aid() {
        let keys: Vec<Vec<u8>> = (0..MIN_KEYS as u8 - 1).map(|i| vec![i]).collect();
        let cells: Vec<(&[u8], u64)> = keys.iter().map(|k| (k.as_slice(), 5)).collect();
        assert_eq!(search_aid(KIND_BRANCH, &build_branch(4, &cells)), None);
        assert_eq!(search_aid(crate::KIND_LEAF, &[0, 0, 0, 0]), None);
        let small_leaf: Vec<(&[u8], &[u8])> =
            keys.iter().map(|k| (k.as_slice(), &b""[..])).collect();
        let small_leaf = crate::node::tests::leaf(&small_leaf);
        assert_eq!(search_aid(crate::KIND_LEAF, &small_leaf), None);
        assert_eq!(search_aid_words(crate::KIND_LEAF, &small_leaf), 0);
        assert_eq!(search_aid(KIND_BRANCH, &[9, 9, 9]), None, "damaged bytes");
        assert_eq!(search_aid_words(KIND_BRANCH, &build_branch(4, &cells)), 0);
        assert_eq!(search_aid_words(crate::KIND_LEAF, &[0, 0, 0, 0]), 0);
        assert_eq!(search_aid_words(KIND_BRANCH, &[9, 9, 9]), 0);
    }

    #[test]
    fn long_shared_prefixes_and_ties() {
        // A 19-byte common prefix (three chunks, the last partial), and
        // separators that tie on their heads: prefixes of one another, and
        // zero bytes that read like padding.
        let base = b"0123456789abcdefghi".to_vec();
        let mut keys = Vec::new();
        for tail in [
            &b""[..],
            b"\0",
            b"\0\0",
            b"a",
            b"a\0",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefgh1",
            b"abcdefgh2",
            b"abcdefgi",
            b"b",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            keys.push([base.as_slice(), tail].concat());
        }
        let probes: Vec<Vec<u8>> = vec![
            vec![],
            b"0".to_vec(),
            b"0123456789abcdefgh".to_vec(),
            b"0123456789abcdefgh\xff".to_vec(),
            b"0123456789abcdefghh".to_vec(),
            b"0123456789abcdefghj".to_vec(),
            b"0123456789abcdefgi".to_vec(),
            [base.as_slice(), b"abcdefgh0"].concat(),
            [base.as_slice(), b"abcdefgh\0\0"].concat(),
            [base.as_slice(), b"c"].concat(),
            [base.as_slice(), &[0xff; 12]].concat(),
            b"1".to_vec(),
        ];
        let keys = sorted(keys);
        assert!(agree(&keys, &probes));
        assert!(leaf_agrees(&keys, &probes));
        // A leaf's prefix is its keys' own: probes that share only part
        // of it, or run past it, against keys after a longer prefix.
        let longer: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| k.len() > base.len())
            .cloned()
            .collect();
        assert!(leaf_agrees(&longer, &probes));
    }

    #[test]
    fn numbered_keys_are_searched_through_a_guide() {
        // Keys numbered in order, as a table's records are (a shared
        // first byte, then a rising number), some steps uneven.
        let number = |i: u32| [&[7u8][..], &(1_000 + i * 5 + i % 4).to_be_bytes()].concat();
        let keys: Vec<Vec<u8>> = (0..180).map(number).collect();
        let probes: Vec<Vec<u8>> = (0..920u32)
            .map(|j| [&[7u8][..], &(990 + j).to_be_bytes()].concat())
            .chain([vec![], vec![7], vec![8], vec![7, 0xff]])
            .collect();
        let entries: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), &b"v"[..])).collect();
        let mut page = Page::new(KIND_LEAF, crate::node::tests::leaf(&entries));
        page.derive_aid_for_test(SEARCH_AID);
        let (_, guide, _) = leaf_parts(page.aid(), keys.len()).unwrap();
        assert_ne!(guide, Guide::NONE, "a leaf of numbered keys is guided");
        assert!(leaf_agrees(&keys, &probes));
        // A branch over the same keys, within one power of two: guided too.
        let (_, branch) = both(&keys);
        let guide = parts(branch.aid(), keys.len()).unwrap().guide;
        assert_ne!(
            guide,
            Guide::NONE,
            "a branch of numbered separators is guided"
        );
        assert!(agree(&keys, &probes));
    }

    #[test]
    fn a_leaf_is_vouched_for_only_when_every_inline_value_passes() {
        fn starts_ok(v: &[u8]) -> bool {
            v.starts_with(b"ok")
        }
        let keys: Vec<Vec<u8>> = (0..12u8).map(|i| vec![b'k', i]).collect();
        let verdict = |bad: Option<usize>| {
            let entries: Vec<(&[u8], &[u8])> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    (
                        k.as_slice(),
                        if Some(i) == bad { &b"no"[..] } else { b"ok!" },
                    )
                })
                .collect();
            let data = crate::node::tests::leaf(&entries);
            let words = search_aid_vouching(KIND_LEAF, &data, starts_ok).unwrap();
            assert_eq!(words.len(), search_aid_words(KIND_LEAF, &data));
            let mut page = Page::new(KIND_LEAF, data);
            page.derive_aid_for_test(PageAid {
                words: search_aid_words,
                derive: |kind, data| search_aid_vouching(kind, data, starts_ok),
            });
            let node = Node::of_page(1, &page).unwrap();
            assert_eq!(node.values_vouched(), words[0] == VOUCHED);
            node.values_vouched()
        };
        assert!(verdict(None));
        for bad in [0, 5, 11] {
            assert!(!verdict(Some(bad)), "value {bad} fails the check");
        }
    }

    quickcheck! {
        fn aided_search_is_the_plain_search(keys: Vec<Vec<u8>>, probes: Vec<Vec<u8>>, shared: Vec<u8>) -> bool {
            // Keys over a small alphabet behind a shared prefix tie often.
            let shared = &shared[..shared.len().min(40)];
            let small = |k: &[u8]| -> Vec<u8> {
                [shared, &k.iter().map(|b| b % 3).take(12).collect::<Vec<u8>>()].concat()
            };
            let mut keys: Vec<Vec<u8>> = keys.iter().take(60).map(|k| small(k)).collect();
            // Enough separators for an aid.
            keys.extend((0..MIN_KEYS as u8).map(|i| small(&[i, i / 3])));
            let mut probes: Vec<Vec<u8>> = probes.iter().map(|p| small(p)).collect();
            probes.extend(probes.clone().into_iter().map(|mut p| {
                p.truncate(shared.len() / 2);
                p
            }));
            let keys = sorted(keys);
            agree(&keys, &probes) && leaf_agrees(&keys, &probes)
        }
    }
}
