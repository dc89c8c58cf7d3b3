//! The byte layout of tree nodes, bounds-checked access to it, and the
//! builders that write it.
//!
//! A node is the logical content of one pager page (`Page::data`, at most the
//! page size; the pager compresses and checksums it). The page kind says
//! which node it is: 1 = leaf, 2 = branch (3 = overflow, see `overflow.rs`).
//! All integers are little-endian. Nodes are compact: cells are packed in key
//! order right after the slot directory and the last cell ends exactly at
//! the end of the data, so a node's size is `data.len()` and there is no free
//! space to track.
//!
//! ```text
//! Leaf (kind 1)                          Branch (kind 2)
//! offset size                            offset size
//!  0     2    n = entry count             0     2    n = key count (n+1 children)
//!  2     2    reserved, 0                 2     2    reserved, 0
//!  4     2n   slot[i] = offset of cell i  4     8    child 0 (keys < key 0)
//!  4+2n  ..   cells 0..n, packed          12    2n   slot[i] = offset of cell i
//!                                         12+2n ..   cells 0..n, packed
//!
//! Leaf cell                              Branch cell
//!  0     2    key length k                0     2    key length k
//!  2     4    value length v (u32)        2     8    child i+1 (keys >= key i)
//!  6     1    value kind: 0 inline,       10    k    key i
//!             1 overflow
//!  7     k    key
//!  7+k   v    value bytes       (inline)
//!  7+k   8    first overflow page id (overflow; v = total value length)
//! ```
//!
//! Keys are compared as bytes (memcmp order) and strictly increase across a
//! node's slots, so lookups binary-search the slot directory and decode only
//! the cells they compare. A branch's child `i` holds keys `key[i-1] <= k <
//! key[i]` (unbounded at the ends). Branch keys are separators, not
//! necessarily stored keys: a leaf split promotes the shortest prefix of the
//! right half's first key that still sorts above the left half's last key.
//!
//! Size rules (the reason splits always succeed): a key is at most
//! `page_size / 4 - 24` bytes and a value stays inline only while its whole
//! leaf cell plus slot fits in `page_size / 4`; otherwise it moves to an
//! overflow chain and the cell holds 8 bytes for it. So every cell with its
//! slot takes at most a quarter page, an overfull node (at most a page plus
//! one cell) always splits into two halves that each fit and are each at
//! least a quarter full, and nodes under a quarter full are merged with or
//! refilled from a sibling.
//!
//! Every accessor here bounds-checks against the page bytes and reports
//! [`BTreeError::Corrupted`]; nothing read from a page can panic.

use crate::error::{BTreeError, Result};
use moonvault_pager::PageId;

/// Page kind of a leaf node.
pub const KIND_LEAF: u8 = 1;
/// Page kind of a branch node.
pub const KIND_BRANCH: u8 = 2;

/// Bytes of a leaf's header (count and reserved).
pub(crate) const LEAF_HEADER: usize = 4;
/// Bytes of a branch's header (count, reserved, child 0).
pub(crate) const BRANCH_HEADER: usize = 12;
/// Bytes of one slot directory entry.
pub(crate) const SLOT: usize = 2;
/// Bytes of a leaf cell before its key.
pub(crate) const LEAF_CELL_HEADER: usize = 7;
/// Bytes of a branch cell before its key.
pub(crate) const BRANCH_CELL_HEADER: usize = 10;
/// Bytes an overflow reference takes in a leaf cell.
pub(crate) const OVERFLOW_REF: usize = 8;
const VALUE_INLINE: u8 = 0;
const VALUE_OVERFLOW: u8 = 1;

/// No valid tree is this deep (each level at least doubles the leaves);
/// deeper means a cycle of child pointers.
pub(crate) const MAX_DEPTH: usize = 64;

/// The longest key for `page_size`.
pub(crate) fn max_key_len(page_size: usize) -> usize {
    (page_size / 4).saturating_sub(24)
}

/// Nodes smaller than this (bytes, headers included) get merged with or
/// refilled from a sibling; no non-root node is smaller.
pub(crate) fn min_fill(page_size: usize) -> usize {
    page_size / 4
}

/// Whether a value of `value_len` bytes stays inline next to a key of
/// `key_len` bytes.
pub(crate) fn inline_fits(page_size: usize, key_len: usize, value_len: usize) -> bool {
    SLOT + LEAF_CELL_HEADER + key_len + value_len <= page_size / 4
}

