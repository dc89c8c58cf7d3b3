//! Named, hierarchical tables of Lua keys and values over the one B-tree.
//!
//! `Memory` (id [`ROOT`]) is the root table. A table holds entries
//! `key -> value`; a value may be a child table ([`Value::Table`] with its
//! id), so `Memory.users.u1.age` is four tables deep and each is an ordered
//! key range of the tree: writing one nested field rewrites one entry.
//! The byte layout is in [`keyspace`].
//!
//! - [`Store`]: the handle over a [`Db`](crate::Db): begins transactions,
//!   offers autocommit shortcuts, batches, migrations and statistics.
//! - [`Snapshot`] and [`Txn`]: a committed state to read, and the single
//!   write transaction; both implement [`TableRead`] (get, `next`, streaming
//!   entries, `#`, paths, queries).
//! - [`Input`]: what an assignment writes (nil, a scalar, or a table
//!   literal copied in one call).
//!
//! Identity: a table's id is allocated when a table is first assigned at a
//! key. Assigning a table literal where a table already is keeps the id
//! (and so its indexes and schema) and makes its content the literal's,
//! recursively. Assigning a non-table (or nil) there deletes the child
//! table recursively, with the indexes and schemas defined on it and below.
//!
//! [`Value::Table`]: crate::codec::Value::Table

mod append;
pub mod catalog;
pub(crate) mod field;
pub(crate) mod input;
pub mod keyspace;
pub(crate) mod lineage;
pub mod meta;
mod moves;
pub(crate) mod packed;
mod query_cursor;
pub(crate) mod read;
mod store;
#[cfg(test)]
mod tests;
mod write;

pub use catalog::{Catalog, IndexDef};
pub use field::{normalize_key, FieldPath, FieldRead, IntoFieldPath};
pub use input::{Input, MAX_INPUT_DEPTH};
pub use keyspace::{TableId, ROOT};
pub use lineage::ROOT_NAME;
pub use meta::MetaReport;
pub use read::{Entries, EntryCursor, QueryIter, TableRead};
pub use store::{Snapshot, Store};
pub use write::Txn;
