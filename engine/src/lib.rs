//! # moonvault-engine
//!
//! Atomic transactions over the copy-on-write B-tree ([`kv`]), and the
//! data model built on them: tables of Lua-typed keys and values, secondary
//! indexes, queries, schemas and migrations.
//!
//! The engine owns the write-ahead log and the commit protocol; it knows
//! nothing of Lua or the browser. It builds for `wasm32-unknown-unknown`.
//!
//! Invariants:
//! - At most one write transaction is open; readers see the last commit.
//! - A commit is all-or-nothing at every crash point (see DESIGN.md).
//! - Bytes read from storage are checked; damage is an error, never a panic.

#![forbid(unsafe_code)]

pub mod batch;
pub mod codec;
pub mod error;
pub mod export;
pub mod index;
pub mod kv;
pub mod migrate;
pub mod query;
pub mod schema;
pub mod stats;
pub mod table;
#[cfg(test)]
mod testutil;

pub use error::{EngineError, Result};
pub use kv::{Db, DbStats, Durability, KvRead, Options, ReadTxn, WriteTxn};
pub use table::{Input, Snapshot, Store, TableId, TableRead, Txn, ROOT};
