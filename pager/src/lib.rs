//! # moonvault-pager
//!
//! Owns fixed-size logical pages and the storage boundary beneath them.
//!
//! - [`store::BlobStore`]: the synchronous key/blob contract every medium
//!   implements (memory, file, IndexedDB, fault injection).
//! - [`frame`]: the stored form of a page — lz4-compressed when that saves
//!   space, framed with a header whose crc32 is verified on every load before
//!   decompression.
//! - [`Pager`]: allocation, a byte-bounded cache, spilling of dirty pages
//!   under memory pressure, and the shadow-paging checkpoint that makes a new
//!   root durable with two alternating superblock slots.
//!
//! The pager knows nothing of keys, trees or Lua. It never panics on stored
//! bytes: every decoder returns [`PagerError::Corrupted`]. It uses no
//! threads and no `std::fs` outside the native file store, so it builds for
//! `wasm32-unknown-unknown`.

#![forbid(unsafe_code)]

pub mod cache;
mod dirty;
mod encode_ahead;
mod encode_batch;
pub mod error;
pub mod frame;
mod pager;
pub mod store;
pub mod superblock;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

pub use error::{PagerError, Result};
pub use frame::{DeriveAid, Page, PageAid, AID_AFTER_USES};
pub use pager::{
    Pager, PagerConfig, PagerStats, DEFAULT_BRANCH_PAGES, DEFAULT_CACHE_BYTES, DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE, MIN_PAGE_SIZE,
};

/// Identifies a page. 0 is never a valid page (it means "none" on disk).
pub type PageId = u64;
