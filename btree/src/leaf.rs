//! Leaf edits: the one-cell splice (in place when the page is ours), and
//! the rebuild behind every edit that changes a leaf's prefix, converts a
//! format-1 leaf, overflows a page or merges two leaves.
//!
//! Sizes. Of a run `S` of entries (in key order) with common prefix `p`:
//! `fill(S) = 4 + sum(entry_size)` and `size(S) = fill(S) - (|S| - 1) * p`,
//! the bytes of the leaf holding exactly `S`. So `size <= fill`, and a
//! non-empty sub-run of a leaf is never larger than the leaf (its prefix is
//! at least as long). A leaf is written when its size fits a page; it is
//! split when not, at a cut where both halves fit and both have at least
//! `min_fill` fill. DESIGN.md (section 3) shows such a cut exists for every
//! overfull leaf an insert or a rebalance produces; [`plan`] searches all
//! cuts in one pass, so it finds one whenever one exists.

use crate::error::{BTreeError, Result};
use crate::node::{
    self, min_fill, shortest_separator, splice, Format, KeyParts, LeafEntry, NewCell, Node,
    ValueRef, KIND_LEAF, LEAF_HEADER, SLOT,
};
use crate::tree::{splice_owned, write_new, write_node, Bias, Change, Old};
use moonvault_pager::{Page, PageId, Pager};
use std::rc::Rc;

/// How entries are laid out in leaves.
pub(crate) enum LeafPlan {
    /// In one leaf of fill `fill`.
    One { data: Vec<u8>, fill: usize },
    /// In two leaves: keys below `sep` in `left`, the rest in `right`.
    Two {
        left: Vec<u8>,
        sep: Vec<u8>,
        right: Vec<u8>,
    },
}