fn u16_at(data: &[u8], at: usize) -> Option<usize> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]) as usize)
}

fn u32_at(data: &[u8], at: usize) -> Option<usize> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

pub(crate) fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    let b = data.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// A leaf entry's value as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueRef<'a> {
    /// The bytes are in the cell.
    Inline(&'a [u8]),
    /// The bytes are in an overflow chain starting at `head`.
    Overflow {
        /// First page of the chain.
        head: PageId,
        /// Total value length.
        len: usize,
    },
}

impl ValueRef<'_> {
    /// The value's length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            ValueRef::Inline(v) => v.len(),
            ValueRef::Overflow { len, .. } => *len,
        }
    }
}

/// A parsed view of one node page. Cheap: parsing reads only the header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    /// The page this node came from (named in errors).
    pub id: PageId,
    data: &'a [u8],
    count: usize,
    header: usize,
    leaf: bool,
}

impl<'a> Node<'a> {
    /// View `data` (of a page of kind `kind`) as a node.
    pub(crate) fn parse(id: PageId, kind: u8, data: &'a [u8]) -> Result<Node<'a>> {
        let (leaf, header) = match kind {
            KIND_LEAF => (true, LEAF_HEADER),
            KIND_BRANCH => (false, BRANCH_HEADER),
            other => {
                return Err(BTreeError::corrupted(
                    id,
                    format!("page kind {other} is not a tree node"),
                ))
            }
        };
        if data.len() < header {
            return Err(BTreeError::corrupted(
                id,
                format!("node of {} bytes is shorter than its header", data.len()),
            ));
        }
        let count = u16_at(data, 0).unwrap_or(0);
        if header + SLOT * count > data.len() {
            return Err(BTreeError::corrupted(
                id,
                format!(
                    "slot directory of {count} entries overruns the {}-byte node",
                    data.len()
                ),
            ));
        }
        Ok(Node {
            id,
            data,
            count,
            header,
            leaf,
        })
    }

    /// The view [`Node::parse`] returned earlier for the same (immutable)
    /// page: cursors keep `count` and `leaf` to skip re-parsing on every
    /// step. Accessors bounds-check regardless, so wrong arguments give
    /// `Corrupted`, never a panic.
    #[inline]
    pub(crate) fn parsed(id: PageId, data: &'a [u8], count: usize, leaf: bool) -> Node<'a> {
        Node {
            id,
            data,
            count,
            header: if leaf { LEAF_HEADER } else { BRANCH_HEADER },
            leaf,
        }
    }

    /// Shorthand for a corruption error naming this page.
    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> BTreeError {
        BTreeError::corrupted(self.id, detail)
    }

    /// Whether this is a leaf.
    pub(crate) fn is_leaf(&self) -> bool {
        self.leaf
    }

    /// Entries (leaf) or keys (branch).
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Size of the node in bytes.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    fn slots_end(&self) -> usize {
        self.header + SLOT * self.count
    }

    /// Offset of cell `i`, at or after the slot directory.
    fn offset(&self, i: usize) -> Result<usize> {
        if i >= self.count {
            return Err(self.corrupt(format!("cell {i} requested of a node with {}", self.count)));
        }
        let off = u16_at(self.data, self.header + SLOT * i).unwrap_or(0);
        if off < self.slots_end() {
            return Err(self.corrupt(format!("cell {i} offset {off} points into the header")));
        }
        Ok(off)
    }

    /// Length of the cell starting at `off`, checked to lie within the node.
    fn cell_len_at(&self, off: usize) -> Result<usize> {
        let bad = || self.corrupt(format!("cell at offset {off} overruns the node"));
        let k = u16_at(self.data, off).ok_or_else(bad)?;
        let len = if self.leaf {
            let v = u32_at(self.data, off + 2).ok_or_else(bad)?;
            match self.data.get(off + 6).copied() {
                // Checked: on 32-bit targets a damaged u32 length could wrap.
                Some(VALUE_INLINE) => (LEAF_CELL_HEADER + k).checked_add(v).ok_or_else(bad)?,
                Some(VALUE_OVERFLOW) => LEAF_CELL_HEADER + k + OVERFLOW_REF,
                Some(other) => {
                    return Err(self.corrupt(format!(
                        "cell at offset {off} has unknown value kind {other}"
                    )))
                }
                None => return Err(bad()),
            }
        } else {
            BRANCH_CELL_HEADER + k
        };
        match off.checked_add(len) {
            Some(end) if end <= self.data.len() => Ok(len),
            _ => Err(bad()),
        }
    }

    /// The raw bytes of cell `i` (self-describing; may be copied to
    /// another node of the same kind as is).
    pub(crate) fn cell(&self, i: usize) -> Result<&'a [u8]> {
        let off = self.offset(i)?;
        let len = self.cell_len_at(off)?;
        Ok(&self.data[off..off + len])
    }

    /// Key `i`.
    #[inline]
    pub(crate) fn key(&self, i: usize) -> Result<&'a [u8]> {
        let off = self.offset(i)?;
        let k = u16_at(self.data, off).unwrap_or(0);
        let start = off
            + if self.leaf {
                LEAF_CELL_HEADER
            } else {
                BRANCH_CELL_HEADER
            };
        self.data
            .get(start..start + k)
            .ok_or_else(|| self.corrupt(format!("key {i} overruns the node")))
    }

