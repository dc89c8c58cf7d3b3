//! Writing whole nodes: format-2 leaves from entries, branches from
//! separators, the leaf packer behind size estimates, and (in tests) the
//! format-1 leaves moonvault no longer writes.

use super::branch_entry_size;
use super::cell::{
    entry_size, inline_fits, leaf_cell_len, write_leaf_cell, ValueRef, BRANCH_HEADER, LEAF_HEADER,
    SLOT,
};
use super::key::{common_prefix, KeyParts};
use moonvault_pager::PageId;

/// An entry of a leaf being written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeafEntry<'a> {
    /// The whole key (in the parts some node stored it as).
    pub(crate) key: KeyParts<'a>,
    /// The value as stored.
    pub(crate) value: ValueRef<'a>,
}

impl<'a> LeafEntry<'a> {
    pub(crate) fn new(key: KeyParts<'a>, value: ValueRef<'a>) -> LeafEntry<'a> {
        LeafEntry { key, value }
    }

    /// Its [`entry_size`].
    pub(crate) fn size(&self) -> usize {
        entry_size(self.key.len(), self.value)
    }
}

/// Length of the longest common prefix of the keys of `entries` (in key
/// order): the prefix of a leaf holding them.
pub(crate) fn leaf_prefix_len(entries: &[LeafEntry<'_>]) -> usize {
    match entries {
        [] => 0,
        [only] => only.key.len(),
        [first, .., last] => first.key.common_prefix(&last.key),
    }
}

/// A leaf of kind 5 holding `entries` (in key order). Callers guarantee
/// the result fits a page (so offsets fit in u16); the pager rejects
/// anything larger.
pub(crate) fn build_leaf(entries: &[LeafEntry<'_>]) -> Vec<u8> {
    build_leaf_with(entries, leaf_prefix_len(entries))
}

/// [`build_leaf`] in a buffer with room for `room` bytes: for a leaf a
/// run of appends goes on filling, which then grows in place instead of
/// by reallocations.
pub(crate) fn build_leaf_within(entries: &[LeafEntry<'_>], room: usize) -> Vec<u8> {
    build_leaf_in(entries, leaf_prefix_len(entries), room)
}

/// [`build_leaf`] with the prefix length already known.
pub(crate) fn build_leaf_with(entries: &[LeafEntry<'_>], plen: usize) -> Vec<u8> {
    build_leaf_in(entries, plen, 0)
}

fn build_leaf_in(entries: &[LeafEntry<'_>], plen: usize, room: usize) -> Vec<u8> {
    let start = LEAF_HEADER + plen;
    let slots = start + cells_len(entries, plen);
    let len = slots + SLOT * entries.len();
    // Sized once and filled in place: header, prefix, cells, slots.
    let mut out = if room > len {
        let mut out = Vec::with_capacity(room);
        out.resize(len, 0);
        out
    } else {
        vec![0u8; len]
    };
    write_leaf(&mut out, entries, plen, start, slots);
    out
}

/// The bytes of the cells of a leaf of `entries` with a `plen`-byte
/// prefix.
fn cells_len(entries: &[LeafEntry<'_>], plen: usize) -> usize {
    entries
        .iter()
        .map(|e| leaf_cell_len(e.key.len(), e.key.len().saturating_sub(plen), e.value))
        .sum()
}

/// Write a format-2 leaf into `out` (sized for it): its count, prefix
/// length and prefix, its cells from `cells` on and its slot directory
/// at `slots`.
fn write_leaf(out: &mut [u8], entries: &[LeafEntry<'_>], plen: usize, cells: usize, slots: usize) {
    out[0..2].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    out[2..4].copy_from_slice(&(plen as u16).to_le_bytes());
    if let Some(first) = entries.first() {
        let (a, b) = first.key.tail(0);
        let from_a = &a[..plen.min(a.len())];
        let from_b = &b[..(plen - from_a.len()).min(b.len())];
        out[LEAF_HEADER..LEAF_HEADER + from_a.len()].copy_from_slice(from_a);
        out[LEAF_HEADER + from_a.len()..LEAF_HEADER + from_a.len() + from_b.len()]
            .copy_from_slice(from_b);
    }
    let mut at = cells;
    for (i, e) in entries.iter().enumerate() {
        out[slots + SLOT * i..slots + SLOT * i + 2].copy_from_slice(&(at as u16).to_le_bytes());
        at += write_leaf_cell(&mut out[at..], e.key.len(), e.key.tail(plen), e.value);
    }
}

/// A leaf of kind 4 (its slot directory before its cells) holding
/// `entries`, byte for byte what store formats 2 to 4 wrote: tests build
/// old stores with it.
#[cfg(test)]
pub(crate) fn build_leaf_v2(entries: &[LeafEntry<'_>]) -> Vec<u8> {
    let plen = leaf_prefix_len(entries);
    let slots = LEAF_HEADER + plen;
    let start = slots + SLOT * entries.len();
    let mut out = vec![0u8; start + cells_len(entries, plen)];
    write_leaf(&mut out, entries, plen, start, slots);
    out
}

/// A branch with `child0` and `(key, right child)` pairs, in key order.
pub(crate) fn build_branch(child0: PageId, cells: &[(&[u8], PageId)]) -> Vec<u8> {
    let size = BRANCH_HEADER
        + cells
            .iter()
            .map(|(k, _)| branch_entry_size(k.len()))
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    let mut header = [0u8; BRANCH_HEADER];
    header[4..12].copy_from_slice(&child0.to_le_bytes());
    out.extend_from_slice(&header);
    out[0..2].copy_from_slice(&(cells.len() as u16).to_le_bytes());
    let slots = out.len();
    out.resize(slots + SLOT * cells.len(), 0);
    for (i, (key, child)) in cells.iter().enumerate() {
        let off = (out.len() as u16).to_le_bytes();
        out[slots + SLOT * i..slots + SLOT * i + 2].copy_from_slice(&off);
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(&child.to_le_bytes());
        out.extend_from_slice(key);
    }
    out
}

/// A format-1 leaf (kind 1) holding `entries`, byte for byte what format 1
/// wrote: tests build old stores with it.
#[cfg(test)]
pub(crate) fn build_leaf_v1(entries: &[(&[u8], ValueRef<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    let slots = out.len();
    out.resize(slots + SLOT * entries.len(), 0);
    for (i, (key, value)) in entries.iter().enumerate() {
        let off = (out.len() as u16).to_le_bytes();
        out[slots + SLOT * i..slots + SLOT * i + 2].copy_from_slice(&off);
        out.extend_from_slice(&super::cell::leaf_cell_v1(key, *value));
    }
    out
}

/// Packs entries, given in key order, into full leaves the way the tree
/// lays them out, and hands back each leaf's bytes (a page of kind
/// [`super::KIND_LEAF`]). For size estimates (the engine's table
/// statistics) that must follow the node format without knowing it.
///
/// A value too large to stay inline is counted as the 8-byte reference to
/// its overflow chain; the chain's pages are the caller's to count (see
/// [`LeafPacker::stays_inline`]).
#[derive(Debug)]
pub struct LeafPacker {
    page_size: usize,
    /// The current leaf's keys and inline values, back to back.
    bytes: Vec<u8>,
    /// Per entry: key length, value length, whether it is in a chain.
    entries: Vec<(usize, usize, bool)>,
    /// The current leaf's fill and the length of its keys' common prefix.
    fill: usize,
    prefix: usize,
}

impl LeafPacker {
    /// A packer for pages of `page_size` bytes.
    pub fn new(page_size: usize) -> LeafPacker {
        LeafPacker {
            page_size,
            bytes: Vec::new(),
            entries: Vec::new(),
            fill: LEAF_HEADER,
            prefix: 0,
        }
    }

    /// Whether a value of `value_len` bytes under a key of `key_len` bytes
    /// stays in the leaf (else it goes to an overflow chain of pages
    /// holding `page_size - 8` bytes each).
    pub fn stays_inline(page_size: usize, key_len: usize, value_len: usize) -> bool {
        inline_fits(page_size, key_len, value_len)
    }

    /// Add an entry (keys strictly ascending); returns the bytes of the
    /// leaf it did not fit in, if that leaf is now complete.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let chained = !inline_fits(self.page_size, key.len(), value.len());
        let value_ref = if chained {
            ValueRef::Overflow {
                head: u64::MAX,
                len: value.len(),
            }
        } else {
            ValueRef::Inline(value)
        };
        let size = entry_size(key.len(), value_ref);
        let prefix = match self.entries.first() {
            None => key.len(),
            Some(&(first_len, _, _)) => {
                common_prefix(&self.bytes[..first_len], key).min(self.prefix)
            }
        };
        // `n` entries with the new one: every one but one saves the prefix.
        let n = self.entries.len() + 1;
        let done = if self.fill + size - (n - 1) * prefix > self.page_size && n > 1 {
            self.finish_leaf()
        } else {
            None
        };
        self.prefix = if self.entries.is_empty() {
            key.len()
        } else {
            prefix
        };
        self.fill += size;
        self.bytes.extend_from_slice(key);
        if !chained {
            self.bytes.extend_from_slice(value);
        }
        self.entries.push((key.len(), value.len(), chained));
        done
    }

    /// The bytes of the last leaf, if it holds any entry; the packer is
    /// then empty, ready for other entries.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        self.finish_leaf()
    }

    fn finish_leaf(&mut self) -> Option<Vec<u8>> {
        if self.entries.is_empty() {
            return None;
        }
        let mut at = 0;
        let mut out = Vec::with_capacity(self.entries.len());
        for &(key_len, value_len, chained) in &self.entries {
            let key = &self.bytes[at..at + key_len];
            at += key_len;
            let value = if chained {
                ValueRef::Overflow {
                    head: u64::MAX,
                    len: value_len,
                }
            } else {
                at += value_len;
                ValueRef::Inline(&self.bytes[at - value_len..at])
            };
            out.push(LeafEntry::new(KeyParts::whole(key), value));
        }
        let leaf = build_leaf_with(&out, self.prefix);
        self.bytes.clear();
        self.entries.clear();
        self.fill = LEAF_HEADER;
        self.prefix = 0;
        Some(leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Node, KIND_LEAF};
    use super::*;

    #[test]
    fn packed_leaves_are_full_valid_leaves() {
        let page = 1024;
        let mut packer = LeafPacker::new(page);
        let mut leaves = Vec::new();
        let mut want = Vec::new();
        for i in 0..2000u32 {
            let key = [&b"\x01\x01\x02 "[..], &i.to_be_bytes()].concat();
            let value = vec![i as u8; (i % 40) as usize + if i % 97 == 0 { 400 } else { 0 }];
            want.push((key.clone(), value.len()));
            leaves.extend(packer.push(&key, &value));
        }
        leaves.extend(packer.finish());
        let mut got = Vec::new();
        for (n, leaf) in leaves.iter().enumerate() {
            assert!(leaf.len() <= page);
            let node = Node::parse(1, KIND_LEAF, leaf).unwrap();
            node.validate().unwrap();
            if n + 1 < leaves.len() {
                assert!(
                    leaf.len() > page - page / 4,
                    "leaf {n} is {} bytes",
                    leaf.len()
                );
            }
            for i in 0..node.count() {
                got.push((node.key(i).unwrap().to_vec(), node.value(i).unwrap().len()));
            }
        }
        assert_eq!(got, want);
    }
}