/// Lay out `entries` (in key order) in one leaf if it fits a page, else in
/// two, cut where `bias` prefers among the cuts where both halves fit and
/// reach `min_fill`. `None` if there is no such cut (only for entries no
/// valid tree holds).
pub(crate) fn plan(entries: &[LeafEntry<'_>], page_size: usize, bias: Bias) -> Option<LeafPlan> {
    let n = entries.len();
    let sizes: Vec<usize> = entries.iter().map(LeafEntry::size).collect();
    let total: usize = sizes.iter().sum();
    // lcp[i]: common prefix of keys i and i + 1. A run's prefix is the
    // minimum over its neighbours (keys are sorted), or the whole key.
    let lcp: Vec<usize> = entries
        .windows(2)
        .map(|w| w[0].key.common_prefix(&w[1].key))
        .collect();
    let run_prefix = |from: usize, to: usize| match to - from {
        0 => 0,
        1 => entries[from].key.len(),
        _ => lcp[from..to - 1].iter().copied().min().unwrap_or(0),
    };
    let size = |fill: usize, count: usize, prefix: usize| {
        fill.saturating_sub(count.saturating_sub(1) * prefix)
    };
    let prefix = run_prefix(0, n);
    if size(LEAF_HEADER + total, n, prefix) <= page_size {
        return Some(LeafPlan::One {
            data: node::build_leaf_with(entries, prefix),
            fill: LEAF_HEADER + total,
        });
    }
    let m = cut(&sizes, &lcp, entries, page_size, bias)?;
    let left = &entries[..m];
    let right = &entries[m..];
    let sep = shortest_separator(&left[m - 1].key.to_buf(), &right[0].key.to_buf());
    Some(LeafPlan::Two {
        left: node::build_leaf_with(left, run_prefix(0, m)),
        sep,
        right: node::build_leaf_with(right, run_prefix(m, n)),
    })
}

/// Where to cut entries of the given sizes (with neighbour prefixes `lcp`)
/// into two leaves, the left getting `..m`: both must fit a page and have
/// at least `min_fill` fill. `Even` minimises the larger half; the packing
/// biases fill one side as far as the other keeps `5/16` of a page of fill;
/// `After(i)` takes the cut nearest to just after entry `i`.
fn cut(
    sizes: &[usize],
    lcp: &[usize],
    entries: &[LeafEntry<'_>],
    page_size: usize,
    bias: Bias,
) -> Option<usize> {
    let n = sizes.len();
    if n < 2 {
        return None;
    }
    let total: usize = sizes.iter().sum();
    let min = min_fill(page_size);
    let target = page_size * 5 / 16;
    // The right run's prefix for each cut, from the right end.
    let mut right_prefix = vec![0; n];
    right_prefix[n - 1] = entries[n - 1].key.len();
    let mut low = usize::MAX;
    for m in (1..n - 1).rev() {
        low = low.min(lcp[m]);
        right_prefix[m] = low;
    }
    let (mut best, mut best_score) = (None, usize::MAX);
    let mut packed = None;
    let mut before = 0;
    let mut left_prefix = usize::MAX;
    for m in 1..n {
        before += sizes[m - 1];
        left_prefix = if m == 1 {
            entries[0].key.len()
        } else {
            left_prefix.min(lcp[m - 2])
        };
        let (left_fill, right_fill) = (LEAF_HEADER + before, LEAF_HEADER + total - before);
        let left = left_fill.saturating_sub((m - 1) * left_prefix);
        let right = right_fill.saturating_sub((n - m - 1) * right_prefix[m]);
        if left > page_size || right > page_size || left_fill < min || right_fill < min {
            continue;
        }
        let score = match bias {
            // The cut nearest to just after the new entry.
            Bias::After(at) => m.abs_diff(at + 1),
            Bias::Even | Bias::PackLeft | Bias::PackRight => left.max(right),
        };
        if score < best_score {
            best = Some(m);
            best_score = score;
        }
        match bias {
            Bias::PackLeft if right_fill >= target => packed = Some(m),
            Bias::PackRight if left_fill >= target && packed.is_none() => packed = Some(m),
            Bias::Even | Bias::PackLeft | Bias::PackRight | Bias::After(_) => {}
        }
    }
    packed.or(best)
}

/// The entries of leaf `node`, with their keys whole.
pub(crate) fn entries<'a>(node: &Node<'a>, out: &mut Vec<LeafEntry<'a>>) -> Result<()> {
    let prefix = node.prefix();
    for i in 0..node.count() {
        let (suffix, value) = node.entry(i)?;
        out.push(LeafEntry::new(KeyParts { prefix, suffix }, value));
    }
    Ok(())
}

/// Write `entries` (in key order) in place of leaf `id`: to its page (or
/// a copy of it), plus a new page if they need two.
pub(crate) fn write(
    pager: &mut Pager,
    id: PageId,
    entries: &[LeafEntry<'_>],
    bias: Bias,
) -> Result<Change> {
    match plan(entries, pager.page_size(), bias) {
        Some(LeafPlan::One { data, fill }) => {
            let id = write_node(pager, id, KIND_LEAF, data)?;
            Ok(Change::Node { id, fill })
        }
        Some(LeafPlan::Two { left, sep, right }) => {
            let left = write_node(pager, id, KIND_LEAF, left)?;
            let right = write_new(pager, KIND_LEAF, right)?;
            Ok(Change::Split { left, sep, right })
        }
        None => Err(BTreeError::corrupted(id, "leaf entries too large to split")),
    }
}

/// An edit of one cell that leaves the leaf's prefix as it is.
pub(crate) struct Splice<'a> {
    /// The slot.
    pub(crate) at: usize,
    /// 1 if the cell at `at` is replaced, 0 for an insert.
    pub(crate) remove: usize,
    /// The new cell, encoded for the leaf's prefix.
    pub(crate) cell: NewCell<'a>,
    /// The leaf's size and fill after the edit.
    pub(crate) size: usize,
    pub(crate) fill: usize,
}

/// The splice that puts `key` and `value` in `node`, if one does: the node
/// is a format-2 leaf and `key` starts with its prefix (so the prefix stays
/// the longest common one). `found` is `node.search(key)`.
pub(crate) fn put_splice<'a>(
    node: &Node<'_>,
    found: std::result::Result<usize, usize>,
    key: &'a [u8],
    value: ValueRef<'a>,
) -> Result<Option<Splice<'a>>> {
    if node.format() != Format::LeafV2 || node.count() == 0 {
        return Ok(None);
    }
    let prefix = node.prefix();
    let Some(suffix) = key.strip_prefix(prefix) else {
        return Ok(None);
    };
    let cell = NewCell::Leaf {
        key_len: key.len(),
        suffix,
        value,
    };
    let (at, remove, size) = match found {
        Ok(i) => (i, 1, node.len() - node.cell_len(i)? + cell.len()),
        Err(i) => (i, 0, node.len() + SLOT + cell.len()),
    };
    let count = node.count() + 1 - remove;
    Ok(Some(Splice {
        at,
        remove,
        cell,
        size,
        fill: size + (count - 1) * prefix.len(),
    }))
}

