//! The transactional key/value core: one B-tree of byte keys, a write-ahead
//! log of logical changes, and checkpoints that make the copy-on-write tree
//! durable.
//!
//! # Commit protocol (details and crash cases in DESIGN.md)
//! - A small transaction commits by writing ONE WAL record (its puts and
//!   deletes) under the next sequence number; durable on return for
//!   [`Durability::Immediate`], at the next flush for `Relaxed`.
//! - A transaction whose log would exceed `txn_log_limit` (e.g. 100K inserts)
//!   stops logging and commits by checkpoint: its pages (spilled as needed
//!   while it ran) plus a new superblock.
//! - A checkpoint writes dirty pages, then a superblock naming the new root
//!   and the last WAL record it includes, then deletes the covered WAL.
//! - Recovery loads the newest valid superblock and replays the WAL records
//!   after it, in order, stopping at the first missing or torn record.

mod db;
mod deferred;
mod prefix;
mod radix;
mod root;
mod txn;
pub mod wal;

#[cfg(test)]
mod tests;

pub use db::{Db, DbStats, Durability, Options};
pub use moonvault_btree::Lent;
pub(crate) use prefix::{into_prefix_end, prefix_end};
pub use root::RootRecord;
pub use txn::{EntryFn, KvRead, LentEntryFn, RangeIter, ReadTxn, VouchedEntryFn, WriteTxn};
