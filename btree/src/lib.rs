//! # moonvault-btree
//!
//! A copy-on-write B+tree of byte keys and byte values over
//! [`moonvault_pager`] pages.
//!
//! - [`node`]: the leaf and branch page layout (slot directory, packed cells,
//!   a leaf's shared key prefix), and the format-1 leaves it still reads.
//! - `leaf`: leaf edits: one-cell splices, and the rebuilds and splits of
//!   leaves whose prefix changes or that outgrow a page.
//! - `overflow`: chains of pages holding values too large to stay inline.
//! - `lent`: a value lent by a lookup, an overflow chain read only on demand.
//! - `tree`: lookup, insert and remove with splits, merges and
//!   redistribution.
//! - [`cursor`]: lazy range and prefix iteration in both directions.
//! - [`check`]: the invariant checker and the page walk.
//!
//! A [`BTree`] is only a root page id and a version counter; the pages live
//! in the pager. Keys compare as bytes (memcmp order).
//!
//! # Invariants
//! - Copy-on-write: a page the open transaction did not allocate
//!   (`!pager.is_writable(id)`) is never modified. Changing it means writing
//!   a copy to a fresh page, pointing the parent at the copy and freeing the
//!   original; this ripples up to the root, so the root id changes. Pages the
//!   transaction allocated are edited in place, so a large transaction
//!   copies each page at most once. A `BTree` value saved before a
//!   transaction (with the state pinned in the pager) therefore keeps
//!   reading exactly the old contents.
//! - Balance: every leaf is at the same depth. A node never exceeds the page
//!   size; a node other than the root has a fill of at least a quarter page
//!   (its size, or for a leaf with a key prefix its size as if the prefix
//!   were in every key: see `node`) and is non-empty; a root branch has at
//!   least one key; an empty tree has no root page.
//! - Formats: every leaf written is of kind [`KIND_LEAF`]; leaves of kinds
//!   [`KIND_LEAF_V1`] (written by store format 1) and [`KIND_LEAF_V2`]
//!   (store formats 2 to 4) are read, and rewritten as kind 5 by the first
//!   edit that touches them. A page of a kind this
//!   version does not know is [`BTreeError::UnsupportedPage`].
//! - Order: keys strictly increase within a node, and every key under child
//!   `i` of a branch lies in `[key[i-1], key[i])`.
//! - Every page reachable from the root is reachable exactly once, and a
//!   removed or replaced entry's overflow pages are freed with it.
//!
//! It must never: panic on page contents (every decoder returns
//! [`BTreeError::Corrupted`]), keep a pager borrow between calls, or touch
//! pages outside the tree it is given. All mutation happens inside a pager
//! transaction opened by the caller; if a mutation fails midway the tree's
//! pages in that transaction are unspecified and the caller must roll the
//! transaction back.

#![forbid(unsafe_code)]

pub mod check;
pub mod cursor;
mod error;
mod hints;
mod leaf;
mod lent;
mod merge;
pub mod node;
mod overflow;
mod tree;

#[cfg(test)]
mod tests;

pub use check::TreeReport;
pub use cursor::Cursor;
pub use error::{BTreeError, Result};
pub use hints::InsertHints;
pub use lent::{Chain, Lent};
pub use merge::SortedWrites;
pub use node::{
    common_prefix, search_aid, search_aid_vouching, search_aid_words, LeafPacker, KIND_BRANCH,
    KIND_LEAF, KIND_LEAF_V1, KIND_LEAF_V2, SEARCH_AID, VOUCHED,
};
pub use overflow::KIND_OVERFLOW;

use moonvault_pager::PageId;

/// A B+tree: its root page (None when empty) and a counter bumped by every
/// mutation (cursors use it to notice writes). Cloning is a cheap snapshot
/// handle; see the crate docs for when it stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BTree {
    /// Root page, `None` for an empty tree.
    pub root: Option<PageId>,
    /// Bumped on every mutation.
    pub version: u64,
}

impl BTree {
    /// A tree rooted at `root` (as saved from an earlier `BTree::root`).
    pub fn new(root: Option<PageId>) -> BTree {
        BTree { root, version: 0 }
    }

    /// The longest key a tree on pages of `page_size` bytes accepts: a
    /// quarter page minus cell overhead (232 bytes at 1 KiB, 1000 at 4 KiB).
    pub fn max_key_len(page_size: usize) -> usize {
        node::max_key_len(page_size)
    }

    /// [`BTreeError::KeyTooLarge`] if a tree on pages of `page_size` bytes
    /// would refuse `key` (longer than [`BTree::max_key_len`]).
    pub fn check_key(key: &[u8], page_size: usize) -> Result<()> {
        let max = BTree::max_key_len(page_size);
        if key.len() > max {
            return Err(BTreeError::KeyTooLarge {
                len: key.len(),
                max,
            });
        }
        Ok(())
    }
}