/// Put `key` and `value` into leaf `id`, whose page is `page`: the change
/// and the entry replaced. `ascending`: the insert is one of a run in
/// ascending key order (see [`Bias::After`]).
pub(crate) fn put(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    key: &[u8],
    value: ValueRef<'_>,
    ascending: bool,
) -> Result<(Change, Option<Old>)> {
    let node = Node::of_page(id, &page)?;
    let found = node.search(key)?;
    let old = match found {
        Ok(i) => Some(Old::of(node.value(i)?)),
        Err(_) => None,
    };
    match put_splice(&node, found, key, value)? {
        Some(edit) if edit.size <= pager.page_size() => {
            let id = splice_leaf(pager, id, page, edit.at, edit.remove, Some(edit.cell))?;
            return Ok((
                Change::Node {
                    id,
                    fill: edit.fill,
                },
                old,
            ));
        }
        // Appended after the last key, keeping the prefix, and too big.
        Some(_) if found == Err(node.count()) => {
            if let Some(split) = split_append(&node, pager.page_size(), key, value)? {
                return Ok((split.finish(pager, id, page)?, old));
            }
        }
        _ => {}
    }
    // The prefix changes, the leaf is of format 1, or it overflows.
    let mut all = Vec::with_capacity(node.count() + 1);
    entries(&node, &mut all)?;
    let new = LeafEntry::new(KeyParts::whole(key), value);
    let bias = match found {
        Ok(i) => {
            all[i] = new;
            Bias::Even
        }
        Err(i) => {
            all.insert(i, new);
            match Bias::of(i, node.count()) {
                Bias::Even if ascending || ends_a_first_byte(&node, i, key)? => Bias::After(i),
                bias => bias,
            }
        }
    };
    let change = write(pager, id, &all, bias)?;
    if let (Bias::After(_), Change::Split { left, .. }) = (bias, &change) {
        // Cut after the new entry: the run goes on in the right half.
        pager.done_with(*left);
    }
    Ok((change, old))
}

/// Whether `key`, inserted at slot `i` of `node`, shares its first byte
/// with the key before it and not with the key after it: it ends the
/// leaf's run of keys of that first byte (a table's newest record just
/// before the index entries). Cut after it, the two runs go to leaves of
/// their own, and the next insert of the run appends to a leaf of its own
/// (an even cut would keep the run's end in the leaf it shares, and every
/// later insert there would land in the middle and split it again).
fn ends_a_first_byte(node: &Node<'_>, i: usize, key: &[u8]) -> Result<bool> {
    if i == 0 || i >= node.count() {
        return Ok(false);
    }
    let first = |k: KeyParts<'_>| k.prefix.first().or(k.suffix.first()).copied();
    let before = first(node.key(i - 1)?);
    let after = first(node.key(i)?);
    Ok(key.first().copied() == before && before != after)
}

/// A split of a full leaf by an entry appended after its last key, as
/// [`plan`] cuts it with [`Bias::PackLeft`], found without a pass over the
/// whole leaf: the right half is the fewest last entries whose fill,
/// with the new one, reaches 5/16 of a page (only they are built anew),
/// and the left half is the leaf's first `keep` cells where they lie.
struct AppendSplit {
    /// The leaf's entries before the append.
    count: usize,
    keep: usize,
    sep: Vec<u8>,
    right: Vec<u8>,
}

