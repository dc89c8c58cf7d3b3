//! The byte layout of tree nodes, bounds-checked access to it, and the
//! builders that write it.
//!
//! A node is the logical content of one pager page (`Page::data`, at most the
//! page size; the pager compresses and checksums it). The page kind says
//! which node it is: 5 = leaf, 2 = branch, 4 = leaf of store formats 2 to 4
//! and 1 = leaf of format 1 (read, never written; see below), 3 = overflow
//! (see `overflow.rs`). All fixed-width integers are little-endian. Nodes
//! are compact: cells are packed in key order, a leaf's slot directory
//! right after them (kind 5) and a branch's right before them (as in kinds
//! 1 and 4), with no gap, so a node's size is `data.len()` and there is no
//! free space to track.
//!
//! The format is drawn once, in DESIGN.md section 3, "The B-tree";
//! this module is its only reader and writer.
//!
//! A varint is little-endian groups of 7 bits with the high bit set on all
//! bytes but the last, in its shortest form, at most 5 bytes. The prefix is
//! exactly the longest common prefix of the node's keys (all of the key
//! when there is one, empty when there is none), so a node's bytes are a
//! function of its entries. A typical table entry's cell header is 2 bytes
//! against format 1's 7, and its key costs the bytes after the prefix.
//!
//! Keys are compared as bytes (memcmp order) and strictly increase across a
//! node's slots, so lookups binary-search the slot directory and decode only
//! the cells they compare; in a leaf, a probe that does not start with the
//! prefix sorts before or after every key, and one that does is compared by
//! its bytes after the prefix only. A branch's child `i` holds keys
//! `key[i-1] <= k < key[i]` (unbounded at the ends). Branch keys are
//! separators, not necessarily stored keys: a leaf split promotes the
//! shortest prefix of the right half's first key that still sorts above the
//! left half's last key.
//!
//! Sizes (the reason splits always succeed; the argument is in DESIGN.md,
//! section 3): a key is at most `page_size / 4 - 24` bytes and a value stays
//! inline only while its format-1 cell plus slot would fit in
//! `page_size / 4`; otherwise it moves to an overflow chain. An entry's
//! `entry_size` (its cell with the whole key, plus slot) is then at most
//! a quarter page. A leaf's *fill* is `4 + sum(entry_size)`, its size as if
//! it had no prefix: fill is additive, never below the size, and is what
//! the quarter-page minimum applies to. A branch's fill is its size.
//!
//! Every accessor here bounds-checks against the page bytes and reports
//! [`BTreeError::Corrupted`]; nothing read from a page can panic.

mod aid;
mod build;
mod cell;
mod edit;
mod guide;
mod key;

pub use aid::{search_aid, search_aid_vouching, search_aid_words, SEARCH_AID, VOUCHED};
pub use build::LeafPacker;
pub(crate) use build::{build_branch, build_leaf, build_leaf_with, build_leaf_within, LeafEntry};
#[cfg(test)]
pub(crate) use build::{build_leaf_v1, build_leaf_v2};
#[cfg(test)]
pub(crate) use cell::entry_size;
#[cfg(test)]
pub(crate) use cell::leaf_cell;
pub(crate) use cell::{
    branch_entry_size, inline_fits, max_key_len, min_fill, stored_entry_size, NewCell, ValueRef,
    BRANCH_HEADER, LEAF_HEADER, SLOT,
};
pub(crate) use edit::{set_child, splice, splice_in_place};
pub use key::common_prefix;
pub(crate) use key::{cmp_keys, same_bytes, shortest_separator, KeyBuf, KeyParts};

use crate::error::{BTreeError, Result};
use cell::{
    value_at, varint_at, BRANCH_CELL_HEADER, LEAF_V1_CELL_HEADER, OVERFLOW_REF, V1_INLINE,
    V1_OVERFLOW,
};
use moonvault_pager::{Page, PageId};

/// Page kind of a leaf of format 1: read, never written (an edit writes
/// the leaf anew as [`KIND_LEAF`]).
pub const KIND_LEAF_V1: u8 = 1;
/// Page kind of a branch node.
pub const KIND_BRANCH: u8 = 2;
/// Page kind of a leaf with a shared key prefix and varint cell headers,
/// its slot directory before its cells: read, never written (an edit
/// writes the leaf anew as [`KIND_LEAF`]).
pub const KIND_LEAF_V2: u8 = 4;
/// Page kind of the leaf written since store format 5: the cells of
/// [`KIND_LEAF_V2`], its slot directory after them, so that an edit moves
/// only the cells after it and the slot directory.
pub const KIND_LEAF: u8 = 5;

/// No valid tree is this deep (each level at least doubles the leaves);
/// deeper means a cycle of child pointers.
pub(crate) const MAX_DEPTH: usize = 64;

/// Whether pages of `kind` are leaves.
pub(crate) fn is_leaf_kind(kind: u8) -> bool {
    matches!(kind, KIND_LEAF | KIND_LEAF_V2 | KIND_LEAF_V1)
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

/// The key bytes of the format-2 leaf cell at `off` in a node with a
/// `plen`-byte prefix, and the offset after them.
#[inline(always)]
fn v2_key_at(data: &[u8], off: usize, plen: usize) -> Option<(&[u8], usize)> {
    let first = *data.get(off)?;
    if first < 0x80 {
        // The common case: a key under 128 bytes (no overflow possible).
        let start = off + 1;
        let end = start + usize::from(first).checked_sub(plen)?;
        return Some((data.get(start..end)?, end));
    }
    v2_long_key_at(data, off, plen)
}

#[cold]
fn v2_long_key_at(data: &[u8], off: usize, plen: usize) -> Option<(&[u8], usize)> {
    let (k, n) = varint_at(data, off)?;
    let start = off + n;
    let end = start.checked_add(usize::try_from(k).ok()?.checked_sub(plen)?)?;
    Some((data.get(start..end)?, end))
}

/// The key bytes of a format-1 leaf or branch cell at `off` (a u16 length,
/// the key `skip` bytes in), and the offset after them.
#[inline(always)]
fn fixed_key_at(data: &[u8], off: usize, skip: usize) -> Option<(&[u8], usize)> {
    let len = match data.get(off..off + 2)? {
        &[a, b] => u16::from_le_bytes([a, b]) as usize,
        _ => return None,
    };
    let start = off + skip;
    Some((data.get(start..start + len)?, start + len))
}

/// Which layout a node has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Kind 1.
    LeafV1,
    /// Kinds 4 and 5 (the same cells; the slot directory first in kind
    /// 4, last in kind 5).
    LeafV2,
    /// Kind 2.
    Branch,
}