    /// Binary search: `Ok(i)` if key `i` equals `key`, else `Err(i)` with
    /// `i` the number of keys below `key`.
    ///
    /// The hot loop of every lookup, so it reads the slot directory and
    /// cells directly (still bounds-checked: a damaged slot or key length
    /// is `Corrupted`) and compares keys inline rather than through
    /// `memcmp` (see [`cmp_keys`]).
    pub(crate) fn search(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        let data = self.data;
        let slots_end = self.slots_end();
        let slots = data
            .get(self.header..slots_end)
            .ok_or_else(|| self.corrupt("slot directory overruns the node"))?;
        let skip = if self.leaf {
            LEAF_CELL_HEADER
        } else {
            BRANCH_CELL_HEADER
        };
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let stored = match slots.get(SLOT * mid..SLOT * mid + 2) {
                Some(&[a, b]) => {
                    let off = u16::from_le_bytes([a, b]) as usize;
                    match data.get(off..off + 2) {
                        Some(&[a, b]) if off >= slots_end => {
                            let k = u16::from_le_bytes([a, b]) as usize;
                            data.get(off + skip..off + skip + k)
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            let Some(stored) = stored else {
                // Reported with the precise reason by the checked accessor.
                return Err(self
                    .key(mid)
                    .err()
                    .unwrap_or_else(|| self.corrupt("bad key")));
            };
            match cmp_keys(stored, key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// Number of keys below `key`.
    pub(crate) fn lower_bound(&self, key: &[u8]) -> Result<usize> {
        Ok(self.search(key)?.unwrap_or_else(|i| i))
    }

    /// Number of keys at or below `key`.
    pub(crate) fn upper_bound(&self, key: &[u8]) -> Result<usize> {
        Ok(match self.search(key)? {
            Ok(i) => i + 1,
            Err(i) => i,
        })
    }

    /// The value of leaf entry `i`.
    pub(crate) fn value(&self, i: usize) -> Result<ValueRef<'a>> {
        let off = self.offset(i)?;
        let len = self.cell_len_at(off)?;
        let cell = &self.data[off..off + len];
        let k = u16_at(cell, 0).unwrap_or(0);
        let v = u32_at(cell, 2).unwrap_or(0);
        let start = LEAF_CELL_HEADER + k;
        match cell.get(6).copied() {
            Some(VALUE_INLINE) => Ok(ValueRef::Inline(&cell[start..])),
            _ => {
                let head = u64_at(cell, start).unwrap_or(0);
                if head == 0 {
                    return Err(self.corrupt(format!("entry {i} has a null overflow page")));
                }
                Ok(ValueRef::Overflow { head, len: v })
            }
        }
    }

    /// Key and value of leaf entry `i`, reading its cell once.
    #[inline]
    pub(crate) fn entry(&self, i: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        // The hot path of every cursor step: one pass over the cell with
        // plain bounds checks; any damage takes the cold path, which names
        // the exact problem.
        let data = self.data;
        let fast = (|| {
            if i >= self.count {
                return None;
            }
            let at = self.header + SLOT * i;
            let off = match data.get(at..at + 2)? {
                &[a, b] => u16::from_le_bytes([a, b]) as usize,
                _ => return None,
            };
            if off < self.slots_end() {
                return None;
            }
            let head = data.get(off..off + LEAF_CELL_HEADER)?;
            let k = u16::from_le_bytes([head[0], head[1]]) as usize;
            let v = u32::from_le_bytes([head[2], head[3], head[4], head[5]]) as usize;
            let start = off + LEAF_CELL_HEADER;
            let key = data.get(start..start + k)?;
            match head[6] {
                VALUE_INLINE => Some((
                    key,
                    ValueRef::Inline(data.get(start + k..start + k.checked_add(v)?)?),
                )),
                VALUE_OVERFLOW => {
                    let head = u64_at(data, start + k).filter(|&h| h != 0)?;
                    Some((key, ValueRef::Overflow { head, len: v }))
                }
                _ => None,
            }
        })();
        match fast {
            Some(entry) => Ok(entry),
            None => self.entry_checked(i),
        }
    }

    /// [`Node::entry`] with an error naming what is wrong.
    #[cold]
    fn entry_checked(&self, i: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        let off = self.offset(i)?;
        let len = self.cell_len_at(off)?;
        let bad = || self.corrupt(format!("entry {i} overruns the node"));
        let cell = self.data.get(off..off + len).ok_or_else(bad)?;
        let k = u16_at(cell, 0).ok_or_else(bad)?;
        let start = LEAF_CELL_HEADER + k;
        let key = cell.get(LEAF_CELL_HEADER..start).ok_or_else(bad)?;
        match cell.get(6).copied() {
            Some(VALUE_INLINE) => Ok((key, ValueRef::Inline(cell.get(start..).ok_or_else(bad)?))),
            _ => {
                let head = u64_at(cell, start).unwrap_or(0);
                if head == 0 {
                    return Err(self.corrupt(format!("entry {i} has a null overflow page")));
                }
                let v = u32_at(cell, 2).ok_or_else(bad)?;
                Ok((key, ValueRef::Overflow { head, len: v }))
            }
        }
    }

    /// Child `i` of a branch, `0..=count`.
    pub(crate) fn child(&self, i: usize) -> Result<PageId> {
        let id = if i == 0 {
            u64_at(self.data, 4).unwrap_or(0)
        } else {
            let off = self.offset(i - 1)?;
            u64_at(self.data, off + 2)
                .ok_or_else(|| self.corrupt(format!("child {i} overruns the node")))?
        };
        if id == 0 {
            return Err(self.corrupt(format!("child {i} is the null page")));
        }
        Ok(id)
    }

    /// Which child of a branch may hold `key`.
    #[inline]
    pub(crate) fn child_index(&self, key: &[u8]) -> Result<usize> {
        self.upper_bound(key)
    }

    /// Verify the whole layout: reserved bytes zero, cells packed in slot
    /// order and ending exactly at the end of the data. (Accessors only
    /// check what they touch; the checker calls this.)
    pub(crate) fn validate(&self) -> Result<()> {
        if self.data[2..4] != [0, 0] {
            return Err(self.corrupt("reserved header bytes are not zero"));
        }
        let mut expect = self.slots_end();
        for i in 0..self.count {
            let off = self.offset(i)?;
            if off != expect {
                return Err(self.corrupt(format!(
                    "cell {i} starts at {off}, expected {expect} (cells must be packed in order)"
                )));
            }
            expect = off + self.cell_len_at(off)?;
        }
        if expect != self.data.len() {
            return Err(self.corrupt(format!(
                "cells end at {expect} but the node is {} bytes",
                self.data.len()
            )));
        }
        Ok(())
    }
}

/// Bytewise (memcmp) order of two keys, eight bytes at a time. Keys are
/// short (tens of bytes) and a binary search compares a handful per node,
/// so an inline loop beats a call to `memcmp` for each.
#[inline]
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
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
            for (x, y) in a[..n].iter().zip(&b[..n]) {
                if x != y {
                    return x.cmp(y);
                }
            }
        }
    }
    a.len().cmp(&b.len())
}

/// The key of a raw leaf or branch cell taken from `Node::cell` or built by
/// this module (both are length-checked, so this cannot fail on them).
pub(crate) fn cell_key(cell: &[u8], leaf: bool) -> &[u8] {
    let k = u16_at(cell, 0).unwrap_or(0);
    let start = if leaf {
        LEAF_CELL_HEADER
    } else {
        BRANCH_CELL_HEADER
    };
    cell.get(start..start + k).unwrap_or(&[])
}

/// A key kept by a cursor or a finger: short keys (the common case) stay
/// inline, so keeping one allocates nothing.
pub(crate) type KeyBuf = smallvec::SmallVec<[u8; 32]>;

/// A leaf cell being built: on the stack for the small entries of typical
/// tables (one per insert).
pub(crate) type CellBuf = smallvec::SmallVec<[u8; 128]>;

/// A leaf cell for `key` with `value`.
pub(crate) fn leaf_cell(key: &[u8], value: ValueRef<'_>) -> CellBuf {
    let head_bytes;
    let (kind, payload): (u8, &[u8]) = match value {
        ValueRef::Inline(v) => (VALUE_INLINE, v),
        ValueRef::Overflow { head, .. } => {
            head_bytes = head.to_le_bytes();
            (VALUE_OVERFLOW, &head_bytes)
        }
    };
    // Sized once, then filled by slice copies (no per-part growth checks).
    let start = LEAF_CELL_HEADER + key.len();
    let mut cell = CellBuf::from_elem(0, start + payload.len());
    cell[0..2].copy_from_slice(&(key.len() as u16).to_le_bytes());
    cell[2..6].copy_from_slice(&(value.len() as u32).to_le_bytes());
    cell[6] = kind;
    cell[LEAF_CELL_HEADER..start].copy_from_slice(key);
    cell[start..].copy_from_slice(payload);
    cell
}

/// Bytes a branch cell for a key of `key_len` bytes adds, slot included.
pub(crate) fn branch_entry_size(key_len: usize) -> usize {
    SLOT + BRANCH_CELL_HEADER + key_len
}

/// Write a header, then slots and cells. Callers guarantee the result fits
/// a page (so offsets fit in u16); the pager rejects anything larger.
fn build<'c>(header: &[u8], cells: impl ExactSizeIterator<Item = &'c [u8]>, out: &mut Vec<u8>) {
    let n = cells.len();
    out.extend_from_slice(header);
    out[0..2].copy_from_slice(&(n as u16).to_le_bytes());
    let slots = out.len();
    out.resize(slots + SLOT * n, 0);
    for (i, cell) in cells.enumerate() {
        let off = (out.len() as u16).to_le_bytes();
        out[slots + SLOT * i..slots + SLOT * i + 2].copy_from_slice(&off);
        out.extend_from_slice(cell);
    }
}

/// A leaf holding `cells` (raw leaf cells, in key order).
pub(crate) fn build_leaf(cells: &[&[u8]]) -> Vec<u8> {
    let size = LEAF_HEADER + cells.iter().map(|c| SLOT + c.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    build(&[0; LEAF_HEADER], cells.iter().copied(), &mut out);
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

impl Node<'_> {
    /// The bytes an edit of `remove` (0 or 1) cells at `at` replaces:
    /// `start..end` in the cell area (empty for an insert), checked against
    /// the layout.
    fn edit_range(&self, at: usize, remove: usize) -> Result<(usize, usize)> {
        let n = self.count;
        if at > n || at + remove > n {
            return Err(self.corrupt(format!("edit at {at} of a node with {n} cells")));
        }
        let start = if at < n {
            self.offset(at)?
        } else {
            self.data.len()
        };
        let end = if remove > 0 {
            start + self.cell_len_at(start)?
        } else {
            start
        };
        if start < self.slots_end() || end > self.data.len() {
            return Err(self.corrupt("cell offsets out of order"));
        }
        Ok((start, end))
    }
}

/// A copy of `node` with `remove` (0 or 1) cells at `at` replaced by
/// `insert`: the O(page size) edit behind every leaf insert and delete.
/// Two block copies plus an offset fix-up per slot; on a damaged layout the
/// result is damaged too but nothing panics.
pub(crate) fn splice(
    node: &Node<'_>,
    at: usize,
    remove: usize,
    insert: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let n = node.count;
    let data = node.data;
    let (start, end) = node.edit_range(at, remove)?;
    let slots_end = node.slots_end();
    let ins = insert.unwrap_or(&[]);
    let new_n = n - remove + usize::from(insert.is_some());
    let header = node.header;
    let new_slots_end = header + SLOT * new_n;
    let new_len = data.len() - (end - start) + ins.len() + SLOT * new_n - SLOT * n;
    // Cells before `at` move by the slot directory's growth; cells after it
    // also by the size change of the edited cell. Offsets are computed in
    // isize and range-checked once (every new offset lies below new_len).
    if new_len > usize::from(u16::MAX) + 1 {
        return Err(node.corrupt("edited node overflows 16-bit offsets"));
    }
    let shift_before = (SLOT * new_n) as isize - (SLOT * n) as isize;
    let shift_after = shift_before + ins.len() as isize - (end - start) as isize;
    // Only the header and slot directory are written in place; the cells
    // are appended (no zeroing of a page-sized buffer).
    let mut out = Vec::with_capacity(new_len);
    out.extend_from_slice(&data[..header]);
    out[0..2].copy_from_slice(&(new_n as u16).to_le_bytes());
    out.resize(new_slots_end, 0);
    let slots = &data[header..slots_end];
    let mut bad = false;
    {
        let (old_before, old_after) = slots.split_at(SLOT * at);
        let old_after = old_after.get(SLOT * remove..).unwrap_or_default();
        let new_slots = &mut out[header..new_slots_end];
        let (new_before, rest) = new_slots.split_at_mut(SLOT * at);
        let shift = |dst: &mut [u8], src: &[u8], by: isize, bad: &mut bool| {
            // Written for the vectoriser: plain loads, adds and stores, and
            // one accumulated range flag instead of an early return.
            let by = by as i32;
            let mut out_of_range = 0u32;
            for (d, s) in dst.chunks_exact_mut(SLOT).zip(src.chunks_exact(SLOT)) {
                let off = (i32::from(s[0]) | (i32::from(s[1]) << 8)) + by;
                out_of_range |= (off as u32) >> 16;
                d[0] = off as u8;
                d[1] = (off >> 8) as u8;
            }
            *bad |= out_of_range != 0;
        };
        shift(new_before, old_before, shift_before, &mut bad);
        let rest = if insert.is_some() {
            let (slot, rest) = rest.split_at_mut(SLOT);
            slot.copy_from_slice(&((start as isize + shift_before) as u16).to_le_bytes());
            rest
        } else {
            rest
        };
        shift(rest, old_after, shift_after, &mut bad);
    }
    if bad {
        return Err(node.corrupt("cell offset out of range"));
    }
    out.extend_from_slice(&data[slots_end..start]);
    out.extend_from_slice(ins);
    out.extend_from_slice(&data[end..]);
    Ok(out)
}

/// [`splice`] done to the node's own bytes: the edit of a page this
/// transaction already owns, without allocating or copying a page. The
/// result is byte-for-byte what `splice` returns (tests compare them).
/// Returns the new size. On a damaged layout the data may be left damaged
/// (the caller's transaction is then failed and rolled back), but nothing
/// panics.
pub(crate) fn splice_in_place(
    id: PageId,
    kind: u8,
    data: &mut Vec<u8>,
    at: usize,
    remove: usize,
    insert: Option<&[u8]>,
) -> Result<usize> {
    let (n, header, start, end) = {
        let node = Node::parse(id, kind, data)?;
        let (start, end) = node.edit_range(at, remove)?;
        (node.count, node.header, start, end)
    };
    let corrupt = |detail: &str| BTreeError::corrupted(id, detail);
    let ins = insert.unwrap_or(&[]);
    let new_n = n - remove + usize::from(insert.is_some());
    let slots_end = header + SLOT * n;
    let new_slots_end = header + SLOT * new_n;
    let old_len = data.len();
    // Both terms are non-negative: start >= slots_end and end <= old_len.
    let new_len = new_slots_end + (start - slots_end) + ins.len() + (old_len - end);
    if new_len > usize::from(u16::MAX) + 1 {
        return Err(corrupt("edited node overflows 16-bit offsets"));
    }
    // Cells before `at` move by the slot directory's growth `sd`; the
    // edited cell lands at `start + sd`, the cells after it at `tail_to`.
    let sd = new_slots_end as isize - slots_end as isize;
    let new_start = new_slots_end + (start - slots_end);
    let tail_to = new_start + ins.len();
    let shift_after = tail_to as isize - end as isize;
    // Slot entries from `at + remove` on move to index `at + inserted`.
    let moved_from = header + SLOT * (at + remove);
    let moved_to = header + SLOT * (at + usize::from(insert.is_some()));
    if new_len >= old_len {
        // Growing (sd is 0 or +2): make room at the end, move the tail
        // right, then the cells before `at`, then the slot entries into the
        // bytes the cells vacated.
        data.resize(new_len, 0);
        data.copy_within(end..old_len, tail_to);
        data.copy_within(slots_end..start, new_slots_end);
        data.copy_within(moved_from..slots_end, moved_to);
    } else {
        // Shrinking (sd is 0 or -2): the slot entries first (the cells then
        // move left over the vacated last entry), then the cells.
        data.copy_within(moved_from..slots_end, moved_to);
        data.copy_within(slots_end..start, new_slots_end);
        data.copy_within(end..old_len, tail_to);
    }
    data.get_mut(new_start..tail_to)
        .ok_or_else(|| corrupt("edited cell overruns the node"))?
        .copy_from_slice(ins);
    data.truncate(new_len);
    data.get_mut(0..2)
        .ok_or_else(|| corrupt("node shorter than its header"))?
        .copy_from_slice(&(new_n as u16).to_le_bytes());
    let slots = data
        .get_mut(header..new_slots_end)
        .ok_or_else(|| corrupt("slot directory overruns the node"))?;
    let (before, rest) = slots.split_at_mut(SLOT * at);
    let mut bad = shift_slots(before, sd);
    let rest = if insert.is_some() {
        let (slot, rest) = rest.split_at_mut(SLOT);
        slot.copy_from_slice(&(new_start as u16).to_le_bytes());
        rest
    } else {
        rest
    };
    bad |= shift_slots(rest, shift_after);
    if bad {
        return Err(corrupt("cell offset out of range"));
    }
    Ok(new_len)
}

/// Add `by` to every 16-bit slot offset in `slots`; true if any result
/// falls outside `0..=u16::MAX` (written for the vectoriser: no early exit).
fn shift_slots(slots: &mut [u8], by: isize) -> bool {
    if by == 0 {
        return false;
    }
    let by = by as i32;
    let mut out_of_range = 0u32;
    for d in slots.chunks_exact_mut(SLOT) {
        let off = (i32::from(d[0]) | (i32::from(d[1]) << 8)) + by;
        out_of_range |= (off as u32) >> 16;
        d[0] = off as u8;
        d[1] = (off >> 8) as u8;
    }
    out_of_range != 0
}

/// A copy of branch `node` with child `i` pointing at `child`.
pub(crate) fn set_child(node: &Node<'_>, i: usize, child: PageId) -> Result<Vec<u8>> {
    let at = if i == 0 { 4 } else { node.offset(i - 1)? + 2 };
    let mut out = node.data.to_vec();
    out.get_mut(at..at + 8)
        .ok_or_else(|| node.corrupt(format!("child {i} overruns the node")))?
        .copy_from_slice(&child.to_le_bytes());
    Ok(out)
}

/// The shortest key `s` with `left < s <= right`, given `left < right`: the
/// separator a leaf split promotes. Short separators keep branches wide.
pub(crate) fn shortest_separator(left: &[u8], right: &[u8]) -> Vec<u8> {
    let common = left.iter().zip(right).take_while(|(a, b)| a == b).count();
    right[..(common + 1).min(right.len())].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let cells: Vec<CellBuf> = entries
            .iter()
            .map(|(k, v)| leaf_cell(k, ValueRef::Inline(v)))
            .collect();
        let refs: Vec<&[u8]> = cells.iter().map(|c| c.as_slice()).collect();
        build_leaf(&refs)
    }

    #[test]
    fn leaf_layout_matches_the_diagram() {
        let data = leaf(&[(b"ab", b"xyz")]);
        assert_eq!(
            data,
            [
                1, 0, 0, 0, // count 1, reserved
                6, 0, // slot 0 -> offset 6
                2, 0, 3, 0, 0, 0, 0, // key len 2, value len 3, inline
                b'a', b'b', b'x', b'y', b'z'
            ]
        );
        let node = Node::parse(1, KIND_LEAF, &data).unwrap();
        node.validate().unwrap();
        assert_eq!(node.key(0).unwrap(), b"ab");
        assert_eq!(node.value(0).unwrap(), ValueRef::Inline(b"xyz"));
    }

    #[test]
    fn branch_layout_and_children() {
        let data = build_branch(7, &[(b"m", 8), (b"t", 9)]);
        let node = Node::parse(1, KIND_BRANCH, &data).unwrap();
        node.validate().unwrap();
        assert_eq!(&data[4..12], &7u64.to_le_bytes());
        assert_eq!(node.count(), 2);
        assert_eq!(
            (0..3).map(|i| node.child(i).unwrap()).collect::<Vec<_>>(),
            [7, 8, 9]
        );
        assert_eq!(node.child_index(b"a").unwrap(), 0);
        assert_eq!(node.child_index(b"m").unwrap(), 1);
        assert_eq!(node.child_index(b"s").unwrap(), 1);
        assert_eq!(node.child_index(b"z").unwrap(), 2);
        let patched = set_child(&node, 2, 42).unwrap();
        let node = Node::parse(1, KIND_BRANCH, &patched).unwrap();
        assert_eq!(node.child(2).unwrap(), 42);
    }

    #[test]
    fn splice_equals_rebuild() {
        let base = [(&b"b"[..], &b"1"[..]), (b"d", b"22"), (b"f", b"333")];
        let data = leaf(&base);
        let node = Node::parse(1, KIND_LEAF, &data).unwrap();
        let new = leaf_cell(b"c", ValueRef::Inline(b"4444"));
        for at in 0..=3 {
            let mut expect = base.to_vec();
            expect.insert(at, (b"c", b"4444"));
            assert_eq!(splice(&node, at, 0, Some(&new)).unwrap(), leaf(&expect));
        }
        for at in 0..3 {
            let mut expect = base.to_vec();
            expect.remove(at);
            assert_eq!(splice(&node, at, 1, None).unwrap(), leaf(&expect));
            expect.insert(at, (b"c", b"4444"));
            assert_eq!(splice(&node, at, 1, Some(&new)).unwrap(), leaf(&expect));
        }
    }

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
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(cmp_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn splice_in_place_equals_splice() {
        let mut seed = 0x9E37_79B9u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let count = rand(12) as usize;
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = (0..count)
                .map(|i| (vec![b'a' + i as u8 * 2], vec![7; rand(40) as usize]))
                .collect();
            entries.sort();
            let refs: Vec<(&[u8], &[u8])> = entries
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            let data = leaf(&refs);
            let node = Node::parse(1, KIND_LEAF, &data).unwrap();
            let cell = leaf_cell(b"x", ValueRef::Inline(&vec![9; rand(50) as usize]));
            for at in 0..=count {
                for remove in 0..=usize::from(at < count) {
                    for insert in [None, Some(cell.as_slice())] {
                        let want = splice(&node, at, remove, insert).unwrap();
                        let mut got = data.clone();
                        let len =
                            splice_in_place(1, KIND_LEAF, &mut got, at, remove, insert).unwrap();
                        assert_eq!(got, want, "at {at} remove {remove} insert {insert:?}");
                        assert_eq!(len, want.len());
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

    #[test]
    fn garbage_never_panics() {
        // Every prefix of and every byte flip in valid nodes, and random
        // bytes: all accessors return Ok or Corrupted.
        let leafdata = leaf(&[(b"ab", b"xyz"), (b"cd", b""), (b"e", b"0123456789")]);
        let branchdata = build_branch(7, &[(b"m", 8), (b"t", 9)]);
        let mut inputs = Vec::new();
        for (kind, d) in [(KIND_LEAF, &leafdata), (KIND_BRANCH, &branchdata)] {
            for len in 0..=d.len() {
                inputs.push((kind, d[..len].to_vec()));
            }
            for i in 0..d.len() {
                for bit in [1u8, 0x10, 0x80] {
                    let mut x = d.clone();
                    x[i] ^= bit;
                    inputs.push((kind, x));
                }
            }
        }
        let mut seed = 0x1234_5678_u64;
        for _ in 0..2000 {
            let len = (seed % 64) as usize;
            let bytes = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8 % 8
                })
                .collect();
            inputs.push((1 + (seed % 3) as u8, bytes));
        }
        for (kind, data) in inputs {
            let Ok(node) = Node::parse(3, kind, &data) else {
                continue;
            };
            let _ = node.validate();
            for i in 0..node.count() + 2 {
                let _ = node.key(i);
                let _ = node.cell(i);
                let _ = node.value(i);
                let _ = node.child(i);
                let _ = set_child(&node, i, 5);
                let _ = splice(&node, i, 0, Some(&[1, 0, 0, 0, 0, 0, 0, 9]));
                let _ = splice(&node, i, 1, None);
                let mut copy = data.clone();
                let _ = splice_in_place(3, kind, &mut copy, i, 0, Some(&[1, 0, 0, 0, 0, 0, 0, 9]));
                let mut copy = data.clone();
                let _ = splice_in_place(3, kind, &mut copy, i, 1, None);
            }
            let _ = node.search(b"m");
        }
    }
}