impl AppendSplit {
    /// Write both halves: the left by cutting the leaf's tail off (in
    /// place when the page is the transaction's, else into a copy).
    fn finish(self, pager: &mut Pager, id: PageId, page: Rc<Page>) -> Result<Change> {
        let left = splice_leaf(pager, id, page, self.keep, self.count - self.keep, None)?;
        // The run goes on in the right half.
        pager.done_with(left);
        let right = write_new(pager, KIND_LEAF, self.right)?;
        Ok(Change::Split {
            left,
            sep: self.sep,
            right,
        })
    }
}

/// The [`AppendSplit`] of format-2 leaf `node` (whose prefix `key` starts
/// with and whose keys all sort below `key`) for appending `key` and
/// `value`, if the two do not fit one page; `None` when [`plan`] must do
/// it: the left half's prefix would grow (its cells then change), or the
/// cut `plan` makes is not the packing one.
fn split_append(
    node: &Node<'_>,
    page_size: usize,
    key: &[u8],
    value: ValueRef<'_>,
) -> Result<Option<AppendSplit>> {
    let (n, plen) = (node.count(), node.prefix().len());
    let new = LeafEntry::new(KeyParts::whole(key), value);
    // As `cut` counts: an entry's size is its cell with the whole key,
    // plus its slot.
    let target = page_size * 5 / 16;
    let mut right_fill = LEAF_HEADER + new.size();
    let mut keep = n;
    while keep > 1 && right_fill < target {
        keep -= 1;
        right_fill += node.cell_len(keep)? + plen + SLOT;
    }
    let left_fill = node.fill() + LEAF_HEADER - (right_fill - new.size());
    let min = min_fill(page_size);
    let left_prefix = node.key(0)?.common_prefix(&node.key(keep - 1)?);
    if right_fill < target || left_fill < min || keep == 1 || left_prefix != plen {
        return Ok(None);
    }
    let last_left = node.key(keep - 1)?.to_buf();
    let sep = if keep < n {
        shortest_separator(&last_left, &node.key(keep)?.to_buf())
    } else {
        shortest_separator(&last_left, key)
    };
    let mut right = Vec::with_capacity(n - keep + 1);
    for i in keep..n {
        let (suffix, value) = node.entry(i)?;
        right.push(LeafEntry::new(
            KeyParts {
                prefix: node.prefix(),
                suffix,
            },
            value,
        ));
    }
    right.push(new);
    // The run goes on in the right half: it takes a page's room at once.
    let right = node::build_leaf_within(&right, page_size);
    if right.len() > page_size {
        return Ok(None);
    }
    Ok(Some(AppendSplit {
        count: n,
        keep,
        sep,
        right,
    }))
}

/// Remove `key` from leaf `id`, whose page is `page`: the change and the
/// entry removed, or `None` if the key is absent.
pub(crate) fn remove(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    key: &[u8],
) -> Result<Option<(Change, Old)>> {
    let (i, old, fill) = {
        let node = Node::of_page(id, &page)?;
        let Ok(i) = node.search(key)? else {
            return Ok(None);
        };
        let old = Old::of(node.value(i)?);
        if node.count() == 1 {
            drop(page);
            pager.free(id)?;
            return Ok(Some((Change::Empty, old)));
        }
        // The fill after a splice that keeps the prefix, if one does.
        let fill = if node.format() == Format::LeafV2
            && prefix_after_removing(&node, i)? == node.prefix().len()
        {
            let size = node.len() - SLOT - node.cell_len(i)?;
            Some(size + (node.count() - 2) * node.prefix().len())
        } else {
            None
        };
        (i, old, fill)
    };
    if let Some(fill) = fill {
        let id = splice_leaf(pager, id, page, i, 1, None)?;
        return Ok(Some((Change::Node { id, fill }, old)));
    }
    // The prefix grows, or the leaf is of format 1: write it anew.
    let node = Node::of_page(id, &page)?;
    let mut all = Vec::with_capacity(node.count());
    entries(&node, &mut all)?;
    all.remove(i);
    Ok(Some((write(pager, id, &all, Bias::Even)?, old)))
}