/// What [`Node::parse`] learns from a node's header, kept by cursors so
/// that stepping through a page does not parse it again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeMeta {
    count: u32,
    /// Where the slot directory starts.
    slots: u32,
    /// Where the cells start: no cell offset lies below.
    cells: u32,
    /// Length of the shared key prefix (format 2 leaves; else 0).
    plen: u32,
    format: Format,
}

/// A parsed view of one node page. Cheap: parsing reads only the header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    /// The page this node came from (named in errors).
    pub id: PageId,
    data: &'a [u8],
    meta: NodeMeta,
    /// The page's search aid ([`search_aid`]), empty if it has none.
    aid: &'a [u64],
}

/// One decoded cell.
struct Cell<'a> {
    /// The key bytes the cell stores (after the node's prefix).
    key: &'a [u8],
    /// The value (leaf) or right child (branch).
    tail: Tail<'a>,
    /// Offset just past the cell.
    end: usize,
}

enum Tail<'a> {
    Value(ValueRef<'a>),
    Child,
}

impl<'a> Node<'a> {
    /// [`Node::parse`] of a page read from the pager, whose keys are also
    /// checked to strictly increase the first time this copy of the page
    /// is used ([`Page::is_checked`]): a damaged node (keys out of order)
    /// is `Corrupted` before any search trusts it, at the cost of one pass
    /// per page load, which the load's crc and decompression already make.
    #[inline(always)]
    pub(crate) fn of_page(id: PageId, page: &'a Page) -> Result<Node<'a>> {
        let mut node = Node::parse(id, page.kind, &page.data)?;
        if !page.is_checked() {
            node.check_order()?;
            page.set_checked();
        }
        node.aid = page.aid();
        Ok(node)
    }

    /// Whether the keys (a leaf's) or separators (a branch's) strictly
    /// increase. All keys of a node share its prefix, so the stored
    /// suffixes are compared.
    pub(crate) fn check_order(&self) -> Result<()> {
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.count() {
            let key = self.key(i)?.suffix;
            if let Some(prev) = prev {
                if cmp_keys(prev, key) != std::cmp::Ordering::Less {
                    return Err(self.corrupt(format!(
                        "key {i} is not above key {} (keys out of order)",
                        i - 1
                    )));
                }
            }
            prev = Some(key);
        }
        Ok(())
    }

    /// View `data` (of a page of kind `kind`) as a node.
    #[inline(always)]
    pub(crate) fn parse(id: PageId, kind: u8, data: &'a [u8]) -> Result<Node<'a>> {
        let (format, plen) = match kind {
            KIND_LEAF | KIND_LEAF_V2 => (Format::LeafV2, u16_at(data, 2).unwrap_or(0)),
            KIND_BRANCH => (Format::Branch, 0),
            KIND_LEAF_V1 => (Format::LeafV1, 0),
            other => return Err(Self::not_a_node(id, other)),
        };
        let header = plen
            + if format == Format::Branch {
                BRANCH_HEADER
            } else {
                LEAF_HEADER
            };
        let count = u16_at(data, 0).unwrap_or(0);
        let len = data.len();
        if header + SLOT * count > len {
            return Err(Self::short(id, len, header, count));
        }
        let (slots, cells) = if kind == KIND_LEAF {
            (len - SLOT * count, header)
        } else {
            (header, header + SLOT * count)
        };
        Ok(Node {
            id,
            data,
            meta: NodeMeta {
                count: count as u32,
                slots: slots as u32,
                cells: cells as u32,
                plen: plen as u32,
                format,
            },
            aid: &[],
        })
    }

    #[cold]
    fn not_a_node(id: PageId, kind: u8) -> BTreeError {
        match kind {
            crate::KIND_OVERFLOW => {
                BTreeError::corrupted(id, "an overflow page stands where a tree node belongs")
            }
            0 => BTreeError::corrupted(id, "page kind 0 is never written"),
            kind => BTreeError::UnsupportedPage { page: id, kind },
        }
    }

    #[cold]
    fn short(id: PageId, len: usize, header: usize, count: usize) -> BTreeError {
        let detail = if len < header {
            format!("node of {len} bytes is shorter than its {header}-byte header")
        } else {
            format!("slot directory of {count} entries overruns the {len}-byte node")
        };
        BTreeError::corrupted(id, detail)
    }

    /// The view [`Node::parse`] returned earlier for the same (immutable)
    /// page, from its [`Node::meta`]: cursors keep it to skip re-parsing on
    /// every step. Accessors bounds-check regardless, so a wrong `meta`
    /// gives `Corrupted`, never a panic.
    #[inline]
    pub(crate) fn from_meta(id: PageId, data: &'a [u8], meta: NodeMeta) -> Node<'a> {
        Node {
            id,
            data,
            meta,
            aid: &[],
        }
    }

    /// What [`Node::from_meta`] needs to view this page again.
    pub(crate) fn meta(&self) -> NodeMeta {
        self.meta
    }

    /// Shorthand for a corruption error naming this page.
    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> BTreeError {
        BTreeError::corrupted(self.id, detail)
    }

    /// The layout.
    pub(crate) fn format(&self) -> Format {
        self.meta.format
    }

    /// Whether this is a leaf.
    pub(crate) fn is_leaf(&self) -> bool {
        self.meta.format != Format::Branch
    }

    /// Entries (leaf) or keys (branch).
    #[inline(always)]
    pub(crate) fn count(&self) -> usize {
        self.meta.count as usize
    }

    /// Size of the node in bytes.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The prefix every key of the node starts with and no cell repeats
    /// (empty but in format-2 leaves).
    #[inline]
    pub(crate) fn prefix(&self) -> &'a [u8] {
        self.data
            .get(LEAF_HEADER..LEAF_HEADER + self.plen())
            .filter(|_| self.meta.format == Format::LeafV2)
            .unwrap_or_default()
    }

    /// The node's fill: its size for a branch or a format-1 leaf; for a
    /// format-2 leaf its size as if it had no prefix (each cell but one
    /// saves the prefix), `4 + sum(entry_size)`.
    pub(crate) fn fill(&self) -> usize {
        self.len() + self.count().saturating_sub(1) * self.plen()
    }

    /// Where the cells start: no cell offset lies below.
    #[inline(always)]
    fn cells_start(&self) -> usize {
        self.meta.cells as usize
    }

    /// Where the slot directory starts.
    #[inline(always)]
    fn slots_start(&self) -> usize {
        self.meta.slots as usize
    }

    /// Length of the shared key prefix (format-2 leaves; else 0).
    #[inline(always)]
    fn plen(&self) -> usize {
        self.meta.plen as usize
    }

    /// Where the cells end: at the end of the data if the slot directory
    /// comes first (it ends where the cells start), else at the slot
    /// directory (kind 5; when both hold, the node has no slot and no cell
    /// and both answers are its end).
    fn cells_end(&self) -> usize {
        if self.cells_start() == self.slot(self.count()) {
            self.data.len()
        } else {
            self.slots_start()
        }
    }

    /// Where slot `i` lies.
    #[inline(always)]
    fn slot(&self, i: usize) -> usize {
        self.slots_start() + SLOT * i
    }

    /// Offset of cell `i`, in the cells.
    fn offset(&self, i: usize) -> Result<usize> {
        if i >= self.count() {
            return Err(self.corrupt(format!(
                "cell {i} requested of a node with {}",
                self.count()
            )));
        }
        let off = u16_at(self.data, self.slot(i)).unwrap_or(0);
        if off < self.cells_start() {
            return Err(self.corrupt(format!("cell {i} offset {off} points into the header")));
        }
        Ok(off)
    }

    /// The stored key bytes of the cell at `off` and the offset after them;
    /// `None` if they overrun the node.
    #[inline(always)]
    fn stored_key_at(&self, off: usize) -> Option<(&'a [u8], usize)> {
        match self.meta.format {
            Format::LeafV2 => v2_key_at(self.data, off, self.plen()),
            Format::LeafV1 => fixed_key_at(self.data, off, LEAF_V1_CELL_HEADER),
            Format::Branch => fixed_key_at(self.data, off, BRANCH_CELL_HEADER),
        }
    }

    /// Decode the cell at `off`, naming what is wrong if it is damaged.
    fn cell_at(&self, off: usize) -> Result<Cell<'a>> {
        let bad = |what: &str| self.corrupt(format!("cell at offset {off}: {what}"));
        let data = self.data;
        let Some((key, key_end)) = self.stored_key_at(off) else {
            if self.meta.format == Format::LeafV2 {
                return Err(match varint_at(data, off) {
                    None => bad("bad key length"),
                    Some((k, _)) if k < self.plen() as u64 => {
                        bad("key shorter than the node's prefix")
                    }
                    Some(_) => bad("key overruns the node"),
                });
            }
            return Err(bad("key overruns the node"));
        };
        match self.meta.format {
            Format::LeafV2 => match value_at(data, key_end) {
                Some((value, end)) => Ok(Cell {
                    key,
                    tail: Tail::Value(value),
                    end,
                }),
                None => Err(match varint_at(data, key_end) {
                    None => bad("bad value length"),
                    Some((w, _)) if w >> 1 > u64::from(u32::MAX) => bad("value length too large"),
                    Some((w, _)) if w & 1 == 1 => bad("null or truncated overflow page id"),
                    Some(_) => bad("value overruns the node"),
                }),
            },
            Format::LeafV1 => {
                let v = u32_at(data, off + 2).ok_or_else(|| bad("overruns the node"))?;
                let (value, end) = match data.get(off + 6).copied() {
                    Some(V1_INLINE) => {
                        // Checked: on 32-bit targets a damaged u32 length could wrap.
                        let end = key_end
                            .checked_add(v)
                            .ok_or_else(|| bad("value too large"))?;
                        let bytes = data
                            .get(key_end..end)
                            .ok_or_else(|| bad("value overruns the node"))?;
                        (ValueRef::Inline(bytes), end)
                    }
                    Some(V1_OVERFLOW) => match u64_at(data, key_end) {
                        Some(0) => return Err(bad("null overflow page")),
                        Some(head) => (ValueRef::Overflow { head, len: v }, key_end + OVERFLOW_REF),
                        None => return Err(bad("overflow page id overruns the node")),
                    },
                    Some(other) => return Err(bad(&format!("unknown value kind {other}"))),
                    None => return Err(bad("overruns the node")),
                };
                Ok(Cell {
                    key,
                    tail: Tail::Value(value),
                    end,
                })
            }
            Format::Branch => {
                u64_at(data, off + 2).ok_or_else(|| bad("overruns the node"))?;
                Ok(Cell {
                    key,
                    tail: Tail::Child,
                    end: key_end,
                })
            }
        }
    }

    /// Length of cell `i` (the bytes a splice of it removes).
    pub(crate) fn cell_len(&self, i: usize) -> Result<usize> {
        let off = self.offset(i)?;
        Ok(self.cell_at(off)?.end - off)
    }

    /// Key `i`: the node's prefix and the cell's bytes.
    #[inline]
    pub(crate) fn key(&self, i: usize) -> Result<KeyParts<'a>> {
        let off = self.offset(i)?;
        match self.stored_key_at(off) {
            Some((suffix, _)) => Ok(KeyParts {
                prefix: self.prefix(),
                suffix,
            }),
            None => Err(self
                .cell_at(off)
                .err()
                .unwrap_or_else(|| self.corrupt("bad key"))),
        }
    }

