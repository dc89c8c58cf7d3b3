//! Errors of the B-tree layer.

use moonvault_pager::{PageId, PagerError};

/// What went wrong while reading or changing a tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BTreeError {
    /// The pager failed (store error, damaged page frame, no open
    /// transaction...); see [`PagerError`].
    #[error(transparent)]
    Pager(#[from] PagerError),
    /// A tree page decoded from a valid frame but its contents do not form a
    /// valid node, overflow chain or tree (bad offsets, unordered keys, a
    /// cycle...). The store is damaged: run `moonvault check` and restore
    /// from an export if it persists.
    #[error("corrupted B-tree page {page}: {detail}")]
    Corrupted {
        /// The page where the damage was found.
        page: PageId,
        /// What exactly did not check out.
        detail: String,
    },
    /// A page holds a node of a kind this version does not know: the store
    /// was written by a newer moonvault. Open it with that version (or
    /// export it there and import the export here).
    #[error(
        "page {page} is of kind {kind}, which this version of moonvault cannot read; \
         the store was written by a newer version"
    )]
    UnsupportedPage {
        /// The page.
        page: PageId,
        /// Its kind byte.
        kind: u8,
    },
    /// The key is longer than this page size allows; use a shorter key (or
    /// hash long keys) or a store with larger pages.
    #[error("key of {len} bytes is longer than the {max}-byte maximum for this page size")]
    KeyTooLarge {
        /// Length of the key offered.
        len: usize,
        /// The longest key allowed (`BTree::max_key_len`).
        max: usize,
    },
    /// The value is longer than the on-page length field can describe.
    #[error("value of {len} bytes is longer than the {max}-byte maximum")]
    ValueTooLarge {
        /// Length of the value offered.
        len: usize,
        /// The longest value allowed.
        max: usize,
    },
}

impl BTreeError {
    /// Shorthand for a [`BTreeError::Corrupted`] error.
    pub fn corrupted(page: PageId, detail: impl Into<String>) -> Self {
        BTreeError::Corrupted {
            page,
            detail: detail.into(),
        }
    }
}

/// Shorthand for B-tree results.
pub type Result<T> = std::result::Result<T, BTreeError>;