/// The longest common prefix of a format-2 leaf's keys once entry `i` is
/// gone (at least the current prefix; longer only when `i` is the first
/// or last entry, or one entry remains).
fn prefix_after_removing(node: &Node<'_>, i: usize) -> Result<usize> {
    let n = node.count();
    if n == 2 {
        return Ok(node.key(1 - i)?.len());
    }
    let first = usize::from(i == 0);
    let last = if i == n - 1 { n - 2 } else { n - 1 };
    if first == 0 && last == n - 1 {
        return Ok(node.prefix().len());
    }
    let (a, b) = (node.key(first)?, node.key(last)?);
    Ok(a.common_prefix(&b))
}

/// Apply a one-cell splice to leaf `id` (page `page`): in place if the
/// transaction owns the page and nobody else holds it, else to a copy.
/// Returns the page now holding the leaf.
fn splice_leaf(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    at: usize,
    remove: usize,
    insert: Option<NewCell<'_>>,
) -> Result<PageId> {
    if splice_owned(pager, id, page, at, remove, insert)?.is_some() {
        return Ok(id);
    }
    // Shared or not ours: copy it (re-read: we let go of it).
    let page = pager.read(id)?;
    let node = Node::of_page(id, &page)?;
    let data = splice(&node, at, remove, insert)?;
    write_node(pager, id, KIND_LEAF, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{entry_size, KeyBuf};

    fn entry(key: &[u8], value: &'static [u8]) -> (KeyBuf, &'static [u8]) {
        (KeyBuf::from_slice(key), value)
    }

    fn as_entries<'a>(owned: &'a [(KeyBuf, &'static [u8])]) -> Vec<LeafEntry<'a>> {
        owned
            .iter()
            .map(|(k, v)| LeafEntry::new(KeyParts::whole(k), ValueRef::Inline(v)))
            .collect()
    }

    fn check_half(data: &[u8], page: usize) -> Vec<Vec<u8>> {
        let node = Node::parse(1, KIND_LEAF, data).unwrap();
        node.validate().unwrap();
        assert!(node.len() <= page, "{} bytes", node.len());
        assert!(node.fill() >= min_fill(page), "fill {}", node.fill());
        (0..node.count())
            .map(|i| node.key(i).unwrap().to_vec())
            .collect()
    }

    #[test]
    fn entries_that_fit_make_one_leaf() {
        let owned: Vec<_> = (0..10u8).map(|i| entry(&[7, 7, 7, i], b"v")).collect();
        let all = as_entries(&owned);
        let Some(LeafPlan::One { data, fill }) = plan(&all, 1024, Bias::Even) else {
            panic!("one leaf")
        };
        let node = Node::parse(1, KIND_LEAF, &data).unwrap();
        assert_eq!(node.prefix(), [7, 7, 7]);
        assert_eq!(fill, node.fill());
        assert_eq!(
            fill,
            LEAF_HEADER + 10 * entry_size(4, ValueRef::Inline(b"v"))
        );
    }

    /// The case that breaks additive sizes: two clusters, each with a long
    /// prefix of its own, that only share one byte. Any cut leaves both
    /// halves far smaller than the whole; fill keeps them legal.
    #[test]
    fn clusters_split_into_legal_halves() {
        let page = 1024;
        let mut owned = Vec::new();
        for cluster in [b'a', b'b'] {
            for i in 0..40u8 {
                let mut k = vec![b'k', cluster];
                k.extend_from_slice(&[cluster; 20]);
                k.push(i);
                owned.push(entry(&k, b""));
            }
        }
        let all = as_entries(&owned);
        for bias in [Bias::Even, Bias::PackLeft, Bias::PackRight] {
            let Some(LeafPlan::Two { left, sep, right }) = plan(&all, page, bias) else {
                panic!("two leaves")
            };
            let (l, r) = (check_half(&left, page), check_half(&right, page));
            assert!(l.last().unwrap().as_slice() < sep.as_slice());
            assert!(sep.as_slice() <= r[0].as_slice());
            assert_eq!(l.len() + r.len(), 80);
        }
    }

    /// An insert that shortens a long prefix: the new key sorts at an end,
    /// every other cell grows by the prefix, yet two halves suffice.
    #[test]
    fn a_prefix_shortening_insert_splits_in_two() {
        let page = 1024;
        let mut owned: Vec<_> = (0..120u8)
            .map(|i| {
                let mut k = vec![9u8; 60];
                k.push(i);
                entry(&k, b"")
            })
            .collect();
        {
            let all = as_entries(&owned);
            let Some(LeafPlan::One { data, .. }) = plan(&all, page, Bias::Even) else {
                panic!("fits before the insert")
            };
            assert!(data.len() <= page);
        }
        for (at, key) in [(0, &b"\x01"[..]), (120, b"\x0a")] {
            let mut with = owned.clone();
            with.insert(at, entry(key, b"x"));
            let all = as_entries(&with);
            let bias = Bias::of(at, 120);
            let Some(LeafPlan::Two { left, right, .. }) = plan(&all, page, bias) else {
                panic!("two leaves")
            };
            let (l, r) = (check_half(&left, page), check_half(&right, page));
            assert_eq!(l.len() + r.len(), 121);
        }
        owned.clear();
    }

    #[test]
    fn no_cut_for_entries_no_tree_holds() {
        // Three entries of more than a page / 2: no two halves fit.
        let owned = [
            entry(&[1; 300], b""),
            entry(&[2; 300], b""),
            entry(&[3; 300], b""),
        ];
        let all = as_entries(&owned);
        assert!(plan(&all, 512, Bias::Even).is_none());
    }

    /// Keys `prefix ++ big-endian i` with values of a few sizes, from a
    /// small deterministic generator.
    struct Keys {
        prefix: Vec<u8>,
        state: u64,
    }

    impl Keys {
        fn next_u64(&mut self) -> u64 {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state
        }

        fn key(&self, i: u32, width: usize) -> Vec<u8> {
            let mut k = self.prefix.clone();
            k.extend_from_slice(&i.to_be_bytes()[4 - width..]);
            k
        }
    }

    #[test]
    fn an_append_split_is_the_packing_cut_plan_makes() {
        const VALUES: [&[u8]; 4] = [b"", b"v", &[9; 40], &[7; 130]];
        let (mut fast, mut slow) = (0, 0);
        for page in [512, 1024, 4096] {
            for plen in [0, 1, 3, 9] {
                for seed in 1..40u64 {
                    let mut keys = Keys {
                        prefix: vec![5; plen],
                        state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    };
                    let width = 2 + (seed % 3) as usize;
                    // A full leaf of ascending keys, from a start that may
                    // share more than the prefix.
                    let start = (keys.next_u64() % 500) as u32;
                    let mut owned = Vec::new();
                    let mut i = start;
                    loop {
                        let v = VALUES[(keys.next_u64() % 4) as usize];
                        let mut with = owned.clone();
                        with.push(entry(&keys.key(i, width), v));
                        if build(&with).len() > page {
                            break;
                        }
                        owned = with;
                        i += 1 + (keys.next_u64() % 3) as u32;
                    }
                    let data = build(&owned);
                    let node = Node::parse(1, KIND_LEAF, &data).unwrap();
                    let v = VALUES[(keys.next_u64() % 4) as usize];
                    let key = keys.key(i, width);
                    let value = ValueRef::Inline(v);
                    let mut with = owned.clone();
                    with.push(entry(&key, v));
                    if build(&with).len() <= page {
                        continue; // It fits: no split.
                    }
                    let Some(split) = split_append(&node, page, &key, value).unwrap() else {
                        slow += 1;
                        continue;
                    };
                    fast += 1;
                    let mut all = as_entries(&owned);
                    all.push(LeafEntry::new(KeyParts::whole(&key), value));
                    let Some(LeafPlan::Two { left, sep, right }) = plan(&all, page, Bias::PackLeft)
                    else {
                        panic!("an overfull leaf splits in two")
                    };
                    let n = node.count();
                    let kept = splice(&node, split.keep, n - split.keep, None).unwrap();
                    assert_eq!(kept, left, "left half, page {page} seed {seed}");
                    assert_eq!(split.sep, sep);
                    assert_eq!(split.right, right);
                    check_half(&kept, page);
                    check_half(&split.right, page);
                }
            }
        }
        assert!(fast > 100 && slow > 0, "fast {fast}, slow {slow}");
    }

    fn build(owned: &[(KeyBuf, &'static [u8])]) -> Vec<u8> {
        node::build_leaf(&as_entries(owned))
    }
}
