//! Errors of the pager layer.

use crate::store::StoreError;
use crate::PageId;

/// What went wrong while reading or writing pages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PagerError {
    /// The blob store failed; see [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored bytes failed a check (checksum, magic, lengths). The named
    /// page or record is damaged; run `moonvault check` and restore from an
    /// export if it persists.
    #[error("corrupted {what} (page {page:?}): {detail}")]
    Corrupted {
        /// Which structure was damaged (`"page frame"`, `"superblock"`...).
        what: &'static str,
        /// The page id, where one applies.
        page: Option<PageId>,
        /// What exactly did not check out.
        detail: String,
    },
    /// A structure (superblock, page frame) whose checksum holds but whose
    /// format version is newer than this build reads. Nothing is damaged:
    /// the store was written by a newer moonvault, and opening it here
    /// would misread it, so it is refused (never skipped or overwritten).
    #[error("this {what} was written by a newer moonvault (format {found}); this build reads formats up to {supported}: open it with a newer moonvault")]
    NewerFormat {
        /// What carries the version (`"store's superblock"`...).
        what: &'static str,
        /// The version found.
        found: u8,
        /// The newest version of that structure this build reads.
        supported: u8,
    },
    /// A page the caller expected does not exist in the store.
    #[error("page {0} is missing from the store; the store is damaged or was modified underneath")]
    MissingPage(PageId),
    /// The caller passed a page larger than the store's largest page (its
    /// branch size).
    #[error("page of {len} bytes is larger than the store's largest page ({max} bytes)")]
    PageTooLarge {
        /// Bytes offered.
        len: usize,
        /// The store's largest page.
        max: usize,
    },
    /// The configuration cannot be used.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The pager stopped accepting writes after a store failure left the
    /// stored state unknown. Reopen the store.
    #[error("store unusable after an earlier write failure ({0}); reopen it to recover the last durable state")]
    Poisoned(String),
}

impl PagerError {
    /// Shorthand for a [`PagerError::Corrupted`] error.
    pub fn corrupted(what: &'static str, page: Option<PageId>, detail: impl Into<String>) -> Self {
        PagerError::Corrupted {
            what,
            page,
            detail: detail.into(),
        }
    }
}

/// Shorthand for pager results.
pub type Result<T> = std::result::Result<T, PagerError>;