    /// Separator `i` of a branch.
    pub(crate) fn separator(&self, i: usize) -> Result<&'a [u8]> {
        if self.meta.format != Format::Branch {
            return Err(self.corrupt("separator requested of a leaf"));
        }
        Ok(self.key(i)?.suffix)
    }

    /// Binary search: `Ok(i)` if key `i` equals `key`, else `Err(i)` with
    /// `i` the number of keys below `key`.
    ///
    /// The hot loop of every lookup, so it reads the slot directory and
    /// cells directly (still bounds-checked: a damaged slot or key length
    /// is `Corrupted`) and compares keys inline rather than through
    /// `memcmp` (see [`cmp_keys`]).
    pub(crate) fn search(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        // One loop per format, so that the loop does not branch on it.
        match self.meta.format {
            Format::LeafV2 => {
                let probe = match self.after_prefix(key) {
                    Ok(probe) => probe,
                    Err(at) => return Ok(Err(at)),
                };
                if let Some((keys, guide, _)) = aid::leaf_parts(self.aid, self.count()) {
                    return Ok(self.aided_leaf_search(keys, guide, probe)?.map(|(i, _)| i));
                }
                let p = self.plen();
                self.binary_search(probe, |data, off| v2_key_at(data, off, p))
            }
            Format::LeafV1 => self.binary_search(key, |data, off| {
                fixed_key_at(data, off, LEAF_V1_CELL_HEADER)
            }),
            Format::Branch => {
                self.binary_search(key, |data, off| fixed_key_at(data, off, BRANCH_CELL_HEADER))
            }
        }
    }

    /// A format-2 leaf's probe for `key`: its bytes after the prefix every
    /// key of the leaf starts with, or, for a key without that prefix,
    /// `Err` of where it would go (before or after every key).
    #[inline(always)]
    fn after_prefix<'k>(&self, key: &'k [u8]) -> std::result::Result<&'k [u8], usize> {
        let p = self.plen();
        let prefix = self
            .data
            .get(LEAF_HEADER..LEAF_HEADER + p)
            .unwrap_or_default();
        match key.get(..p) {
            Some(head) if same_bytes(head, prefix) => Ok(&key[p..]),
            _ if cmp_keys(key, prefix).is_lt() => Err(0),
            _ => Err(self.count()),
        }
    }

    /// The value stored under `key` in this leaf, if any: [`Node::search`]
    /// then [`Node::entry`], except that a leaf with an aid goes from the
    /// key it finds straight to its cell (the aid holds the offset), so
    /// the slot is never loaded.
    pub(crate) fn find(&self, key: &[u8]) -> Result<Option<ValueRef<'a>>> {
        if self.meta.format == Format::LeafV2 {
            if let Some((keys, guide, _)) = aid::leaf_parts(self.aid, self.count()) {
                let Ok(probe) = self.after_prefix(key) else {
                    return Ok(None);
                };
                return Ok(self
                    .aided_leaf_search(keys, guide, probe)?
                    .ok()
                    .map(|(_, v)| v));
            }
        }
        match self.search(key)? {
            Ok(i) => Ok(Some(self.entry(i)?.1)),
            Err(_) => Ok(None),
        }
    }

    /// [`Node::search`] for a key that most likely sorts after every key of
    /// a format-2 leaf, as the next key of an ascending load does: one
    /// comparison with the last key answers that case, anything else is
    /// searched as usual. The answer is always [`Node::search`]'s.
    pub(crate) fn search_append(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        let n = self.count();
        if self.meta.format == Format::LeafV2 && n > 0 {
            match self.after_prefix(key) {
                Ok(probe) if cmp_keys(self.stored_key(n - 1)?, probe).is_lt() => {
                    return Ok(Err(n));
                }
                // Below or above every key: the prefix test decided.
                Err(at) => return Ok(Err(at)),
                Ok(_) => {}
            }
        }
        self.search(key)
    }

    #[inline(always)]
    fn binary_search(
        &self,
        probe: &[u8],
        key_at: impl Fn(&'a [u8], usize) -> Option<(&'a [u8], usize)>,
    ) -> Result<std::result::Result<usize, usize>> {
        Ok(self.binary_search_at(probe, key_at)?.0)
    }

    /// [`Node::binary_search`], also giving the offset of the last cell
    /// whose key is at or below `probe` (bounds-checked as a key cell; 0
    /// if there is none).
    #[inline(always)]
    fn binary_search_at(
        &self,
        probe: &[u8],
        key_at: impl Fn(&'a [u8], usize) -> Option<(&'a [u8], usize)>,
    ) -> Result<(std::result::Result<usize, usize>, usize)> {
        let data = self.data;
        let cells = self.cells_start();
        let slots = data
            .get(self.slots_start()..self.slot(self.count()))
            .ok_or_else(|| self.corrupt("slot directory overruns the node"))?;
        let (mut lo, mut hi) = (0, self.count());
        let mut below = 0;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let stored = match slots.get(SLOT * mid..SLOT * mid + 2) {
                Some(&[a, b]) => {
                    let off = u16::from_le_bytes([a, b]) as usize;
                    if off >= cells {
                        key_at(data, off).map(|(k, _)| (k, off))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            let Some((stored, off)) = stored else {
                // Reported with the precise reason by the checked accessor.
                return Err(self
                    .key(mid)
                    .err()
                    .unwrap_or_else(|| self.corrupt("bad key")));
            };
            match cmp_keys(stored, probe) {
                std::cmp::Ordering::Less => (lo, below) = (mid + 1, off),
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok((Ok(mid), off)),
            }
        }
        Ok((Err(lo), below))
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
        Ok(self.entry(i)?.1)
    }

    /// The stored key bytes (after [`Node::prefix`]) and value of leaf
    /// entry `i`, reading its cell once.
    #[inline]
    pub(crate) fn entry(&self, i: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        // The hot path of every cursor step: one pass over the cell with
        // plain bounds checks; any damage takes the cold path, which names
        // the exact problem.
        match self.entry_fast(i) {
            Some(entry) => Ok(entry),
            None => self.entry_checked(i),
        }
    }

    /// [`Node::entry`] of entry `i` (`i < count`), whose cell is at `off`
    /// (as a leaf aid says): the slot is not read, unless the cell is
    /// damaged.
    #[inline(always)]
    fn entry_at(&self, i: usize, off: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        match self.entry_fast_at(off) {
            Some(entry) => Ok(entry),
            None => self.entry_checked(i),
        }
    }

    #[inline(always)]
    fn entry_fast(&self, i: usize) -> Option<(&'a [u8], ValueRef<'a>)> {
        if i >= self.count() {
            return None;
        }
        let at = self.slot(i);
        let off = match self.data.get(at..at + 2)? {
            &[a, b] => u16::from_le_bytes([a, b]) as usize,
            _ => return None,
        };
        self.entry_fast_at(off)
    }

    /// The entry whose cell is at `off`, if the cell is whole.
    #[inline(always)]
    fn entry_fast_at(&self, off: usize) -> Option<(&'a [u8], ValueRef<'a>)> {
        let data = self.data;
        if off < self.cells_start() {
            return None;
        }
        match self.meta.format {
            Format::LeafV2 => {
                let (key, end) = v2_key_at(data, off, self.plen())?;
                Some((key, value_at(data, end)?.0))
            }
            Format::LeafV1 => {
                let head = data.get(off..off + LEAF_V1_CELL_HEADER)?;
                let k = u16::from_le_bytes([head[0], head[1]]) as usize;
                let v = u32::from_le_bytes([head[2], head[3], head[4], head[5]]) as usize;
                let start = off + LEAF_V1_CELL_HEADER;
                let key = data.get(start..start + k)?;
                match head[6] {
                    V1_INLINE => Some((
                        key,
                        ValueRef::Inline(data.get(start + k..(start + k).checked_add(v)?)?),
                    )),
                    V1_OVERFLOW => {
                        let head = u64_at(data, start + k).filter(|&h| h != 0)?;
                        Some((key, ValueRef::Overflow { head, len: v }))
                    }
                    _ => None,
                }
            }
            Format::Branch => None,
        }
    }

    /// [`Node::entry`] with an error naming what is wrong.
    #[cold]
    fn entry_checked(&self, i: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        let cell = self.cell_at(self.offset(i)?)?;
        match cell.tail {
            Tail::Value(value) => Ok((cell.key, value)),
            Tail::Child => Err(self.corrupt("leaf entry requested of a branch")),
        }
    }

    /// Child `i` of a branch, `0..=count`.
    pub(crate) fn child(&self, i: usize) -> Result<PageId> {
        if self.meta.format != Format::Branch {
            return Err(self.corrupt("child requested of a leaf"));
        }
        let cell = if i == 0 { 0 } else { self.offset(i - 1)? };
        self.child_in(i, cell)
    }

    /// Child `i` of a branch, stored in the cell at `cell` (that of
    /// separator `i - 1`) or, for `i == 0`, in the header.
    #[inline(always)]
    fn child_in(&self, i: usize, cell: usize) -> Result<PageId> {
        let id = if i == 0 {
            u64_at(self.data, 4).unwrap_or(0)
        } else {
            u64_at(self.data, cell + 2)
                .ok_or_else(|| self.corrupt(format!("child {i} overruns the node")))?
        };
        if id == 0 {
            return Err(self.corrupt(format!("child {i} is the null page")));
        }
        Ok(id)
    }

    /// The child of a branch that may hold `key`:
    /// `child(child_index(key))`, read from the cell the search stopped at.
    pub(crate) fn child_for(&self, key: &[u8]) -> Result<PageId> {
        if self.meta.format != Format::Branch {
            return Err(self.corrupt("child requested of a leaf"));
        }
        if self.has_aid() {
            // The aid's copy of the child id: no slot or cell to load.
            return match self.aided_child(key)? {
                (_, Some(id)) if id != 0 => Ok(id),
                (i, _) => self.child(i),
            };
        }
        let (found, below) =
            self.binary_search_at(key, |data, off| fixed_key_at(data, off, BRANCH_CELL_HEADER))?;
        let i = match found {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.child_in(i, below)
    }

    /// Which child of a branch may hold `key`.
    #[inline]
    pub(crate) fn child_index(&self, key: &[u8]) -> Result<usize> {
        if self.has_aid() {
            return self.aided_child_index(key);
        }
        self.upper_bound(key)
    }

    /// Whether this branch has a search aid to use.
    #[inline(always)]
    fn has_aid(&self) -> bool {
        self.meta.format == Format::Branch && !self.aid.is_empty()
    }

    /// [`Node::child_index`] through the search aid (module `aid`): the
    /// number of separators at or below `key`, found among the heads, with
    /// whole keys compared only where heads tie.
    fn aided_child_index(&self, key: &[u8]) -> Result<usize> {
        Ok(self.aided_child(key)?.0)
    }

    /// [`Node::aided_child_index`], with the child's page id as the aid
    /// records it beside the separator (`None` if the aid is not this
    /// branch's, then searched without it).
    #[inline(always)]
    fn aided_child(&self, key: &[u8]) -> Result<(usize, Option<PageId>)> {
        let Some(aid) = aid::parts(self.aid, self.count()) else {
            return Ok((self.upper_bound(key)?, None));
        };
        let seps = aid.separators;
        // Every separator starts with the prefix: a key that does not
        // sorts below or above all of them.
        let rest = match aid::strip_prefix(key, aid.c, aid.prefix) {
            Ok(rest) => rest,
            Err(true) => return Ok((0, Some(aid.child(0)))),
            Err(false) => return Ok((seps.len(), Some(aid.child(seps.len())))),
        };
        let h = aid::head(rest);
        let mut lo = aid.guide.lower_bound(seps, aid::key_head, h);
        // Separators whose heads are above the key's are above it.
        if seps.get(lo).map(aid::key_head) != Some(h) {
            return Ok((lo, Some(aid.child(lo))));
        }
        let mut hi = lo + seps[lo..].partition_point(|s| aid::key_head(s) == h);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cmp_keys(self.stored_key(mid)?, key).is_le() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok((lo, Some(aid.child(lo))))
    }

    /// Whether the layer above's value check passed every inline value of
    /// this leaf (its aid's verdict word, module `aid`).
    #[inline]
    pub(crate) fn values_vouched(&self) -> bool {
        self.meta.format == Format::LeafV2
            && aid::leaf_parts(self.aid, self.count())
                .is_some_and(|(_, _, verdict)| verdict == aid::VOUCHED)
    }

    /// [`Node::search`] of a format-2 leaf's stored keys for `probe` (a key
    /// after the leaf's prefix) through its aid (module `aid`): found among
    /// the heads, with stored keys compared only where heads tie. A point
    /// read of a key that is there compares one stored key.
    ///
    /// `keys` are the aid's (head and cell offset each, `count` of them);
    /// a key found is `Ok((i, its value))`, its cell read at the offset
    /// the aid gives.
    #[inline(always)]
    fn aided_leaf_search(
        &self,
        keys: &[[u64; 2]],
        guide: guide::Guide,
        probe: &[u8],
    ) -> Result<std::result::Result<(usize, ValueRef<'a>), usize>> {
        use std::cmp::Ordering;
        let h = aid::head(probe);
        let first = guide.lower_bound(keys, aid::key_head, h);
        // Keys before `first` are below the probe; a key whose head is
        // above the probe's is above it.
        let Some(key) = keys.get(first).filter(|k| aid::key_head(k) == h) else {
            return Ok(Err(first));
        };
        let (stored, value) = self.entry_at(first, aid::key_cell(key))?;
        match cmp_keys(stored, probe) {
            Ordering::Less => {}
            Ordering::Equal => return Ok(Ok((first, value))),
            Ordering::Greater => return Ok(Err(first)),
        }
        let mut lo = first + 1;
        let mut hi = lo + keys[lo..].partition_point(|k| aid::key_head(k) == h);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (stored, value) = self.entry_at(mid, aid::key_cell(&keys[mid]))?;
            match cmp_keys(stored, probe) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Ok((mid, value))),
            }
        }
        Ok(Err(lo))
    }

    /// The stored key bytes of entry `i` (after the node's prefix): one
    /// slot read on the hot path, [`Node::key`]'s checked reading (which
    /// names the damage) otherwise.
    #[inline(always)]
    fn stored_key(&self, i: usize) -> Result<&'a [u8]> {
        // A slot past the node reads as 0, which no cell starts at.
        let off = u16_at(self.data, self.slot(i)).unwrap_or(0);
        let found = (i < self.count() && off >= self.cells_start())
            .then(|| self.stored_key_at(off))
            .flatten();
        match found {
            Some((key, _)) => Ok(key),
            None => Ok(self.key(i)?.suffix),
        }
    }

    /// Verify the whole layout: reserved bytes zero, cells packed in slot
    /// order from the end of the header (or of the slot directory) to the
    /// slot directory (or the end of the data), and a format-2 leaf's
    /// prefix exactly the longest common prefix of its keys. (Key order is
    /// the checker's; accessors only check what they touch.)
    pub(crate) fn validate(&self) -> Result<()> {
        match self.meta.format {
            Format::LeafV2 => {}
            Format::LeafV1 | Format::Branch => {
                if self.data.get(2..4) != Some(&[0, 0][..]) {
                    return Err(self.corrupt("reserved header bytes are not zero"));
                }
            }
        }
        let mut expect = self.cells_start();
        for i in 0..self.count() {
            let off = self.offset(i)?;
            if off != expect {
                return Err(self.corrupt(format!(
                    "cell {i} starts at {off}, expected {expect} (cells must be packed in order)"
                )));
            }
            expect = self.cell_at(off)?.end;
        }
        if expect != self.cells_end() {
            return Err(self.corrupt(format!(
                "cells end at {expect} but must end at {}",
                self.cells_end()
            )));
        }
        if self.meta.format == Format::LeafV2 {
            let n = self.count();
            let longest = match n {
                0 => self.plen() == 0,
                1 => self.key(0)?.suffix.is_empty(),
                _ => common_prefix(self.key(0)?.suffix, self.key(n - 1)?.suffix) == 0,
            };
            if !longest {
                return Err(self.corrupt(format!(
                    "the {}-byte prefix is not the longest common prefix of the keys",
                    self.plen()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind-4 leaf of inline entries (also for the edit tests).
    pub(super) fn leaf(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let entries: Vec<LeafEntry<'_>> = entries
            .iter()
            .map(|(k, v)| LeafEntry::new(KeyParts::whole(k), ValueRef::Inline(v)))
            .collect();
        build_leaf(&entries)
    }

    /// A kind-4 leaf (slot directory first), as store formats 2 to 4
    /// wrote.
    pub(super) fn leaf_v2(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let entries: Vec<LeafEntry<'_>> = entries
            .iter()
            .map(|(k, v)| LeafEntry::new(KeyParts::whole(k), ValueRef::Inline(v)))
            .collect();
        build_leaf_v2(&entries)
    }

    fn leaf_v1(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let entries: Vec<(&[u8], ValueRef<'_>)> = entries
            .iter()
            .map(|(k, v)| (*k, ValueRef::Inline(v)))
            .collect();
        build_leaf_v1(&entries)
    }

    fn keys(node: &Node<'_>) -> Vec<Vec<u8>> {
        (0..node.count())
            .map(|i| node.key(i).unwrap().to_vec())
            .collect()
    }

    #[test]
    fn leaf_layout_matches_the_diagram() {
        let entries = [
            (&b"user1"[..], &b"xyz"[..]),
            (b"user22", b""),
            (b"usez", b"0"),
        ];
        let data = leaf(&entries);
        #[rustfmt::skip]
        let expect = [
            3, 0, 3, 0, b'u', b's', b'e', // count 3, prefix "use"
            5, b'r', b'1', 6, b'x', b'y', b'z', // key len 5, "r1", value 3 inline
            6, b'r', b'2', b'2', 0, // key len 6, "r22", empty value
            4, b'z', 2, b'0', // key len 4, "z", value "0"
            7, 0, 14, 0, 19, 0, // slots
        ];
        assert_eq!(data, expect);
        reads_the_diagrams_leaf(KIND_LEAF, &data);
        // Kind 4, as store formats 2 to 4 wrote it: the same cells after
        // the slot directory.
        let data = leaf_v2(&entries);
        #[rustfmt::skip]
        let expect = [
            3, 0, 3, 0, b'u', b's', b'e',
            13, 0, 20, 0, 25, 0,
            5, b'r', b'1', 6, b'x', b'y', b'z',
            6, b'r', b'2', b'2', 0,
            4, b'z', 2, b'0',
        ];
        assert_eq!(data, expect);
        reads_the_diagrams_leaf(KIND_LEAF_V2, &data);
    }

    fn reads_the_diagrams_leaf(kind: u8, data: &[u8]) {
        let node = Node::parse(1, kind, data).unwrap();
        node.validate().unwrap();
        assert_eq!(node.prefix(), b"use");
        assert_eq!(keys(&node), [&b"user1"[..], b"user22", b"usez"]);
        assert_eq!(node.value(0).unwrap(), ValueRef::Inline(b"xyz"));
        assert_eq!(node.entry(2).unwrap(), (&b"z"[..], ValueRef::Inline(b"0")));
        // Fill counts the prefix in every key.
        assert_eq!(node.fill(), data.len() + 2 * 3);
        assert_eq!(
            node.fill(),
            LEAF_HEADER
                + [(5, 3), (6, 0), (4, 1)]
                    .iter()
                    .map(|&(k, v)| entry_size(k, ValueRef::Inline(&[0; 3][..v])))
                    .sum::<usize>()
        );
    }

    #[test]
    fn single_key_leaves_keep_the_whole_key_as_prefix() {
        let data = leaf(&[(b"only", b"v")]);
        assert_eq!(data, [1, 0, 4, 0, b'o', b'n', b'l', b'y', 4, 2, b'v', 8, 0]);
        let node = Node::parse(1, KIND_LEAF, &data).unwrap();
        node.validate().unwrap();
        assert_eq!(node.key(0).unwrap().to_vec(), b"only");
        let empty = leaf(&[]);
        assert_eq!(empty, [0, 0, 0, 0]);
        Node::parse(1, KIND_LEAF, &empty)
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn format_one_leaves_read_as_before() {
        let data = leaf_v1(&[(b"ab", b"xyz")]);
        assert_eq!(
            data,
            [
                1, 0, 0, 0, // count 1, reserved
                6, 0, // slot 0 -> offset 6
                2, 0, 3, 0, 0, 0, 0, // key len 2, value len 3, inline
                b'a', b'b', b'x', b'y', b'z'
            ]
        );
        let node = Node::parse(1, KIND_LEAF_V1, &data).unwrap();
        node.validate().unwrap();
        assert!(node.prefix().is_empty());
        assert_eq!(node.key(0).unwrap().to_vec(), b"ab");
        assert_eq!(node.value(0).unwrap(), ValueRef::Inline(b"xyz"));
        assert_eq!(node.fill(), data.len());
        assert_eq!(node.search(b"ab").unwrap(), Ok(0));
        assert_eq!(node.search(b"b").unwrap(), Err(1));
    }

    #[test]
    fn non_longest_prefixes_are_rejected() {
        // "ab" + {"c", "d"} is fine; "a" + {"bc", "bd"} is not canonical.
        let good = leaf(&[(b"abc", b""), (b"abd", b"")]);
        Node::parse(1, KIND_LEAF, &good)
            .unwrap()
            .validate()
            .unwrap();
        let short = [
            2, 0, 1, 0, b'a', 3, b'b', b'c', 0, 3, b'b', b'd', 0, 5, 0, 9, 0,
        ];
        let node = Node::parse(1, KIND_LEAF, &short).unwrap();
        assert_eq!(keys(&node), [&b"abc"[..], b"abd"]);
        assert!(node.validate().is_err());
        let short_v2 = [
            2, 0, 1, 0, b'a', 9, 0, 13, 0, 3, b'b', b'c', 0, 3, b'b', b'd', 0,
        ];
        let node = Node::parse(1, KIND_LEAF_V2, &short_v2).unwrap();
        assert_eq!(keys(&node), [&b"abc"[..], b"abd"]);
        assert!(node.validate().is_err());
    }

    #[test]
    fn search_uses_the_prefix() {
        let data = leaf(&[(b"k10", b""), (b"k12", b""), (b"k20", b"")]);
        let node = Node::parse(1, KIND_LEAF, &data).unwrap();
        assert_eq!(node.prefix(), b"k");
        for (probe, want) in [
            (&b""[..], Err(0)),
            (b"a", Err(0)),
            (b"k", Err(0)),
            (b"k1", Err(0)),
            (b"k10", Ok(0)),
            (b"k11", Err(1)),
            (b"k12", Ok(1)),
            (b"k120", Err(2)),
            (b"k20", Ok(2)),
            (b"k3", Err(3)),
            (b"l", Err(3)),
        ] {
            assert_eq!(node.search(probe).unwrap(), want, "{probe:?}");
            assert_eq!(node.search_append(probe).unwrap(), want, "{probe:?}");
        }
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
        assert_eq!(node.separator(1).unwrap(), b"t");
        assert_eq!(node.child_index(b"a").unwrap(), 0);
        assert_eq!(node.child_index(b"m").unwrap(), 1);
        assert_eq!(node.child_index(b"s").unwrap(), 1);
        assert_eq!(node.child_index(b"z").unwrap(), 2);
        for (key, child) in [(&b"a"[..], 7), (b"m", 8), (b"s", 8), (b"t", 9), (b"z", 9)] {
            assert_eq!(node.child_for(key).unwrap(), child, "{key:?}");
        }
        let patched = set_child(&node, 2, 42).unwrap();
        let node = Node::parse(1, KIND_BRANCH, &patched).unwrap();
        assert_eq!(node.child(2).unwrap(), 42);
    }

    #[test]
    fn unknown_kinds_are_unsupported() {
        let data = leaf(&[(b"a", b"")]);
        assert!(matches!(
            Node::parse(5, 9, &data),
            Err(BTreeError::UnsupportedPage { page: 5, kind: 9 })
        ));
        assert!(matches!(
            Node::parse(5, crate::KIND_OVERFLOW, &data),
            Err(BTreeError::Corrupted { page: 5, .. })
        ));
    }

    #[test]
    fn garbage_never_panics() {
        // Every prefix of and every byte flip in valid nodes, and random
        // bytes: all accessors return Ok or Corrupted.
        let entries: [(&[u8], &[u8]); 3] = [(b"ab", b"xyz"), (b"abd", b""), (b"e", b"0123456789")];
        let chained = build_leaf(&[
            LeafEntry::new(KeyParts::whole(b"a"), ValueRef::Inline(b"1")),
            LeafEntry::new(
                KeyParts::whole(b"big"),
                ValueRef::Overflow {
                    head: 77,
                    len: 5000,
                },
            ),
        ]);
        let samples = [
            (KIND_LEAF, leaf(&entries)),
            (KIND_LEAF, leaf(&entries[..2])),
            (KIND_LEAF, chained),
            (KIND_LEAF_V1, leaf_v1(&entries)),
            (KIND_BRANCH, build_branch(7, &[(b"m", 8), (b"t", 9)])),
        ];
        let mut inputs = Vec::new();
        for (kind, d) in &samples {
            for len in 0..=d.len() {
                inputs.push((*kind, d[..len].to_vec()));
            }
            for i in 0..d.len() {
                for bit in [1u8, 0x10, 0x80] {
                    let mut x = d.clone();
                    x[i] ^= bit;
                    inputs.push((*kind, x));
                }
            }
        }
        let mut seed = 0x1234_5678_u64;
        for _ in 0..3000 {
            let len = (seed % 64) as usize;
            let bytes = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8 % 8
                })
                .collect();
            inputs.push(([1, 2, 4][(seed % 3) as usize], bytes));
        }
        let cell = leaf_cell(2, (b"", b"zz"), ValueRef::Inline(b"9"));
        for (kind, data) in inputs {
            let Ok(node) = Node::parse(3, kind, &data) else {
                continue;
            };
            let _ = node.validate();
            let _ = node.fill();
            for i in 0..node.count() + 2 {
                let _ = node.key(i);
                let _ = node.cell_len(i);
                let _ = node.value(i);
                let _ = node.entry(i);
                let _ = node.child(i);
                let _ = node.separator(i);
                let _ = set_child(&node, i, 5);
                let _ = splice(&node, i, 0, Some(NewCell::Raw(&cell)));
                let _ = splice(&node, i, 1, None);
                let mut copy = data.clone();
                let _ = splice_in_place(3, kind, &mut copy, i, 0, Some(NewCell::Raw(&cell)));
                let mut copy = data.clone();
                let _ = splice_in_place(3, kind, &mut copy, i, 1, None);
            }
            for probe in [&b"m"[..], b"", b"ab", b"abc", b"zz"] {
                let _ = node.search(probe);
            }
        }
    }
}
